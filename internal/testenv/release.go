package testenv

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/containers/image/v5/copy"
	"github.com/containers/image/v5/docker"
	"github.com/containers/image/v5/manifest"
	"github.com/containers/image/v5/oci/layout"
	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	imgspecv1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// ComponentNames are the names of the synthetic release's components:
// real OpenShift payload tags, so plans and tags read like real ones.
var ComponentNames = []string{
	"agent-installer-api-server", "aws-ebs-csi-driver", "baremetal-installer", "cli", "cli-artifacts",
	"cluster-authentication-operator", "cluster-autoscaler", "cluster-config-operator", "cluster-dns-operator",
	"cluster-etcd-operator", "cluster-image-registry-operator", "cluster-ingress-operator",
	"cluster-kube-apiserver-operator", "cluster-kube-controller-manager-operator", "cluster-kube-scheduler-operator",
	"cluster-machine-approver", "cluster-monitoring-operator", "cluster-network-operator", "cluster-node-tuning-operator",
	"cluster-openshift-apiserver-operator", "cluster-policy-controller", "cluster-samples-operator",
	"cluster-storage-operator", "cluster-version-operator", "console", "console-operator", "coredns", "etcd",
	"haproxy-router", "hyperkube", "installer", "machine-api-operator", "machine-config-operator",
	"must-gather", "oauth-server", "openshift-apiserver", "ovn-kubernetes", "pod", "tools",
}

// ReleaseSpec describes a synthetic OpenShift release payload.
type ReleaseSpec struct {
	// Version is image-references' metadata.name, e.g. "4.16.3" (the default).
	Version string
	// Components is how many of ComponentNames to build (default and
	// maximum len(ComponentNames)).
	Components int
	// Arch is the single architecture (GOARCH spelling), default "amd64".
	// With Arches, every component and the release image are manifest
	// lists with one image per architecture.
	Arch   string
	Arches []string
	// ReleaseRepo and ComponentRepo are the repositories in the registry,
	// default openshift-release-dev/ocp-release and
	// openshift-release-dev/ocp-v4.0-art-dev.
	ReleaseRepo, ComponentRepo string
	// BaseLayerSize is the size of each of the two layers every base image
	// has (three bases, every component on one of them); OwnLayerSize that
	// of each component's own layer. Defaults 64 KiB and 8 KiB. The data is
	// pseudo-random, so the compressed blobs are about that size too.
	BaseLayerSize, OwnLayerSize int
	// ReferenceHost, when set, is the registry host image-references names
	// the components with, instead of this registry's: a payload as built
	// for quay.io, served here as a mirror (for registries.conf tests).
	ReferenceHost string
	// SigstoreSignature also pushes a cosign-style "sha256-<hex>.sig" tag
	// for the release digest.
	SigstoreSignature bool
	// ComponentsFrom, when set, builds every component but those named in
	// Changed exactly as the release of that version builds it (the same
	// digests), as z-streams share most of their images.
	ComponentsFrom string
	Changed        []string
}

// Release is a synthetic release payload pushed to a registry.
type Release struct {
	Version string
	// Repo is the release repository (host/path, the host ReferenceHost
	// if set), PullSpec the release by digest, Tag by tag (<version>-<arch>
	// as quay.io names them).
	Repo, PullSpec, Tag string
	Digest              digest.Digest
	// ComponentRepo is where the components are; Components maps each
	// component name to its pull spec by digest.
	ComponentRepo string
	Components    map[string]string
	// SharedBlobs are the base layers, shared by many components.
	SharedBlobs []digest.Digest
	// ImageReferences and ReleaseMetadata are the files in the release image.
	ImageReferences, ReleaseMetadata []byte
	// SignatureTag is the sigstore signature tag, if one was pushed.
	SignatureTag string
}

