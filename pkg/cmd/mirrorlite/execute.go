package mirrorlite

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/airgap-ocp/oc-plugins/pkg/archive"
	"github.com/airgap-ocp/oc-plugins/pkg/cli"
	"github.com/airgap-ocp/oc-plugins/pkg/manifest"
	"github.com/airgap-ocp/oc-plugins/pkg/mirror"
	"github.com/airgap-ocp/oc-plugins/pkg/mirrorset"
	"github.com/airgap-ocp/oc-plugins/pkg/plan"
)

// execute is the one path every command takes once it has a plan: copy
// its items from src to --to (a registry below root, or an archive) in one
// engine run, then print the objects (or finish the archive), the summary
// and the `oc adm upgrade` command.
func (o *Options) execute(ctx context.Context, p *plan.Plan, src mirror.Source, root string) error {
	cleanup, err := o.planCatalogs(ctx, p)
	defer cleanup()
	if err != nil {
		return err
	}
	for _, m := range p.Merged {
		o.info("merged: %s", m)
	}
	_, fromArchive := src.(*mirror.DiskReader)
	src = o.sourceWithGraph(src)
	var (
		dst  mirror.Target
		objs *mirrorset.Objects
		w    *archive.Writer
	)
	if dir := o.diskDir(); dir != "" {
		if w, err = o.createArchive(dir); err != nil {
			return err
		}
		if w != nil {
			defer w.Close()
		}
		dst = diskTarget(w, dir)
		o.info("mirroring %d images to the archive %s", len(p.Items), dir)
	} else {
		// Everything that can be bad input is checked before anything is copied.
		objs, err = mirrorset.FromPlan(withoutGraph(p), root, mirrorset.BuildOptions{Name: o.ObjectName, MaxNestedPaths: o.MaxNestedPaths, ICSP: o.ICSP})
		if err != nil {
			return cli.BadInput(err)
		}
		dst = mirror.Registry{Root: root, MaxNestedPaths: o.MaxNestedPaths}
	}
	// An archive's signatures are checked before anything is pushed;
	// signatures from the stores are fetched once the copy is done.
	var sigs [][][]byte
	if fromArchive {
		if sigs, err = o.releaseSignatures(ctx, p.Releases, true); err != nil {
			return err
		}
	}
	opts := o.engineOptions()
	opts.SigstoreAttachments = !fromArchive // an archive holds them as images of their own
	opts.DryRunChecksDest = fromArchive     // what of the archive the registry holds already
	rep, err := mirror.Mirror(ctx, p, src, dst, opts)
	if err != nil {
		return cli.BadInput(err)
	}
	if err := o.mirrorCatalogs(ctx, p, rep, dst, opts); err != nil {
		return err
	}
	if err := o.failed(ctx, rep); err != nil {
		return err
	}
	if !fromArchive {
		if sigs, err = o.releaseSignatures(ctx, p.Releases, false); err != nil {
			return err
		}
	}
	switch {
	case o.diskDir() != "" && o.DryRun:
		return o.dryRunArchive(rep, o.diskDir())
	case w != nil:
		return o.finishArchive(w, p, rep, sigs)
	}
	if err := o.emit(rep, objs, p, sigs, root); err != nil {
		return err
	}
	if !o.DryRun {
		o.summary(rep)
		o.upgradeHint(p, root)
	}
	return nil
}

func (o *Options) info(format string, args ...any) {
	fmt.Fprintf(o.ErrOut, format+"\n", args...)
}

// failed prints the summary and every failure, writes failed-mapping.txt
// with --resources-dir, and returns the error line, when items could not be
// copied (or, in a dry run, read).
func (o *Options) failed(ctx context.Context, rep *mirror.Report) error {
	failed := rep.Failed()
	if len(failed) == 0 {
		return nil
	}
	if ctx.Err() != nil {
		return cli.Failed(fmt.Errorf("interrupted after copying %d of %d images; nothing was printed; a re-run continues where this one stopped",
			rep.Stats.ImagesCopied+rep.Stats.ImagesPresent, rep.Stats.Images))
	}
	var unservable *mirror.UnservableError
	if errors.As(failed[0].Err, &unservable) {
		return cli.Failed(unservable) // one line: every image failed for this one reason
	}
	if down := registryDown(failed); down != nil {
		return cli.Failed(fmt.Errorf("%w; %d of %d images were not copied and nothing was printed; a re-run copies only what is missing",
			down, len(failed), rep.Stats.Images))
	}
	if o.DryRun {
		for _, f := range failed {
			o.info("could not read: %s (%s): %v", f.Item.Source, f.Item.Origin, f.Err)
		}
		return cli.Failed(fmt.Errorf("dry run: %d of %d images could not be read (each is listed above); nothing was printed", len(failed), rep.Stats.Images))
	}
	o.summary(rep)
	retryHint := "a re-run copies only what is missing"
	if o.ResourcesDir != "" && o.diskDir() == "" {
		path := filepath.Join(o.ResourcesDir, "failed-mapping.txt")
		failedOnly := func(r mirror.ItemResult) bool { return r.Status == mirror.StatusFailed }
		if err := o.writeResource(path, []byte(rep.Mapping(failedOnly))); err != nil {
			return cli.Failed(err)
		}
		retryHint = "to retry only them: " + Name + " images -f " + path
	}
	return cli.Failed(fmt.Errorf("%d of %d images could not be copied (each is listed above); nothing was printed; %s",
		len(failed), rep.Stats.Images, retryHint))
}

