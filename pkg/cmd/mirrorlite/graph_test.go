package mirrorlite

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	digest "github.com/opencontainers/go-digest"

	"github.com/airgap-ocp/oc-plugins/internal/testenv"
	"github.com/airgap-ocp/oc-plugins/pkg/archive"
	"github.com/airgap-ocp/oc-plugins/pkg/graph"
	"github.com/airgap-ocp/oc-plugins/pkg/manifest"
	us "github.com/airgap-ocp/oc-plugins/pkg/updateservice"
)

// graphEnv is a release and a graph-data base image in the source
// registry, and the graph-data tarball in a file.
func graphEnv(t *testing.T) (*env, *testenv.Release, []string) {
	t.Helper()
	e := newEnv(t)
	rel := e.src.PushRelease(t, testenv.ReleaseSpec{Version: "4.16.3", Components: 4})
	e.src.MustPushImage(t, "ubi9/ubi:latest", testenv.GraphBaseImage)
	data := filepath.Join(e.dir, "graph-data.tar.gz")
	if err := os.WriteFile(data, testenv.GraphData, 0o644); err != nil {
		t.Fatal(err)
	}
	return e, rel, []string{"--graph-data", data, "--graph-base-image", e.src.Ref("ubi9/ubi:latest")}
}

// updateService finds the UpdateService and the registry CA ConfigMap in a stream.
func updateService(t *testing.T, objs []manifest.Object) (svc us.Spec, ca map[string]string) {
	t.Helper()
	found := false
	for _, o := range objs {
		switch {
		case o.GetKind() == us.Kind:
			s, err := us.SpecOf(o.Unstructured)
			if err != nil {
				t.Fatalf("printed UpdateService: %v", err)
			}
			if o.GetNamespace() != us.Namespace || us.CheckName(o.GetName(), o.GetNamespace()) != nil {
				t.Errorf("UpdateService %s/%s", o.GetNamespace(), o.GetName())
			}
			svc, found = s, true
		case o.GetKind() == "ConfigMap" && o.GetName() == graph.RegistryCAName:
			ca = map[string]string{}
			data, _ := o.Object["data"].(map[string]any)
			for k, v := range data {
				ca[k], _ = v.(string)
			}
		}
	}
	if !found {
		t.Fatalf("no UpdateService printed: %v", kinds(objs))
	}
	return svc, ca
}

