package imagebuild

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/containers/image/v5/manifest"
	"github.com/containers/image/v5/oci/layout"
	digest "github.com/opencontainers/go-digest"
	imgspecv1 "github.com/opencontainers/image-spec/specs-go/v1"
)

func writeLayer(t *testing.T, file string) Blob {
	t.Helper()
	l, err := NewLayer(file, time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []error{
		l.File("/a/b/c.txt", 0o644, 5, strings.NewReader("hello")),
		l.Dir("a/d"),
		l.Marker("tmp/.wh.cache"),
	} {
		if step != nil {
			t.Fatal(step)
		}
	}
	b, err := l.Close()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestLayerIsTheSameForTheSameInputAndAddsParentsOnce(t *testing.T) {
	dir := t.TempDir()
	one, two := writeLayer(t, filepath.Join(dir, "1")), writeLayer(t, filepath.Join(dir, "2"))
	if one.Digest != two.Digest || one.DiffID != two.DiffID {
		t.Errorf("the same entries gave %v, then %v", one, two)
	}
	f, err := os.Open(one.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if fi, _ := f.Stat(); fi.Size() != one.Size {
		t.Errorf("Size %d, the file has %d bytes", one.Size, fi.Size())
	}
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	diff := digest.Canonical.Digester()
	tr := tar.NewReader(io.TeeReader(zr, diff.Hash()))
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
	}
	io.Copy(io.Discard, zr)
	// The marker's directory is not added: a layer entry for tmp/ would
	// replace the mode of the image's own /tmp.
	if want := []string{"a/", "a/b/", "a/b/c.txt", "a/d/", "tmp/.wh.cache"}; !reflect.DeepEqual(names, want) {
		t.Errorf("entries %v, want %v", names, want)
	}
	if diff.Digest() != one.DiffID {
		t.Errorf("DiffID %s, the tar is %s", one.DiffID, diff.Digest())
	}
}

func TestAppendKeepsWhatItWasNotAskedToChange(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	blob := writeLayer(t, filepath.Join(dir, "layer"))
	config := []byte(`{"architecture":"arm64","os":"linux","x-vendor":{"k":1},` +
		`"config":{"Cmd":["serve","--cache-dir=/tmp/cache"],"Entrypoint":["/bin/opm"],"Labels":{"l":"v"},"Healthcheck":{"Test":["NONE"]}},` +
		`"rootfs":{"type":"layers","diff_ids":["sha256:` + strings.Repeat("a", 64) + `"]},"history":[{"created_by":"base"}]}`)
	base := manifest.Schema2FromComponents(manifest.Schema2Descriptor{MediaType: manifest.DockerV2Schema2ConfigMediaType, Digest: digest.FromBytes(config), Size: int64(len(config))},
		[]manifest.Schema2Descriptor{{MediaType: manifest.DockerV2Schema2LayerMediaType, Digest: digest.Digest("sha256:" + strings.Repeat("b", 64)), Size: 1}})
	raw, err := base.Serialize()
	if err != nil {
		t.Fatal(err)
	}
	ref, err := layout.NewReference(filepath.Join(dir, "oci"), "x")
	if err != nil {
		t.Fatal(err)
	}
	dest, err := ref.NewImageDestination(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dest.Close()
	out, err := Append(ctx, dest, Base{Manifest: raw, MIMEType: manifest.DockerV2Schema2MediaType, Config: config}, blob,
		imgspecv1.History{CreatedBy: "test"}, func(run RunConfig) error {
			run.SetStrings("Cmd", []string{"serve"})
			run.SetStrings("Entrypoint", nil)
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	m, err := manifest.Schema2FromManifest(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.LayersDescriptors) != 2 || m.LayersDescriptors[1].Digest != blob.Digest || m.LayersDescriptors[1].Size != blob.Size {
		t.Errorf("layers %+v, want the base's and %s", m.LayersDescriptors, blob.Digest)
	}
	got, err := os.ReadFile(filepath.Join(dir, "oci", "blobs", "sha256", m.ConfigDescriptor.Digest.Encoded()))
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(got, &c); err != nil {
		t.Fatal(err)
	}
	run := c["config"].(map[string]any)
	if c["architecture"] != "arm64" || c["x-vendor"] == nil || run["Healthcheck"] == nil || run["Labels"] == nil {
		t.Errorf("fields of the base config were lost:\n%s", got)
	}
	if _, ok := run["Entrypoint"]; ok || !reflect.DeepEqual(run["Cmd"], []any{"serve"}) {
		t.Errorf("the edit was not applied:\n%s", got)
	}
	ids := c["rootfs"].(map[string]any)["diff_ids"].([]any)
	hist := c["history"].([]any)
	if len(ids) != 2 || ids[1] != blob.DiffID.String() || len(hist) != 2 {
		t.Errorf("diff IDs %v and history %v, want one more of each", ids, hist)
	}
	if _, err := os.Stat(filepath.Join(dir, "oci", "blobs", "sha256", blob.Digest.Encoded())); err != nil {
		t.Errorf("the layer blob is not in the destination: %v", err)
	}
}
