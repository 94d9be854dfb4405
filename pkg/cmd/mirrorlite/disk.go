package mirrorlite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/containers/image/v5/docker/reference"
	"github.com/containers/image/v5/types"
	digest "github.com/opencontainers/go-digest"

	"github.com/airgap-ocp/oc-plugins/pkg/archive"
	"github.com/airgap-ocp/oc-plugins/pkg/cli"
	"github.com/airgap-ocp/oc-plugins/pkg/imageset"
	"github.com/airgap-ocp/oc-plugins/pkg/mirror"
	"github.com/airgap-ocp/oc-plugins/pkg/release"
	"github.com/airgap-ocp/oc-plugins/pkg/signature"
)

// The air gap: mirror to disk (--to file://DIR), disk to mirror (--from
// file://DIR --to docker://...), and ImageSetConfiguration (-c). All three
// build an image set: every image with its place below the destination
// (archive.Image), which a direct run or disk to mirror roots at --to and
// mirror to disk records in the archive's index.

// releasePath is where -c puts release payloads below --to, as oc-mirror v2 does.
const releasePath = "openshift/release"

// planRoot is the stand-in destination a release is planned into before
// the real one is known.
const planRoot = "mirror-lite.invalid/root"

type imageSet struct {
	name     string
	images   []archive.Image
	releases []archive.Release
	payloads []*release.Payload
}

// diskDir is the directory of a file:// location, or "".
func diskDir(s string) string {
	if rest, ok := strings.CutPrefix(s, "file://"); ok {
		return rest
	}
	return ""
}

// rootRepo is a docker:// destination without transport: REGISTRY[/PATH].
func rootRepo(s string) (string, error) {
	to := s
	if t, rest, ok := strings.Cut(to, "://"); ok {
		if t != "docker" {
			return "", fmt.Errorf("%q: want docker://REGISTRY/REPO or file://DIR", s)
		}
		to = rest
	}
	named, err := reference.ParseNormalizedNamed(to)
	if err != nil {
		return "", fmt.Errorf("%q: %w", s, err)
	}
	if !reference.IsNameOnly(named) {
		return "", fmt.Errorf("%q: want a repository without tag or digest", s)
	}
	return named.Name(), nil
}

// parseArchiveSize reads --archive-size (archive.ParseSize).
func parseArchiveSize(s string) (int64, error) { return archive.ParseSize(s) }

// releaseSet reads the payload at pullSpec and plans it below path.
func (o *Options) releaseSet(ctx context.Context, pullSpec, path string) (*imageSet, error) {
	payload, err := o.readPayload(ctx, pullSpec)
	if err != nil {
		if errors.Is(err, release.ErrNotRelease) {
			return nil, cli.BadInput(err)
		}
		return nil, cli.Failed(err)
	}
	plan, err := payload.Mirror(planRoot, "")
	if err != nil {
		return nil, cli.BadInput(err)
	}
	tagOf := func(dest string) string { return dest[strings.LastIndex(dest, ":")+1:] }
	s := &imageSet{name: objectName("release-" + payload.Version + payload.ArchExt()), payloads: []*release.Payload{payload}}
	for _, m := range plan.All() {
		s.images = append(s.images, archive.Image{Source: m.Source, Digest: sourceDigest(m.Source), Path: path, Tag: tagOf(m.Dest)})
	}
	meta, _ := json.Marshal(payload.Metadata)
	s.releases = append(s.releases, archive.Release{
		Version: payload.Version, ArchExt: payload.ArchExt(), Digest: payload.Digest,
		Source: payload.PullSpec(), Tag: tagOf(plan.Release.Dest), Metadata: meta,
	})
	fmt.Fprintf(o.ErrOut, "release %s (%s), %d components\n", payload.Version, payload.PullSpec(), len(payload.Components))
	return s, nil
}

func sourceDigest(s string) digest.Digest {
	if i := strings.LastIndex(s, "@"); i >= 0 {
		return digest.Digest(s[i+1:])
	}
	return ""
}

func (s *imageSet) add(t *imageSet) {
	s.images = append(s.images, t.images...)
	s.releases = append(s.releases, t.releases...)
	s.payloads = append(s.payloads, t.payloads...)
}

