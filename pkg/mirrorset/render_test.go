package mirrorset

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containers/image/v5/docker/reference"
	"github.com/containers/image/v5/pkg/sysregistriesv2"
	"github.com/containers/image/v5/types"
	configv1 "github.com/openshift/api/config/v1"
	operatorv1alpha1 "github.com/openshift/api/operator/v1alpha1"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// goldenConfigs are the inputs whose rendering is pinned in testdata/golden.
func goldenConfigs(t testing.TB) []struct {
	name   string
	golden string
	config Config
} {
	never := loadIDMS(t, "idms-ubi9repo.yaml")
	SetSourcePolicy(never, configv1.NeverContactSource)
	return []struct {
		name   string
		golden string
		config Config
	}{
		{"ICSP ubi8repo lists one source twice", "icsp-ubi8repo.conf",
			Config{ICSPs: []*operatorv1alpha1.ImageContentSourcePolicy{loadICSP(t, "icsp-ubi8repo.yaml")}}},
		{"ICSP with nested registry, namespace and repository scopes", "icsp-ubi8repo-scopes.conf",
			Config{ICSPs: []*operatorv1alpha1.ImageContentSourcePolicy{loadICSP(t, "icsp-ubi8repo-scopes.yaml")}}},
		{"ICSP mirror-ocp for a release payload", "icsp-mirror-ocp.conf",
			Config{ICSPs: []*operatorv1alpha1.ImageContentSourcePolicy{loadICSP(t, "icsp-mirror-ocp.yaml")}}},
		{"IDMS ubi9repo with six entries", "idms-ubi9repo.conf",
			Config{IDMSs: []*configv1.ImageDigestMirrorSet{loadIDMS(t, "idms-ubi9repo.yaml")}}},
		{"IDMS with an ITMS that never contacts the source", "idms-itms-ubi9repo.conf",
			Config{
				IDMSs: []*configv1.ImageDigestMirrorSet{idms("ubi9", idm("registry.access.redhat.com/ubi9/ubi-minimal", configv1.NeverContactSource,
					"example.io/example/ubi-minimal", "example.com/example/ubi-minimal"))},
				ITMSs: []*configv1.ImageTagMirrorSet{loadITMS(t, "itms-ubi9repo-tag.yaml")},
			}},
		{"NeverContactSource blocks every source", "idms-ubi9repo-never.conf",
			Config{IDMSs: []*configv1.ImageDigestMirrorSet{never}}},
		{"wildcard source next to a registry inside it", "idms-wildcard.conf",
			Config{IDMSs: []*configv1.ImageDigestMirrorSet{loadIDMS(t, "idms-wildcard.yaml")}}},
		{"image config insecure and blocked registries with a mirrored release", "icsp-mirror-ocp-image.conf",
			Config{ICSPs: []*operatorv1alpha1.ImageContentSourcePolicy{loadICSP(t, "icsp-mirror-ocp.yaml")}, Image: loadImage(t, "image-cluster.yaml")}},
		{"image config alone", "image-only.conf",
			Config{Image: loadImage(t, "image-cluster.yaml")}},
		{"a blocked namespace inside a mirrored registry gets the registry's mirrors, adjusted", "blocked-namespace.conf",
			Config{IDMSs: []*configv1.ImageDigestMirrorSet{idms("a", idm("registry.example.com", "", "mirror.example.net/registry-example-com"))},
				Image: image(nil, []string{"registry.example.com/ns"})}},
		{"nothing configured keeps the template", "empty.conf", Config{}},
	}
}

func TestRenderMatchesGoldenFiles(t *testing.T) {
	for _, tc := range goldenConfigs(t) {
		t.Run(tc.name, func(t *testing.T) {
			checkGolden(t, tc.golden, mustRender(t, tc.config))
		})
	}
}

