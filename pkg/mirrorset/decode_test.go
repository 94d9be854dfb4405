package mirrorset

import (
	"errors"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func TestDecodeReadsTheReferenceObjects(t *testing.T) {
	tests := []struct {
		file    string
		kind    schema.GroupVersionKind
		name    string
		entries int
	}{
		{"icsp-ubi8repo.yaml", ICSPKind, "ubi8repo", 3},
		{"icsp-ubi8repo-scopes.yaml", ICSPKind, "ubi8repo", 6},
		{"icsp-mirror-ocp.yaml", ICSPKind, "mirror-ocp", 2},
		{"icsp-bastion.yaml", ICSPKind, "example", 2},
		{"icsp-redhat-operator-index.yaml", ICSPKind, "redhat-operator-index", 1},
		{"idms-ubi9repo.yaml", IDMSKind, "ubi9repo", 6},
		{"idms-wildcard.yaml", IDMSKind, "redhat-wildcard", 2},
		{"itms-ubi9repo-tag.yaml", ITMSKind, "ubi9repo-tag", 1},
		{"image-cluster.yaml", ImageKind, "cluster", 4},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			u := fromYAML(t, readTestdata(t, tc.file))
			if !Is(u, tc.kind) {
				t.Fatalf("Is(%s) = false", tc.kind)
			}
			var name string
			var entries int
			switch tc.kind {
			case ICSPKind:
				o := loadICSP(t, tc.file)
				name, entries = o.Name, len(o.Spec.RepositoryDigestMirrors)
			case IDMSKind:
				o := loadIDMS(t, tc.file)
				name, entries = o.Name, len(o.Spec.ImageDigestMirrors)
			case ITMSKind:
				o := loadITMS(t, tc.file)
				name, entries = o.Name, len(o.Spec.ImageTagMirrors)
			case ImageKind:
				o := loadImage(t, tc.file)
				name, entries = o.Name, len(o.Spec.RegistrySources.InsecureRegistries)+len(o.Spec.RegistrySources.BlockedRegistries)
			}
			if name != tc.name || entries != tc.entries {
				t.Errorf("decoded %q with %d entries, want %q with %d", name, entries, tc.name, tc.entries)
			}
		})
	}
}

func TestDecodeKeepsServerFields(t *testing.T) {
	o := loadICSP(t, "icsp-redhat-operator-index.yaml")
	if o.UID == "" || o.ResourceVersion != "123456" || o.Generation != 2 || o.CreationTimestamp.IsZero() || len(o.ManagedFields) != 1 {
		t.Errorf("server-set metadata not decoded: %+v", o.ObjectMeta)
	}
}

// fieldErrors returns the field errors inside a Decode error.
func fieldErrors(t *testing.T, err error) []*field.Error {
	t.Helper()
	var agg utilerrors.Aggregate
	if !errors.As(err, &agg) {
		t.Fatalf("error %q does not wrap a field error aggregate", err)
	}
	var out []*field.Error
	for _, e := range agg.Errors() {
		var fe *field.Error
		if !errors.As(e, &fe) {
			t.Fatalf("aggregate holds %T, not *field.Error: %v", e, e)
		}
		out = append(out, fe)
	}
	return out
}

