//go:build tools

// Package testbin pins the commands built by hack/testbin.sh.
package testbin

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