// configSet builds the image set an ImageSetConfiguration asks for.
func (o *Options) configSet(ctx context.Context) (*imageSet, *imageset.Config, error) {
	if err := o.readLocal(); err != nil {
		return nil, nil, err
	}
	cfg := o.config
	client, err := o.Registry.HTTPClient()
	if err != nil {
		return nil, nil, err
	}
	set := &imageSet{}
	arches := cfg.Architectures
	if len(arches) == 0 {
		arches = []string{"amd64"}
	}
	seen := map[string]bool{}
	for i, ch := range cfg.Channels {
		for _, a := range arches {
			arch, err := release.GraphArch(a)
			if err != nil {
				return nil, nil, cli.BadInputf("%s: mirror.platform.architectures: %w", o.Config, err)
			}
			g, err := release.FetchGraph(ctx, client, release.GraphURL(ch.Type), ch.Name, arch, o.retry)
			if err != nil {
				return nil, nil, cli.Failed(err)
			}
			nodes, err := g.Select(release.Selection{MinVersion: ch.MinVersion, MaxVersion: ch.MaxVersion, ShortestPath: ch.ShortestPath, Full: ch.Full})
			if err != nil {
				return nil, nil, cli.BadInputf("%s: mirror.platform.channels[%d] (%s, %s): %w", o.Config, i, ch.Name, arch, err)
			}
			for _, n := range nodes {
				if seen[n.Payload] {
					continue
				}
				seen[n.Payload] = true
				rs, err := o.releaseSet(ctx, n.Payload, releasePath)
				if err != nil {
					return nil, nil, err
				}
				set.add(rs)
			}
		}
	}
	for _, ai := range cfg.AdditionalImages {
		named, err := reference.ParseNormalizedNamed(ai.Name)
		if err != nil {
			return nil, nil, cli.BadInputf("%s: additionalImages: %w", o.Config, err)
		}
		_, byDigest := named.(reference.Digested)
		if !byDigest {
			named = reference.TagNameOnly(named)
		}
		im := archive.Image{Source: named.String(), Path: reference.Path(named), ByTag: !byDigest}
		if byDigest {
			im.Digest = named.(reference.Digested).Digest()
		} else {
			im.Tag = named.(reference.Tagged).Tag()
		}
		if ai.TargetRepo != "" {
			im.Path = ai.TargetRepo
		}
		if ai.TargetTag != "" {
			im.Tag = ai.TargetTag
		}
		set.images = append(set.images, im)
	}
	var kept []archive.Image
	for _, im := range set.images {
		if cfg.Blocks(im.Source) {
			fmt.Fprintf(o.ErrOut, "blocked by mirror.blockedImages: %s\n", im.Source)
			continue
		}
		kept = append(kept, im)
	}
	set.images = kept
	if len(set.releases) == 1 && len(cfg.AdditionalImages) == 0 {
		set.name = objectName("release-" + set.releases[0].Version + set.releases[0].ArchExt)
	}
	return set, cfg, nil
}

// imagesSet is the image set of SRC=DST mappings mirrored to disk: each
// DST keeps its repository path and tag; its registry is the one given to
// --from on the far side.
func (o *Options) imagesSet(maps []mirror.Mapping) (*imageSet, error) {
	set := &imageSet{}
	for _, m := range maps {
		src, err := reference.ParseNormalizedNamed(m.Source)
		if err != nil {
			return nil, err
		}
		dst, err := reference.ParseNormalizedNamed(m.Dest)
		if err != nil {
			return nil, err
		}
		im := archive.Image{Path: reference.Path(dst)}
		if d, ok := src.(reference.Digested); ok {
			im.Digest = d.Digest()
		} else {
			src = reference.TagNameOnly(src)
			im.ByTag = true
			im.Tag = src.(reference.Tagged).Tag()
		}
		if t, ok := dst.(reference.Tagged); ok {
			im.Tag = t.Tag()
		}
		im.Source = src.String()
		set.images = append(set.images, im)
	}
	return set, nil
}

// destRepo is the repository im goes to below root, flattened per
// --max-nested-paths.
func (o *Options) destRepo(root string, im archive.Image) (string, error) {
	repo := root
	if im.Path != "" {
		repo += "/" + im.Path
	}
	return mirror.NestPaths(repo, o.MaxNestedPaths)
}

// destRef is where im goes below root.
func (o *Options) destRef(root string, im archive.Image) (types.ImageReference, error) {
	repo, err := o.destRepo(root, im)
	if err != nil {
		return nil, err
	}
	if im.Tag != "" {
		return dockerRef(repo+":"+im.Tag, false)
	}
	return dockerRef(repo, true)
}