func (s *ReleaseSpec) defaults() {
	if s.Version == "" {
		s.Version = "4.16.3"
	}
	if s.Components <= 0 || s.Components > len(ComponentNames) {
		s.Components = len(ComponentNames)
	}
	if s.Arch == "" {
		s.Arch = "amd64"
	}
	if s.ReleaseRepo == "" {
		s.ReleaseRepo = "openshift-release-dev/ocp-release"
	}
	if s.ComponentRepo == "" {
		s.ComponentRepo = "openshift-release-dev/ocp-v4.0-art-dev"
	}
	if s.BaseLayerSize <= 0 {
		s.BaseLayerSize = 64 << 10
	}
	if s.OwnLayerSize <= 0 {
		s.OwnLayerSize = 8 << 10
	}
}

// PseudoRandom returns n bytes that depend only on seed: incompressible
// data for layers of a known size.
func PseudoRandom(seed string, n int) []byte {
	sum := sha256.Sum256([]byte(seed))
	rng := rand.NewChaCha8(sum)
	b := make([]byte, n)
	_, _ = rng.Read(b)
	return b
}

// ArchExt is the suffix oc gives a release of arch (GOARCH spelling):
// amd64 -> x86_64, arm64 -> aarch64, others as they are.
func ArchExt(arch string) string {
	switch arch {
	case "amd64":
		return "x86_64"
	case "arm64":
		return "aarch64"
	}
	return arch
}

// PushRelease builds a release payload as real images and pushes it: the
// components (each on one of three shared base images, plus a layer of its
// own), then the release image, whose layer holds
// release-manifests/image-references (an ImageStream naming every
// component by digest) and release-manifests/release-metadata.
func (r *Registry) PushRelease(t testing.TB, spec ReleaseSpec) *Release {
	t.Helper()
	rel, err := r.pushRelease(context.Background(), spec)
	if err != nil {
		t.Fatalf("pushing the synthetic release: %v", err)
	}
	return rel
}

func (r *Registry) pushRelease(ctx context.Context, spec ReleaseSpec) (*Release, error) {
	spec.defaults()
	arches := spec.Arches
	if len(arches) == 0 {
		arches = []string{spec.Arch}
	}
	refHost := r.Host
	if spec.ReferenceHost != "" {
		refHost = spec.ReferenceHost
	}
	rel := &Release{
		Version:       spec.Version,
		Repo:          refHost + "/" + spec.ReleaseRepo,
		ComponentRepo: refHost + "/" + spec.ComponentRepo,
		Components:    map[string]string{},
	}
	base := func(arch string, i int) []Layer {
		var ls []Layer
		for j := range 2 {
			name := fmt.Sprintf("base-%s-%d-%d", arch, i, j)
			ls = append(ls, Layer{Files: []File{{Name: "usr/lib/" + name, Data: PseudoRandom(name, spec.BaseLayerSize)}}})
		}
		return ls
	}
	shared := map[digest.Digest]bool{}
	for _, arch := range arches {
		for i := range 3 {
			for _, l := range base(arch, i) {
				b, err := Image{Layers: []Layer{l}}.Build()
				if err != nil {
					return nil, err
				}
				shared[b.LayerDigests[0]] = true
			}
		}
	}
	for d := range shared {
		rel.SharedBlobs = append(rel.SharedBlobs, d)
	}
	sort.Slice(rel.SharedBlobs, func(i, j int) bool { return rel.SharedBlobs[i] < rel.SharedBlobs[j] })

	names := ComponentNames[:spec.Components]
	var mu sync.Mutex
	var firstErr error
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for i, name := range names {
		var imgs []Image
		for _, arch := range arches {
			seedVersion := spec.Version
			if spec.ComponentsFrom != "" && !slices.Contains(spec.Changed, name) {
				seedVersion = spec.ComponentsFrom
			}
			seed := fmt.Sprintf("%s-%s-%s", seedVersion, name, arch)
			imgs = append(imgs, Image{
				Layers: append(base(arch, i%3), Layer{Files: []File{
					{Name: "usr/bin/" + name, Data: PseudoRandom(seed, spec.OwnLayerSize), Mode: 0o755},
				}}),
				Labels:       map[string]string{"io.openshift.build.source-location": "https://github.com/openshift/" + name},
				Cmd:          []string{"/usr/bin/" + name},
				Architecture: arch,
			})
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			tag := name + "-" + spec.Version
			d, err := r.pushImages(ctx, spec.ComponentRepo+":"+tag, imgs)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				firstErr = fmt.Errorf("component %s: %w", name, err)
				return
			}
			rel.Components[name] = rel.ComponentRepo + "@" + d.String()
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}

	var err error
	if rel.ImageReferences, err = imageReferences(spec.Version, names, rel.Components); err != nil {
		return nil, err
	}
	rel.ReleaseMetadata, err = json.Marshal(map[string]any{
		"kind":     "cincinnati-metadata-v0",
		"version":  spec.Version,
		"previous": []string{},
		"metadata": map[string]string{"url": "https://access.redhat.com/errata/RHBA-0000:0000"},
	})
	if err != nil {
		return nil, err
	}
	var releases []Image
	for _, arch := range arches {
		releases = append(releases, Image{
			Layers: []Layer{
				base(arch, 0)[0],
				{Files: []File{
					{Name: "release-manifests/image-references", Data: rel.ImageReferences},
					{Name: "release-manifests/release-metadata", Data: rel.ReleaseMetadata},
					{Name: "release-manifests/0000_00_cluster-version-operator_01_clusterversion.crd.yaml", Data: []byte("# synthetic\n")},
				}},
			},
			Labels: map[string]string{
				"io.openshift.release":      spec.Version,
				"io.openshift.release.base": "true",
			},
			Architecture: arch,
		})
	}
	ext := ArchExt(spec.Arch)
	if len(spec.Arches) > 0 {
		ext = "multi"
	}
	tag := spec.Version + "-" + ext
	rel.Tag = rel.Repo + ":" + tag
	if rel.Digest, err = r.pushImages(ctx, spec.ReleaseRepo+":"+tag, releases); err != nil {
		return nil, fmt.Errorf("release image: %w", err)
	}
	rel.PullSpec = rel.Repo + "@" + rel.Digest.String()
	if spec.SigstoreSignature {
		sigTag := strings.Replace(rel.Digest.String(), ":", "-", 1) + ".sig"
		sig := Image{Layers: []Layer{{Files: []File{{Name: "signature", Data: []byte(`{"critical":{"image":{"docker-manifest-digest":"` + rel.Digest.String() + `"}}}`)}}}}}
		if _, err := r.PushImage(ctx, spec.ReleaseRepo+":"+sigTag, sig); err != nil {
			return nil, fmt.Errorf("sigstore signature: %w", err)
		}
		rel.SignatureTag = rel.Repo + ":" + sigTag
	}
	return rel, nil
}

