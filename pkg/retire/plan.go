// Package retire takes mirrored images out of a registry without breaking
// what stays or what a cluster uses. It starts from the same plan
// (pkg/plan) the mirror copied, built by the same builders (a release
// payload, mappings, an archive's index, an ImageSetConfiguration), so that
// what a run mirrored is exactly what is retired.
//
// Build reads the registry (containers/image's docker transport) and turns
// the plan into manifests to delete, each by digest with its tags, why it
// goes, and the bytes the registry can reclaim once its garbage collector
// runs; a manifest a kept tag, a kept manifest list or a cluster still uses
// is not deleted. Execute deletes them, each read back first.
package retire

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/containers/image/v5/manifest"
	digest "github.com/opencontainers/go-digest"
	"golang.org/x/sync/errgroup"

	"github.com/airgap-ocp/oc-plugins/pkg/plan"
)

// Manifest is one manifest in a repository of the registry.
type Manifest struct {
	// Repository is REGISTRY/PATH; Digest the manifest's.
	Repository string        `json:"repository"`
	Digest     digest.Digest `json:"digest"`
	MediaType  string        `json:"mediaType,omitempty"`
	// Tags are the repository's tags that name it.
	Tags []string `json:"tags,omitempty"`
	// Kind is what the plan says it is; Source where it was mirrored from,
	// when the plan names it.
	Kind   plan.Kind `json:"kind,omitempty"`
	Source string    `json:"source,omitempty"`
	// Reason is why it goes: what asked for it in the plan.
	Reason string `json:"reason"`
	// ReclaimableBytes is what garbage collection frees once it is deleted:
	// the manifest and the blobs no kept manifest of the repositories read
	// references, each blob counted once, at the first manifest that has it.
	ReclaimableBytes int64 `json:"reclaimableBytes"`
	// Kept says why it stays, for a manifest the plan named but that is
	// still needed.
	Kept string `json:"kept,omitempty"`

	list     bool
	children []digest.Digest
	blobs    []blob
	size     int64
}

// Ref is REPOSITORY@DIGEST.
func (m Manifest) Ref() string { return m.Repository + "@" + m.Digest.String() }

// Missing is an image of the plan the registry does not hold (deleted by
// an earlier run, or never mirrored).
type Missing struct {
	Image  string `json:"image"`
	Reason string `json:"reason"`
}

// Plan is what a delete does.
type Plan struct {
	// Delete are the manifests to delete, in order: manifest lists before
	// the images they list, so a run stopped half-way leaves no list that
	// names a deleted image.
	Delete []Manifest `json:"delete"`
	// Keep are manifests the plan named that stay, each with why.
	Keep []Manifest `json:"keep,omitempty"`
	// Missing are images of the plan that are not in the registry.
	Missing []Missing `json:"missing,omitempty"`
	// ReclaimableBytes is the sum over Delete.
	ReclaimableBytes int64 `json:"reclaimableBytes"`
	// Listing are catalogs that stay in the registry though the plan
	// retires bundles they list: a cluster using one is refused as if it
	// used an image of the plan.
	Listing []Manifest `json:"listing,omitempty"`
}

// repoState is what Build read of one repository.
type repoState struct {
	tags      map[string]digest.Digest // tag -> digest
	manifests map[digest.Digest]*fetched
}

type key struct {
	repo string
	d    digest.Digest
}

// reader fetches what Build needs, each manifest once.
type reader struct {
	o     Options
	mu    sync.Mutex
	repos map[string]*repoState
}

func (r *reader) state(repo string) *repoState {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.repos[repo]
}