func TestRenderedFilesAreAcceptedByContainersImage(t *testing.T) {
	for _, tc := range goldenConfigs(t) {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "registries.conf")
			if err := os.WriteFile(path, mustRender(t, tc.config), 0o644); err != nil {
				t.Fatal(err)
			}
			sys := &types.SystemContext{SystemRegistriesConfPath: path, SystemRegistriesConfDirPath: t.TempDir()}
			if _, err := sysregistriesv2.GetRegistries(sys); err != nil {
				t.Fatalf("containers/image rejects the rendered registries.conf: %v", err)
			}
		})
	}
}

// pullSources resolves ref with a rendered registries.conf the way CRI-O does, and returns
// the locations it would try, in order, leaving out blocked ones.
func pullSources(t *testing.T, conf []byte, ref string) []string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "registries.conf")
	if err := os.WriteFile(path, conf, 0o644); err != nil {
		t.Fatal(err)
	}
	sys := &types.SystemContext{SystemRegistriesConfPath: path, SystemRegistriesConfDirPath: t.TempDir()}
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := sysregistriesv2.FindRegistry(sys, named.Name())
	if err != nil {
		t.Fatal(err)
	}
	if reg == nil {
		return []string{named.String()}
	}
	srcs, err := reg.PullSourcesFromReference(named)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range srcs {
		// containers/image refuses to contact an endpoint whose own registry entry is blocked.
		if r, err := sysregistriesv2.FindRegistry(sys, s.Reference.Name()); err != nil {
			t.Fatal(err)
		} else if r != nil && r.Blocked {
			continue
		}
		out = append(out, s.Reference.String())
	}
	return out
}

func TestRenderedConfigRedirectsPulls(t *testing.T) {
	const digest = "@sha256:5cfbaf45ca96806917830c183e9f37df2e913b187adb32e89fd83fa455ebaa6f"
	scopes := mustRender(t, Config{ICSPs: []*operatorv1alpha1.ImageContentSourcePolicy{loadICSP(t, "icsp-ubi8repo-scopes.yaml")}})
	never := loadIDMS(t, "idms-ubi9repo.yaml")
	SetSourcePolicy(never, configv1.NeverContactSource)
	blocked := mustRender(t, Config{IDMSs: []*configv1.ImageDigestMirrorSet{never}})
	wildcard := mustRender(t, Config{IDMSs: []*configv1.ImageDigestMirrorSet{loadIDMS(t, "idms-wildcard.yaml")}})
	disagree := mustRender(t, Config{IDMSs: []*configv1.ImageDigestMirrorSet{
		idms("a", idm("example.com/x", "", "m1.example.net", "m2.example.net")), idms("b", idm("example.com/x", "", "m2.example.net", "m1.example.net")),
	}})
	tests := []struct {
		name string
		conf []byte
		ref  string
		want []string
	}{
		{"a repository scope tries its mirrors, then the source", scopes, "registry.access.redhat.com/ubi8/ubi-minimal" + digest,
			[]string{"example.io/example/ubi-minimal" + digest, "example.com/example/ubi-minimal" + digest, "registry.access.redhat.com/ubi8/ubi-minimal" + digest}},
		{"the most specific scope wins over the registry scope", scopes, "registry.example.com/example/myimage" + digest,
			[]string{"mirror.example.net/image" + digest, "registry.example.com/example/myimage" + digest}},
		{"a namespace scope maps the rest of the path", scopes, "registry.example.com/example/other" + digest,
			[]string{"mirror.example.net/other" + digest, "registry.example.com/example/other" + digest}},
		{"a registry scope maps the whole path", scopes, "registry.example.com/team/app" + digest,
			[]string{"mirror.example.net/registry-example-com/team/app" + digest, "registry.example.com/team/app" + digest}},
		{"a tag is not redirected by a digest mirror", scopes, "registry.access.redhat.com/ubi8/ubi-minimal:latest",
			[]string{"registry.access.redhat.com/ubi8/ubi-minimal:latest"}},
		{"NeverContactSource leaves only the mirrors", blocked, "registry.example.com/example/myimage" + digest,
			[]string{"mirror.example.net/image" + digest}},
		{"a wildcard source maps every host under it", wildcard, "cdn.redhat.io/product/repo" + digest,
			[]string{"mirror.local/redhat/product/repo" + digest, "cdn.redhat.io/product/repo" + digest}},
		{"mirror lists in opposite orders make nodes try a lexically first source before its mirrors", disagree, "example.com/x/app" + digest,
			[]string{"example.com/x/app" + digest, "m1.example.net/app" + digest, "m2.example.net/app" + digest, "example.com/x/app" + digest}},
		{"a registry inside a wildcard keeps its own mirrors", wildcard, "registry.redhat.io/product/repo" + digest,
			[]string{"mirror.local/redhat-registry/product/repo" + digest, "registry.redhat.io/product/repo" + digest}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := pullSources(t, tc.conf, tc.ref)
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("pull sources for %s:\n got %q\nwant %q", tc.ref, got, tc.want)
			}
		})
	}
}

