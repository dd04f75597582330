module github.com/chronyotel/otelcol-chrony/e2e

go 1.26.8

require github.com/chronyotel/otelcol-chrony/internal/testkit v0.0.0

// Test support shared by the modules of this repository, built from here.
replace github.com/chronyotel/otelcol-chrony/internal/testkit => ../internal/testkit
