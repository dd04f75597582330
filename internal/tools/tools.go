//go:build tools

// Package tools pins the code generators and linters the Makefile builds, in a
// module of their own so their dependencies stay out of the collector's.
package tools

import (
	_ "go.opentelemetry.io/collector/cmd/mdatagen"
	_ "honnef.co/go/tools/cmd/staticcheck"
)