func TestRenderIsIndependentOfObjectAndEntryOrder(t *testing.T) {
	base := Config{
		ICSPs: []*operatorv1alpha1.ImageContentSourcePolicy{
			loadICSP(t, "icsp-ubi8repo.yaml"), loadICSP(t, "icsp-ubi8repo-scopes.yaml"), loadICSP(t, "icsp-mirror-ocp.yaml"), loadICSP(t, "icsp-bastion.yaml"),
		},
		IDMSs: []*configv1.ImageDigestMirrorSet{
			loadIDMS(t, "idms-ubi9repo.yaml"), loadIDMS(t, "idms-wildcard.yaml"),
			idms("more", idm("registry.example.com", "", "mirror.example.org", "mirror.example.com"), idm("quay.io/openshift-release-dev/ocp-release", "", "b.example.com/ocp")),
			idms("never", idm("registry.example.com/team", configv1.NeverContactSource, "mirror.example.org/team", "mirror.example.com/team")),
		},
		ITMSs: []*configv1.ImageTagMirrorSet{
			itms("tags", itm("docker.io/library", "", "mirror.example.com/library", "mirror.example.org/library")),
			itms("more-tags", itm("docker.io/library", "", "mirror.example.net/library"), itm("registry.example.com/team", configv1.NeverContactSource, "tags.example.com/team")),
		},
		Image: loadImage(t, "image-cluster.yaml"),
	}
	want := mustRender(t, base)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 50 {
		c := Config{Image: base.Image}
		for _, o := range base.ICSPs {
			o = o.DeepCopy()
			rng.Shuffle(len(o.Spec.RepositoryDigestMirrors), func(a, b int) {
				o.Spec.RepositoryDigestMirrors[a], o.Spec.RepositoryDigestMirrors[b] = o.Spec.RepositoryDigestMirrors[b], o.Spec.RepositoryDigestMirrors[a]
			})
			c.ICSPs = append(c.ICSPs, o)
		}
		for _, o := range base.IDMSs {
			o = o.DeepCopy()
			rng.Shuffle(len(o.Spec.ImageDigestMirrors), func(a, b int) {
				o.Spec.ImageDigestMirrors[a], o.Spec.ImageDigestMirrors[b] = o.Spec.ImageDigestMirrors[b], o.Spec.ImageDigestMirrors[a]
			})
			c.IDMSs = append(c.IDMSs, o)
		}
		c.ITMSs = append(c.ITMSs, base.ITMSs...)
		rng.Shuffle(len(c.ICSPs), func(a, b int) { c.ICSPs[a], c.ICSPs[b] = c.ICSPs[b], c.ICSPs[a] })
		rng.Shuffle(len(c.IDMSs), func(a, b int) { c.IDMSs[a], c.IDMSs[b] = c.IDMSs[b], c.IDMSs[a] })
		rng.Shuffle(len(c.ITMSs), func(a, b int) { c.ITMSs[a], c.ITMSs[b] = c.ITMSs[b], c.ITMSs[a] })
		if got := mustRender(t, c); !bytes.Equal(got, want) {
			t.Fatalf("shuffle %d renders differently:\n%s", i, Diff("in order", "shuffled", want, got))
		}
	}
}

