package cli

import (
	"crypto/x509"
	"errors"
	"net/url"
	"strings"

	"github.com/containers/image/v5/docker"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// Hints that end the error line of a failed registry connection: what the
// user can change, by flag or file, so the next run gets through.
const (
	hintRegistryCA  = "give the registry's CA with --cert-dir DIR (or --tls-verify=false)"
	hintAPIServerCA = "the API server's CA comes from the kubeconfig (certificate-authority, or --certificate-authority FILE)"
	hintCredentials = "registry credentials come from -a/--authfile FILE, else $REGISTRY_AUTH_FILE, " +
		"else ${XDG_RUNTIME_DIR}/containers/auth.json (podman login), else ~/.docker/config.json (docker login)"
)

// hint says what to do about err when it is a TLS trust or authentication
// failure of a registry or signature store, and "" for anything else.
func hint(err error) string {
	msg := err.Error()
	var unknownCA x509.UnknownAuthorityError
	if errors.As(err, &unknownCA) || strings.Contains(msg, "certificate signed by unknown authority") {
		if isAPIServerRequest(err) {
			return hintAPIServerCA
		}
		return hintRegistryCA
	}
	if apierrors.IsUnauthorized(err) || isAPIServerRequest(err) {
		return ""
	}
	var badCredentials docker.ErrUnauthorizedForCredentials
	if errors.As(err, &badCredentials) || strings.Contains(msg, "authentication required") {
		return hintCredentials
	}
	return ""
}

// isAPIServerRequest reports whether err is a failed request to a
// Kubernetes API path, which the kubeconfig governs, not the registry flags.
func isAPIServerRequest(err error) bool {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return false
	}
	u, perr := url.Parse(ue.URL)
	if perr != nil {
		return false
	}
	return u.Path == "/api" || u.Path == "/apis" || strings.HasPrefix(u.Path, "/api/") || strings.HasPrefix(u.Path, "/apis/")
}
