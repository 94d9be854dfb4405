package cluster

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	mcfgv1 "github.com/openshift/api/machineconfiguration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
)

const conf = "unqualified-search-registries = ['registry.access.redhat.com', 'docker.io']\n"

func gz(s string) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte(s))
	zw.Close()
	return b.Bytes()
}

func TestDecodeDataURL(t *testing.T) {
	tests := []struct {
		name, source, compression, want, err string
	}{
		{"base64", "data:text/plain;charset=utf-8;base64," + base64.StdEncoding.EncodeToString([]byte(conf)), "", conf, ""},
		{"percent-encoded, as the MCO writes it", "data:,unqualified-search-registries%20%3D%20%5B'registry.access.redhat.com'%2C%20'docker.io'%5D%0A", "", conf, ""},
		{"gzip", "data:;base64," + base64.StdEncoding.EncodeToString(gz(conf)), "gzip", conf, ""},
		{"empty", "data:,", "", "", ""},
		{"not a data URL", "https://example.com/registries.conf", "", "", "not a data URL"},
		{"bad base64", "data:;base64,!!!", "", "", "contents.source"},
		{"gzip that is not", "data:,plain", "gzip", "", "contents.compression gzip"},
		{"an unknown compression", "data:,x", "xz", "", `contents.compression "xz": not supported`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeDataURL(tt.source, tt.compression)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || string(got) != tt.want {
				t.Errorf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func mc(name string, files ...map[string]any) *mcfgv1.MachineConfig {
	raw, _ := json.Marshal(map[string]any{"ignition": map[string]any{"version": "3.5.0"}, "storage": map[string]any{"files": files}})
	m := &mcfgv1.MachineConfig{}
	m.Name = name
	m.Spec.Config = runtime.RawExtension{Raw: raw}
	return m
}

func file(path, source string) map[string]any {
	return map[string]any{"path": path, "contents": map[string]any{"source": source}}
}

func TestIgnitionFile(t *testing.T) {
	m := mc("rendered-worker-1", file("/etc/motd", "data:,hi"), file(RegistriesConfPath, "data:,first"), file(RegistriesConfPath, "data:,last"))
	if data, found, err := IgnitionFile(m, RegistriesConfPath); err != nil || !found || string(data) != "last" {
		t.Errorf("got %q %v %v", data, found, err)
	}
	if _, found, err := IgnitionFile(m, "/etc/other"); found || err != nil {
		t.Errorf("a missing file: %v %v", found, err)
	}
	if _, found, err := IgnitionFile(&mcfgv1.MachineConfig{}, RegistriesConfPath); found || err != nil {
		t.Errorf("no config: %v %v", found, err)
	}
	bad := mc("x")
	bad.Spec.Config.Raw = []byte(`{"storage": {"files": "no"}}`)
	if _, _, err := IgnitionFile(bad, RegistriesConfPath); err == nil || !strings.Contains(err.Error(), "machineconfig/x: spec.config: not an Ignition config") {
		t.Errorf("error %v", err)
	}
	remote := mc("y", file(RegistriesConfPath, "https://example.com/x"))
	if _, found, err := IgnitionFile(remote, RegistriesConfPath); !found || err == nil || !strings.Contains(err.Error(), "machineconfig/y: spec.config.storage.files[0] (/etc/containers/registries.conf): contents.source is not a data URL") {
		t.Errorf("found %v, error %v", found, err)
	}
}

func TestPoolOf(t *testing.T) {
	pool := func(name string) Pool {
		sel, _ := metav1.LabelSelectorAsSelector(&metav1.LabelSelector{MatchLabels: map[string]string{"node-role.kubernetes.io/" + name: ""}})
		return Pool{Name: name, Selector: sel}
	}
	pools := []Pool{pool("infra"), pool("master"), pool("worker"), pool("gpu"), {Name: "none", Selector: labels.Nothing()}}
	node := func(roles ...string) Node {
		n := Node{Name: "n", Labels: map[string]string{}}
		for _, r := range roles {
			n.Labels["node-role.kubernetes.io/"+r] = ""
		}
		return n
	}
	tests := []struct {
		roles []string
		want  string
		err   bool
	}{
		{[]string{"worker"}, "worker", false},
		{[]string{"master", "worker"}, "master", false},
		{[]string{"infra", "worker"}, "infra", false},
		{[]string{"infra", "gpu", "worker"}, "", true},
		{nil, "", false},
	}
	for _, tt := range tests {
		got, err := PoolOf(node(tt.roles...), pools)
		if got != tt.want || (err != nil) != tt.err {
			t.Errorf("roles %v: %q, %v; want %q (error %v)", tt.roles, got, err, tt.want, tt.err)
		}
	}
}

func TestLimitedBufferKeepsTheStartAndNotesTheRest(t *testing.T) {
	b := &limitedBuffer{max: 4}
	b.Write([]byte("ab"))
	b.Write([]byte("cdef"))
	if b.buf.String() != "abcd" || !b.over {
		t.Errorf("%q %v", b.buf.String(), b.over)
	}
}