func TestRenderWritesWhatTheMCOWrites(t *testing.T) {
	base := string(BaseRegistriesConf())
	tests := []struct {
		name         string
		config       Config
		wantTemplate bool
		wantContains []string
	}{
		{"no objects and no image config keep the template", Config{}, true, nil},
		{"an image config without registry sources keeps the template", Config{Image: image(nil, nil)}, true, nil},
		{"an empty blockedRegistries list keeps the template", Config{Image: image(nil, []string{})}, true, nil},
		{"an empty insecureRegistries list makes the MCO re-encode the template", Config{Image: image([]string{}, nil)}, false,
			[]string{`unqualified-search-registries = ["registry.access.redhat.com", "docker.io"]`}},
		{"a mirror object without mirrors makes the MCO re-encode the template",
			Config{IDMSs: []*configv1.ImageDigestMirrorSet{idms("empty", idm("quay.io/x", ""))}}, false,
			[]string{`unqualified-search-registries = ["registry.access.redhat.com", "docker.io"]`}},
		{"mirrors that only repeat their source configure nothing",
			Config{IDMSs: []*configv1.ImageDigestMirrorSet{idms("self", idm("quay.io/x", "", "quay.io/x"))}}, false, nil},
		{"a digest mirror pulls by digest only",
			Config{IDMSs: []*configv1.ImageDigestMirrorSet{idms("d", idm("quay.io/x", "", "m.example.com/x"))}}, false,
			[]string{`location = "quay.io/x"`, `location = "m.example.com/x"`, `pull-from-mirror = "digest-only"`}},
		{"a tag mirror pulls by tag only",
			Config{ITMSs: []*configv1.ImageTagMirrorSet{itms("t", itm("quay.io/x", "", "m.example.com/x"))}}, false,
			[]string{`pull-from-mirror = "tag-only"`}},
		{"NeverContactSource blocks the source",
			Config{IDMSs: []*configv1.ImageDigestMirrorSet{idms("d", idm("quay.io/x", configv1.NeverContactSource, "m.example.com/x"))}}, false,
			[]string{`blocked = true`}},
		{"an insecure registry marks its mirrors insecure",
			Config{IDMSs: []*configv1.ImageDigestMirrorSet{idms("d", idm("quay.io/x", "", "m.example.com/x"))}, Image: image([]string{"m.example.com"}, nil)}, false,
			[]string{`insecure = true`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := string(mustRender(t, tc.config))
			if (got == base) != tc.wantTemplate {
				t.Errorf("got the template verbatim = %v, want %v; rendered:\n%s", got == base, tc.wantTemplate, got)
			}
			for _, s := range tc.wantContains {
				if !strings.Contains(got, s) {
					t.Errorf("rendered registries.conf lacks %s:\n%s", s, got)
				}
			}
			if tc.name == "mirrors that only repeat their source configure nothing" && strings.Contains(got, "[[registry]]") {
				t.Errorf("a mirror set whose only mirror is its source added a registry:\n%s", got)
			}
		})
	}
}

