// Package release knows OpenShift release payloads: how a version names a
// release image, and how a release image pull spec resolves to the digest a
// cluster pulls.
package release

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/containers/image/v5/docker"
	"github.com/containers/image/v5/docker/reference"
	"github.com/containers/image/v5/manifest"
	"github.com/containers/image/v5/types"
	"github.com/opencontainers/go-digest"
)

// DefaultRepo is where Red Hat publishes OpenShift release images.
const DefaultRepo = "quay.io/openshift-release-dev/ocp-release"

// archNames maps what users type to the suffix release tags carry.
var archNames = map[string]string{
	"x86_64":  "x86_64",
	"amd64":   "x86_64",
	"aarch64": "aarch64",
	"arm64":   "aarch64",
	"ppc64le": "ppc64le",
	"s390x":   "s390x",
	"multi":   "multi",
}

// NormalizeArch returns the architecture as release tags spell it (x86_64,
// aarch64, ppc64le, s390x or multi), accepting Go's names (amd64, arm64) too.
func NormalizeArch(arch string) (string, error) {
	if a, ok := archNames[strings.ToLower(arch)]; ok {
		return a, nil
	}
	return "", fmt.Errorf("unknown architecture %q: want x86_64, aarch64, ppc64le, s390x or multi (amd64 and arm64 are accepted)", arch)
}

// versionPattern matches what a user types for a release version: 4.16.3,
// 4.17.0-rc.2, 4.18.0-ec.1, 4.16.0-0.nightly-2024-06-01-000000, with an
// optional leading v (v4.16.3).
var versionPattern = regexp.MustCompile(`^v?([0-9]+\.[0-9]+\.[0-9]+(?:-[0-9A-Za-z._-]+)?)$`)

// ParseVersion reads a release version as users type it: X.Y.Z with an
// optional pre-release (4.17.0-rc.2), an optional leading v (v4.16.3), and
// an optional architecture suffix as release tags carry it (4.16.3-x86_64,
// 4.16.3-amd64), which it returns normalised in arch ("" when there is none).
// ok is false for anything else, such as 4.16 or stable-4.16.
func ParseVersion(s string) (version, arch string, ok bool) {
	m := versionPattern.FindStringSubmatch(s)
	if m == nil {
		return "", "", false
	}
	version = m[1]
	if i := strings.LastIndex(version, "-"); i > 0 {
		if a, ok := archNames[strings.ToLower(version[i+1:])]; ok {
			return version[:i], a, true
		}
	}
	return version, "", true
}

// IsVersion reports whether s is a release version rather than a pull spec.
func IsVersion(s string) bool {
	_, _, ok := ParseVersion(s)
	return ok
}

// PullSpec names the release image of version for arch in repo, as Red Hat
// tags them: repo:VERSION-ARCH. arch must already be normalised.
func PullSpec(repo, version, arch string) string {
	return repo + ":" + version + "-" + arch
}

// releaseForms says which forms of a release Target takes.
const releaseForms = "want a version X.Y.Z (4.16.3, v4.16.3, 4.16.3-x86_64, 4.17.0-rc.2) " +
	"or a fully qualified pull spec (quay.io/openshift-release-dev/ocp-release:4.16.3-x86_64, or @sha256:...)"

// Target turns what a user gave (a version, or a release image pull spec by
// tag or digest) into a pull spec. repo and arch apply to versions only; an
// architecture suffix on the version (4.16.3-aarch64) is used instead of
// arch. A pull spec must name its registry: a short name such as
// ocp-release:4.16 would mean Docker Hub, which an air-gapped tool never
// asks on a guess, and 4.16 or stable-4.16 (a minor version, a channel)
// name no single release.
func Target(arg, repo, arch string) (string, error) {
	if version, suffix, ok := ParseVersion(arg); ok {
		if suffix != "" {
			arch = suffix
		}
		a, err := NormalizeArch(arch)
		if err != nil {
			return "", err
		}
		if repo == "" {
			repo = DefaultRepo
		}
		if _, err := reference.ParseNamed(repo); err != nil {
			return "", fmt.Errorf("release repository %q: %w (give it with its registry: host[:port]/path)", repo, err)
		}
		// The version becomes part of a tag, which has its own limits (128
		// characters); a version past them must fail here, not at the registry.
		ps := PullSpec(repo, version, a)
		if _, err := reference.ParseNamed(ps); err != nil {
			return "", fmt.Errorf("release %q: the tag it makes, %q, is not a valid tag: %w", arg, version+"-"+a, err)
		}
		return ps, nil
	}
	if _, err := reference.ParseNamed(arg); err != nil {
		return "", fmt.Errorf("release %q: %s", arg, releaseForms)
	}
	return arg, nil
}

func parse(pullspec string) (reference.Named, error) {
	named, err := reference.ParseNormalizedNamed(pullspec)
	if err != nil {
		return nil, fmt.Errorf("image %q: %w", pullspec, err)
	}
	return reference.TagNameOnly(named), nil
}

// Digest returns the digest in a pull spec that is by digest, or "" when it
// is by tag. It fails only on a pull spec that does not parse.
func Digest(pullspec string) (digest.Digest, error) {
	named, err := parse(pullspec)
	if err != nil {
		return "", err
	}
	if c, ok := named.(reference.Canonical); ok {
		return c.Digest(), nil
	}
	return "", nil
}

// ResolveDigest returns the digest a cluster pulls for pullspec: the one it
// names when it is by digest, else the digest of the manifest the registry
// serves for the tag (for a multi-arch release, the manifest list's). Its
// requests are retried as ReadPayload's are.
func ResolveDigest(ctx context.Context, sys *types.SystemContext, pullspec string, opts ...ReadOption) (digest.Digest, error) {
	o := newReadOptions(opts)
	named, err := parse(pullspec)
	if err != nil {
		return "", err
	}
	if c, ok := named.(reference.Canonical); ok {
		return c.Digest(), nil
	}
	ref, err := docker.NewReference(named)
	if err != nil {
		return "", fmt.Errorf("image %q: %w", pullspec, err)
	}
	src, err := o.openSource(ctx, ref, sys)
	if err != nil {
		return "", fmt.Errorf("resolving %s: %w", pullspec, err)
	}
	defer src.Close()
	raw, _, err := getManifest(ctx, src, nil, o.retry)
	if err != nil {
		return "", fmt.Errorf("resolving %s: %w", pullspec, err)
	}
	d, err := manifest.Digest(raw)
	if err != nil {
		return "", fmt.Errorf("resolving %s: %w", pullspec, err)
	}
	return d, nil
}
