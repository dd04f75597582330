//go:build tools

// Package tools pins the Kubernetes components that make test-cluster builds
// for its single-node cluster (test/cluster): v1.34, the last minor version
// whose kubelet runs on cgroup v1 without being told to.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver/app"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	_ "k8s.io/kubernetes/cmd/kube-scheduler/app"
	_ "k8s.io/kubernetes/cmd/kubelet/app"
)
