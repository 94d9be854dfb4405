package cli

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"

	"github.com/containers/image/v5/pkg/docker/config"
	"github.com/containers/image/v5/pkg/tlsclientconfig"
	"github.com/containers/image/v5/types"
	"github.com/spf13/pflag"
)

// RegistryFlags are the registry connection flags every plugin that talks to
// a registry shares, named as in skopeo and oc-mirror.
type RegistryFlags struct {
	// AuthFile is the containers auth.json (or docker config.json) to log
	// in with. Empty means REGISTRY_AUTH_FILE, then containers/image's
	// defaults (${XDG_RUNTIME_DIR}/containers/auth.json, ~/.docker/config.json).
	AuthFile string
	// CertDir holds extra CA certificates (*.crt) and client certificates
	// (*.cert, *.key) for every registry.
	CertDir string
	// TLSVerify checks registry certificates; false allows self-signed
	// certificates and plain HTTP.
	TLSVerify bool
	// RegistriesConf replaces the system registries.conf (mirrors, blocked
	// and insecure registries) for pulls.
	RegistriesConf string
}

// NewRegistryFlags returns flags that verify TLS.
func NewRegistryFlags() *RegistryFlags {
	return &RegistryFlags{TLSVerify: true}
}

// AddFlags registers -a/--authfile, --cert-dir, --tls-verify and --registries-conf.
func (f *RegistryFlags) AddFlags(fs *pflag.FlagSet) {
	fs.StringVarP(&f.AuthFile, "authfile", "a", f.AuthFile,
		"Registry credentials file (containers auth.json or docker config.json); default $REGISTRY_AUTH_FILE, then the containers and docker defaults")
	fs.StringVar(&f.CertDir, "cert-dir", f.CertDir, "Directory of extra CA certificates (*.crt) and client certificates (*.cert, *.key) for registries and signature stores")
	fs.BoolVar(&f.TLSVerify, "tls-verify", f.TLSVerify, "Verify registry TLS certificates (false also allows plain HTTP)")
	MarkUnverified(fs, "tls-verify", "false", "registry and signature store TLS certificates are not verified, and plain HTTP is allowed")
	fs.StringVar(&f.RegistriesConf, "registries-conf", f.RegistriesConf, "A registries.conf to use for pulls instead of the system one (its mirrors are honoured)")
}

// Validate checks that the files the flags name exist, so that a typo is bad
// input (exit 2) rather than an anonymous pull that fails later.
func (f *RegistryFlags) Validate() error {
	for _, p := range []struct{ flag, path string }{
		{"--authfile", f.authFile()},
		{"--cert-dir", f.CertDir},
		{"--registries-conf", f.RegistriesConf},
	} {
		if p.path == "" {
			continue
		}
		if _, err := os.Stat(p.path); err != nil {
			what := p.flag
			if p.flag == "--authfile" && f.AuthFile == "" {
				what = "REGISTRY_AUTH_FILE"
			}
			return BadInputf("%s: %w", what, err)
		}
	}
	if path := f.authFile(); path != "" {
		if err := checkAuthFile(path); err != nil {
			what := "--authfile"
			if f.AuthFile == "" {
				what = "REGISTRY_AUTH_FILE"
			}
			return BadInputf("%s %s: %w", what, path, err)
		}
	}
	return nil
}

// checkAuthFile parses the auth file at path as containers/image reads it
// for a pull, so that a file that is not an auth file is bad input before any
// registry is contacted. Only the file is read: no credential helper is run
// (the registries.conf that could name one is replaced by an empty one), and
// the error names no credential.
func checkAuthFile(path string) error {
	none, err := os.MkdirTemp("", "no-registries-conf-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(none)
	if err := os.WriteFile(filepath.Join(none, "registries.conf"), nil, 0o600); err != nil {
		return err
	}
	sys := &types.SystemContext{
		AuthFilePath:                path,
		SystemRegistriesConfPath:    filepath.Join(none, "registries.conf"),
		SystemRegistriesConfDirPath: filepath.Join(none, "registries.conf.d"),
	}
	if _, err := config.GetCredentials(sys, "registry.invalid"); err != nil {
		// The JSON error alone: the wrapping names the file once more.
		var syntax *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &syntax):
			return fmt.Errorf("not JSON: %w", syntax)
		case errors.As(err, &typ):
			return fmt.Errorf("not an auth file: %w", typ)
		}
		return err
	}
	return nil
}

func (f *RegistryFlags) authFile() string {
	if f.AuthFile != "" {
		return f.AuthFile
	}
	return os.Getenv("REGISTRY_AUTH_FILE")
}

// SystemContext returns the containers/image context for these flags.
func (f *RegistryFlags) SystemContext() *types.SystemContext {
	sys := &types.SystemContext{
		AuthFilePath:            f.authFile(),
		DockerCertPath:          f.CertDir,
		DockerRegistryUserAgent: fmt.Sprintf("oc-plugins/%s", Version),
	}
	if !f.TLSVerify {
		sys.DockerInsecureSkipTLSVerify = types.OptionalBoolTrue
	}
	if f.RegistriesConf != "" {
		sys.SystemRegistriesConfPath = f.RegistriesConf
	}
	return sys
}

// HTTPClient returns a client for plain HTTP(S) endpoints the registry flags
// also govern (signature stores): it trusts the system CAs plus --cert-dir's,
// presents its client certificate, and verifies TLS unless --tls-verify=false.
func (f *RegistryFlags) HTTPClient() (*http.Client, error) {
	tlsc := &tls.Config{MinVersion: tls.VersionTLS12}
	if f.CertDir != "" {
		if err := tlsclientconfig.SetupCertificates(f.CertDir, tlsc); err != nil {
			return nil, BadInputf("--cert-dir: %w", err)
		}
	}
	if !f.TLSVerify {
		tlsc.InsecureSkipVerify = true //nolint:gosec // the user asked for it with --tls-verify=false
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsc
	return &http.Client{Transport: traceTransport(tr)}, nil
}
