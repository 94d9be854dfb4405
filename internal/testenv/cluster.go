package testenv

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	olmcrds "github.com/operator-framework/api/crds"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"
)

// Namespaces are the namespaces StartCluster creates, as an OpenShift cluster has them.
var Namespaces = []string{"openshift-config", "openshift-config-managed", "openshift-machine-api", "openshift-marketplace", "openshift-update-service"}

// CRDManifests are the CRD files StartCluster installs, relative to the
// directory of the github.com/openshift/api module. Where a CRD comes in
// feature-set variants, the Default one is used.
var CRDManifests = []string{
	"operator/v1alpha1/zz_generated.crd-manifests/0000_10_config-operator_01_imagecontentsourcepolicies.crd.yaml",
	"config/v1/zz_generated.crd-manifests/0000_10_config-operator_01_imagedigestmirrorsets.crd.yaml",
	"config/v1/zz_generated.crd-manifests/0000_10_config-operator_01_imagetagmirrorsets.crd.yaml",
	"config/v1/zz_generated.crd-manifests/0000_10_config-operator_01_images.crd.yaml",
	"config/v1/zz_generated.crd-manifests/0000_00_cluster-version-operator_01_clusterversions-Default.crd.yaml",
	"config/v1/zz_generated.crd-manifests/0000_03_config-operator_01_proxies.crd.yaml",
	"machine/v1beta1/zz_generated.crd-manifests/0000_10_machine-api_01_machinehealthchecks.crd.yaml",
	"machineconfiguration/v1/zz_generated.crd-manifests/0000_80_machine-config_01_machineconfigs.crd.yaml",
	"machineconfiguration/v1/zz_generated.crd-manifests/0000_80_machine-config_01_machineconfigpools-Default.crd.yaml",
	"config/v1/zz_generated.crd-manifests/0000_03_marketplace_01_operatorhubs.crd.yaml",
}

// extraCRDs are CRDs StartCluster installs that the github.com/openshift/api
// module does not hold: the Cluster API MachineHealthCheck (cluster.x-k8s.io),
// copied from sigs.k8s.io/cluster-api, OLM v1's ClusterCatalog, copied
// from operator-controller, and the OpenShift Update Service operator's
// UpdateService, written from its API types (each file names its origin).
// OLM's CatalogSource comes from the operator-framework/api module itself.
//
//go:embed testdata/crds/*.yaml
var extraCRDs embed.FS

func readExtraCRDs() ([]*apiextensionsv1.CustomResourceDefinition, error) {
	files, err := extraCRDs.ReadDir("testdata/crds")
	if err != nil {
		return nil, err
	}
	var crds []*apiextensionsv1.CustomResourceDefinition
	for _, f := range files {
		data, err := extraCRDs.ReadFile("testdata/crds/" + f.Name())
		if err != nil {
			return nil, err
		}
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.UnmarshalStrict(data, crd); err != nil {
			return nil, fmt.Errorf("reading CRD %s: %w", f.Name(), err)
		}
		crds = append(crds, crd)
	}
	return crds, nil
}

// Cluster is a running kube-apiserver and etcd with the OpenShift CRDs
// listed in CRDManifests installed and the Namespaces created.
type Cluster struct {
	// Config authenticates as a cluster admin (system:masters).
	Config *rest.Config
	// Kubeconfig is the path of a kubeconfig file for Config, for running
	// binaries (KUBECONFIG=... or --kubeconfig ...).
	Kubeconfig string
	// BinDir is the folder kube-apiserver and etcd were run from.
	BinDir string

	env      *envtest.Environment
	dir      string
	watchdog *watchdog
	stopOnce sync.Once
	stopErr  error
}

// ClusterOption changes what StartCluster and SharedCluster install.
type ClusterOption func(*clusterOptions)

type clusterOptions struct {
	without map[string]bool // names of CRDs left out
}

// WithoutCRDs leaves out the CRDs of these names (plural.group, as
// "imagedigestmirrorsets.config.openshift.io"): the API server then answers
// 404 for their resources, as a cluster that does not serve them does. A
// name StartCluster would not install anyway is an error.
func WithoutCRDs(names ...string) ClusterOption {
	return func(o *clusterOptions) {
		for _, n := range names {
			o.without[n] = true
		}
	}
}

