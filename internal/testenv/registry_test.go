package testenv

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/x509"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containers/image/v5/copy"
	"github.com/containers/image/v5/docker"
	"github.com/containers/image/v5/manifest"
	"github.com/containers/image/v5/oci/layout"
	"github.com/containers/image/v5/pkg/blobinfocache/none"
	"github.com/containers/image/v5/types"
	"github.com/docker/distribution/registry/api/errcode"
	digest "github.com/opencontainers/go-digest"
)

func sampleImage(format ManifestFormat) Image {
	return Image{
		Format: format,
		Labels: map[string]string{"io.openshift.release": "4.16.1"},
		Layers: []Layer{
			{Files: []File{{Name: "etc/motd", Data: []byte("hello from testenv\n")}}},
			{Files: []File{
				{Name: "release-manifests/release-metadata", Data: []byte(`{"kind":"cincinnati-metadata-v0","version":"4.16.1"}`)},
				{Name: "usr/bin/tool", Data: []byte("#!/bin/sh\necho tool\n"), Mode: 0o755},
			}},
		},
	}
}

// pull reads an image by reference over the wire: its manifest and every
// blob the manifest names.
func pull(ctx context.Context, sys *types.SystemContext, ref string) (mf []byte, blobs map[digest.Digest][]byte, err error) {
	r, err := docker.ParseReference("//" + ref)
	if err != nil {
		return nil, nil, err
	}
	src, err := r.NewImageSource(ctx, sys)
	if err != nil {
		return nil, nil, err
	}
	defer src.Close()
	mf, mime, err := src.GetManifest(ctx, nil)
	if err != nil {
		return nil, nil, err
	}
	m, err := manifest.FromBlob(mf, mime)
	if err != nil {
		return nil, nil, err
	}
	blobs = map[digest.Digest][]byte{}
	infos := []types.BlobInfo{m.ConfigInfo()}
	for _, l := range m.LayerInfos() {
		infos = append(infos, l.BlobInfo)
	}
	for _, info := range infos {
		rc, _, err := src.GetBlob(ctx, info, none.NoCache)
		if err != nil {
			return nil, nil, err
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return nil, nil, err
		}
		blobs[info.Digest] = data
	}
	return mf, blobs, nil
}

func readTarFile(t *testing.T, layerBlob []byte, name string) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(layerBlob))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	for {
		hdr, err := tr.Next()
		if err != nil {
			t.Fatalf("%s not in layer: %v", name, err)
		}
		if hdr.Name == name {
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			return data
		}
	}
}

func TestRegistryPushThenPullByDigestGivesTheSameImage(t *testing.T) {
	for _, format := range []ManifestFormat{FormatOCI, FormatDockerSchema2} {
		t.Run(string(format), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			reg := StartRegistry(t)
			img := sampleImage(format)
			built, err := img.Build()
			if err != nil {
				t.Fatal(err)
			}

			d := reg.MustPushImage(t, "ocp/release:4.16.1", img)
			if d != built.Digest {
				t.Fatalf("pushed digest %s, built %s", d, built.Digest)
			}

			mf, blobs, err := pull(ctx, reg.SystemContext(), reg.Ref("ocp/release@"+d.String()))
			if err != nil {
				t.Fatalf("pulling by digest: %v", err)
			}
			if got := digest.FromBytes(mf); got != d {
				t.Errorf("pulled manifest digest %s, pushed %s", got, d)
			}
			if mime := manifest.GuessMIMEType(mf); mime != built.ManifestMediaType {
				t.Errorf("pulled manifest type %s, want %s", mime, built.ManifestMediaType)
			}
			if !bytes.Equal(blobs[built.ConfigDigest], built.Config) {
				t.Errorf("pulled config differs from the pushed one")
			}
			for i, ld := range built.LayerDigests {
				if !bytes.Equal(blobs[ld], built.Layers[i]) {
					t.Errorf("pulled layer %d (%s) differs from the pushed one", i, ld)
				}
			}
			if got := readTarFile(t, blobs[built.LayerDigests[1]], "usr/bin/tool"); string(got) != "#!/bin/sh\necho tool\n" {
				t.Errorf("usr/bin/tool in the pulled layer = %q", got)
			}

			// The tag resolves to the same manifest.
			mf, _, err = pull(ctx, reg.SystemContext(), reg.Ref("ocp/release:4.16.1"))
			if err != nil {
				t.Fatalf("pulling by tag: %v", err)
			}
			if got := digest.FromBytes(mf); got != d {
				t.Errorf("tag points to %s, pushed %s", got, d)
			}
		})
	}
}

