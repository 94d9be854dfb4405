package mirror

import (
	"errors"
	"fmt"
	"strings"

	"github.com/containers/image/v5/docker/reference"
	"github.com/containers/image/v5/types"

	"github.com/airgap-ocp/oc-plugins/pkg/plan"
)

// ItemResult is the outcome for one item of a plan.
type ItemResult struct {
	// Item is the plan's item, with the digest and media type of what the
	// destination holds once copied.
	Item plan.Item
	// Source and Dest are the references it was read from and written to.
	Source, Dest types.ImageReference
	Status       Status
	Err          error
	// Parent is, for an attachment, the index of the item it belongs to.
	Parent int
}

// Report is the outcome of a plan's run.
type Report struct {
	// Items holds the outcome of p.Items[i] at i.
	Items []ItemResult
	// Attachments are the sigstore signatures found beside the items and
	// copied with them, each an item of its own next to its parent.
	Attachments []ItemResult
	Stats       Stats
}

// Failed lists the items and attachments that could not be copied.
func (r *Report) Failed() []ItemResult {
	var out []ItemResult
	for _, list := range [][]ItemResult{r.Items, r.Attachments} {
		for _, it := range list {
			if it.Status == StatusFailed {
				out = append(out, it)
			}
		}
	}
	return out
}

// Err joins the errors of every failed item, or is nil.
func (r *Report) Err() error {
	var errs []error
	for _, f := range r.Failed() {
		errs = append(errs, fmt.Errorf("%s: %w", f.Item.Source, f.Err))
	}
	return errors.Join(errs...)
}

// Mapping is the oc-mirror mapping.txt form of the items and attachments
// keep selects (all, when nil): docker://SRC=docker://DEST a line, the
// source by digest when known, a destination pushed by digest with it.
// `oc mirror lite images -f` reads it back.
func (r *Report) Mapping(keep func(ItemResult) bool) string {
	var b strings.Builder
	for _, list := range [][]ItemResult{r.Items, r.Attachments} {
		for _, it := range list {
			if (keep != nil && !keep(it)) || it.Item.Kind == plan.Catalog {
				// A rebuilt catalog is at no source: a line would copy the
				// unfiltered one.
				continue
			}
			src := it.Item.Source
			if d := it.Item.Digest; d != "" && !strings.Contains(src, "@") {
				if named, err := reference.ParseNormalizedNamed(src); err == nil {
					src = reference.TrimNamed(named).Name() + "@" + d.String()
				}
			}
			dst := strings.TrimPrefix(it.Dest.StringWithinTransport(), "//")
			if named := it.Dest.DockerReference(); named != nil && reference.IsNameOnly(named) && it.Item.Digest != "" {
				dst = named.Name() + "@" + it.Item.Digest.String()
			}
			fmt.Fprintf(&b, "docker://%s=docker://%s\n", src, dst)
		}
	}
	return b.String()
}

// Add appends the results of another run, after r's own: its attachments'
// parents are renumbered and its stats added.
func (r *Report) Add(q *Report) {
	for _, a := range q.Attachments {
		a.Parent += len(r.Items)
		r.Attachments = append(r.Attachments, a)
	}
	r.Items = append(r.Items, q.Items...)
	s, t := &r.Stats, q.Stats
	s.Images += t.Images
	s.ImagesCopied += t.ImagesCopied
	s.ImagesPresent += t.ImagesPresent
	s.ImagesFailed += t.ImagesFailed
	s.BlobsCopied += t.BlobsCopied
	s.BlobsPresent += t.BlobsPresent
	s.BlobsMounted += t.BlobsMounted
	s.BytesCopied += t.BytesCopied
	s.BlobsPlanned += t.BlobsPlanned
	s.BytesPlanned += t.BytesPlanned
	s.ManifestsPushed += t.ManifestsPushed
	s.Duration += t.Duration
}