// Before413 makes the API server stand for an OpenShift cluster older than
// 4.13: it serves ImageContentSourcePolicy but not ImageDigestMirrorSet or
// ImageTagMirrorSet, which 4.13 added.
func Before413() ClusterOption {
	return WithoutCRDs("imagedigestmirrorsets.config.openshift.io", "imagetagmirrorsets.config.openshift.io")
}

// WithoutMachineHealthChecks makes the API server stand for a cluster that
// serves no MachineHealthCheck API (neither machine.openshift.io nor
// cluster.x-k8s.io), as one installed without the MachineAPI capability.
func WithoutMachineHealthChecks() ClusterOption {
	return WithoutCRDs("machinehealthchecks.machine.openshift.io", "machinehealthchecks.cluster.x-k8s.io")
}

func newClusterOptions(opts []ClusterOption) *clusterOptions {
	o := &clusterOptions{without: map[string]bool{}}
	for _, opt := range opts {
		opt(o)
	}
	return o
}

// key names the cluster the options describe, so that SharedCluster starts
// one cluster per distinct set of options.
func (o *clusterOptions) key() string {
	var k []string
	for n := range o.without {
		k = append(k, "-"+n)
	}
	sort.Strings(k)
	return strings.Join(k, ",")
}

// crds reads the CRDs to install: those of CRDManifests, from the
// github.com/openshift/api module in apiDir, and the extra ones, less those
// the options leave out.
func (o *clusterOptions) crds(apiDir string) ([]*apiextensionsv1.CustomResourceDefinition, error) {
	var all []*apiextensionsv1.CustomResourceDefinition
	for _, f := range CRDManifests {
		data, err := os.ReadFile(filepath.Join(apiDir, filepath.FromSlash(f)))
		if err != nil {
			return nil, fmt.Errorf("reading OpenShift CRD: %w", err)
		}
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.Unmarshal(data, crd); err != nil {
			return nil, fmt.Errorf("reading OpenShift CRD %s: %w", f, err)
		}
		all = append(all, crd)
	}
	extra, err := readExtraCRDs()
	if err != nil {
		return nil, err
	}
	all = append(all, extra...)
	all = append(all, olmcrds.CatalogSource())
	var out []*apiextensionsv1.CustomResourceDefinition
	left := map[string]bool{}
	for n := range o.without {
		left[n] = true
	}
	for _, crd := range all {
		if o.without[crd.Name] {
			delete(left, crd.Name)
			continue
		}
		out = append(out, crd)
	}
	if len(left) > 0 {
		var names []string
		for n := range left {
			names = append(names, n)
		}
		sort.Strings(names)
		return nil, fmt.Errorf("testenv.WithoutCRDs: no CRD %s is installed", strings.Join(names, ", "))
	}
	return out, nil
}