// pushAndPull tries both directions with sys, against an image already in reg.
func pushAndPull(t *testing.T, reg *Registry, sys *types.SystemContext) map[string]error {
	t.Helper()
	ctx := context.Background()
	built, err := sampleImage(FormatOCI).Build()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := built.WriteOCILayout(dir, "image"); err != nil {
		t.Fatal(err)
	}
	src, err := layout.NewReference(dir, "image")
	if err != nil {
		t.Fatal(err)
	}
	dest, err := docker.ParseReference("//" + reg.Ref("other/repo:v1"))
	if err != nil {
		t.Fatal(err)
	}
	_, pushErr := CopyImage(ctx, dest, src, &copy.Options{DestinationCtx: sys})
	_, _, pullErr := pull(ctx, sys, reg.Ref("ocp/release:4.16.1"))
	return map[string]error{"push": pushErr, "pull": pullErr}
}

// isUnauthorized reports whether err is the registry's HTTP 401, as
// containers/image reports it for basic auth (an UNAUTHORIZED error code)
// or for token auth (ErrUnauthorizedForCredentials).
func isUnauthorized(err error) bool {
	var forCredentials docker.ErrUnauthorizedForCredentials
	var code errcode.Error
	return errors.As(err, &forCredentials) || errors.As(err, &code) && code.Code == errcode.ErrorCodeUnauthorized
}

// checkWrongPasswordRefused pushes and pulls with reg's password
// mistyped, and wants each refused as unauthorized.
func checkWrongPasswordRefused(t *testing.T, reg *Registry) {
	t.Helper()
	sys := reg.SystemContext()
	sys.AuthFilePath = filepath.Join(t.TempDir(), "auth.json")
	if err := WriteAuthFile(sys.AuthFilePath, reg.Username, reg.Password+"x", reg.Host); err != nil {
		t.Fatal(err)
	}
	for op, err := range pushAndPull(t, reg, sys) {
		if !isUnauthorized(err) {
			t.Errorf("%s with a wrong password: got %v, want an unauthorized error", op, err)
		}
	}
}

func TestRegistryRejectsAWrongPassword(t *testing.T) {
	t.Parallel()
	reg := StartRegistry(t)
	reg.MustPushImage(t, "ocp/release:4.16.1", sampleImage(FormatOCI))

	checkWrongPasswordRefused(t, reg)
}

func TestRegistryRejectsAnonymousClients(t *testing.T) {
	t.Parallel()
	reg := StartRegistry(t)
	reg.MustPushImage(t, "ocp/release:4.16.1", sampleImage(FormatOCI))

	sys := reg.SystemContext()
	sys.AuthFilePath = filepath.Join(t.TempDir(), "auth.json")
	if err := WriteAuthFile(sys.AuthFilePath, "", ""); err != nil {
		t.Fatal(err)
	}
	for op, err := range pushAndPull(t, reg, sys) {
		if !isUnauthorized(err) {
			t.Errorf("%s without credentials: got %v, want an unauthorized error", op, err)
		}
	}
}

func TestRegistryIsNotTrustedWithoutItsCA(t *testing.T) {
	t.Parallel()
	reg := StartRegistry(t)
	reg.MustPushImage(t, "ocp/release:4.16.1", sampleImage(FormatOCI))

	sys := reg.SystemContext()
	sys.DockerCertPath = t.TempDir() // empty: only the system roots
	for op, err := range pushAndPull(t, reg, sys) {
		var unknown x509.UnknownAuthorityError
		if !errors.As(err, &unknown) {
			t.Errorf("%s without the CA: got %v, want an unknown certificate authority error", op, err)
		}
	}
}

func TestRegistryServesLocalhostToo(t *testing.T) {
	t.Parallel()
	reg := StartRegistry(t)
	d := reg.MustPushImage(t, "a/b:c", sampleImage(FormatOCI))
	_, port, _ := strings.Cut(reg.Host, ":")
	mf, _, err := pull(context.Background(), reg.SystemContext(), "localhost:"+port+"/a/b@"+d.String())
	if err != nil {
		t.Fatalf("pulling through localhost: %v", err)
	}
	if digest.FromBytes(mf) != d {
		t.Errorf("different manifest through localhost")
	}
}