func srcRef(im archive.Image) (types.ImageReference, error) {
	return dockerRef(im.Source, false)
}

// resources are the mirror objects for the set rooted at root.
func (o *Options) resources(root, name string, images []archive.Image) (*Resources, error) {
	var digestPairs, tagPairs []RepoMirror
	for _, im := range images {
		named, err := reference.ParseNormalizedNamed(im.Source)
		if err != nil {
			return nil, err
		}
		dest, err := o.destRepo(root, im)
		if err != nil {
			return nil, err
		}
		pair := RepoMirror{Source: reference.TrimNamed(named).Name(), Mirror: dest}
		if im.ByTag {
			tagPairs = append(tagPairs, pair)
		} else {
			digestPairs = append(digestPairs, pair)
		}
	}
	all := append(append([]RepoMirror(nil), digestPairs...), tagPairs...)
	if o.ObjectName != "" {
		name = o.ObjectName
	}
	if name == "" {
		name = imagesName(all)
	}
	r := &Resources{}
	var err error
	if r.IDMS, err = BuildIDMS(name, all); err != nil {
		return nil, err
	}
	if r.ITMS, err = BuildITMS(name, tagPairs); err != nil {
		return nil, err
	}
	if o.ICSP {
		r.ICSP = BuildICSP(name, all)
	}
	return r, nil
}

// runConfig mirrors what -c asks for, to a registry or to disk.
func (o *Options) runConfig(ctx context.Context) error {
	set, cfg, err := o.configSet(ctx)
	if err != nil {
		return err
	}
	if o.ArchiveSize == "" && cfg.ArchiveSize > 0 {
		o.ArchiveSize = strconv.Itoa(cfg.ArchiveSize)
	}
	if dir := diskDir(o.To); dir != "" {
		return o.toDisk(ctx, set, dir)
	}
	return o.direct(ctx, set)
}

// direct mirrors set registry to registry.
func (o *Options) direct(ctx context.Context, set *imageSet) error {
	root, err := rootRepo(o.To)
	if err != nil {
		return cli.BadInputf("--to: %w", err)
	}
	out, err := o.resources(root, set.name, set.images)
	if err != nil {
		return cli.BadInput(err)
	}
	var images []mirror.Image
	for _, im := range set.images {
		s, err := srcRef(im)
		if err != nil {
			return cli.BadInput(err)
		}
		d, err := o.destRef(root, im)
		if err != nil {
			return cli.BadInput(err)
		}
		images = append(images, mirror.Image{Source: s, Dest: d})
	}
	res := mirror.Mirror(ctx, images, o.engineOptions())
	if err := o.failed(ctx, res); err != nil {
		return err
	}
	for _, p := range set.payloads {
		sigs, err := o.signatures(ctx, p)
		if err != nil {
			return err
		}
		out.Signatures = append(out.Signatures, sigs...)
	}
	if err := o.emit(res, out); err != nil {
		return err
	}
	if !o.DryRun {
		o.summary(res)
		o.upgradeHint(root, set.images, set.releases)
	}
	return nil
}

func (o *Options) upgradeHint(root string, images []archive.Image, rels []archive.Release) {
	for _, r := range rels {
		repo := root
		for _, im := range images {
			if im.Digest == r.Digest {
				if d, err := o.destRepo(root, im); err == nil {
					repo = d
				}
			}
		}
		fmt.Fprintf(o.ErrOut, "To update a cluster that uses this mirror to %s:\n  oc adm upgrade --allow-explicit-upgrade --to-image %s@%s\n", r.Version, repo, r.Digest)
	}
}

