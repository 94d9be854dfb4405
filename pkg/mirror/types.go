// Package mirror copies images between registries (and, later, archives)
// with one scheduler across every image of a run: each blob moves at most
// once per destination repository, blobs another destination repository
// already holds are mounted, the largest transfers start first, manifests
// are pushed only after all their blobs, byte for byte, and every request is
// retried on its own when it fails for a transient reason.
//
// Registry I/O goes through containers/image's transports (ImageSource and
// ImageDestination), so any transport it offers can be an endpoint.
package mirror

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/containers/image/v5/docker"
	"github.com/containers/image/v5/types"
	digest "github.com/opencontainers/go-digest"

	"github.com/airgap-ocp/oc-plugins/pkg/plan"
	"github.com/airgap-ocp/oc-plugins/pkg/retry"
)

// The engine's API: what to copy, how, and what came of it.

// DefaultParallel is the number of requests in flight at once when Options
// does not say. A blob costs five requests (its GET at the source; the
// destination's check, upload start, data and commit), each a round trip:
// on a long link the round trips, not the bytes, bound a run with few
// requests in flight, and more fill the link (docs/benchmarks.md, "Over an
// emulated WAN link"). On loopback the rate is flat from 4 on. Beyond 32
// the gain on a 150 ms link is small and the connections and memory grow;
// oc-mirror's defaults keep more layers than that in flight against the
// same public registries (images times layers per image). --parallel
// changes it.
const DefaultParallel = 32

// Image is one image to copy.
type Image struct {
	Source types.ImageReference
	Dest   types.ImageReference
	// Platform, when set and the source is a manifest list, copies only the
	// image for that platform; the destination then holds that image's
	// manifest, not the list.
	Platform *plan.Platform
}

// Options tune a run. The zero value works.
type Options struct {
	// SourceCtx and DestCtx configure credentials, TLS and registries.conf
	// for reading sources and writing destinations.
	SourceCtx, DestCtx *types.SystemContext
	// Parallel is the number of blob transfers and manifest reads in
	// flight; existence checks and reads of manifests by digest, round
	// trips through a kept client, get up to eight times as many,
	// manifest pushes four, and blobs under a MiB as many again beside
	// the transfers (copy.go, checkParallel, pushParallel and
	// smallParallel); 1 is one request at a time.
	// DefaultParallel if zero.
	Parallel int
	// Retry is the policy for every request; retry.Default if zero.
	Retry retry.Policy
	// RequestTimeout is the time a request may take on top of moving its
	// bytes at MinRate bytes per second: a blob's timeout grows with its
	// size, and no timeout spans more than one request. Defaults: 1 minute
	// and 256 KiB/s.
	RequestTimeout time.Duration
	MinRate        int64
	// IdleTimeout stops (and retries) a request that has moved no byte for
	// this long: a blob transfer from its last byte, any other request
	// from its start. DefaultIdleTimeout if zero.
	IdleTimeout time.Duration
	// SigstoreAttachments also copies the sha256-<hex>.sig tag of every
	// copied digest, where the source has one (cosign's layout).
	SigstoreAttachments bool
	// DryRun reads the sources (manifests, attachments) and stops: no
	// destination is contacted, every image is left StatusPlanned.
	DryRun bool
	// DryRunChecksDest makes a dry run also ask the destination which
	// images it holds already (StatusPresent), writing nothing.
	DryRunChecksDest bool
	// Progress receives progress lines (a bar when it is a terminal);
	// nil means none.
	Progress io.Writer
	// ProgressInterval is the time between plain progress lines; 5s if zero.
	ProgressInterval time.Duration
	// Clients are the kept registry clients the run's checks share with
	// reads made before it (NewClients); nil gives the run its own.
	Clients *Clients
	// ChallengeDir keeps, between runs, how each registry asked to be
	// authenticated, so that a run's first request to it needs no ping
	// (session.go); "" keeps nothing.
	ChallengeDir string
}

// Status is what happened to one image.
type Status string

const (
	// StatusCopied: the manifest was pushed.
	StatusCopied Status = "copied"
	// StatusPresent: the destination already held the manifest; nothing moved.
	StatusPresent Status = "present"
	// StatusFailed: see Err.
	StatusFailed Status = "failed"
	// StatusPlanned: a dry run read the source; nothing was copied.
	StatusPlanned Status = "planned"
)

// ImageResult is the outcome for one image.
type ImageResult struct {
	Image
	// Digest is the digest of the manifest the destination holds (the
	// source's, byte for byte), MIMEType its type (empty when the
	// destination already held an image asked for by digest: its source
	// is then not read).
	Digest   digest.Digest
	MIMEType string
	// Attachment marks a sigstore attachment found for another image;
	// Parent is the index, among the images given to Copy, of that image.
	Attachment bool
	Parent     int
	Status     Status
	Err        error
}

// Stats count what a run did.
type Stats struct {
	Images, ImagesCopied, ImagesPresent, ImagesFailed int
	// BlobsCopied were uploaded, BlobsPresent already there, BlobsMounted
	// mounted from another repository of the destination registry.
	BlobsCopied, BlobsPresent, BlobsMounted int
	BytesCopied                             int64
	// BlobsPlanned and BytesPlanned are, in a dry run, the unique blobs
	// the images need and their size.
	BlobsPlanned    int
	BytesPlanned    int64
	ManifestsPushed int
	Duration        time.Duration
}

// Result is the outcome of a run.
type Result struct {
	// Images holds the outcome of each image given to Copy, at its index
	// (an image given twice is copied once and reported at both), then the
	// attachments found for them.
	Images []ImageResult
	Stats  Stats
}

// FailedError lists every image a run could not copy.
type FailedError struct {
	Failures []ImageResult
}

func (e *FailedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d of the images failed:", len(e.Failures))
	for i, f := range e.Failures {
		if i > 0 {
			b.WriteString(";")
		}
		fmt.Fprintf(&b, " %s: %v", transports(f.Source), f.Err)
	}
	return b.String()
}

// Unwrap returns each image's error.
func (e *FailedError) Unwrap() []error {
	errs := make([]error, len(e.Failures))
	for i, f := range e.Failures {
		errs[i] = f.Err
	}
	return errs
}

// Err is a *FailedError listing every failed image, or nil.
func (r *Result) Err() error {
	var failed []ImageResult
	for _, im := range r.Images {
		if im.Status == StatusFailed {
			failed = append(failed, im)
		}
	}
	if len(failed) == 0 {
		return nil
	}
	return &FailedError{Failures: failed}
}

func transports(ref types.ImageReference) string {
	if ref == nil {
		return "<nil>"
	}
	if ref.Transport().Name() == docker.Transport.Name() {
		return strings.TrimPrefix(ref.StringWithinTransport(), "//")
	}
	return ref.Transport().Name() + ":" + ref.StringWithinTransport()
}

func (opts Options) withDefaults() Options {
	if opts.Parallel <= 0 {
		opts.Parallel = DefaultParallel
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = time.Minute
	}
	if opts.MinRate <= 0 {
		opts.MinRate = 256 << 10
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	return opts
}