// registryDown is the registry found down that every failure is owed to,
// or nil: then one line says it all.
func registryDown(failed []mirror.ItemResult) *mirror.RegistryDownError {
	var first *mirror.RegistryDownError
	for _, f := range failed {
		var down *mirror.RegistryDownError
		if !errors.As(f.Err, &down) || first != nil && down.Registry != first.Registry {
			return nil
		}
		first = down
	}
	return first
}

func (o *Options) summary(rep *mirror.Report) {
	s := rep.Stats
	rate := 0.0
	if secs := s.Duration.Seconds(); secs > 0 {
		rate = float64(s.BytesCopied) / secs / 1e6
	}
	o.info("images: %d (%d copied, %d already present, %d failed); blobs: %d copied, %d present, %d mounted; %s in %s (%.1f MB/s)",
		s.Images, s.ImagesCopied, s.ImagesPresent, s.ImagesFailed, s.BlobsCopied, s.BlobsPresent, s.BlobsMounted,
		mirror.FormatBytes(s.BytesCopied), s.Duration.Round(10*time.Millisecond), rate)
	for _, f := range rep.Failed() {
		o.info("failed: %s: %v", f.Item.Source, f.Err)
	}
}

// upgradeHint prints, for each release of p, the command that updates a
// cluster to it from the mirror, by digest.
func (o *Options) upgradeHint(p *plan.Plan, root string) {
	for _, r := range p.Releases {
		it, ok := p.ReleaseItem(r)
		if !ok {
			continue
		}
		repo, err := plan.NestPaths(it.Repo(root), o.MaxNestedPaths)
		if err != nil {
			continue
		}
		o.info("To update a cluster that uses this mirror to %s:\n  oc adm upgrade --allow-explicit-upgrade --to-image %s@%s", r.Version, repo, r.Digest)
	}
}

// emit prints the objects on stdout (the mapping, for a dry run, with the
// objects on stderr) and writes --resources-dir.
func (o *Options) emit(rep *mirror.Report, objs *mirrorset.Objects, p *plan.Plan, sigs [][][]byte, root string) error {
	mirrors, err := objs.Unstructured()
	if err != nil {
		return err
	}
	cms, err := signatureConfigMaps(p.Releases, sigs)
	if err != nil {
		return cli.Failed(err)
	}
	catalogs, err := o.catalogObjects(rep, root)
	if err != nil {
		return cli.Failed(err)
	}
	osus, err := o.updateServiceObjects(p, root)
	if err != nil {
		return err
	}
	all := append(append(append(mirrors, cms...), catalogs...), osus...)
	if o.DryRun {
		if _, err := io.WriteString(o.Out, rep.Mapping(func(r mirror.ItemResult) bool { return r.Status != mirror.StatusPresent })); err != nil {
			return err
		}
		if s := rep.Stats; s.ImagesPresent > 0 {
			o.info("# dry run: %d of %d images are at the destination already; the others would be pushed (%d blobs, %s, less what the destination holds)",
				s.ImagesPresent, s.Images, s.BlobsPlanned, mirror.FormatBytes(s.BytesPlanned))
		}
		o.info("# dry run: nothing was copied; these objects would be printed:")
		return o.printer.Print(o.ErrOut, all)
	}
	if o.ResourcesDir != "" {
		if err := o.writeResources(rep, append(mirrors, catalogs...), cms); err != nil {
			return cli.Failed(err)
		}
	}
	return o.printer.Print(o.Out, all)
}

// writeResources writes the objects under the file names oc-mirror v2
// gives them, and mapping.txt.
func (o *Options) writeResources(rep *mirror.Report, mirrors, cms []*unstructured.Unstructured) error {
	files := map[string][]*unstructured.Unstructured{"signature-configmap.yaml": cms}
	for _, obj := range mirrors {
		name := map[string]string{
			"ImageDigestMirrorSet": "idms-oc-mirror.yaml", "ImageTagMirrorSet": "itms-oc-mirror.yaml",
			"ImageContentSourcePolicy": "icsp-oc-mirror.yaml", "OperatorHub": "operatorhub.yaml",
			// oc-mirror v2's names: one file per catalog.
			"CatalogSource":  "cs-" + strings.TrimPrefix(obj.GetName(), "cs-") + ".yaml",
			"ClusterCatalog": "cc-" + strings.TrimPrefix(obj.GetName(), "cs-") + ".yaml",
		}[obj.GetKind()]
		files[name] = append(files[name], obj)
	}
	for name, objs := range files {
		if len(objs) == 0 {
			continue
		}
		var data []byte
		for i, obj := range objs {
			y, err := manifest.EncodeYAML(obj)
			if err != nil {
				return err
			}
			if i > 0 {
				data = append(data, "---\n"...)
			}
			data = append(data, y...)
		}
		if err := o.writeResource(filepath.Join(o.ResourcesDir, name), data); err != nil {
			return err
		}
	}
	return o.writeResource(filepath.Join(o.ResourcesDir, "mapping.txt"), []byte(rep.Mapping(nil)))
}

// writeResource writes a file of --resources-dir whole or not at all.
func (o *Options) writeResource(path string, data []byte) error {
	if err := os.MkdirAll(o.ResourcesDir, 0o755); err != nil {
		return fmt.Errorf("--resources-dir: %w", err)
	}
	return manifest.WriteFileAtomic(path, data, 0o644)
}
