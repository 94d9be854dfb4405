package releasesig

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/airgap-ocp/oc-plugins/internal/testenv"
	"github.com/airgap-ocp/oc-plugins/pkg/cli"
	"github.com/airgap-ocp/oc-plugins/pkg/manifest"
	"github.com/airgap-ocp/oc-plugins/pkg/signature"
)

func clientset(t *testing.T, c *testenv.Cluster) kubernetes.Interface {
	t.Helper()
	cs, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// cleanConfigMaps deletes the signature and verification ConfigMaps tests
// leave in openshift-config-managed.
func cleanConfigMaps(t *testing.T, cs kubernetes.Interface) {
	t.Helper()
	ctx := context.Background()
	list, err := cs.CoreV1().ConfigMaps(signature.ConfigMapNamespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, cm := range list.Items {
		if err := cs.CoreV1().ConfigMaps(cm.Namespace).Delete(ctx, cm.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			t.Fatal(err)
		}
	}
}

// trustInCluster writes the release verification ConfigMap the CVO reads its
// keys from, holding key.
func trustInCluster(t *testing.T, cs kubernetes.Interface, key *testenv.SigningKey) {
	t.Helper()
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Name: "release-verification", Namespace: signature.ConfigMapNamespace,
			Annotations: map[string]string{signature.VerificationConfigMapAnnotation: ""},
		},
		Data: map[string]string{
			"verifier-public-key-test": string(key.ArmoredPublicKey(t)),
			"store-openshift-official": "https://mirror.openshift.com/pub/openshift-v4/signatures/openshift/release",
		},
	}
	if _, err := cs.CoreV1().ConfigMaps(cm.Namespace).Create(context.Background(), cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestApplyThenVerifyFromCluster(t *testing.T) {
	c := testenv.SharedCluster(t)
	cs := clientset(t, c)
	cleanConfigMaps(t, cs)
	defer cleanConfigMaps(t, cs)
	e := newEnv(t)
	kube := []string{"--kubeconfig", c.Kubeconfig}

	args := append(append([]string{"4.16.3", "--release-repo", e.repo, "--store", e.storeURL, "--keyring", e.keyring, "--apply", "--name", "release-image-4.16.3"}, e.registryFlags...), kube...)
	r := run(t, "", args...)
	if r.Code != 0 {
		t.Fatalf("--apply: exit %d: %s", r.Code, r.Stderr)
	}
	live, err := cs.CoreV1().ConfigMaps(signature.ConfigMapNamespace).Get(context.Background(), "release-image-4.16.3", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("reading back: %v", err)
	}
	printed := decodeConfigMap(t, r.Stdout)
	if !equalData(live.BinaryData, printed.BinaryData) || len(live.BinaryData) != 1 {
		t.Fatalf("the cluster holds %v, the command printed %v", keys(live.BinaryData), keys(printed.BinaryData))
	}
	if _, ok := live.Labels[signature.ConfigMapLabel]; !ok {
		t.Errorf("applied ConfigMap lacks the label: %v", live.Labels)
	}
	// Applying again changes nothing and succeeds.
	if r := run(t, "", args...); r.Code != 0 {
		t.Fatalf("second --apply: exit %d: %s", r.Code, r.Stderr)
	}

	verify := func(extra ...string) result {
		return run(t, "", append(append([]string{"verify", "--from-cluster", "--keyring", e.keyring}, kube...), extra...)...)
	}
	if r := verify("--digest", e.amd64); r.Code != 0 || !strings.Contains(r.Stderr, "release-image-4.16.3") {
		t.Fatalf("verify the applied release: exit %d: %s", r.Code, r.Stderr)
	}
	// By tag, through the registry.
	if r := verify(append([]string{e.repo + ":4.16.3-x86_64"}, e.registryFlags...)...); r.Code != 0 {
		t.Fatalf("verify by pull spec: exit %d: %s", r.Code, r.Stderr)
	}
	// The arm64 release has no signature in the cluster: the gate closes.
	r = verify("--digest", e.arm64)
	if r.Code != cli.ExitDiffers || !strings.Contains(r.Stderr, e.arm64) {
		t.Fatalf("verify a release without a signature: exit %d: %s", r.Code, r.Stderr)
	}
	// With keys the signature was not made by, it does not verify.
	r = run(t, "", append([]string{"verify", "--from-cluster", "--digest", e.amd64, "--keyring", filepath.Join(fixtures, "keyrings", "redhat.txt")}, kube...)...)
	if r.Code != cli.ExitDiffers || !strings.Contains(r.Stderr, "not in the keyring") {
		t.Fatalf("verify with the wrong key: exit %d: %s", r.Code, r.Stderr)
	}
}

func TestKeyringFromCluster(t *testing.T) {
	c := testenv.SharedCluster(t)
	cs := clientset(t, c)
	cleanConfigMaps(t, cs)
	defer cleanConfigMaps(t, cs)
	e := newEnv(t)
	kube := []string{"--kubeconfig", c.Kubeconfig}
	args := append(append([]string{"--digest", e.amd64, "--store", e.storeURL, "--keyring-from-cluster"}, e.registryFlags...), kube...)

	r := run(t, "", args...)
	if r.Code != cli.ExitBadInput || !strings.Contains(r.Stderr, "verifier-public-key") {
		t.Fatalf("no verification ConfigMap: exit %d: %s", r.Code, r.Stderr)
	}
	trustInCluster(t, cs, e.key)
	if r := run(t, "", args...); r.Code != 0 {
		t.Fatalf("with the cluster's keys: exit %d: %s", r.Code, r.Stderr)
	}
	// The Red Hat signature is not made by a key this cluster trusts.
	r = run(t, "", append([]string{"--digest", redhatDigest, "--store", e.storeURL, "--keyring-from-cluster"}, kube...)...)
	if r.Code != cli.ExitDiffers {
		t.Fatalf("Red Hat signature with the cluster's test key: exit %d: %s", r.Code, r.Stderr)
	}
}

func TestVerifyFilterPassesEverythingOnlyWhenAllVerifies(t *testing.T) {
	e := newEnv(t)
	r := run(t, "", append([]string{"--digest", e.amd64, "--store", e.storeURL, "--keyring", e.keyring}, e.registryFlags...)...)
	if r.Code != 0 {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	sigCM := r.Stdout
	idms := `apiVersion: config.openshift.io/v1
kind: ImageDigestMirrorSet
metadata:
  name: release
spec:
  imageDigestMirrors:
  - source: quay.io/openshift-release-dev/ocp-release
    mirrors:
    - mirror.example.com/ocp4/openshift4
`
	ns := "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: demo\n"
	stream := idms + "---\n" + sigCM + "---\n" + ns

	r = run(t, stream, "verify", "--keyring", e.keyring)
	if r.Code != 0 {
		t.Fatalf("verify: exit %d: %s", r.Code, r.Stderr)
	}
	in, err := manifest.Read(strings.NewReader(stream), "in")
	if err != nil {
		t.Fatal(err)
	}
	out, err := manifest.Read(strings.NewReader(r.Stdout), "out")
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != len(in) {
		t.Fatalf("printed %d objects, want the %d of the input", len(out), len(in))
	}
	for i := range in {
		if in[i].GetKind() != out[i].GetKind() || in[i].GetName() != out[i].GetName() {
			t.Errorf("object %d: printed %s/%s, want %s/%s in place", i+1, out[i].GetKind(), out[i].GetName(), in[i].GetKind(), in[i].GetName())
		}
	}
	if r := run(t, stream, "verify", "--keyring", e.keyring, "--digest", e.amd64); r.Code != 0 {
		t.Fatalf("verify --digest of the signed release: exit %d: %s", r.Code, r.Stderr)
	}

	tampered := strings.Replace(sigCM, "binaryData:\n  "+strings.Replace(e.amd64, ":", "-", 1)+"-1: ", "binaryData:\n  "+strings.Replace(e.amd64, ":", "-", 1)+"-1: AAAA", 1)
	wrongNamespace := strings.Replace(sigCM, "namespace: openshift-config-managed", "namespace: default", 1)
	for _, tc := range []struct {
		name, stream string
		args         []string
		want         string
	}{
		{"a tampered signature", idms + "---\n" + tampered, nil, "not verified"},
		{"a signature ConfigMap the CVO would not read", idms + "---\n" + wrongNamespace, nil, "openshift-config-managed"},
		{"no signature ConfigMap at all", idms, nil, "no release signature ConfigMap"},
		{"a signature for another release than asked", stream, []string{"--digest", e.arm64}, e.arm64},
		{"keys that did not sign it", stream, []string{"--keyring", filepath.Join(fixtures, "keyrings", "redhat.txt")}, "not in the keyring"},
	} {
		t.Run(tc.name+" stops the stream", func(t *testing.T) {
			args := append([]string{"verify"}, tc.args...)
			if len(tc.args) == 0 || tc.args[0] != "--keyring" {
				args = append(args, "--keyring", e.keyring)
			}
			r := run(t, tc.stream, args...)
			if r.Code != cli.ExitDiffers || r.Stdout != "" || !strings.Contains(r.Stderr, tc.want) {
				t.Fatalf("exit %d, stdout %d bytes, stderr %s; want exit 1, nothing printed, mentioning %q", r.Code, len(r.Stdout), r.Stderr, tc.want)
			}
		})
	}
}

// TestExamplesRun runs every example of both commands' help as a user would
// paste it, with quay.io, Red Hat's key file and the USB stick standing for
// the test registry, keys and store.
func TestExamplesRun(t *testing.T) {
	c := testenv.SharedCluster(t)
	cs := clientset(t, c)
	cleanConfigMaps(t, cs)
	defer cleanConfigMaps(t, cs)
	e := newEnv(t)
	trustInCluster(t, cs, e.key)
	dir := t.TempDir()
	wd, _ := os.Getwd()
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	defer os.Chdir(wd)
	replacer := strings.NewReplacer(
		"quay.io/openshift-release-dev/ocp-release", e.repo,
		"/etc/pki/rpm-gpg/RPM-GPG-KEY-redhat-release", e.keyring,
		"redhat.asc", e.keyring,
		"file:///media/usb/signatures", e.storeURL,
	)
	// What every run adds: the test registry's credentials and CA, its
	// store, and the cluster.
	common := append([]string{"--kubeconfig", c.Kubeconfig}, e.registryFlags...)

	var signed string
	ran := 0
	for _, ex := range []struct {
		text, prefix string
	}{{example, "oc release sig"}, {verifyExample, "oc release sig verify"}} {
		for _, line := range strings.Split(strings.ReplaceAll(ex.text, "\\\n", " "), "\n") {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			line = replacer.Replace(line)
			if strings.Contains(line, "--from-cluster") {
				// The cluster holds the signature of the test release, not Red Hat's.
				line = strings.Replace(line, redhatDigest, e.amd64, 1)
			}
			var stage string
			for _, s := range strings.Split(line, "|") {
				if strings.Contains(s, ex.prefix+" ") {
					stage = strings.TrimSpace(s)
				}
			}
			words := strings.Fields(strings.TrimPrefix(stage, "oc release sig"))
			if i := indexOf(words, ">"); i >= 0 {
				words = words[:i] // the shell's redirection
			}
			args := append(words, common...)
			if ex.prefix == "oc release sig" {
				args = append(args, "--release-repo", e.repo)
				if indexOf(words, "--store") < 0 {
					args = append(args, "--store", e.storeURL)
				}
			}
			stdin := ""
			if strings.Contains(line, "oc mirror lite") {
				stdin = signed // what the mirror step prints, signature ConfigMap included
			}
			r := run(t, stdin, args...)
			if r.Code != 0 {
				t.Errorf("%s\n  ran %v: exit %d: %s", line, args, r.Code, r.Stderr)
				continue
			}
			if signed == "" && strings.Contains(line, "4.16.3") && !strings.Contains(line, "aarch64") {
				signed = r.Stdout
			}
			ran++
		}
	}
	if ran != 7 {
		t.Errorf("ran %d examples, want 7", ran)
	}
	if _, err := os.Stat(filepath.Join(dir, "release-signatures", "signature-sha256-"+strings.TrimPrefix(redhatDigest, "sha256:")[:16]+".json")); err != nil {
		t.Errorf("the --to-dir example wrote no file: %v", err)
	}
}

func indexOf(words []string, w string) int {
	for i, x := range words {
		if x == w {
			return i
		}
	}
	return -1
}
