package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/containers/image/v5/manifest"
	digest "github.com/opencontainers/go-digest"

	"github.com/airgap-ocp/oc-plugins/internal/testenv"
)

// mirrorEnv is a source registry standing for quay.io with a signed release
// payload, a mirror registry, and the files a runbook hands the plugins.
type mirrorEnv struct {
	src, dst *testenv.Registry
	rel      *testenv.Release
	authFile string // credentials for both registries
	certDir  string // both registries' CAs
	keyFile  string // the release key, armored
	store    string // file:// signature store holding the release's signature
}

func newMirrorEnv(t *testing.T, e *env, spec testenv.ReleaseSpec) *mirrorEnv {
	t.Helper()
	m := &mirrorEnv{src: testenv.StartRegistry(t), dst: testenv.StartRegistry(t)}
	m.rel = m.src.PushRelease(t, spec)
	m.authFile = testenv.CombinedSystemContext(t, m.src, m.dst).AuthFilePath
	m.certDir = filepath.Join(e.dir, "certs")
	for name, r := range map[string]*testenv.Registry{"src.crt": m.src, "dst.crt": m.dst} {
		data, err := os.ReadFile(r.CACertFile)
		if err != nil {
			t.Fatal(err)
		}
		e.write(t, filepath.Join("certs", name), data)
	}
	key := testenv.NewSigningKey(t, nil)
	m.keyFile = e.write(t, "release-key.asc", key.ArmoredPublicKey(t))
	e.write(t, filepath.Join("signatures", "sha256="+m.rel.Digest.Encoded(), "signature-1"),
		key.SignRelease(t, m.rel.Digest.String(), m.rel.Tag))
	m.store = "file://" + filepath.Join(e.dir, "signatures")
	e.secrets = append(e.secrets, m.src.Password, m.dst.Password)
	return m
}

// regFlags are the registry flags oc-mirror-lite needs for both registries.
func (m *mirrorEnv) regFlags() string {
	return "--authfile " + m.authFile + " --cert-dir " + m.certDir
}

// danglingManifests returns, for every manifest the repository repo of r
// serves under a tag, the blobs and child manifests it names that r does not
// serve: a mirror must never hold a manifest whose content is missing.
func danglingManifests(t *testing.T, r *testenv.Registry, repo string) []string {
	t.Helper()
	client := r.HTTPClient()
	get := func(method, path string, accept ...string) (*http.Response, []byte) {
		req, err := http.NewRequest(method, "https://"+r.Host+"/v2/"+repo+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth(r.Username, r.Password)
		for _, a := range accept {
			req.Header.Add("Accept", a)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		var body []byte
		if method == http.MethodGet {
			body, err = io.ReadAll(resp.Body)
			if err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
		}
		return resp, body
	}
	resp, body := get(http.MethodGet, "/tags/list")
	if resp.StatusCode == http.StatusNotFound {
		return nil // no repository: nothing dangles
	}
	var tags struct{ Tags []string }
	if err := json.Unmarshal(body, &tags); err != nil {
		t.Fatalf("tags of %s: %v: %s", repo, err, body)
	}
	accept := []string{manifest.DockerV2ListMediaType, manifest.DockerV2Schema2MediaType, "application/vnd.oci.image.index.v1+json", "application/vnd.oci.image.manifest.v1+json"}
	var missing []string
	seen := map[string]bool{}
	var walk func(ref string)
	walk = func(ref string) {
		if seen[ref] {
			return
		}
		seen[ref] = true
		resp, raw := get(http.MethodGet, "/manifests/"+ref, accept...)
		if resp.StatusCode != http.StatusOK {
			missing = append(missing, repo+" manifest "+ref+": "+resp.Status)
			return
		}
		mt := manifest.GuessMIMEType(raw)
		if manifest.MIMETypeIsMultiImage(mt) {
			list, err := manifest.ListFromBlob(raw, mt)
			if err != nil {
				t.Fatalf("%s@%s: %v", repo, ref, err)
			}
			for _, d := range list.Instances() {
				walk(d.String())
			}
			return
		}
		m, err := manifest.FromBlob(raw, mt)
		if err != nil {
			t.Fatalf("%s@%s: %v", repo, ref, err)
		}
		blobs := []digest.Digest{m.ConfigInfo().Digest}
		for _, l := range m.LayerInfos() {
			blobs = append(blobs, l.Digest)
		}
		for _, b := range blobs {
			if resp, _ := get(http.MethodHead, "/blobs/"+b.String()); resp.StatusCode != http.StatusOK {
				missing = append(missing, repo+"@"+ref+" blob "+b.String()+": "+resp.Status)
			}
		}
	}
	for _, tag := range tags.Tags {
		walk(tag)
	}
	return missing
}