// imageReferences writes the ImageStream the release image carries in
// release-manifests/image-references, as oc adm release new writes it.
func imageReferences(version string, names []string, pullSpecs map[string]string) ([]byte, error) {
	type tag struct {
		Name        string            `json:"name"`
		Annotations map[string]string `json:"annotations,omitempty"`
		From        map[string]string `json:"from"`
		Generation  *int64            `json:"generation"`
		ImportPol   map[string]any    `json:"importPolicy"`
		RefPol      map[string]string `json:"referencePolicy"`
	}
	var tags []tag
	for _, n := range names {
		tags = append(tags, tag{
			Name:        n,
			Annotations: map[string]string{"io.openshift.build.source-location": "https://github.com/openshift/" + n},
			From:        map[string]string{"kind": "DockerImage", "name": pullSpecs[n]},
			ImportPol:   map[string]any{},
			RefPol:      map[string]string{"type": ""},
		})
	}
	return json.MarshalIndent(map[string]any{
		"kind":       "ImageStream",
		"apiVersion": "image.openshift.io/v1",
		"metadata": map[string]any{
			"name":              version,
			"creationTimestamp": nil,
			"annotations":       map[string]string{"release.openshift.io/from-image-stream": "ocp/" + version[:strings.LastIndex(version, ".")] + "-art-latest"},
		},
		"spec":   map[string]any{"lookupPolicy": map[string]bool{"local": false}, "tags": tags},
		"status": map[string]any{"dockerImageRepository": ""},
	}, "", "  ")
}

// PushImageList builds imgs and pushes them as one OCI image index to name
// ("repo/path:tag"); it returns the index digest.
func (r *Registry) PushImageList(ctx context.Context, name string, imgs []Image) (digest.Digest, error) {
	return r.pushImages(ctx, name, append([]Image(nil), imgs...), true)
}

