package cluster

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
)

// The machine-config-daemon runs on every node, with the node's root file system at /rootfs.
const (
	DaemonNamespace = "openshift-machine-config-operator"
	DaemonSelector  = "k8s-app=machine-config-daemon"
	DaemonContainer = "machine-config-daemon"
	daemonRoot      = "/rootfs"
)

// DaemonReader reads files of nodes through the machine-config-daemon pods: `cat
// /rootfs/PATH` run in the pod on that node, as `oc exec` would. No image is pulled (the
// daemon is already running), which matters on a cluster that cannot reach a registry.
type DaemonReader struct {
	Config *rest.Config
	Client kubernetes.Interface

	mu   sync.Mutex
	pods map[string]string // node name -> pod name, listed once
}

// NewDaemonReader connects to the cluster the kubeconfig flags point at.
func NewDaemonReader(getter genericclioptions.RESTClientGetter) (*DaemonReader, error) {
	cfg, err := getter.ToRESTConfig()
	if err != nil {
		return nil, badInput(fmt.Errorf("loading kubeconfig: %w", err))
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, badInput(fmt.Errorf("configuring client for %s: %w", cfg.Host, err))
	}
	return &DaemonReader{Config: cfg, Client: cs}, nil
}

// Pod returns the running machine-config-daemon pod on node.
func (r *DaemonReader) Pod(ctx context.Context, node string) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pods == nil {
		var list *corev1.PodList
		err := do(ctx, "listing machine-config-daemon pods in "+DaemonNamespace, func(ctx context.Context) error {
			var err error
			list, err = r.Client.CoreV1().Pods(DaemonNamespace).List(ctx, metav1.ListOptions{LabelSelector: DaemonSelector})
			return err
		})
		if err != nil {
			return "", failed(err)
		}
		sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].Name < list.Items[j].Name })
		r.pods = map[string]string{}
		for _, p := range list.Items {
			if p.Spec.NodeName != "" && p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
				r.pods[p.Spec.NodeName] = p.Name
			}
		}
	}
	pod, ok := r.pods[node]
	if !ok {
		return "", failed(fmt.Errorf("no running machine-config-daemon pod (%s) on node %s in %s", DaemonSelector, node, DaemonNamespace))
	}
	return pod, nil
}

// ReadRegistriesConf returns /etc/containers/registries.conf of node.
func (r *DaemonReader) ReadRegistriesConf(ctx context.Context, node string) ([]byte, error) {
	return r.ReadFile(ctx, node, RegistriesConfPath)
}

// maxExecOutput bounds what one read returns.
const maxExecOutput = 4 << 20

// ReadFile returns the contents of path on node.
func (r *DaemonReader) ReadFile(ctx context.Context, node, path string) ([]byte, error) {
	pod, err := r.Pod(ctx, node)
	if err != nil {
		return nil, err
	}
	var out []byte
	what := fmt.Sprintf("reading %s of node %s through pod %s/%s", path, node, DaemonNamespace, pod)
	err = do(ctx, what, func(ctx context.Context) error {
		var err error
		out, err = r.exec(ctx, pod, []string{"cat", daemonRoot + path})
		return err
	})
	if err != nil {
		return nil, failed(err)
	}
	return out, nil
}

func (r *DaemonReader) exec(ctx context.Context, pod string, command []string) ([]byte, error) {
	req := r.Client.CoreV1().RESTClient().Post().Resource("pods").Namespace(DaemonNamespace).Name(pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Container: DaemonContainer, Command: command, Stdout: true, Stderr: true}, scheme.ParameterCodec)
	spdy, err := remotecommand.NewSPDYExecutor(r.Config, "POST", req.URL())
	if err != nil {
		return nil, err
	}
	ws, err := remotecommand.NewWebSocketExecutor(r.Config, "GET", req.URL().String())
	if err != nil {
		return nil, err
	}
	ex, err := remotecommand.NewFallbackExecutor(ws, spdy, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
	if err != nil {
		return nil, err
	}
	stdout := &limitedBuffer{max: maxExecOutput}
	stderr := &limitedBuffer{max: 4096}
	err = ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: stdout, Stderr: stderr})
	if err != nil {
		if msg := strings.TrimSpace(stderr.buf.String()); msg != "" {
			return nil, fmt.Errorf("%w: %s", err, msg)
		}
		return nil, err
	}
	if stdout.over {
		return nil, fmt.Errorf("more than %d bytes", maxExecOutput)
	}
	return stdout.buf.Bytes(), nil
}

// limitedBuffer keeps at most max bytes and notes when more came.
type limitedBuffer struct {
	buf  bytes.Buffer
	max  int
	over bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.buf.Len(); len(p) > room {
		b.over = true
		if room > 0 {
			b.buf.Write(p[:room])
		}
		return len(p), nil
	}
	return b.buf.Write(p)
}