// StartCluster starts kube-apiserver and etcd from the testbin folder (see
// TestbinDir), installs the OpenShift CRDs from the github.com/openshift/api
// module the code was built with (all of CRDManifests, unless an option
// leaves some out, as Before413 does), and creates the OpenShift namespaces.
// The caller must Stop it, or the processes outlive the caller.
func StartCluster(ctx context.Context, opts ...ClusterOption) (*Cluster, error) {
	bin, err := TestbinDir()
	if err != nil {
		return nil, err
	}
	apiDir, err := OpenShiftAPIDir()
	if err != nil {
		return nil, err
	}
	crds, err := newClusterOptions(opts).crds(apiDir)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "testenv-cluster-")
	if err != nil {
		return nil, err
	}
	// etcd's data and kube-apiserver's certificates live under dir, where
	// the watchdog finds them.
	etcdDir, certDir := filepath.Join(dir, "etcd"), filepath.Join(dir, "apiserver")
	for _, d := range []string{etcdDir, certDir} {
		if err := os.Mkdir(d, 0o700); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}

	// Keep the end of the processes' output for the error message; show
	// all of it when envtest's own switch asks for it.
	out := &tailWriter{max: 16 << 10}
	var w io.Writer = out
	if os.Getenv("KUBEBUILDER_ATTACH_CONTROL_PLANE_OUTPUT") == "true" {
		w = io.MultiWriter(out, os.Stderr)
	}
	useExisting := false // never let USE_EXISTING_CLUSTER point the tests at a real cluster
	env := &envtest.Environment{
		UseExistingCluster:    &useExisting,
		BinaryAssetsDirectory: bin,
		ControlPlane: envtest.ControlPlane{
			APIServer: &envtest.APIServer{Path: filepath.Join(bin, "kube-apiserver"), CertDir: certDir, Out: w, Err: w},
			Etcd:      &envtest.Etcd{Path: filepath.Join(bin, "etcd"), DataDir: etcdDir, Out: w, Err: w},
		},
		CRDs: crds,
	}
	if os.Getenv("KUBEBUILDER_CONTROLPLANE_START_TIMEOUT") == "" {
		// Two busy cores running several test binaries at once need more
		// than envtest's 20s default.
		env.ControlPlaneStartTimeout = 90 * time.Second
	}

	// If this process dies without calling Stop, the watchdog stops etcd and
	// kube-apiserver: envtest starts them in their own process groups, so
	// nothing else would.
	c := &Cluster{BinDir: bin, env: env, dir: dir, watchdog: startWatchdog(dir)}
	cfg, err := env.Start()
	if err != nil {
		_ = c.Stop()
		return nil, fmt.Errorf("starting kube-apiserver and etcd from %s: %w\n%s\n"+
			"If the binaries are missing or broken, run `make testbin` and set %s=$(./hack/testbin.sh).",
			bin, err, out.tail(), EnvTestbin)
	}
	c.Config = cfg

	if err := waitForCRDs(ctx, cfg, env.CRDs); err != nil {
		_ = c.Stop()
		return nil, err
	}
	warmUpCustomResourceWrites(ctx, cfg)
	if err := createNamespaces(ctx, cfg, Namespaces); err != nil {
		_ = c.Stop()
		return nil, err
	}
	c.Kubeconfig = filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(c.Kubeconfig, env.KubeConfig, 0o600); err != nil {
		_ = c.Stop()
		return nil, fmt.Errorf("writing kubeconfig: %w", err)
	}
	return c, nil
}

// Stop stops kube-apiserver and etcd and removes their data. It is safe to
// call more than once.
func (c *Cluster) Stop() error {
	c.stopOnce.Do(func() {
		c.watchdog.stop()
		c.stopErr = c.env.Stop()
		if err := os.RemoveAll(c.dir); err != nil && c.stopErr == nil {
			c.stopErr = err
		}
		if c.stopErr != nil {
			c.stopErr = fmt.Errorf("stopping kube-apiserver and etcd: %w", c.stopErr)
		}
	})
	return c.stopErr
}

// waitForCRDs waits until every served version of crds answers a list with
// 200. Right after installation the API server answers 429 with
// Retry-After: 1 for a while, which client-go would turn into a one-second
// sleep in the first request of each test.
func waitForCRDs(ctx context.Context, cfg *rest.Config, crds []*apiextensionsv1.CustomResourceDefinition) error {
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for _, crd := range crds {
		for _, v := range crd.Spec.Versions {
			if !v.Served {
				continue
			}
			url := strings.TrimSuffix(cfg.Host, "/") + "/apis/" + crd.Spec.Group + "/" + v.Name + "/" + crd.Spec.Names.Plural + "?limit=1"
			for {
				status, err := getStatus(ctx, hc, url)
				if status == http.StatusOK {
					break
				}
				select {
				case <-ctx.Done():
					return fmt.Errorf("waiting for the API server to serve %s/%s %s: last answer %d %v", crd.Spec.Group, v.Name, crd.Spec.Names.Plural, status, err)
				case <-time.After(50 * time.Millisecond):
				}
			}
		}
	}
	return nil
}

// warmUpCustomResourceWrites makes one dry-run create of a custom resource:
// the API server spends about two seconds on the first one after it starts,
// and tests should not. The ICSP is served by every cluster StartCluster
// makes.
func warmUpCustomResourceWrites(ctx context.Context, cfg *rest.Config) {
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return
	}
	body := `{"apiVersion":"operator.openshift.io/v1alpha1","kind":"ImageContentSourcePolicy","metadata":{"name":"testenv-warm-up"},"spec":{}}`
	url := strings.TrimSuffix(cfg.Host, "/") + "/apis/operator.openshift.io/v1alpha1/imagecontentsourcepolicies?dryRun=All"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return
	}
	req.Header.Set("Content-Type", "application/json")
	if resp, err := hc.Do(req); err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