func TestRenderRefusesWhatTheMCORefuses(t *testing.T) {
	tests := []struct {
		name      string
		config    Config
		wantField string
		wantText  string
	}{
		{"one source with two policies",
			Config{
				IDMSs: []*configv1.ImageDigestMirrorSet{idms("a", idm("quay.io/x", configv1.NeverContactSource, "m.example.com/x"))},
				ICSPs: []*operatorv1alpha1.ImageContentSourcePolicy{icsp("b", rdm("quay.io/x", "n.example.com/x"))},
			},
			"ImageDigestMirrorSet[a].spec.imageDigestMirrors[0].mirrorSourcePolicy", "ImageContentSourcePolicy[b].spec.repositoryDigestMirrors[0]"},
		{"NeverContactSource listing its source as a mirror",
			Config{IDMSs: []*configv1.ImageDigestMirrorSet{idms("a", idm("quay.io/x", configv1.NeverContactSource, "m.example.com/x", "quay.io/x"))}},
			"ImageDigestMirrorSet[a].spec.imageDigestMirrors[0].mirrors[1]", "must not be the source itself"},
		{"an ICSP source with a tag",
			Config{ICSPs: []*operatorv1alpha1.ImageContentSourcePolicy{icsp("b", rdm("quay.io/x:latest", "m.example.com/x"))}},
			"ImageContentSourcePolicy[b].spec.repositoryDigestMirrors[0].source", "must not contain a tag or digest"},
		{"an ICSP mirror with a wildcard",
			Config{ICSPs: []*operatorv1alpha1.ImageContentSourcePolicy{icsp("b", rdm("quay.io/x", "*.example.com"))}},
			"ImageContentSourcePolicy[b].spec.repositoryDigestMirrors[0].mirrors[0]", "wildcard"},
		{"an insecure registry that is not a scope",
			Config{Image: image([]string{"foo.*.com"}, nil)},
			"Image[cluster].spec.registrySources.insecureRegistries[0]", "wildcard"},
		{"a blocked registry that is not a scope",
			Config{Image: image(nil, []string{"*"})},
			"Image[cluster].spec.registrySources.blockedRegistries[0]", "wildcard"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.config.Render()
			if err == nil {
				t.Fatal("Render succeeded, want an error")
			}
			var agg utilerrors.Aggregate
			if !errors.As(err, &agg) {
				t.Fatalf("error %v does not wrap a field error aggregate", err)
			}
			found := false
			for _, e := range agg.Errors() {
				var fe *field.Error
				if errors.As(e, &fe) && fe.Field == tc.wantField && strings.Contains(fe.Error(), tc.wantText) {
					found = true
				}
			}
			if !found {
				t.Errorf("error lacks %s mentioning %q: %v", tc.wantField, tc.wantText, err)
			}
		})
	}
}

func TestRenderFailsLikeTheMCOForARegistrySourceInsideAWildcardMirrorSource(t *testing.T) {
	wildcard := []*configv1.ImageDigestMirrorSet{idms("a", idm("*.example.com", "", "mirror.example.net"))}
	tests := []struct {
		name  string
		image *configv1.Image
	}{
		{"a blocked registry", image(nil, []string{"registry.example.com"})},
		{"an insecure namespace", image([]string{"registry.example.com/ns"}, nil)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Config{IDMSs: wildcard, Image: tc.image}.Render()
			if err == nil || !strings.Contains(err.Error(), "wildcard scope") || !strings.Contains(err.Error(), "Machine Config Operator") {
				t.Errorf("Render = %v, want the EditRegistriesConfig wildcard error", err)
			}
		})
	}
}

func TestRenderRejectsAnImageConfigOtherThanCluster(t *testing.T) {
	img := image([]string{"a.example.com"}, nil)
	img.Name = "other"
	if _, err := (Config{Image: img}).Render(); err == nil || !strings.Contains(err.Error(), "named cluster") {
		t.Errorf("Render = %v, want an error about the Image named cluster", err)
	}
}

func TestDiff(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		want []string
	}{
		{"equal inputs give no diff", "a\nb\n", "a\nb\n", nil},
		{"a changed line shows as removed and added", "a\nb\nc\n", "a\nB\nc\n", []string{"--- node\n", "+++ expected\n", "-b\n", "+B\n", " a\n"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Diff("node", "expected", []byte(tc.a), []byte(tc.b))
			if tc.want == nil && got != "" {
				t.Errorf("Diff = %q, want empty", got)
			}
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("Diff lacks %q:\n%s", w, got)
				}
			}
		})
	}
}
