package mirrorlite

import (
	"fmt"
	"strings"

	digest "github.com/opencontainers/go-digest"

	"github.com/airgap-ocp/oc-plugins/pkg/archive"
	"github.com/airgap-ocp/oc-plugins/pkg/cli"
	"github.com/airgap-ocp/oc-plugins/pkg/mirror"
	"github.com/airgap-ocp/oc-plugins/pkg/plan"
)

// The archive side of the one path: mirror to disk writes the plan's
// items into an archive and records them, with the releases and their
// verified signatures, in its index; disk to mirror reads that index back
// as a plan (RootOptions.fromDisk).

// createArchive opens the archive at dir for writing, resuming what an
// interrupted run left there; a dry run opens nothing.
func (o *Options) createArchive(dir string) (*archive.Writer, error) {
	if o.DryRun {
		return nil, nil
	}
	size, err := archive.ParseSize(o.ArchiveSize)
	if err != nil {
		return nil, cli.BadInputf("--archive-size: %w", err)
	}
	wopts := archive.WriterOptions{ChunkSize: size, Warn: o.ErrOut}
	if o.Since != "" {
		prev, err := archive.ReadIndexFile(o.Since)
		if err != nil {
			return nil, cli.BadInputf("--since: %w", err)
		}
		wopts.Since, wopts.SinceID, wopts.SinceBase = map[digest.Digest]bool{}, prev.ID, describeArchive(prev, o.Since)
		for _, d := range prev.Blobs() {
			wopts.Since[d] = true
		}
		if prev.Since != nil {
			for _, d := range prev.Since.Blobs {
				wopts.Since[d] = true
			}
		}
	}
	w, err := archive.Create(dir, wopts)
	if err != nil {
		return nil, fmt.Errorf("--to file://%s: %w", dir, err) // exit 3, or 2 for a directory refused as it stands
	}
	if n := w.Count(); n > 0 {
		o.info("resuming %s: %d blobs already written are kept", dir, n)
	}
	return w, nil
}

// describeArchive names an archive for people: its releases and where it
// was written.
func describeArchive(idx *archive.Index, path string) string {
	var rels []string
	for _, r := range idx.Releases {
		rels = append(rels, r.Version+r.ArchExt)
	}
	what := fmt.Sprintf("%d images", len(idx.Images))
	if len(rels) > 0 {
		what = "release " + strings.Join(rels, ", ")
	}
	return fmt.Sprintf("%s, written to %s", what, path)
}

// diskTarget is where a run to disk writes: the archive, or for a dry run
// only the names of where images would go.
func diskTarget(w *archive.Writer, dir string) mirror.Target {
	if w == nil {
		return mirror.NewDiskPlan(dir)
	}
	return mirror.NewDiskWriter(w)
}

// finishArchive writes the index: every item as copied, with the digest
// and media type the archive holds, the sigstore signatures found beside
// them, and the releases with their verified signatures.
func (o *Options) finishArchive(w *archive.Writer, p *plan.Plan, rep *mirror.Report, sigs [][][]byte) error {
	idx := &archive.Index{Tool: Name + " " + cli.Version, Name: p.Name}
	for _, list := range [][]mirror.ItemResult{rep.Items, rep.Attachments} {
		for _, r := range list {
			idx.Images = append(idx.Images, r.Item)
		}
	}
	for i, r := range p.Releases {
		r.Signatures = sigs[i]
		idx.Releases = append(idx.Releases, r)
	}
	if err := w.Finish(idx); err != nil {
		return cli.Failed(fmt.Errorf("finishing the archive %s: %w", w.Dir(), err))
	}
	o.summary(rep)
	var total int64
	for _, c := range idx.Chunks {
		total += c.Size
	}
	o.info("archive %s: %d chunks, %s, %d images; carry the directory across and run:\n  %s --from file://%s --to docker://REGISTRY/REPO",
		w.Dir(), len(idx.Chunks), mirror.FormatBytes(total), len(idx.Images), Name, w.Dir())
	return nil
}

// dryRunArchive says what a run to disk would write, and its size.
func (o *Options) dryRunArchive(rep *mirror.Report, dir string) error {
	for _, list := range [][]mirror.ItemResult{rep.Items, rep.Attachments} {
		for _, r := range list {
			dest := r.Item.Path
			if r.Item.Tag != "" {
				dest += ":" + r.Item.Tag
			}
			if _, err := fmt.Fprintf(o.Out, "docker://%s=file://%s#%s\n", r.Item.Source, dir, dest); err != nil {
				return err
			}
		}
	}
	o.info("# dry run: nothing was written; the archive %s would hold %d images, %d blobs, %s (less what --since or an earlier run left there)",
		dir, len(rep.Items)+len(rep.Attachments), rep.Stats.BlobsPlanned, mirror.FormatBytes(rep.Stats.BytesPlanned))
	return nil
}
