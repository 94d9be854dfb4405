package mirror

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	ocmanifest "github.com/airgap-ocp/oc-plugins/pkg/manifest"
)

// A kept client learns how a registry wants to be authenticated from a
// ping, a round trip before its first real request: on a long link, much
// of a re-run that moves nothing. The answer (Basic, or Bearer with a
// token service) is the same from one run to the next, so it is kept
// between runs (Options.ChallengeDir) and a run's first request goes
// without the ping. A registry that now wants something else refuses the
// first request made on the kept answer (401): that ends the session,
// the kept answer is dropped, and the request is made again after a ping
// (afresh). Only registries whose TLS is verified keep theirs: the answer
// is then the registry's own, and nothing goes in plain HTTP on a
// remembered word.

// session is what the registry's challenge sets up: the challenge, and
// the clients built on it.
type session struct {
	ch *transport.Challenge
	// remembered: ch was read from the challenge folder, not from a ping
	// of this run, and no answer of the registry has confirmed it yet.
	remembered bool
	confirmed  atomic.Bool
	// shared serves every repository where the registry challenges with
	// Basic, or asks for nothing: one authenticating transport, that
	// remote's fetchers take as set up (a *transport.Wrapper).
	shared *remote.Puller
	// pullers hold, where the challenge is Bearer, a puller per
	// repository: a token is for one scope. pushers, blobPullers and
	// blobPushers hold one per repository where it is Bearer, else one
	// for all under "" (repoScoped).
	mu          sync.Mutex
	pullers     map[string]*repoClient[remote.Puller]
	pushers     map[string]*repoClient[remote.Pusher]
	blobPullers map[string]*repoClient[remote.Puller]
	blobPushers map[string]*repoClient[remote.Pusher]
}

func (s *session) bearer() bool { return strings.EqualFold(s.ch.Scheme, "bearer") }

// unconfirmed reports whether s rests on a remembered challenge that no
// answer has confirmed.
func (s *session) unconfirmed() bool { return s.remembered && !s.confirmed.Load() }

// session returns the client's session, set up the first time: from the
// remembered challenge, else by one ping of the registry, which the
// requests that arrive meanwhile wait for.
func (cl *checkClient) session(ctx context.Context) (*session, error) {
	return once(ctx, cl.setup, &cl.sess, func() (*session, error) {
		s := &session{}
		if !cl.forgot.Load() {
			s.ch = cl.challenges.load(cl.reg.RegistryStr())
			s.remembered = s.ch != nil
		}
		if s.ch == nil {
			ch, err := transport.Ping(ctx, cl.reg, cl.base)
			if err != nil {
				return nil, err
			}
			s.ch = ch
			if !ch.Insecure {
				cl.challenges.store(cl.reg.RegistryStr(), ch)
			}
		}
		if !s.bearer() {
			// FromToken is the transport NewWithContext would build after
			// its ping, for a challenge that is not Bearer.
			tr, err := transport.FromToken(cl.reg, cl.auth, cl.schemed(s, cl.base), s.ch, nil)
			if err != nil {
				return nil, err
			}
			if s.shared, err = cl.newPuller(tr); err != nil {
				return nil, err
			}
		}
		return s, nil
	})
}

// end ends s, the session of a remembered challenge the registry
// refused, and drops that challenge: the next request pings.
func (cl *checkClient) end(s *session) {
	cl.forgot.Store(true)
	if cl.sess.CompareAndSwap(s, nil) {
		cl.challenges.remove(cl.reg.RegistryStr())
	}
}

// pulled is op's answer through the puller pull returns, asked again
// with a fresh session when the registry refused the remembered
// challenge the first rested on (afresh).
func pulled[T any](ctx context.Context, cl *checkClient, pull func(context.Context) (*remote.Puller, error), op func(*remote.Puller) (T, error)) (T, error) {
	var v T
	err := cl.afresh(func() error {
		p, err := pull(ctx)
		if err == nil {
			v, err = op(p)
		}
		return err
	})
	return v, err
}

// pullerOf is the client's puller for repo, as pulled takes it.
func (cl *checkClient) pullerOf(repo name.Repository) func(context.Context) (*remote.Puller, error) {
	return func(ctx context.Context) (*remote.Puller, error) { return cl.puller(ctx, repo) }
}

// afresh runs f, and once more if the registry refused the remembered
// challenge that f's session rested on: that session is gone, so the
// second run pings.
func (cl *checkClient) afresh(f func() error) error {
	err := f()
	if errors.As(err, new(staleChallengeError)) {
		err = f()
	}
	return err
}

// staleChallengeError is a request refused on a remembered challenge:
// worth another try, which pings first (afresh).
type staleChallengeError struct{ host string }

func (e staleChallengeError) Error() string {
	return fmt.Sprintf("%s refused the authentication it asked for on an earlier run; asking it again", e.host)
}

func (staleChallengeError) Transient() bool { return true }

// refusal ends s when a request made on its remembered challenge is
// refused (401), and marks s confirmed at the registry's first other
// answer: later refusals are the auth transports' to handle (a Bearer
// token that expired is fetched again).
type refusal struct {
	next http.RoundTripper
	cl   *checkClient
	s    *session
}

func (r refusal) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := r.next.RoundTrip(req)
	if err != nil || !r.s.unconfirmed() {
		return res, err
	}
	if res.StatusCode == http.StatusUnauthorized {
		_ = res.Body.Close()
		r.cl.end(r.s)
		return nil, staleChallengeError{host: r.cl.reg.RegistryStr()}
	}
	if req.URL.Host == r.cl.reg.RegistryStr() {
		r.s.confirmed.Store(true)
	}
	return res, nil
}

// challengeCache keeps each registry's challenge in a file of dir
// (none where dir is ""). It is best effort: a challenge not kept costs
// the next run a ping.
type challengeCache struct{ dir string }

// keptChallenge is a challenge as its file holds it.
type keptChallenge struct {
	Scheme     string            `json:"scheme"`
	Parameters map[string]string `json:"parameters,omitempty"`
}

func (c challengeCache) path(host string) string {
	return filepath.Join(c.dir, strings.ReplaceAll(host, ":", "_")+".json")
}

func (c challengeCache) load(host string) *transport.Challenge {
	if c.dir == "" {
		return nil
	}
	data, err := os.ReadFile(c.path(host))
	if err != nil {
		return nil
	}
	var k keptChallenge
	if json.Unmarshal(data, &k) != nil {
		return nil
	}
	return &transport.Challenge{Scheme: k.Scheme, Parameters: k.Parameters}
}

// store keeps ch for host unless the file holds it already.
func (c challengeCache) store(host string, ch *transport.Challenge) {
	if c.dir == "" {
		return
	}
	if old := c.load(host); old != nil && old.Scheme == ch.Scheme && maps.Equal(old.Parameters, ch.Parameters) {
		return
	}
	data, err := json.Marshal(keptChallenge{Scheme: ch.Scheme, Parameters: ch.Parameters})
	if err != nil || os.MkdirAll(c.dir, 0o700) != nil {
		return
	}
	_ = ocmanifest.WriteFileAtomic(c.path(host), data, 0o600)
}

func (c challengeCache) remove(host string) {
	if c.dir != "" {
		_ = os.Remove(c.path(host))
	}
}