// toDisk mirrors set into the archive at dir, resuming what an
// interrupted run left there.
func (o *Options) toDisk(ctx context.Context, set *imageSet, dir string) error {
	var err error
	size, err := parseArchiveSize(o.ArchiveSize)
	if err != nil {
		return cli.BadInputf("--archive-size: %w", err)
	}
	wopts := archive.WriterOptions{ChunkSize: size, Warn: o.ErrOut}
	if o.Since != "" {
		prev, err := archive.ReadIndexFile(o.Since)
		if err != nil {
			return cli.BadInputf("--since: %w", err)
		}
		wopts.Since, wopts.SinceID = map[digest.Digest]bool{}, prev.ID
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
		return fmt.Errorf("--to file://%s: %w", dir, err) // exit 3, or 2 for a directory refused as it stands
	}
	if n := w.Count(); n > 0 {
		fmt.Fprintf(o.ErrOut, "resuming %s: %d blobs already written are kept\n", dir, n)
	}
	dw := mirror.NewDiskWriter(w)
	var images []mirror.Image
	for _, im := range set.images {
		s, err := srcRef(im)
		if err != nil {
			w.Close()
			return cli.BadInput(err)
		}
		images = append(images, mirror.Image{Source: s, Dest: dw.Ref()})
	}
	fmt.Fprintf(o.ErrOut, "mirroring %d images to the archive %s\n", len(images), dir)
	res := mirror.Mirror(ctx, images, o.engineOptions())
	if err := o.failed(ctx, res); err != nil {
		w.Close()
		return err
	}
	idx := &archive.Index{Tool: Name + " " + cli.Version, Name: set.name}
	byDigest := map[digest.Digest]archive.Image{}
	for i, r := range res.Images {
		var im archive.Image
		if i < len(set.images) {
			im = set.images[i]
			byDigest[r.Digest] = im
		} else {
			// A sigstore signature (sha256-<hex>.sig) the engine found for
			// an image: it goes next to that image, by its tag.
			src := strings.TrimPrefix(r.Source.StringWithinTransport(), "//")
			tag := src[strings.LastIndex(src, ":")+1:]
			parent, ok := byDigest[digest.Digest(strings.Replace(strings.TrimSuffix(tag, ".sig"), "-", ":", 1))]
			if !ok {
				continue
			}
			im = archive.Image{Source: src, Path: parent.Path, Tag: tag}
		}
		im.Digest, im.MediaType = r.Digest, r.MIMEType
		idx.Images = append(idx.Images, im)
	}
	for i, p := range set.payloads {
		rel := set.releases[i]
		sigs, err := o.releaseSignatures(ctx, p)
		if err != nil {
			w.Close()
			return err
		}
		rel.Signatures = sigs
		idx.Releases = append(idx.Releases, rel)
	}
	if err := w.Finish(idx); err != nil {
		return cli.Failed(fmt.Errorf("finishing the archive %s: %w", dir, err))
	}
	o.summary(res)
	var total int64
	for _, c := range idx.Chunks {
		total += c.Size
	}
	fmt.Fprintf(o.ErrOut, "archive %s: %d chunks, %s, %d images; carry the directory across and run:\n  %s --from file://%s --to docker://REGISTRY/REPO\n",
		dir, len(idx.Chunks), mirror.FormatBytes(total), len(idx.Images), Name, dir)
	return nil
}

// fromDisk pushes the archive at dir to --to.
func (o *Options) fromDisk(ctx context.Context, dir string) error {
	root, err := rootRepo(o.To)
	if err != nil {
		return cli.BadInputf("--to: %w", err)
	}
	ar, err := archive.Open(dir)
	if err != nil {
		return cli.BadInputf("--from: %w", err)
	}
	defer ar.Close()
	idx := ar.Index()
	fmt.Fprintf(o.ErrOut, "verifying %d chunks of %s\n", len(idx.Chunks), dir)
	for _, e := range ar.Verify(2) {
		fmt.Fprintf(o.ErrOut, "refused: %v; images that need it will not be pushed\n", e)
	}
	out, err := o.resources(root, idx.Name, idx.Images)
	if err != nil {
		return cli.BadInputf("--from %s: %w", dir, err)
	}
	sigs, err := o.archivedSignatures(idx.Releases)
	if err != nil {
		return err
	}
	dr := mirror.NewDiskReader(ar)
	var images []mirror.Image
	for _, im := range idx.Images {
		d, err := o.destRef(root, im)
		if err != nil {
			return cli.BadInputf("--from %s: %w", dir, err)
		}
		images = append(images, mirror.Image{Source: dr.Ref(im.Digest), Dest: d})
	}
	opts := o.engineOptions()
	opts.SigstoreAttachments = false
	res := mirror.Mirror(ctx, images, opts)
	// Name each image by where it came from, not by its place in the archive.
	for i := range res.Images {
		if s, err := srcRef(idx.Images[i]); err == nil {
			res.Images[i].Source = s
		}
	}
	if err := o.failed(ctx, res); err != nil {
		return err
	}
	for i, r := range idx.Releases {
		if len(sigs[i]) == 0 {
			continue
		}
		cm, err := signature.ConfigMap(r.Digest.String(), sigs[i])
		if err != nil {
			return cli.Failed(err)
		}
		u, err := toUnstructured(cm)
		if err != nil {
			return err
		}
		out.Signatures = append(out.Signatures, u)
	}
	if err := o.emit(res, out); err != nil {
		return err
	}
	o.summary(res)
	o.upgradeHint(root, idx.Images, idx.Releases)
	return nil
}