func TestReleaseWithGraphLaysOutForTheUpdateService(t *testing.T) {
	e, rel, graphFlags := graphEnv(t)
	to := e.dst.Host + "/ocp4"
	stdout, stderr, code := e.run(t, "", append([]string{"release", rel.Tag, "--to", "docker://" + to, "--graph"}, graphFlags...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	// oc-mirror v2's layout: release images alone in release-images.
	mirrors := idmsMirrors(t, stdout)
	if got := mirrors[rel.Repo]; len(got) != 1 || got[0] != to+"/"+graph.ReleaseImagesPath {
		t.Errorf("the release image goes to %v, want %s", got, to+"/"+graph.ReleaseImagesPath)
	}
	if got := mirrors[rel.ComponentRepo]; len(got) != 1 || got[0] != to+"/"+graph.ReleasePath {
		t.Errorf("components go to %v, want %s", got, to+"/"+graph.ReleasePath)
	}
	if strings.Contains(stdout, graph.SourceName) {
		t.Errorf("a mirror object names the graph-data image, which mirrors nothing:\n%s", stdout)
	}
	if got := digestAt(t, e.sys(), to+"/"+graph.ReleaseImagesPath+":4.16.3-x86_64"); got != rel.Digest {
		t.Errorf("release-images serves %s, want %s", got, rel.Digest)
	}
	svc, ca := updateService(t, decodeStream(t, stdout))
	if svc.Releases != to+"/"+graph.ReleaseImagesPath {
		t.Errorf("spec.releases = %q", svc.Releases)
	}
	graphRepo, d, ok := strings.Cut(svc.GraphDataImage, "@")
	if !ok || graphRepo != to+"/"+graph.Repository {
		t.Fatalf("spec.graphDataImage = %q, want %s by digest", svc.GraphDataImage, to+"/"+graph.Repository)
	}
	if got := digestAt(t, e.sys(), graphRepo+":latest"); got != digest.Digest(d) {
		t.Errorf("the graph-data image in the mirror is %s, the UpdateService names %s", got, d)
	}
	dstCA, err := os.ReadFile(e.dst.CACertFile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(ca[us.RegistryCAKey], string(dstCA)) || !strings.Contains(ca[strings.ReplaceAll(e.dst.Host, ":", "..")], string(dstCA)) {
		t.Errorf("the registry CA ConfigMap lacks --cert-dir's CA under %s and the registry's host: %v", us.RegistryCAKey, ca)
	}

	// Every object is what the real API server, with the UpdateService
	// CRD, accepts.
	serverDryRun(t, testenv.SharedCluster(t), stdout)
}

func TestGraphCrossesTheAirGapInTheArchive(t *testing.T) {
	e, rel, graphFlags := graphEnv(t)
	dir := filepath.Join(e.dir, "archive")
	_, stderr, code := e.run(t, "", append([]string{"release", rel.Tag, "--to", "file://" + dir, "--graph"}, graphFlags...)...)
	if code != 0 {
		t.Fatalf("to disk: exit %d: %s", code, stderr)
	}
	idx, err := archive.ReadIndexFile(filepath.Join(dir, archive.IndexFile))
	if err != nil {
		t.Fatal(err)
	}
	var recorded digest.Digest
	for _, it := range idx.Images {
		if it.Kind == graph.Kind {
			recorded = it.Digest
		}
	}
	if recorded == "" {
		t.Fatalf("the archive does not record the graph-data image: %+v", idx.Images)
	}
	// The air gap: the source registry is gone.
	if err := e.src.Close(); err != nil {
		t.Fatal(err)
	}
	to := e.dst.Host + "/disconnected"
	stdout, stderr, code := e.run(t, "", "--from", "file://"+dir, "--to", "docker://"+to)
	if code != 0 {
		t.Fatalf("from disk: exit %d: %s", code, stderr)
	}
	svc, _ := updateService(t, decodeStream(t, stdout))
	if svc.GraphDataImage != to+"/"+graph.Repository+"@"+recorded.String() || svc.Releases != to+"/"+graph.ReleaseImagesPath {
		t.Errorf("UpdateService %+v, want the archive's graph image %s below %s", svc, recorded, to)
	}
	if got := digestAt(t, e.sys(), to+"/"+graph.Repository+":latest"); got != recorded {
		t.Errorf("pushed graph-data image %s, the archive holds %s", got, recorded)
	}
}

func TestGraphBadInput(t *testing.T) {
	e, rel, graphFlags := graphEnv(t)
	to := "docker://" + e.dst.Host + "/ocp4"
	notData := filepath.Join(e.dir, "not-data")
	if err := os.WriteFile(notData, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		says string
	}{
		{"not graph data", []string{"release", rel.Tag, "--to", to, "--graph", "--graph-base-image", e.src.Ref("ubi9/ubi:latest"), "--graph-data", notData}, "not a gzipped tarball"},
		{"with --to-release-image", append([]string{"release", rel.Tag, "--to", to, "--graph", "--to-release-image", e.dst.Host + "/x:y"}, graphFlags...), "--to-release-image"},
	} {
		_, stderr, code := e.run(t, "", tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.says) {
			t.Errorf("%s: exit %d, want 2 saying %q: %s", tc.name, code, tc.says, stderr)
		}
	}
	if n := e.dst.Traffic().TotalUploads() + e.dst.Traffic().ManifestPuts(); n != 0 {
		t.Errorf("bad input wrote %d blobs and manifests", n)
	}
}

// TestImageSetGraphFromTheEnclavesService: graph: true in mirror.platform,
// with UPDATE_URL_OVERRIDE naming a local update service, takes the graph
// data from beside that service's graph, no --graph-data needed.
func TestImageSetGraphFromTheEnclavesService(t *testing.T) {
	e, rel, _ := graphEnv(t)
	service := testenv.StartGraph(t, testenv.GraphChannel{Name: "stable-4.16", Arch: "amd64",
		Releases: []testenv.GraphRelease{{Version: "4.16.3", Payload: rel.PullSpec}}})
	t.Setenv("UPDATE_URL_OVERRIDE", service.URL)
	isc := filepath.Join(e.dir, "isc.yaml")
	if err := os.WriteFile(isc, []byte(`apiVersion: mirror.openshift.io/v2alpha1
kind: ImageSetConfiguration
mirror:
  platform:
    graph: true
    channels:
    - name: stable-4.16
`), 0o644); err != nil {
		t.Fatal(err)
	}
	root := e.dst.Host + "/mirror"
	stdout, stderr, code := e.run(t, "", "-c", isc, "--to", "docker://"+root, "--graph-base-image", e.src.Ref("ubi9/ubi:latest"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !slices.Contains(service.Requests(), "graph-data") {
		t.Errorf("the graph data was not read beside the enclave's graph: requests %v", service.Requests())
	}
	svc, _ := updateService(t, decodeStream(t, stdout))
	if svc.Releases != root+"/"+graph.ReleaseImagesPath || !strings.HasPrefix(svc.GraphDataImage, root+"/"+graph.Repository+"@sha256:") {
		t.Errorf("UpdateService %+v", svc)
	}
	if got := digestAt(t, e.sys(), root+"/"+graph.ReleaseImagesPath+":4.16.3-x86_64"); got != rel.Digest {
		t.Errorf("release-images serves %s, want %s", got, rel.Digest)
	}
}
