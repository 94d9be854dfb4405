//go:build tools

// Package tools pins the peers the benchmark runs, and toxiproxy's client
// (the emulated link's), at the versions in go.mod.
package tools

import (
	_ "github.com/Shopify/toxiproxy/v2/cmd/cli"
	_ "github.com/google/go-containerregistry/cmd/crane"
	_ "github.com/regclient/regclient/cmd/regctl"
)