// archivedSignatures returns the signatures of each release in the archive
// that go into its signature ConfigMap. They were verified before they were
// archived; with --keyring they are verified again here, before anything is
// pushed, so an index altered or swapped on the way across gives no
// ConfigMap the Cluster Version Operator would refuse. A release left with
// none is a warning, or exit 1 with --require-signatures.
func (o *Options) archivedSignatures(releases []archive.Release) ([][][]byte, error) {
	out := make([][][]byte, len(releases))
	for i, r := range releases {
		d := r.Digest.String()
		sigs, why := r.Signatures, "the archive carries no verified signatures for it"
		if len(o.Keyrings) > 0 && len(sigs) > 0 {
			var bad []error
			if sigs, bad = verifyEach(sigs, d, o.keys); len(bad) > 0 {
				why = fmt.Sprintf("%d archived signatures did not verify with --keyring (%v)", len(bad), errors.Join(bad...))
				if len(sigs) > 0 {
					fmt.Fprintf(o.ErrOut, "warning: release %s (%s): %s; left out\n", r.Version, d, why)
				}
			}
		}
		if len(sigs) == 0 {
			if o.RequireSignatures {
				return nil, cli.Differs(fmt.Errorf("release %s (%s): %s", r.Version, d, why))
			}
			fmt.Fprintf(o.ErrOut, "warning: no release signature ConfigMap for %s (%s): %s\n", r.Version, d, why)
		}
		out[i] = sigs
	}
	return out, nil
}

// validateAirGap checks the flags of -c, --from and --to file://.
func (o *Options) validateAirGap() error {
	toDisk := diskDir(o.To) != ""
	if o.images && !toDisk && o.To != "" {
		return cli.BadInputf("--to: images takes file://DIR only (to mirror to disk); for registries give SRC=DST")
	}
	if o.images && o.FilterByOS != "" && toDisk {
		return cli.BadInputf("--filter-by-os applies to registry to registry mirrors only")
	}
	if o.root {
		switch {
		case o.Config != "" && o.From != "":
			return cli.BadInputf("give -c or --from, not both: an archive's index already says what to push")
		case o.To == "":
			return cli.BadInputf("--to is required: docker://REGISTRY/REPO, or file://DIR to mirror to disk")
		}
	}
	if strings.HasPrefix(o.To, "file://") && !toDisk {
		return cli.BadInputf("--to %q: name a directory, file://DIR", o.To)
	}
	if !toDisk {
		if _, err := rootRepo(o.To); err != nil {
			return cli.BadInputf("--to: %w", err)
		}
	}
	if o.From != "" {
		if diskDir(o.From) == "" {
			return cli.BadInputf("--from %q: want file://DIR, an archive written by --to file://DIR", o.From)
		}
		if toDisk {
			return cli.BadInputf("--from file:// pushes to a registry: give --to docker://REGISTRY/REPO")
		}
	}
	if (o.Since != "" || o.ArchiveSize != "") && !toDisk {
		return cli.BadInputf("--since and --archive-size apply to mirror to disk (--to file://DIR) only")
	}
	if _, err := parseArchiveSize(o.ArchiveSize); err != nil {
		return cli.BadInputf("--archive-size: %w", err)
	}
	if toDisk || o.From != "" {
		if o.DryRun {
			return cli.BadInputf("--dry-run applies to registry to registry mirrors only")
		}
		if o.ToRelease != "" {
			return cli.BadInputf("--to-release-image applies to registry destinations only")
		}
	}
	if o.RequireSignatures && len(o.Keyrings) == 0 {
		return cli.BadInputf("--require-signatures needs --keyring: signatures are verified against it")
	}
	for _, k := range o.Keyrings {
		if _, err := os.Stat(k); err != nil {
			return cli.BadInputf("--keyring: %w", err)
		}
	}
	return nil
}
