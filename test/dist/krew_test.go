package dist

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"regexp"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/version"
)

// The types mirror sigs.k8s.io/krew/pkg/index (v0.4.4) field for field.

type krewPlugin struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec krewPluginSpec `json:"spec"`
}

type krewPluginSpec struct {
	Version          string `json:"version,omitempty"`
	ShortDescription string `json:"shortDescription,omitempty"`
	Description      string `json:"description,omitempty"`
	Caveats          string `json:"caveats,omitempty"`
	Homepage         string `json:"homepage,omitempty"`

	Platforms []krewPlatform `json:"platforms,omitempty"`
}

type krewPlatform struct {
	URI    string `json:"uri,omitempty"`
	Sha256 string `json:"sha256,omitempty"`

	Selector *metav1.LabelSelector `json:"selector,omitempty"`
	Files    []krewFileOperation   `json:"files"`
	Bin      string                `json:"bin"`
}

type krewFileOperation struct {
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
}

const (
	krewAPIVersion = "krew.googlecontainertools.github.com/v1alpha2"
	krewKind       = "Plugin"
)

var (
	krewSafeName = regexp.MustCompile(`^[\w-]+$`)
	krewSHA256   = regexp.MustCompile(`^[a-f0-9]{64}$`)
	// windowsForbidden are names krew refuses because Windows cannot create them.
	windowsForbidden = []string{"CON", "PRN", "AUX", "NUL", "COM1", "COM2",
		"COM3", "COM4", "COM5", "COM6", "COM7", "COM8", "COM9", "LPT1", "LPT2",
		"LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9"}

	// kebabName is krew's naming guide: lowercase words joined by hyphens.
	kebabName = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)
)

// krewPlatforms are the os/arch pairs krew runs on (validate-krew-manifest's list).
var krewPlatforms = [][2]string{
	{"windows", "386"}, {"windows", "amd64"}, {"windows", "arm64"},
	{"linux", "386"}, {"linux", "amd64"}, {"linux", "arm"}, {"linux", "arm64"}, {"linux", "ppc64le"},
	{"darwin", "386"}, {"darwin", "amd64"}, {"darwin", "arm64"},
}

// maxShortDescription is the width `kubectl krew search` shows; krew does not
// reject longer ones, but cuts them there.
const maxShortDescription = 50

// krewLicenseFiles are the names validate-krew-manifest accepts as a license.
var krewLicenseFiles = map[string]bool{
	"license": true, "license.txt": true, "license.md": true,
	"licenses": true, "licenses.txt": true, "licenses.md": true,
	"copying": true, "copying.txt": true,
}

