//go:build tools

// Package tools pins the peers the benchmark runs, at the versions in go.mod.
package tools

import (
	_ "github.com/google/go-containerregistry/cmd/crane"
	_ "github.com/regclient/regclient/cmd/regctl"
)