func getStatus(ctx context.Context, hc *http.Client, url string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

func createNamespaces(ctx context.Context, cfg *rest.Config, names []string) error {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	for _, name := range names {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
		_, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating namespace %s: %w", name, err)
		}
	}
	return nil
}

// sharedCluster is one cluster SharedCluster hands out, per set of options.
type sharedCluster struct {
	once sync.Once
	c    *Cluster
	err  error
}

var (
	mainActive   atomic.Bool
	sharedMu     sync.Mutex
	shared       = map[string]*sharedCluster{}
	sharedClosed bool
)

// SharedCluster returns the cluster shared by the tests of this test binary
// that ask for the same options, starting it on first use: a test binary
// that asks for SharedCluster(t) and SharedCluster(t, Before413()) runs two
// clusters. It fails the test when the cluster cannot start. The package's
// TestMain must call Main, which stops the clusters at the end.
func SharedCluster(t testing.TB, opts ...ClusterOption) *Cluster {
	t.Helper()
	if !mainActive.Load() {
		t.Fatal("testenv.SharedCluster needs the package's TestMain to call testenv.Main(m), " +
			"which stops kube-apiserver and etcd when the tests end")
	}
	key := newClusterOptions(opts).key()
	sharedMu.Lock()
	s := shared[key]
	if s == nil {
		s = &sharedCluster{}
		shared[key] = s
	}
	sharedMu.Unlock()
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		c, err := StartCluster(ctx, opts...)
		sharedMu.Lock()
		defer sharedMu.Unlock()
		s.c, s.err = c, err
		if err == nil && sharedClosed {
			// Main is already shutting down (a signal arrived while starting).
			_ = c.Stop()
			s.c, s.err = nil, errors.New("test binary is shutting down")
		}
	})
	if s.err != nil {
		t.Fatalf("starting the shared test cluster: %v", s.err)
	}
	return s.c
}

func stopShared() error {
	sharedMu.Lock()
	defer sharedMu.Unlock()
	sharedClosed = true
	var errs []error
	for _, s := range shared {
		if s.c != nil {
			errs = append(errs, s.c.Stop())
		}
	}
	return errors.Join(errs...)
}

// Main runs the tests and then stops what they shared (the cluster of
// SharedCluster), also when the test binary is interrupted. Call it from
// TestMain: func TestMain(m *testing.M) { testenv.Main(m) }.
func Main(m *testing.M) {
	mainActive.Store(true)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		s, ok := <-sigs
		if !ok {
			return
		}
		fmt.Fprintf(os.Stderr, "testenv: %v: stopping the shared test cluster\n", s)
		if err := stopShared(); err != nil {
			fmt.Fprintln(os.Stderr, "testenv:", err)
		}
		os.Exit(1)
	}()

	// The commands keep copies in the user's cache folder (catalogs): the
	// tests get a folder of their own, removed when they end.
	cache, err := os.MkdirTemp("", "oc-plugins-test-cache-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "testenv:", err)
		os.Exit(1)
	}
	os.Setenv("XDG_CACHE_HOME", cache)
	code := m.Run()
	os.RemoveAll(cache)
	signal.Stop(sigs)
	if err := stopShared(); err != nil {
		fmt.Fprintln(os.Stderr, "testenv:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// UniqueName returns prefix followed by a random suffix: a valid object name
// that no other test uses, for tests sharing one cluster.
func UniqueName(prefix string) string {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return prefix + "-" + hex.EncodeToString(b[:])
}

// tailWriter keeps the last max bytes written to it.
type tailWriter struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (w *tailWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	if over := len(w.buf) - w.max; over > 0 {
		w.buf = append(w.buf[:0], w.buf[over:]...)
	}
	return len(p), nil
}

func (w *tailWriter) tail() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) == 0 {
		return "(kube-apiserver and etcd printed nothing)"
	}
	return "--- end of kube-apiserver and etcd output ---\n" + string(w.buf)
}