// validatePlugin applies krew's ValidatePlugin to the manifest of the plugin
// called name, then validate-krew-manifest's checks that every platform
// selects a platform krew supports and that no two platforms select the same
// one, then the naming guide's rules that krew's review enforces by hand.
func validatePlugin(name string, p krewPlugin) error {
	if p.APIVersion != krewAPIVersion {
		return fmt.Errorf("apiVersion is %q, want %q", p.APIVersion, krewAPIVersion)
	}
	if p.Kind != krewKind {
		return fmt.Errorf("kind is %q, want %q", p.Kind, krewKind)
	}
	if !krewSafeName.MatchString(name) {
		return fmt.Errorf("plugin name %q does not match %s", name, krewSafeName)
	}
	for _, f := range windowsForbidden {
		if strings.EqualFold(f, name) {
			return fmt.Errorf("plugin name %q cannot be a file name on Windows", name)
		}
	}
	if p.Name != name {
		return fmt.Errorf("metadata.name is %q, want %q (the manifest's file name)", p.Name, name)
	}
	if p.Spec.ShortDescription == "" {
		return errors.New("spec.shortDescription is empty")
	}
	if strings.ContainsAny(p.Spec.ShortDescription, "\r\n") {
		return errors.New("spec.shortDescription has a line break")
	}
	if len(p.Spec.Platforms) == 0 {
		return errors.New("spec.platforms is empty")
	}
	if p.Spec.Version == "" {
		return errors.New("spec.version is empty")
	}
	if !strings.HasPrefix(p.Spec.Version, "v") {
		return fmt.Errorf("spec.version %q does not start with v", p.Spec.Version)
	}
	if _, err := version.ParseSemantic(p.Spec.Version); err != nil {
		return fmt.Errorf("spec.version: %w", err)
	}
	for i, pl := range p.Spec.Platforms {
		if err := validatePlatform(pl); err != nil {
			return fmt.Errorf("spec.platforms[%d]: %w", i, err)
		}
	}

	// validate-krew-manifest
	for i, pl := range p.Spec.Platforms {
		if _, ok := anyKrewPlatform(pl.Selector); !ok {
			return fmt.Errorf("spec.platforms[%d].selector %v matches no platform krew supports", i, pl.Selector)
		}
	}
	for _, env := range krewPlatforms {
		var hits []int
		for i, pl := range p.Spec.Platforms {
			if selects(pl.Selector, env) {
				hits = append(hits, i)
			}
		}
		if len(hits) > 1 {
			return fmt.Errorf("spec.platforms %v all select %s/%s", hits, env[0], env[1])
		}
	}

	// The naming guide, and names krew keeps for itself.
	if !kebabName.MatchString(name) {
		return fmt.Errorf("plugin name %q is not lowercase words joined by hyphens", name)
	}
	if name == "krew" || name == "kubectl" {
		return fmt.Errorf("plugin name %q is reserved", name)
	}
	if strings.HasPrefix(name, "kube-") || strings.HasPrefix(name, "kubectl-") || strings.HasPrefix(name, "kubernetes-") {
		return fmt.Errorf("plugin name %q repeats kube", name)
	}
	if n := len([]rune(p.Spec.ShortDescription)); n > maxShortDescription {
		return fmt.Errorf("spec.shortDescription is %d characters, krew search shows %d", n, maxShortDescription)
	}
	if strings.TrimSpace(p.Spec.Description) == "" {
		return errors.New("spec.description is empty")
	}
	return nil
}

func validatePlatform(p krewPlatform) error {
	if p.URI == "" {
		return errors.New("uri is empty")
	}
	if p.Sha256 == "" {
		return errors.New("sha256 is empty")
	}
	if !krewSHA256.MatchString(p.Sha256) {
		return fmt.Errorf("sha256 %q does not match %s", p.Sha256, krewSHA256)
	}
	if p.Bin == "" {
		return errors.New("bin is empty")
	}
	if p.Files != nil && len(p.Files) == 0 {
		return errors.New("files is given but empty")
	}
	for i, f := range p.Files {
		if f.From == "" {
			return fmt.Errorf("files[%d].from is empty", i)
		}
		if f.To == "" {
			return fmt.Errorf("files[%d].to is empty", i)
		}
	}
	return validateSelector(p.Selector)
}

func validateSelector(sel *metav1.LabelSelector) error {
	if sel == nil {
		return errors.New("selector is missing")
	}
	if sel.MatchLabels == nil && len(sel.MatchExpressions) == 0 {
		return errors.New("selector is empty")
	}
	keys := []string{}
	for k := range sel.MatchLabels {
		keys = append(keys, k)
	}
	for _, e := range sel.MatchExpressions {
		keys = append(keys, e.Key)
	}
	for _, k := range keys {
		if k != "os" && k != "arch" {
			return fmt.Errorf("selector key %q is not os or arch", k)
		}
	}
	if sel.MatchLabels != nil && len(sel.MatchLabels) == 0 {
		return errors.New("selector.matchLabels is given but empty")
	}
	if sel.MatchExpressions != nil && len(sel.MatchExpressions) == 0 {
		return errors.New("selector.matchExpressions is given but empty")
	}
	return nil
}

func selects(sel *metav1.LabelSelector, env [2]string) bool {
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return false
	}
	return s.Matches(labels.Set{"os": env[0], "arch": env[1]})
}

func anyKrewPlatform(sel *metav1.LabelSelector) ([2]string, bool) {
	for _, env := range krewPlatforms {
		if selects(sel, env) {
			return env, true
		}
	}
	return [2]string{}, false
}

