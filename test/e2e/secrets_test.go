package e2e

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/airgap-ocp/oc-plugins/internal/testenv"
)

// TestSecretsNeverAppear runs every plugin with a known registry password
// and a known API token, both refused, and with the right registry
// credentials: neither appears in stdout, stderr, error messages or any file
// the plugins write.
func TestSecretsNeverAppear(t *testing.T) {
	e, c := clusterEnv(t)
	m := newMirrorEnv(t, e, testenv.ReleaseSpec{Version: "4.16.3", Components: 3})
	password := "e2e-registry-password-" + testenv.UniqueName("p")
	token := "e2e-bearer-token-" + testenv.UniqueName("t")
	// The password also as the basic-auth header value carries it.
	e.secrets = append(e.secrets, password, token, base64.StdEncoding.EncodeToString([]byte(m.dst.Username+":"+password)))
	private := t.TempDir() // credentials live outside the work folder, whose every file is checked

	// A registry auth file with a wrong password for both registries.
	wrongAuth := filepath.Join(private, "wrong-auth.json")
	if err := testenv.WriteAuthFile(wrongAuth, m.dst.Username, password, m.src.Host, m.dst.Host); err != nil {
		t.Fatal(err)
	}
	// A kubeconfig for the test API server with a token it does not know.
	cfg, err := clientcmd.LoadFromFile(c.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range cfg.AuthInfos {
		a.ClientCertificate, a.ClientCertificateData, a.ClientKey, a.ClientKeyData = "", nil, "", nil
		a.Username, a.Password = "", ""
		a.Token = token
	}
	badKube := filepath.Join(private, "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, badKube); err != nil {
		t.Fatal(err)
	}
	digest := m.rel.Digest.String()
	e.write(t, "icsp.yaml", []byte("apiVersion: operator.openshift.io/v1alpha1\nkind: ImageContentSourcePolicy\nmetadata: {name: e2e-secrets}\n"+
		"spec:\n  repositoryDigestMirrors:\n  - {source: quay.io/ocp, mirrors: [mirror.example.com/ocp]}\n"))
	for _, tc := range []struct {
		name, script string
		code         int
	}{
		{"mirror-lite refused by the registry", "oc-mirror-lite release " + m.rel.Tag + " --to docker://" + m.dst.Ref("ocp/release") +
			" --authfile " + wrongAuth + " --cert-dir " + m.certDir + " --resources-dir out-refused", 3},
		{"mirror-lite images refused by the registry", "oc-mirror-lite images " + anyComponent(m.rel) + "=" + m.dst.Ref("x/cli:1") +
			" --authfile " + wrongAuth + " --cert-dir " + m.certDir, 3},
		{"mirror-lite credentials from REGISTRY_AUTH_FILE", "REGISTRY_AUTH_FILE=" + wrongAuth + " oc-mirror-lite release " + m.rel.Tag +
			" --to docker://" + m.dst.Ref("ocp/release") + " --cert-dir " + m.certDir, 3},
		{"release-sig refused by the registry", "oc-release-sig " + m.rel.Tag + " --keyring " + m.keyFile + " --store " + m.store +
			" --authfile " + wrongAuth + " --cert-dir " + m.certDir + " --to-dir out-sig", 3},
		{"release-sig store with a password in its URL", "oc-release-sig --digest " + digest + " --keyring " + m.keyFile +
			" --store https://user:" + password + "@127.0.0.1:1/signatures", 3},
		{"mirror-lite store with a password in its URL", "oc-mirror-lite release " + m.rel.Tag + " --to docker://" + m.dst.Ref("ocp/release") + " " + m.regFlags() +
			" --keyring " + m.keyFile + " --signature-store https://user:" + password + "@127.0.0.1:1/signatures > out-store.yaml", 0},
		{"icsp-migrate refused by the API server", "oc-icsp-migrate --from-cluster --check --kubeconfig " + badKube, 3},
		{"icsp-migrate apply refused by the API server", "oc-icsp-migrate -f icsp.yaml --apply --kubeconfig " + badKube, 3},
		{"mhc-pause refused by the API server", "oc-mhc-pause --all --kubeconfig " + badKube, 3},
		{"mhc-pause status refused by the API server", "oc-mhc-pause status --kubeconfig " + badKube, 3},
		{"registries-verify refused by the API server", "oc-registries-verify --kubeconfig " + badKube, 3},
		{"release-sig verify refused by the API server", "oc-release-sig verify --from-cluster --digest " + digest + " --keyring " + m.keyFile + " --kubeconfig " + badKube, 3},
		{"release-sig apply refused by the API server", "oc-release-sig --digest " + digest + " --keyring " + m.keyFile + " --store " + m.store + " --apply --kubeconfig " + badKube, 3},
		{"kubectl plugin refused by the API server", "KUBECONFIG=" + badKube + " kubectl mhc pause status", 3},
		// The request trace at its most verbose: headers and bodies, never a credential.
		{"mirror-lite refused by the registry, traced", "oc-mirror-lite release " + m.rel.Tag + " --to docker://" + m.dst.Ref("ocp/release") +
			" --authfile " + wrongAuth + " --cert-dir " + m.certDir + " --resources-dir out-traced -v=9", 3},
		{"release-sig store with a password in its URL, traced", "oc-release-sig --digest " + digest + " --keyring " + m.keyFile +
			" --store https://user:" + password + "@127.0.0.1:1/signatures -v=9", 3},
		{"mhc-pause refused by the API server, traced", "oc-mhc-pause status --kubeconfig " + badKube + " -v=9", 3},
		// The right credentials: the mirror works, and its files hold no secret.
		{"mirror-lite with the right credentials", "oc-mirror-lite release " + m.rel.Tag + " --to docker://" + m.dst.Ref("ocp/release") + " " + m.regFlags() +
			" --signature-store " + m.store + " --keyring " + m.keyFile + " --resources-dir out-ok > out-ok.yaml", 0},
		{"release-sig with the right credentials", "oc-release-sig " + m.rel.Tag + " " + m.regFlags() + " --keyring " + m.keyFile +
			" --store " + m.store + " --to-dir out-sig > out-sig.yaml", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.sh(t, "", tc.script)
			if r.code != tc.code {
				t.Errorf("%s: exit %d, want %d\n%s", tc.script, r.code, tc.code, r.stderr)
			}
		})
	}
	for _, f := range files(t, e.dir) {
		data, err := os.ReadFile(filepath.Join(e.dir, f))
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range e.secrets {
			if bytes.Contains(data, []byte(s)) {
				t.Errorf("%s holds a secret", f)
			}
		}
	}
	for _, want := range []string{"out-ok/idms-oc-mirror.yaml", "out-ok/mapping.txt", "out-sig.yaml"} {
		if _, err := os.Stat(filepath.Join(e.dir, want)); err != nil {
			t.Errorf("a run with the right credentials did not write %s: %v", want, err)
		}
	}
}

