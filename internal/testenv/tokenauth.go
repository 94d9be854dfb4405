package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/distribution/distribution/v3/configuration"
	// The registry's token access controller, which registers itself
	// by name, and its token format.
	"github.com/distribution/distribution/v3/registry/auth/token"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// WithTokenAuth makes the registry ask for Bearer tokens (distribution's
// token access controller), as quay.io and registry.redhat.io do, in place
// of Basic credentials. The registry itself serves the token realm at
// /token: it takes the registry's credentials (Basic) and grants what
// each scope asks, a token per request. Traffic counts its requests
// apart (Tokens).
func WithTokenAuth() RegistryOption {
	return func(o *registryOptions) { o.tokenAuth = true }
}

const (
	tokenPath    = "/token"
	tokenIssuer  = "oc-plugins-testenv-token"
	tokenService = "oc-plugins-testenv-registry"
	tokenKeyID   = "testenv"
)

// tokenIssuerFor is the token realm of a registry at host: the token
// access controller's configuration, and the handler that issues tokens
// signed with a key of its own, checking username and password.
func tokenIssuerFor(host, jwksFile, username, password string) (configuration.Parameters, http.Handler, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	jwks := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: tokenKeyID, Algorithm: string(jose.ES256), Use: "sig"}}}
	raw, err := json.Marshal(jwks)
	if err != nil {
		return nil, nil, err
	}
	if err := os.WriteFile(jwksFile, raw, 0o644); err != nil {
		return nil, nil, err
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", tokenKeyID))
	if err != nil {
		return nil, nil, err
	}
	params := configuration.Parameters{
		"realm":   "https://" + host + tokenPath,
		"service": tokenService,
		"issuer":  tokenIssuer,
		"jwks":    jwksFile,
	}
	issue := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		user, pass, ok := req.BasicAuth()
		if !ok || user != username || pass != password {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		var access []*token.ResourceActions
		for _, scope := range req.URL.Query()["scope"] {
			for _, s := range strings.Fields(scope) {
				// repository:NAME:ACTIONS; NAME may hold a port's colon.
				i, j := strings.Index(s, ":"), strings.LastIndex(s, ":")
				if i < 0 || j <= i {
					continue
				}
				access = append(access, &token.ResourceActions{Type: s[:i], Name: s[i+1 : j], Actions: strings.Split(s[j+1:], ",")})
			}
		}
		now := time.Now()
		claims := token.ClaimSet{
			Issuer: tokenIssuer, Subject: user, Audience: token.AudienceList{tokenService},
			Expiration: now.Add(5 * time.Minute).Unix(), NotBefore: now.Add(-time.Minute).Unix(), IssuedAt: now.Unix(),
			JWTID: randomHex(8), Access: access,
		}
		signed, err := jwt.Signed(signer).Claims(claims).Serialize()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"token": signed, "expires_in": 300, "issued_at": now.Format(time.RFC3339)})
	})
	return params, issue, nil
}

// withTokenRealm serves the token realm beside the registry.
func withTokenRealm(app, issue http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path == tokenPath {
			issue.ServeHTTP(w, req)
			return
		}
		app.ServeHTTP(w, req)
	})
}
