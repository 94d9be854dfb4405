package testenv

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	configv1 "github.com/openshift/api/config/v1"
	configclient "github.com/openshift/client-go/config/clientset/versioned"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

func TestClusterServesTheOpenShiftCRDs(t *testing.T) {
	c := SharedCluster(t)
	dyn, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		kind      string
		gvr       schema.GroupVersionResource
		namespace string
	}{
		{"ImageContentSourcePolicy", schema.GroupVersionResource{Group: "operator.openshift.io", Version: "v1alpha1", Resource: "imagecontentsourcepolicies"}, ""},
		{"ImageDigestMirrorSet", schema.GroupVersionResource{Group: "config.openshift.io", Version: "v1", Resource: "imagedigestmirrorsets"}, ""},
		{"ImageTagMirrorSet", schema.GroupVersionResource{Group: "config.openshift.io", Version: "v1", Resource: "imagetagmirrorsets"}, ""},
		{"Image", schema.GroupVersionResource{Group: "config.openshift.io", Version: "v1", Resource: "images"}, ""},
		{"ClusterVersion", schema.GroupVersionResource{Group: "config.openshift.io", Version: "v1", Resource: "clusterversions"}, ""},
		{"MachineHealthCheck", schema.GroupVersionResource{Group: "machine.openshift.io", Version: "v1beta1", Resource: "machinehealthchecks"}, "openshift-machine-api"},
		{"MachineConfig", schema.GroupVersionResource{Group: "machineconfiguration.openshift.io", Version: "v1", Resource: "machineconfigs"}, ""},
		{"MachineConfigPool", schema.GroupVersionResource{Group: "machineconfiguration.openshift.io", Version: "v1", Resource: "machineconfigpools"}, ""},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			list, err := dyn.Resource(tc.gvr).Namespace(tc.namespace).List(context.Background(), metav1.ListOptions{})
			if err != nil {
				t.Fatalf("listing %s: %v", tc.gvr, err)
			}
			if list.GetKind() != tc.kind+"List" {
				t.Errorf("list kind %q, want %sList", list.GetKind(), tc.kind)
			}
		})
	}
}

func TestClusterHasTheOpenShiftNamespaces(t *testing.T) {
	c := SharedCluster(t)
	cs, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range Namespaces {
		if _, err := cs.CoreV1().Namespaces().Get(context.Background(), ns, metav1.GetOptions{}); err != nil {
			t.Errorf("namespace %s: %v", ns, err)
		}
	}
}

func TestClusterKubeconfigFileReachesTheCluster(t *testing.T) {
	c := SharedCluster(t)
	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		t.Fatalf("loading %s: %v", c.Kubeconfig, err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Namespaces().Get(context.Background(), "openshift-config", metav1.GetOptions{}); err != nil {
		t.Errorf("reading a namespace through the kubeconfig file: %v", err)
	}
}

func TestImageDigestMirrorSetSchemaIsEnforced(t *testing.T) {
	c := SharedCluster(t)
	client, err := configclient.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	idms := func(policy configv1.MirrorSourcePolicy) *configv1.ImageDigestMirrorSet {
		return &configv1.ImageDigestMirrorSet{
			ObjectMeta: metav1.ObjectMeta{Name: UniqueName("idms")},
			Spec: configv1.ImageDigestMirrorSetSpec{ImageDigestMirrors: []configv1.ImageDigestMirrors{{
				Source:             "quay.io/openshift-release-dev/ocp-release",
				Mirrors:            []configv1.ImageMirror{"mirror.example.com:5000/ocp/release"},
				MirrorSourcePolicy: policy,
			}}},
		}
	}
	ctx := context.Background()

	t.Run("a valid object is stored and read back", func(t *testing.T) {
		want := idms(configv1.NeverContactSource)
		if _, err := client.ConfigV1().ImageDigestMirrorSets().Create(ctx, want, metav1.CreateOptions{}); err != nil {
			t.Fatalf("creating: %v", err)
		}
		got, err := client.ConfigV1().ImageDigestMirrorSets().Get(ctx, want.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("getting: %v", err)
		}
		if !reflect.DeepEqual(got.Spec, want.Spec) {
			t.Errorf("spec read back %+v, want %+v", got.Spec, want.Spec)
		}
	})

	t.Run("mirrorSourcePolicy Bogus is rejected", func(t *testing.T) {
		_, err := client.ConfigV1().ImageDigestMirrorSets().Create(ctx, idms("Bogus"), metav1.CreateOptions{})
		if !apierrors.IsInvalid(err) {
			t.Fatalf("got %v, want an Invalid error from the schema", err)
		}
		if !strings.Contains(err.Error(), "mirrorSourcePolicy") {
			t.Errorf("error does not name the field: %v", err)
		}
	})
}

func TestStartClusterExplainsMissingBinaries(t *testing.T) {
	empty := t.TempDir()
	t.Setenv(EnvTestbin, empty)
	_, err := StartCluster(context.Background())
	if err == nil {
		t.Fatal("started without kube-apiserver and etcd")
	}
	if !strings.Contains(err.Error(), "make testbin") || !strings.Contains(err.Error(), empty) {
		t.Errorf("error does not say where it looked and what to run: %v", err)
	}
}

func TestOpenShiftAPIDirHoldsEveryCRD(t *testing.T) {
	dir, err := OpenShiftAPIDir()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range CRDManifests {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("%v", err)
		}
	}
	// The CRDs come from the very version the test binary was built with.
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, m := range bi.Deps {
			if m.Path == openShiftAPIModule && m.Replace == nil && !strings.HasSuffix(dir, "@"+m.Version) {
				t.Errorf("CRDs from %s, but the binary was built with %s@%s", dir, m.Path, m.Version)
			}
		}
	}
}