// pushImages pushes one image (one entry, asList unset) or an index.
func (r *Registry) pushImages(ctx context.Context, name string, imgs []Image, asList ...bool) (digest.Digest, error) {
	if len(imgs) == 1 && len(asList) == 0 {
		return r.PushImage(ctx, name, imgs[0])
	}
	dir, err := os.MkdirTemp("", "testenv-index-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	index := imgspecv1.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: imgspecv1.MediaTypeImageIndex}
	for i, img := range imgs {
		b, err := img.Build()
		if err != nil {
			return "", err
		}
		if err := b.WriteOCILayout(dir, fmt.Sprintf("instance-%d", i)); err != nil {
			return "", err
		}
		index.Manifests = append(index.Manifests, imgspecv1.Descriptor{
			MediaType: b.ManifestMediaType, Digest: b.Digest, Size: int64(len(b.Manifest)),
			Platform: &imgspecv1.Platform{Architecture: orDefault(img.Architecture, "amd64"), OS: orDefault(img.OS, "linux")},
		})
	}
	raw, err := json.Marshal(index)
	if err != nil {
		return "", err
	}
	d := digest.FromBytes(raw)
	if err := os.WriteFile(filepath.Join(dir, "blobs", "sha256", d.Encoded()), raw, 0o644); err != nil {
		return "", err
	}
	var idx imgspecv1.Index
	idxPath := filepath.Join(dir, imgspecv1.ImageIndexFile)
	data, err := os.ReadFile(idxPath)
	if err != nil {
		return "", err
	}
	if err := json.Unmarshal(data, &idx); err != nil {
		return "", err
	}
	idx.Manifests = append(idx.Manifests, imgspecv1.Descriptor{
		MediaType: imgspecv1.MediaTypeImageIndex, Digest: d, Size: int64(len(raw)),
		Annotations: map[string]string{imgspecv1.AnnotationRefName: "image"},
	})
	if data, err = json.Marshal(idx); err != nil {
		return "", err
	}
	if err := os.WriteFile(idxPath, data, 0o644); err != nil {
		return "", err
	}
	src, err := layout.NewReference(dir, "image")
	if err != nil {
		return "", err
	}
	dest, err := docker.ParseReference("//" + r.Ref(name))
	if err != nil {
		return "", err
	}
	copied, err := CopyImage(ctx, dest, src, &copy.Options{
		DestinationCtx:     r.SystemContext(),
		ImageListSelection: copy.CopyAllImages,
		PreserveDigests:    true,
	})
	if err != nil {
		return "", fmt.Errorf("pushing %s: %w", r.Ref(name), err)
	}
	got, err := manifest.Digest(copied)
	if err != nil {
		return "", err
	}
	if got != d {
		return "", fmt.Errorf("pushing %s: the registry holds %s, not the built index %s", r.Ref(name), got, d)
	}
	return d, nil
}

// OpenRegistry returns a client's view of a registry served elsewhere (the
// demo sandbox's): enough for Ref, SystemContext, PushImage, PushImageList
// and PushRelease. It has no server: do not Close it, and it counts no
// Traffic.
func OpenRegistry(host, authFile, certDir string) (*Registry, error) {
	dir, err := os.MkdirTemp("", "testenv-client-")
	if err != nil {
		return nil, err
	}
	for _, d := range []string{"containers/registries.conf.d", "containers/registries.d"} {
		if err := os.MkdirAll(filepath.Join(dir, filepath.FromSlash(d)), 0o755); err != nil {
			return nil, err
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "containers", "registries.conf"), nil, 0o644); err != nil {
		return nil, err
	}
	return &Registry{Host: host, Dir: dir, AuthFile: authFile, CertDir: certDir, CACertFile: filepath.Join(certDir, "ca.crt")}, nil
}

// PushReleaseTo is PushRelease for programs (the demo): it returns the error.
func (r *Registry) PushReleaseTo(ctx context.Context, spec ReleaseSpec) (*Release, error) {
	return r.pushRelease(ctx, spec)
}
