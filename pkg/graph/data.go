// Package graph is the update graph data a local OpenShift Update Service
// reads, as the image its operator runs: fetched as the tarball Red Hat
// publishes, built onto a base image that can copy it, and placed in a
// mirror as oc-mirror v2 places it.
package graph

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/airgap-ocp/oc-plugins/pkg/release"
	"github.com/airgap-ocp/oc-plugins/pkg/retry"
)

// What the OpenShift Update Service operator expects of a graph-data image:
// it runs the image as an init container with an empty volume at
// MountPath, and the image's command must copy the graph data there.
const (
	// DataURL is where Red Hat publishes the graph data, as a gzipped tarball.
	DataURL = "https://api.openshift.com/api/upgrades_info/graph-data"
	// DataDir is where the image holds the data.
	DataDir = "/var/lib/cincinnati-graph-data"
	// MountPath is where the operator mounts the volume the data goes to.
	MountPath = "/var/lib/cincinnati/graph-data"
	// BaseImage is the image the data is added onto: it has the shell and
	// cp the command needs.
	BaseImage = "registry.access.redhat.com/ubi9/ubi:latest"
	// Repository is where the image goes below the mirror's root, and
	// Tag the tag it gets beside its digest.
	Repository = "openshift/graph-image"
	Tag        = "latest"
)

// Command is what the image runs: copy the data into the operator's volume.
var Command = []string{"/bin/bash", "-c", "exec cp -rp " + DataDir + "/* " + MountPath}

// maxData bounds the graph-data tarball read.
const maxData = 256 << 20

// DataSource is where the graph data comes from when none is named: the
// enclave's own update service when UPDATE_URL_OVERRIDE points at one (its
// graph-data beside its graph), else DataURL.
func DataSource() (string, error) {
	o := os.Getenv(release.GraphURLEnv)
	if o == "" {
		return DataURL, nil
	}
	base, ok := strings.CutSuffix(strings.TrimSuffix(o, "/"), "/v1/graph")
	if !ok {
		return "", fmt.Errorf("%s=%s does not end in /v1/graph, so the graph data beside it cannot be found: give --graph-data URL|FILE", release.GraphURLEnv, o)
	}
	return base + "/graph-data", nil
}

// FetchData reads the graph-data tarball from src, an http(s) URL or a
// file, and checks that it is a gzipped tar.
func FetchData(ctx context.Context, client *http.Client, src string, policy retry.Policy) ([]byte, error) {
	var data []byte
	u, err := url.Parse(src)
	if err == nil && (u.Scheme == "https" || u.Scheme == "http") {
		data, err = retry.Get(ctx, client, policy, src, "", maxData)
		var tooLarge *retry.TooLargeError
		if errors.As(err, &tooLarge) {
			return nil, dataTooLarge(u.Redacted())
		}
		if err != nil {
			return nil, fmt.Errorf("fetching the graph data from %s: %w", u.Redacted(), err)
		}
	} else {
		path := strings.TrimPrefix(src, "file://")
		f, err := os.Open(path)
		if err != nil {
			return nil, &InputError{fmt.Errorf("graph data: %w", err)}
		}
		defer f.Close()
		if data, err = io.ReadAll(io.LimitReader(f, maxData+1)); err != nil {
			return nil, fmt.Errorf("graph data: %w", err)
		}
	}
	if len(data) > maxData {
		return nil, dataTooLarge(src)
	}
	if _, err := files(data); err != nil {
		return nil, &InputError{fmt.Errorf("graph data from %s: %w", src, err)}
	}
	return data, nil
}

func dataTooLarge(src string) error {
	return &InputError{fmt.Errorf("graph data from %s: more than %d MiB", src, maxData>>20)}
}

// InputError is graph data that is not what it must be: the user's to fix.
type InputError struct{ Err error }

func (e *InputError) Error() string  { return e.Err.Error() }
func (e *InputError) Unwrap() error  { return e.Err }
func (e *InputError) BadInput() bool { return true }

// file is one entry of the graph data.
type file struct {
	hdr  *tar.Header
	data []byte
}

// files reads the entries of a gzipped tarball: directories and regular
// files only, with relative paths that stay inside it.
func files(tgz []byte) ([]file, error) {
	zr, err := gzip.NewReader(bytes.NewReader(tgz))
	if err != nil {
		return nil, fmt.Errorf("not a gzipped tarball: %w", err)
	}
	tr := tar.NewReader(zr)
	var out []file
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("not a gzipped tarball: %w", err)
		}
		name := strings.TrimPrefix(hdr.Name, "./")
		if name == "" || strings.HasPrefix(name, "/") || strings.Contains("/"+name+"/", "/../") {
			return nil, fmt.Errorf("entry %q: not a relative path inside the data", hdr.Name)
		}
		switch hdr.Typeflag {
		case tar.TypeDir, tar.TypeReg:
		default:
			return nil, fmt.Errorf("entry %q: only files and directories belong in graph data", hdr.Name)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return nil, fmt.Errorf("entry %q: %w", hdr.Name, err)
		}
		out = append(out, file{hdr: &tar.Header{Name: name, Typeflag: hdr.Typeflag, Mode: hdr.Mode & 0o777}, data: data})
	}
	if len(out) == 0 {
		return nil, errors.New("the tarball is empty")
	}
	return out, nil
}