// archiveFile is a regular file read from a plugin archive.
type archiveFile struct {
	hdr  *tar.Header
	data []byte
}

// readArchive opens a .tar.gz the way krew's extractor does, and refuses what
// it refuses: a file that does not sniff as gzip, entries other than regular
// files and directories, and paths that are absolute or contain "..".
// It returns the regular files by name, in archive order.
func readArchive(b []byte) (names []string, files map[string]archiveFile, gz *gzip.Header, err error) {
	if t := http.DetectContentType(b); !strings.HasPrefix(t, "application/x-gzip") {
		return nil, nil, nil, fmt.Errorf("content type is %s, krew unpacks only application/x-gzip and application/zip", t)
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, nil, nil, err
	}
	defer zr.Close()
	files = map[string]archiveFile{}
	tr := tar.NewReader(zr)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, nil, err
		}
		if hdr.Name == "pax_global_header" {
			continue
		}
		if strings.Contains(hdr.Name, "..") || strings.HasPrefix(hdr.Name, "/") || strings.HasPrefix(hdr.Name, `\`) {
			return nil, nil, nil, fmt.Errorf("krew refuses the entry %q", hdr.Name)
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
			continue
		case tar.TypeReg:
		default:
			return nil, nil, nil, fmt.Errorf("krew cannot unpack %q: tar type %q is not a regular file or directory", hdr.Name, hdr.Typeflag)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return nil, nil, nil, err
		}
		names = append(names, hdr.Name)
		files[hdr.Name] = archiveFile{hdr: hdr, data: data}
	}
	return names, files, &zr.Header, nil
}

// installedFiles applies a platform's files operations to the archive's file
// names the way krew's installer moves them, and returns the installed names.
// A missing files list means krew's default: everything, in place.
func installedFiles(names []string, ops []krewFileOperation) (map[string]string, error) {
	if ops == nil {
		ops = []krewFileOperation{{From: "*", To: "."}}
	}
	have := map[string]bool{}
	for _, n := range names {
		have[path.Clean(n)] = true
	}
	installed := map[string]string{} // installed name -> archive name
	for _, op := range ops {
		if op.To != path.Clean(op.To) {
			return nil, fmt.Errorf("files to %q is not a clean path", op.To)
		}
		if strings.HasPrefix(path.Clean(op.To), "..") || path.IsAbs(op.To) {
			return nil, fmt.Errorf("files to %q leaves the plugin directory", op.To)
		}
		from := path.Clean(op.From)
		if have[from] {
			to := op.To
			if to == "." {
				to = path.Base(from)
			}
			installed[to] = from
			continue
		}
		matched := false
		for _, n := range names {
			if ok, err := path.Match(op.From, n); err != nil {
				return nil, fmt.Errorf("files from %q: %w", op.From, err)
			} else if ok {
				installed[path.Join(op.To, path.Base(n))] = n
				matched = true
			}
		}
		if !matched {
			return nil, fmt.Errorf("files from %q matches nothing in the archive", op.From)
		}
	}
	return installed, nil
}

func goodPlugin() krewPlugin {
	sel := func(os, arch string) *metav1.LabelSelector {
		return &metav1.LabelSelector{MatchLabels: map[string]string{"os": os, "arch": arch}}
	}
	pl := func(os, arch string) krewPlatform {
		return krewPlatform{
			URI:      "https://example.com/x_" + os + "_" + arch + ".tar.gz",
			Sha256:   strings.Repeat("ab", 32),
			Selector: sel(os, arch),
			Files:    []krewFileOperation{{From: "oc-x", To: "."}, {From: "LICENSE", To: "."}},
			Bin:      "oc-x",
		}
	}
	return krewPlugin{
		TypeMeta:   metav1.TypeMeta{APIVersion: krewAPIVersion, Kind: krewKind},
		ObjectMeta: metav1.ObjectMeta{Name: "x-tool"},
		Spec: krewPluginSpec{
			Version:          "v1.2.3",
			ShortDescription: "Does x",
			Description:      "Does x, well.\n",
			Platforms:        []krewPlatform{pl("linux", "amd64"), pl("darwin", "arm64")},
		},
	}
}

// TestValidatePlugin shows that the re-implemented krew rules reject what krew rejects.
func TestValidatePlugin(t *testing.T) {
	tests := []struct {
		name   string
		file   string // manifest file name without .yaml; "x-tool" unless set
		mutate func(p *krewPlugin)
		want   string // substring of the error; "" means valid
	}{
		{name: "a good manifest passes", mutate: func(*krewPlugin) {}},
		{name: "other apiVersion is refused", mutate: func(p *krewPlugin) { p.APIVersion = "krew.googlecontainertools.github.com/v1alpha1" }, want: "apiVersion"},
		{name: "other kind is refused", mutate: func(p *krewPlugin) { p.Kind = "Plugins" }, want: "kind"},
		{name: "name must match the file name", file: "y-tool", mutate: func(*krewPlugin) {}, want: "file name"},
		{name: "unsafe name is refused", file: "x/tool", mutate: func(p *krewPlugin) { p.Name = "x/tool" }, want: "does not match"},
		{name: "windows device name is refused", file: "con", mutate: func(p *krewPlugin) { p.Name = "con" }, want: "Windows"},
		{name: "upper case is refused", file: "X-Tool", mutate: func(p *krewPlugin) { p.Name = "X-Tool" }, want: "lowercase"},
		{name: "krew is reserved", file: "krew", mutate: func(p *krewPlugin) { p.Name = "krew" }, want: "reserved"},
		{name: "kubectl is reserved", file: "kubectl", mutate: func(p *krewPlugin) { p.Name = "kubectl" }, want: "reserved"},
		{name: "kube- prefix is refused", file: "kube-x", mutate: func(p *krewPlugin) { p.Name = "kube-x" }, want: "kube"},
		{name: "short description is required", mutate: func(p *krewPlugin) { p.Spec.ShortDescription = "" }, want: "shortDescription is empty"},
		{name: "short description is one line", mutate: func(p *krewPlugin) { p.Spec.ShortDescription = "a\nb" }, want: "line break"},
		{name: "short description fits krew search", mutate: func(p *krewPlugin) { p.Spec.ShortDescription = strings.Repeat("x", 51) }, want: "characters"},
		{name: "description is required", mutate: func(p *krewPlugin) { p.Spec.Description = " \n" }, want: "description is empty"},
		{name: "version is required", mutate: func(p *krewPlugin) { p.Spec.Version = "" }, want: "version is empty"},
		{name: "version needs a leading v", mutate: func(p *krewPlugin) { p.Spec.Version = "1.2.3" }, want: "start with v"},
		{name: "version must be semver", mutate: func(p *krewPlugin) { p.Spec.Version = "v1.2" }, want: "spec.version"},
		{name: "pre-release versions are semver", mutate: func(p *krewPlugin) { p.Spec.Version = "v0.1.0-3-gabcdef0-dirty" }},
		{name: "platforms are required", mutate: func(p *krewPlugin) { p.Spec.Platforms = nil }, want: "platforms is empty"},
		{name: "uri is required", mutate: func(p *krewPlugin) { p.Spec.Platforms[1].URI = "" }, want: "uri is empty"},
		{name: "sha256 is required", mutate: func(p *krewPlugin) { p.Spec.Platforms[0].Sha256 = "" }, want: "sha256 is empty"},
		{name: "sha256 is lowercase hex", mutate: func(p *krewPlugin) { p.Spec.Platforms[0].Sha256 = strings.Repeat("AB", 32) }, want: "does not match"},
		{name: "bin is required", mutate: func(p *krewPlugin) { p.Spec.Platforms[0].Bin = "" }, want: "bin is empty"},
		{name: "files may be left out", mutate: func(p *krewPlugin) { p.Spec.Platforms[0].Files = nil }},
		{name: "files given must not be empty", mutate: func(p *krewPlugin) { p.Spec.Platforms[0].Files = []krewFileOperation{} }, want: "files is given but empty"},
		{name: "files need from and to", mutate: func(p *krewPlugin) { p.Spec.Platforms[0].Files[1].To = "" }, want: "files[1].to"},
		{name: "selector is required", mutate: func(p *krewPlugin) { p.Spec.Platforms[0].Selector = nil }, want: "selector is missing"},
		{name: "selector uses os and arch only", mutate: func(p *krewPlugin) { p.Spec.Platforms[0].Selector.MatchLabels["libc"] = "musl" }, want: "not os or arch"},
		{name: "selector must select a krew platform", mutate: func(p *krewPlugin) { p.Spec.Platforms[0].Selector.MatchLabels["os"] = "plan9" }, want: "no platform krew supports"},
		{name: "two platforms must not select the same os/arch", mutate: func(p *krewPlugin) {
			p.Spec.Platforms[1].Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"os": "linux"}}
		}, want: "all select linux/amd64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := goodPlugin()
			tt.mutate(&p)
			file := tt.file
			if file == "" {
				file = "x-tool"
			}
			err := validatePlugin(file, p)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("want valid, got %v", err)
			case tt.want != "" && err == nil:
				t.Fatalf("want an error with %q, got none", tt.want)
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Fatalf("want an error with %q, got %v", tt.want, err)
			}
		})
	}
}

// TestInstalledFiles shows that krew's file moves are followed.
func TestInstalledFiles(t *testing.T) {
	names := []string{"LICENSE", "oc-x", "oc-y", "docs/README.md"}
	tests := []struct {
		name string
		ops  []krewFileOperation
		want []string
		err  string
	}{
		{name: "no files installs everything at the top", ops: nil, want: []string{"LICENSE", "oc-x", "oc-y"}},
		{name: "a file to . keeps its name", ops: []krewFileOperation{{From: "oc-x", To: "."}}, want: []string{"oc-x"}},
		{name: "a file to a name is renamed", ops: []krewFileOperation{{From: "oc-x", To: "bin/x"}}, want: []string{"bin/x"}},
		{name: "a glob lands in the directory", ops: []krewFileOperation{{From: "docs/*", To: "doc"}}, want: []string{"doc/README.md"}},
		{name: "a glob matching nothing fails", ops: []krewFileOperation{{From: "nope*", To: "."}}, err: "matches nothing"},
		{name: "an unclean target fails", ops: []krewFileOperation{{From: "oc-x", To: "./x"}}, err: "not a clean path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := installedFiles(names, tt.ops)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("want an error with %q, got %v", tt.err, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("installed %v, want %v", got, tt.want)
			}
			for _, w := range tt.want {
				if _, ok := got[w]; !ok {
					t.Fatalf("installed %v, want %v", got, tt.want)
				}
			}
		})
	}
}

// TestReadArchive shows that archives krew cannot unpack are refused.
func TestReadArchive(t *testing.T) {
	build := func(hdrs ...*tar.Header) []byte {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		tw := tar.NewWriter(zw)
		for _, h := range hdrs {
			if err := tw.WriteHeader(h); err != nil {
				t.Fatal(err)
			}
			if h.Size > 0 {
				if _, err := tw.Write(make([]byte, h.Size)); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := tw.Close(); err != nil {
			t.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	reg := func(name string) *tar.Header {
		return &tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o755, Size: 3}
	}
	tests := []struct {
		name string
		data []byte
		err  string
	}{
		{name: "regular files are read", data: build(reg("LICENSE"), reg("oc-x"))},
		{name: "a symlink is refused", data: build(reg("oc-x"), &tar.Header{Name: "oc-y", Typeflag: tar.TypeSymlink, Linkname: "oc-x"}), err: "not a regular file"},
		{name: "a hard link is refused", data: build(reg("oc-x"), &tar.Header{Name: "oc-y", Typeflag: tar.TypeLink, Linkname: "oc-x"}), err: "not a regular file"},
		{name: "a parent path is refused", data: build(reg("../oc-x")), err: "refuses"},
		{name: "an absolute path is refused", data: build(reg("/oc-x")), err: "refuses"},
		{name: "plain tar is refused", data: []byte("not gzip at all"), err: "content type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, _, err := readArchive(tt.data)
			if tt.err == "" && err != nil {
				t.Fatal(err)
			}
			if tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
				t.Fatalf("want an error with %q, got %v", tt.err, err)
			}
		})
	}
}