func TestEscapeModulePath(t *testing.T) {
	for in, want := range map[string]string{
		"github.com/openshift/api":   "github.com/openshift/api",
		"github.com/BurntSushi/toml": "github.com/!burnt!sushi/toml",
	} {
		if got := escapeModulePath(in); got != want {
			t.Errorf("escapeModulePath(%q) = %q, want %q", in, got, want)
		}
	}
}

// The helper process for TestClusterProcessesDieWithTheirParent: it starts
// a cluster, prints its folder and waits to be killed.
func TestHelperStartClusterAndWait(t *testing.T) {
	if os.Getenv("TESTENV_HELPER") != "start-cluster" {
		return
	}
	c, err := StartCluster(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	os.Stdout.WriteString(c.dir + "\n")
	select {}
}

func TestClusterProcessesDieWithTheirParent(t *testing.T) {
	if _, err := os.Stat("/proc/self/cmdline"); err != nil {
		t.Fatalf("this test finds processes through /proc: %v", err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperStartClusterAndWait$", "-test.timeout=5m")
	cmd.Env = append(os.Environ(), "TESTENV_HELPER=start-cluster")
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("helper did not start a cluster: %v\n%s", err, stderr.String())
	}
	dir := strings.TrimSpace(line)
	if len(processesUnder(dir)) != 2 {
		t.Errorf("want etcd and kube-apiserver running under %s, found %v", dir, processesUnder(dir))
	}

	// No Stop, no signal handler: the hardest way to die.
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	deadline := time.Now().Add(20 * time.Second)
	for {
		left := processesUnder(dir)
		_, statErr := os.Stat(dir)
		if len(left) == 0 && os.IsNotExist(statErr) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("20s after the parent died: processes %v still run, folder %s stat: %v", left, dir, statErr)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// processesUnder lists the pids whose command line names a path under dir.
func processesUnder(dir string) []string {
	var pids []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		for _, arg := range strings.Split(string(cmdline), "\x00") {
			if strings.HasPrefix(arg, "--data-dir="+dir+"/") || strings.HasPrefix(arg, "--cert-dir="+dir+"/") {
				pids = append(pids, e.Name())
				break
			}
		}
	}
	return pids
}

func TestBefore413ClusterServesICSPButNoMirrorSets(t *testing.T) {
	c := SharedCluster(t, Before413())
	if c == SharedCluster(t) {
		t.Fatal("SharedCluster(t, Before413()) returned the cluster of SharedCluster(t)")
	}
	dyn, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, gvr := range []schema.GroupVersionResource{
		{Group: "operator.openshift.io", Version: "v1alpha1", Resource: "imagecontentsourcepolicies"},
		{Group: "config.openshift.io", Version: "v1", Resource: "images"},
		{Group: "machineconfiguration.openshift.io", Version: "v1", Resource: "machineconfigpools"},
	} {
		if _, err := dyn.Resource(gvr).List(ctx, metav1.ListOptions{}); err != nil {
			t.Errorf("listing %s on the pre-4.13 cluster: %v", gvr, err)
		}
	}
	for _, gvr := range []schema.GroupVersionResource{
		{Group: "config.openshift.io", Version: "v1", Resource: "imagedigestmirrorsets"},
		{Group: "config.openshift.io", Version: "v1", Resource: "imagetagmirrorsets"},
	} {
		_, err := dyn.Resource(gvr).List(ctx, metav1.ListOptions{})
		if !apierrors.IsNotFound(err) {
			t.Errorf("listing %s on the pre-4.13 cluster: got %v, want NotFound", gvr, err)
		}
	}
	if again := SharedCluster(t, Before413()); again != c {
		t.Error("a second SharedCluster(t, Before413()) started another cluster")
	}
}

func TestWithoutCRDsRefusesANameNotInstalled(t *testing.T) {
	apiDir, err := OpenShiftAPIDir()
	if err != nil {
		t.Fatal(err)
	}
	_, err = newClusterOptions([]ClusterOption{Before413(), WithoutCRDs("imagedigestmirrorset.config.openshift.io")}).crds(apiDir)
	if err == nil || !strings.Contains(err.Error(), "no CRD imagedigestmirrorset.config.openshift.io is installed") {
		t.Errorf("a misspelt CRD name: %v", err)
	}
	crds, err := newClusterOptions([]ClusterOption{WithoutMachineHealthChecks()}).crds(apiDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, crd := range crds {
		if crd.Spec.Names.Kind == "MachineHealthCheck" {
			t.Errorf("WithoutMachineHealthChecks installs %s", crd.Name)
		}
	}
}