// manifest returns repo@d, reading it when not read yet; nil when the
// registry does not hold it.
func (r *reader) manifest(ctx context.Context, repo string, d digest.Digest) (*fetched, error) {
	st := r.state(repo)
	r.mu.Lock()
	f, ok := st.manifests[d]
	r.mu.Unlock()
	if ok {
		return f, nil
	}
	f, err := r.o.getManifest(ctx, repo+"@"+d.String())
	if errors.Is(err, ErrNotFound) {
		f, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	if f != nil && f.digest != d {
		return nil, fmt.Errorf("%s@%s: the registry served a manifest of digest %s", repo, d, f.digest)
	}
	r.mu.Lock()
	st.manifests[d] = f
	r.mu.Unlock()
	return f, nil
}

// readRepos lists the tags of each repository and reads the manifest each
// names.
func (r *reader) readRepos(ctx context.Context, repos []string) error {
	for _, repo := range repos {
		r.repos[repo] = &repoState{tags: map[string]digest.Digest{}, manifests: map[digest.Digest]*fetched{}}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(r.o.parallel())
	for _, repo := range repos {
		tags, err := r.o.tags(ctx, repo)
		if err != nil {
			return err
		}
		st := r.repos[repo]
		for _, tag := range tags {
			g.Go(func() error {
				f, err := r.o.getManifest(gctx, repo+":"+tag)
				if errors.Is(err, ErrNotFound) {
					return nil // deleted since it was listed
				}
				if err != nil {
					return err
				}
				r.mu.Lock()
				defer r.mu.Unlock()
				st.tags[tag] = f.digest
				st.manifests[f.digest] = f
				return nil
			})
		}
	}
	return g.Wait()
}

// Build reads the registry below root (the destination the plan was
// mirrored to: REGISTRY/PATH, or "" when the items' paths are whole
// repositories) and plans the deletion of p's images. An image the plan
// names by tag is the manifest the tag names now, unless the plan knows
// another digest for it (then the tag was pushed again since, and it
// stays); sigstore signatures of deleted digests and the images of deleted
// manifest lists go with them. What a tag the plan does not name, or a
// manifest list that stays, still references is kept.
func Build(ctx context.Context, p *plan.Plan, root string, o Options) (*Plan, error) {
	return BuildKeeping(ctx, p, root, nil, o)
}

// Listed is an image that something staying in the registry still lists,
// such as a bundle or related image of a catalog that stays: it is kept,
// with what it references, as a kept tag is. Item places it below the
// root as the plan's items are placed; Why says what lists it.
type Listed struct {
	Item plan.Item
	Why  string
}

// BuildKeeping is Build that also keeps what the catalogs that stay list,
// and names the catalogs whose bundles go though they stay (nil: none).
func BuildKeeping(ctx context.Context, p *plan.Plan, root string, cats *Catalogs, o Options) (*Plan, error) {
	var listed []Listed
	if cats != nil {
		listed = cats.Listed
	}
	type want struct {
		it   plan.Item
		repo string
	}
	var wants []want
	var repos []string
	for _, it := range p.Items {
		repo, err := plan.NestPaths(it.Repo(root), o.MaxNestedPaths)
		if err != nil {
			return nil, fmt.Errorf("%s (%s): repository %q: %w", it.Source, it.Origin, it.Repo(root), err)
		}
		if it.Tag == "" && it.Digest == "" {
			return nil, fmt.Errorf("%s (%s): neither a tag nor a digest to find it by in %s", it.Source, it.Origin, repo)
		}
		wants = append(wants, want{it, repo})
		if !slices.Contains(repos, repo) {
			repos = append(repos, repo)
		}
	}
	r := &reader{o: o, repos: map[string]*repoState{}}
	if err := r.readRepos(ctx, repos); err != nil {
		return nil, err
	}

	out := &Plan{}
	planned := map[key]*Manifest{}
	var order []key
	plannedTags := map[string]map[string]bool{} // repo -> tags the plan retires
	addPlanned := func(m Manifest) *Manifest {
		k := key{m.Repository, m.Digest}
		if prev, ok := planned[k]; ok {
			if !strings.Contains(prev.Reason, m.Reason) {
				prev.Reason += "; " + m.Reason
			}
			return prev
		}
		planned[k] = &m
		order = append(order, k)
		return &m
	}
	retireTag := func(repo, tag string) {
		if plannedTags[repo] == nil {
			plannedTags[repo] = map[string]bool{}
		}
		plannedTags[repo][tag] = true
	}
	for _, w := range wants {
		it, st := w.it, r.state(w.repo)
		d := it.Digest
		if it.Tag != "" {
			at, ok := st.tags[it.Tag]
			switch {
			case !ok:
				out.Missing = append(out.Missing, Missing{Image: w.repo + ":" + it.Tag, Reason: it.Origin})
				continue
			case d != "" && at != d && it.Platform == nil:
				out.Keep = append(out.Keep, Manifest{Repository: w.repo, Digest: at, Tags: []string{it.Tag}, Kind: it.Kind, Source: it.Source, Reason: it.Origin,
					Kept: fmt.Sprintf("the tag names %s now, not %s as mirrored: it was pushed again since", at, d)})
				continue
			}
			d = at
			retireTag(w.repo, it.Tag)
		}
		f, err := r.manifest(ctx, w.repo, d)
		if err != nil {
			return nil, err
		}
		if f == nil {
			out.Missing = append(out.Missing, Missing{Image: w.repo + "@" + d.String(), Reason: it.Origin})
			continue
		}
		addPlanned(Manifest{Repository: w.repo, Digest: d, MediaType: f.mediaType, Kind: it.Kind, Source: it.Source, Reason: it.Origin})
	}
	// The images of planned manifest lists, and the sigstore signatures of
	// every planned digest, go with them.
	for i := 0; i < len(order); i++ {
		m := planned[order[i]]
		st := r.state(m.Repository)
		f, err := r.manifest(ctx, m.Repository, m.Digest)
		if err != nil {
			return nil, err
		}
		if m.children, m.blobs, err = f.parse(); err != nil {
			return nil, fmt.Errorf("%s: %w", m.Ref(), err)
		}
		m.list, m.size = manifest.MIMETypeIsMultiImage(f.mediaType), int64(len(f.raw))
		for _, c := range m.children {
			cf, err := r.manifest(ctx, m.Repository, c)
			if err != nil {
				return nil, err
			}
			if cf != nil {
				addPlanned(Manifest{Repository: m.Repository, Digest: c, MediaType: cf.mediaType, Kind: m.Kind, Source: m.Source,
					Reason: fmt.Sprintf("listed by %s (%s)", m.Digest, m.Reason)})
			}
		}
		sig := strings.Replace(m.Digest.String(), ":", "-", 1) + ".sig"
		if sd, ok := st.tags[sig]; ok {
			retireTag(m.Repository, sig)
			sf, err := r.manifest(ctx, m.Repository, sd)
			if err != nil {
				return nil, err
			}
			if sf == nil {
				continue
			}
			addPlanned(Manifest{Repository: m.Repository, Digest: sd, MediaType: sf.mediaType, Kind: plan.SigstoreSignature,
				Reason: fmt.Sprintf("sigstore signature of %s (%s)", m.Digest, m.Reason)})
		}
	}

	// What stays: every tag the plan does not retire, and everything a kept
	// manifest list names, however deep.
	keptWhy := map[key]string{}
	var queue []key
	for _, repo := range repos {
		st := r.state(repo)
		for _, tag := range slices.Sorted(maps.Keys(st.tags)) {
			if plannedTags[repo][tag] {
				continue
			}
			k := key{repo, st.tags[tag]}
			if _, ok := keptWhy[k]; !ok {
				keptWhy[k] = fmt.Sprintf("the tag %s stays and names it", tag)
				queue = append(queue, k)
			}
		}
	}
	// What a kept catalog lists, in the repositories the plan touches (in
	// others nothing is planned).
	for _, l := range listed {
		repo, err := plan.NestPaths(l.Item.Repo(root), o.MaxNestedPaths)
		if err != nil {
			return nil, fmt.Errorf("%s (%s): repository %q: %w", l.Item.Source, l.Why, l.Item.Repo(root), err)
		}
		st := r.state(repo)
		if st == nil {
			continue
		}
		d := l.Item.Digest
		if d == "" {
			d = st.tags[l.Item.Tag]
		}
		k := key{repo, d}
		if _, ok := keptWhy[k]; !ok && d != "" {
			keptWhy[k] = l.Why
			queue = append(queue, k)
		}
	}
	keptBlobs := map[digest.Digest]bool{}
	for len(queue) > 0 {
		k := queue[0]
		queue = queue[1:]
		f, err := r.manifest(ctx, k.repo, k.d)
		if err != nil {
			return nil, err
		}
		if f == nil {
			continue
		}
		children, blobs, err := f.parse()
		if err != nil {
			return nil, fmt.Errorf("%s@%s: %w", k.repo, k.d, err)
		}
		for _, b := range blobs {
			keptBlobs[b.digest] = true
		}
		for _, c := range children {
			ck := key{k.repo, c}
			if _, ok := keptWhy[ck]; !ok {
				keptWhy[ck] = fmt.Sprintf("the manifest list %s stays and names it (%s)", k.d, strings.TrimSuffix(keptWhy[k], " and names it"))
				queue = append(queue, ck)
			}
		}
	}

	var lists, images []Manifest
	for _, k := range order {
		m := *planned[k]
		st := r.state(m.Repository)
		for tag, d := range st.tags {
			if d == m.Digest {
				m.Tags = append(m.Tags, tag)
			}
		}
		sort.Strings(m.Tags)
		if why, ok := keptWhy[k]; ok {
			m.Kept = why
			out.Keep = append(out.Keep, m)
			continue
		}
		if m.list {
			lists = append(lists, m)
		} else {
			images = append(images, m)
		}
	}
	counted := map[digest.Digest]bool{}
	for _, m := range append(lists, images...) {
		m.ReclaimableBytes = m.size
		for _, b := range m.blobs {
			if !keptBlobs[b.digest] && !counted[b.digest] {
				counted[b.digest] = true
				m.ReclaimableBytes += b.size
			}
		}
		out.ReclaimableBytes += m.ReclaimableBytes
		out.Delete = append(out.Delete, m)
	}
	if cats != nil {
		out.Listing = cats.Listing
	}
	return out, nil
}