func TestCombinedSystemContextCopiesBetweenRegistries(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	from, to := StartRegistry(t), StartRegistry(t)
	d := from.MustPushImage(t, "ocp/release:4.16.1", sampleImage(FormatDockerSchema2))

	sys := CombinedSystemContext(t, from, to)
	src, err := docker.ParseReference("//" + from.Ref("ocp/release@"+d.String()))
	if err != nil {
		t.Fatal(err)
	}
	dest, err := docker.ParseReference("//" + to.Ref("mirror/release:4.16.1"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := CopyImage(ctx, dest, src, &copy.Options{SourceCtx: sys, DestinationCtx: sys}); err != nil {
		t.Fatalf("copying between registries: %v", err)
	}
	mf, _, err := pull(ctx, to.SystemContext(), to.Ref("mirror/release@"+d.String()))
	if err != nil {
		t.Fatalf("pulling the copy by digest: %v", err)
	}
	if digest.FromBytes(mf) != d {
		t.Errorf("the copy has another digest")
	}
}

func TestRegistryLogGoesWhereAsked(t *testing.T) {
	t.Parallel()
	var log lockedBuffer
	reg := StartRegistry(t, WithLog(&log))
	reg.MustPushImage(t, "logged/repo:v1", sampleImage(FormatOCI))
	if !strings.Contains(log.String(), "logged/repo") {
		t.Errorf("registry log does not mention the pushed repository:\n%s", log.String())
	}
}

func TestImageBuildIsReproducible(t *testing.T) {
	a, err := sampleImage(FormatOCI).Build()
	if err != nil {
		t.Fatal(err)
	}
	b, err := sampleImage(FormatOCI).Build()
	if err != nil {
		t.Fatal(err)
	}
	if a.Digest != b.Digest {
		t.Errorf("same image, digests %s and %s", a.Digest, b.Digest)
	}

	other := sampleImage(FormatOCI)
	other.Layers = append(other.Layers[:1:1], Layer{Files: []File{{Name: "x", Data: []byte("y")}}})
	c, err := other.Build()
	if err != nil {
		t.Fatal(err)
	}
	if c.LayerDigests[0] != a.LayerDigests[0] {
		t.Errorf("equal first layers, different blobs %s and %s", c.LayerDigests[0], a.LayerDigests[0])
	}
	if c.Digest == a.Digest {
		t.Errorf("different images, same digest")
	}
}

func TestImageBuildRejectsBadFiles(t *testing.T) {
	for name, files := range map[string][]File{
		"a path out of the root":  {{Name: "../etc/passwd"}},
		"the same file twice":     {{Name: "a"}, {Name: "./a"}},
		"a file that is a folder": {{Name: "a"}, {Name: "a/b"}},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := (Image{Layers: []Layer{{Files: files}}}).Build(); err == nil {
				t.Error("built without error")
			}
		})
	}
}

// TestTokenRegistryAsksForBearerTokensOfItsUser: WithTokenAuth challenges
// with Bearer, its realm grants tokens for the registry's credentials
// (a push and a pull work through containers/image), and refuses others.
func TestTokenRegistryAsksForBearerTokensOfItsUser(t *testing.T) {
	t.Parallel()
	reg := StartRegistry(t, WithTokenAuth())
	reg.MustPushImage(t, "ocp/release:4.16.1", sampleImage(FormatOCI))
	for op, err := range pushAndPull(t, reg, reg.SystemContext()) {
		if err != nil {
			t.Errorf("%s with the registry's credentials: %v", op, err)
		}
	}

	resp, err := reg.HTTPClient().Get("https://" + reg.Host + "/v2/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("WWW-Authenticate"); resp.StatusCode != 401 || !strings.HasPrefix(got, "Bearer realm=") {
		t.Errorf("the ping was answered %d, %q; want 401 and a Bearer challenge", resp.StatusCode, got)
	}
	if reg.Traffic().Tokens() == 0 {
		t.Error("no token was asked for")
	}

	checkWrongPasswordRefused(t, reg)
}
