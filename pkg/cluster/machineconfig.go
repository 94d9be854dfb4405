package cluster

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	mcfgv1 "github.com/openshift/api/machineconfiguration/v1"
	"github.com/vincent-petithory/dataurl"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// MachineConfigs and nodes (the pools and the ClusterVersion are in mhc.go).
var (
	MachineConfigResource = mcfgv1.GroupVersion.WithResource("machineconfigs")
	NodeResource          = schema.GroupVersionResource{Version: "v1", Resource: "nodes"}
)

// RegistriesConfPath is where nodes keep the container registries configuration.
const RegistriesConfPath = "/etc/containers/registries.conf"

// The node annotations the machine-config-daemon keeps.
const (
	CurrentConfigAnnotation = "machineconfiguration.openshift.io/currentConfig"
	DesiredConfigAnnotation = "machineconfiguration.openshift.io/desiredConfig"
	StateAnnotation         = "machineconfiguration.openshift.io/state"
	ReasonAnnotation        = "machineconfiguration.openshift.io/reason"
	// StateDone is the daemon's state once a node runs its desired config.
	StateDone = "Done"
)

// Pool is what verification needs of a MachineConfigPool.
type Pool struct {
	Name string
	// Rendered is spec.configuration.name: the rendered MachineConfig the pool's nodes must run.
	Rendered string
	// Sources are the MachineConfigs the rendered one was merged from (spec.configuration.source).
	Sources []string
	Paused  bool
	// Selector selects the pool's nodes (spec.nodeSelector); nil selects none.
	Selector labels.Selector
	// Updated and Degraded are the statuses (True, False, Unknown, or "" when absent) of the
	// pool's conditions of those types; the messages say why.
	Updated, Degraded               string
	UpdatedMessage, DegradedMessage string
}

// Node is what verification needs of a node: its labels and the daemon's annotations.
type Node struct {
	Name                         string
	Labels                       map[string]string
	CurrentConfig, DesiredConfig string
	State, Reason                string
}

