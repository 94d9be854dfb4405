//go:build tools

// Package opm pins the opm command built by hack/testbin.sh.
package opm

import _ "github.com/operator-framework/operator-registry/cmd/opm"