func TestDecodeRejectsBadFieldsWithTheirPath(t *testing.T) {
	const icspHead = "apiVersion: operator.openshift.io/v1alpha1\nkind: ImageContentSourcePolicy\nmetadata:\n  name: x\n"
	const idmsHead = "apiVersion: config.openshift.io/v1\nkind: ImageDigestMirrorSet\nmetadata:\n  name: x\n"
	decodeICSP := func(u *unstructured.Unstructured) error { _, err := DecodeICSP(u); return err }
	decodeIDMS := func(u *unstructured.Unstructured) error { _, err := DecodeIDMS(u); return err }
	decodeITMS := func(u *unstructured.Unstructured) error { _, err := DecodeITMS(u); return err }
	decodeImage := func(u *unstructured.Unstructured) error { _, err := DecodeImage(u); return err }
	tests := []struct {
		name      string
		decode    func(*unstructured.Unstructured) error
		doc       string
		wantField []string
		wantText  string
	}{
		{"a misspelt mirrors list in an ICSP entry", decodeICSP,
			icspHead + "spec:\n  repositoryDigestMirrors:\n  - source: quay.io/x\n    mirror:\n    - m.example.com/x\n",
			[]string{"spec.repositoryDigestMirrors[0].mirror"}, "unknown field"},
		{"unknown fields name the known ones", decodeICSP,
			icspHead + "spec:\n  repositoryDigestMirrors:\n  - source: quay.io/x\n    mirror:\n    - m.example.com/x\n",
			[]string{"spec.repositoryDigestMirrors[0].mirror"}, `this object has "mirrors" "source"`},
		{"a wrongly cased policy field in an IDMS entry", decodeIDMS,
			idmsHead + "spec:\n  imageDigestMirrors:\n  - source: quay.io/x\n    mirrorsourcepolicy: NeverContactSource\n",
			[]string{"spec.imageDigestMirrors[0].mirrorsourcepolicy"}, "unknown field"},
		{"every unknown field is reported", decodeIDMS,
			"apiVersion: config.openshift.io/v1\nkind: ImageDigestMirrorSet\nmetadata:\n  nmae: x\nspecs: {}\nstatus:\n  ready: true\n",
			[]string{"metadata.nmae", "specs", "status.ready"}, "unknown field"},
		{"an unknown field in an ITMS", decodeITMS,
			"apiVersion: config.openshift.io/v1\nkind: ImageTagMirrorSet\nmetadata:\n  name: x\nspec:\n  imageDigestMirrors: []\n",
			[]string{"spec.imageDigestMirrors"}, "unknown field"},
		{"an unknown registry source in the image config", decodeImage,
			"apiVersion: config.openshift.io/v1\nkind: Image\nmetadata:\n  name: cluster\nspec:\n  registrySources:\n    insecureRegistry: [a.example.com]\n",
			[]string{"spec.registrySources.insecureRegistry"}, "unknown field"},
		{"mirrors given as a string", decodeICSP,
			icspHead + "spec:\n  repositoryDigestMirrors:\n  - source: quay.io/x\n    mirrors: m.example.com/x\n",
			[]string{"spec.repositoryDigestMirrors[0].mirrors"}, "must be a list, not a string"},
		{"a source given as a number", decodeIDMS,
			idmsHead + "spec:\n  imageDigestMirrors:\n  - source: 5\n",
			[]string{"spec.imageDigestMirrors[0].source"}, "must be a string, not a number"},
		{"a spec given as a list", decodeIDMS,
			idmsHead + "spec: []\n",
			[]string{"spec"}, "must be an object, not a list"},
		{"a label given as a number", decodeIDMS,
			"apiVersion: config.openshift.io/v1\nkind: ImageDigestMirrorSet\nmetadata:\n  name: x\n  labels:\n    a: 1\nspec: {}\n",
			[]string{"metadata.labels[a]"}, "must be a string"},
		{"a creation timestamp that is not a time", decodeIDMS,
			"apiVersion: config.openshift.io/v1\nkind: ImageDigestMirrorSet\nmetadata:\n  name: x\n  creationTimestamp: yesterday\nspec: {}\n",
			[]string{"metadata.creationTimestamp"}, "Invalid value"},
		{"an IDMS at a version the server does not serve", decodeIDMS,
			"apiVersion: config.openshift.io/v1alpha1\nkind: ImageDigestMirrorSet\nmetadata:\n  name: x\nspec: {}\n",
			[]string{"apiVersion"}, "serves ImageDigestMirrorSet only as config.openshift.io/v1"},
		{"an ICSP given to the IDMS decoder", decodeIDMS,
			icspHead + "spec: {}\n",
			[]string{"kind", "apiVersion"}, "Unsupported value"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.decode(fromYAML(t, tc.doc))
			if err == nil {
				t.Fatal("decoded without error")
			}
			fes := fieldErrors(t, err)
			var got []string
			for _, fe := range fes {
				got = append(got, fe.Field)
				if !strings.Contains(fe.Error(), tc.wantText) {
					t.Errorf("error %q lacks %q", fe.Error(), tc.wantText)
				}
			}
			if strings.Join(got, " ") != strings.Join(tc.wantField, " ") {
				t.Errorf("error fields = %q, want %q (error: %v)", got, tc.wantField, err)
			}
			if !strings.Contains(err.Error(), `"x"`) && !strings.Contains(err.Error(), "decoding ") {
				t.Errorf("error %q does not say what was being decoded", err)
			}
		})
	}
}

func TestIsMatchesGroupAndKindAtAnyVersion(t *testing.T) {
	tests := []struct {
		name       string
		apiVersion string
		kind       string
		gvk        schema.GroupVersionKind
		want       bool
	}{
		{"an ICSP is an ICSP", "operator.openshift.io/v1alpha1", "ImageContentSourcePolicy", ICSPKind, true},
		{"an IDMS is not an ICSP", "config.openshift.io/v1", "ImageDigestMirrorSet", ICSPKind, false},
		{"an IDMS at another version is still an IDMS", "config.openshift.io/v1alpha1", "ImageDigestMirrorSet", IDMSKind, true},
		{"a kind of the same name in another group is not an IDMS", "example.com/v1", "ImageDigestMirrorSet", IDMSKind, false},
		{"the image config is an Image", "config.openshift.io/v1", "Image", ImageKind, true},
		{"an image.openshift.io Image is not the image config", "image.openshift.io/v1", "Image", ImageKind, false},
		{"an ITMS is not an IDMS", "config.openshift.io/v1", "ImageTagMirrorSet", IDMSKind, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": tc.apiVersion, "kind": tc.kind}}
			if got := Is(u, tc.gvk); got != tc.want {
				t.Errorf("Is = %v, want %v", got, tc.want)
			}
		})
	}
	if Is(nil, ICSPKind) {
		t.Error("Is(nil) = true")
	}
}