// Pools returns the cluster's MachineConfigPools sorted by name.
func (c *Client) Pools(ctx context.Context) ([]Pool, error) {
	list, err := c.List(ctx, MachineConfigPoolResource, "", "")
	if err != nil {
		return nil, err
	}
	out := make([]Pool, 0, len(list))
	for _, u := range list {
		p, err := PoolFrom(u)
		if err != nil {
			return nil, failed(err)
		}
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// PoolFrom reads a MachineConfigPool object.
func PoolFrom(u *unstructured.Unstructured) (Pool, error) {
	var mcp mcfgv1.MachineConfigPool
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &mcp); err != nil {
		return Pool{}, fmt.Errorf("reading machineconfigpool/%s: %w", u.GetName(), err)
	}
	p := Pool{Name: mcp.Name, Rendered: mcp.Spec.Configuration.Name, Paused: mcp.Spec.Paused, Selector: labels.Nothing()}
	for _, s := range mcp.Spec.Configuration.Source {
		p.Sources = append(p.Sources, s.Name)
	}
	if mcp.Spec.NodeSelector != nil {
		sel, err := metav1.LabelSelectorAsSelector(mcp.Spec.NodeSelector)
		if err != nil {
			return Pool{}, fmt.Errorf("reading machineconfigpool/%s: spec.nodeSelector: %w", mcp.Name, err)
		}
		p.Selector = sel
	}
	for _, cond := range mcp.Status.Conditions {
		switch cond.Type {
		case mcfgv1.MachineConfigPoolUpdated:
			p.Updated, p.UpdatedMessage = string(cond.Status), cond.Message
		case mcfgv1.MachineConfigPoolDegraded:
			p.Degraded, p.DegradedMessage = string(cond.Status), cond.Message
		}
	}
	return p, nil
}

// Nodes returns the cluster's nodes sorted by name.
func (c *Client) Nodes(ctx context.Context) ([]Node, error) {
	list, err := c.List(ctx, NodeResource, "", "")
	if err != nil {
		return nil, err
	}
	out := make([]Node, 0, len(list))
	for _, u := range list {
		out = append(out, NodeFrom(u))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// NodeFrom reads a Node object.
func NodeFrom(u *unstructured.Unstructured) Node {
	a := u.GetAnnotations()
	return Node{
		Name: u.GetName(), Labels: u.GetLabels(),
		CurrentConfig: a[CurrentConfigAnnotation], DesiredConfig: a[DesiredConfigAnnotation],
		State: a[StateAnnotation], Reason: a[ReasonAnnotation],
	}
}

// PoolOf returns the pool that manages node, by the Machine Config Operator's rule: of the
// pools whose node selector matches, master wins; otherwise a custom pool wins over worker;
// more than one custom pool is an error. It returns "" when no pool matches.
func PoolOf(node Node, pools []Pool) (string, error) {
	var matched []string
	set := labels.Set(node.Labels)
	for _, p := range pools {
		if p.Selector != nil && p.Selector.Matches(set) {
			matched = append(matched, p.Name)
		}
	}
	switch len(matched) {
	case 0:
		return "", nil
	case 1:
		return matched[0], nil
	}
	var custom []string
	for _, m := range matched {
		if m == "master" {
			return m, nil
		}
		if m != "worker" {
			custom = append(custom, m)
		}
	}
	if len(custom) == 1 {
		return custom[0], nil
	}
	return "", fmt.Errorf("node %s is selected by several custom pools (%s); the Machine Config Operator manages it in none", node.Name, strings.Join(custom, ", "))
}

// MachineConfig returns the named MachineConfig, or nil when it does not exist.
func (c *Client) MachineConfig(ctx context.Context, name string) (*mcfgv1.MachineConfig, error) {
	u, err := c.Get(ctx, MachineConfigResource, "", name)
	if err != nil || u == nil {
		return nil, err
	}
	var mc mcfgv1.MachineConfig
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &mc); err != nil {
		return nil, failed(fmt.Errorf("reading machineconfig/%s: %w", name, err))
	}
	return &mc, nil
}

// ignitionConfig is the part of an Ignition config (spec 2.x or 3.x) that holds file contents.
type ignitionConfig struct {
	Storage struct {
		Files []struct {
			Path     string `json:"path"`
			Contents struct {
				Source      *string `json:"source"`
				Compression *string `json:"compression"`
			} `json:"contents"`
		} `json:"files"`
	} `json:"storage"`
}

// maxFileSize bounds a decoded file, gzip included.
const maxFileSize = 16 << 20

// IgnitionFile returns the contents of the file at path in a MachineConfig's Ignition config
// (spec.config), and whether the config has it. The contents are an RFC 2397 data URL, base64
// or percent-encoded, optionally gzip-compressed (contents.compression), as the MCO writes
// them; a file whose source is not a data URL cannot be read from the object and is an error.
// When the config lists the path more than once, the last entry wins.
func IgnitionFile(mc *mcfgv1.MachineConfig, path string) ([]byte, bool, error) {
	if len(mc.Spec.Config.Raw) == 0 {
		return nil, false, nil
	}
	var cfg ignitionConfig
	if err := json.Unmarshal(mc.Spec.Config.Raw, &cfg); err != nil {
		return nil, false, fmt.Errorf("machineconfig/%s: spec.config: not an Ignition config: %w", mc.Name, err)
	}
	idx := -1
	for i, f := range cfg.Storage.Files {
		if f.Path == path {
			idx = i
		}
	}
	if idx < 0 {
		return nil, false, nil
	}
	f := cfg.Storage.Files[idx]
	where := fmt.Sprintf("machineconfig/%s: spec.config.storage.files[%d] (%s)", mc.Name, idx, path)
	if f.Contents.Source == nil || *f.Contents.Source == "" {
		return []byte{}, true, nil
	}
	data, err := DecodeDataURL(*f.Contents.Source, deref(f.Contents.Compression))
	if err != nil {
		return nil, true, fmt.Errorf("%s: %w", where, err)
	}
	return data, true, nil
}

// DecodeDataURL decodes an RFC 2397 data URL (base64 or percent-encoded), then gunzips it when
// compression is "gzip". compression "" means none.
func DecodeDataURL(source, compression string) ([]byte, error) {
	if !strings.HasPrefix(source, "data:") {
		return nil, fmt.Errorf("contents.source is not a data URL (%.20q...): only inline contents can be checked", source)
	}
	du, err := dataurl.DecodeString(source)
	if err != nil {
		return nil, fmt.Errorf("contents.source: %w", err)
	}
	switch compression {
	case "":
		return du.Data, nil
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(du.Data))
		if err != nil {
			return nil, fmt.Errorf("contents.compression gzip: %w", err)
		}
		data, err := io.ReadAll(io.LimitReader(zr, maxFileSize+1))
		if err != nil {
			return nil, fmt.Errorf("contents.compression gzip: %w", err)
		}
		if len(data) > maxFileSize {
			return nil, fmt.Errorf("contents.compression gzip: more than %d bytes", maxFileSize)
		}
		return data, nil
	default:
		return nil, fmt.Errorf("contents.compression %q: not supported (Ignition knows gzip)", compression)
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// RegistriesConfSupplier returns which of the MachineConfigs a rendered config was merged from
// supplied the file at path: the MCO merges them in name order and a later file replaces an
// earlier one, so it is the last, by name, that holds the file. It returns "" when none does.
func RegistriesConfSupplier(ctx context.Context, get func(context.Context, string) (*mcfgv1.MachineConfig, error), sources []string, path string) (string, error) {
	names := append([]string(nil), sources...)
	sort.Strings(names)
	for i := len(names) - 1; i >= 0; i-- {
		mc, err := get(ctx, names[i])
		if err != nil {
			return "", err
		}
		if mc == nil {
			continue
		}
		if _, found, _ := IgnitionFile(mc, path); found {
			return names[i], nil
		}
	}
	return "", nil
}