// TestTLSIsVerified checks that the plugins verify registry and signature
// store certificates unless told not to: a registry whose CA is not given is
// refused (exit 3, saying why), and --tls-verify=false is what it takes.
func TestTLSIsVerified(t *testing.T) {
	e := newEnv(t, "", "")
	m := newMirrorEnv(t, e, testenv.ReleaseSpec{Version: "4.16.3", Components: 2})
	auth := "--authfile " + m.authFile
	to := " --to docker://" + m.dst.Ref("ocp/release")
	srcCA, err := os.ReadFile(m.src.CACertFile)
	if err != nil {
		t.Fatal(err)
	}
	srcOnly := filepath.Dir(e.write(t, "src-ca/src.crt", srcCA))
	for _, tc := range []struct{ name, script string }{
		{"mirror-lite", "oc-mirror-lite release " + m.rel.Tag + to + " " + auth},
		{"mirror-lite, only the source trusted", "oc-mirror-lite release " + m.rel.Tag + to + " " + auth + " --cert-dir " + srcOnly},
		{"release-sig", "oc-release-sig " + m.rel.Tag + " " + auth + " --keyring " + m.keyFile + " --store " + m.store},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.sh(t, "", tc.script)
			if r.code != 3 {
				t.Errorf("%s: exit %d, want 3\n%s", tc.script, r.code, r.stderr)
			}
			if !strings.Contains(r.stderr, "certificate") {
				t.Errorf("%s: the error does not say the certificate was refused:\n%s", tc.script, r.stderr)
			}
			if r.stdout != "" {
				t.Errorf("%s printed on stdout:\n%s", tc.script, r.stdout)
			}
		})
	}
	// Turned off, it works without the CAs, and each flag that turned it off
	// is warned about on stderr, naming the connection left unverified.
	for _, tc := range []struct{ name, script, want string }{
		{"mirror-lite --tls-verify=false", "oc-mirror-lite release " + m.rel.Tag + to + " " + auth + " --tls-verify=false > out.yaml",
			"warning: --tls-verify=false: TLS certificates are not verified, and plain HTTP is allowed, for signature stores and for the source and destination registries"},
		{"mirror-lite --src-tls-verify=false", "oc-mirror-lite release " + m.rel.Tag + to + " " + auth + " --src-tls-verify=false --cert-dir " + m.certDir + " > out-src.yaml",
			"warning: --src-tls-verify=false: the source registries' TLS certificates are not verified"},
		{"mirror-lite --dest-tls-verify=false", "oc-mirror-lite release " + m.rel.Tag + to + " " + auth + " --dest-tls-verify=false --cert-dir " + srcOnly + " > out-dest.yaml",
			"warning: --dest-tls-verify=false: the destination registry's TLS certificate is not verified"},
		{"release-sig --tls-verify=false", "oc-release-sig " + m.rel.Tag + " " + auth + " --keyring " + m.keyFile + " --store " + m.store + " --tls-verify=false > sig.yaml",
			"warning: --tls-verify=false: registry and signature store TLS certificates are not verified"},
		{"icsp-migrate --insecure-skip-tls-verify", "oc-icsp-migrate -f out.yaml --insecure-skip-tls-verify > migrated.yaml",
			"warning: --insecure-skip-tls-verify=true: the API server's TLS certificate is not verified"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.must(t, tc.script)
			if n := strings.Count(r.stderr, "warning: --"); n != 1 || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("%s: want one warning %q on stderr, got %d:\n%s", tc.script, tc.want, n, r.stderr)
			}
		})
	}
	r := e.must(t, "oc-mirror-lite release "+m.rel.Tag+to+" "+auth+" --cert-dir "+m.certDir+" > out-verified.yaml")
	if strings.Contains(r.stderr, "warning: --") {
		t.Errorf("verified TLS warns:\n%s", r.stderr)
	}
}

// anyComponent returns the pull spec of one component of rel.
func anyComponent(rel *testenv.Release) string {
	names := make([]string, 0, len(rel.Components))
	for n := range rel.Components {
		names = append(names, n)
	}
	sort.Strings(names)
	return rel.Components[names[0]]
}
