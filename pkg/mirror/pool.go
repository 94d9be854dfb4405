package mirror

import (
	"context"
	"sync"
)

// perClient is the most requests one containers/image client is given at
// once.
//
// Every ImageSource and ImageDestination of containers/image has an HTTP
// transport of its own, which keeps at most two idle connections per host
// (net/http's default; containers/image does not change it and takes no
// transport from outside). A client shared by eight workers therefore
// closes connections whenever more than two of its requests end together,
// and opens (a TCP connect and a TLS handshake) new ones for the next,
// several per client where two would do (docs/benchmarks.md, session 4).
// So a repository's reads and blob writes go through a pool of clients,
// each serving at most perClient requests at once.
const perClient = 2

// pool shares up to limit clients of one repository (image sources or
// destinations) among a run's workers, each client serving at most
// perClient of them at once while the limit allows; beyond it, the least
// busy. Clients are opened when first needed, by the caller that needs
// one, with its own reference: if that fails, the caller gets the error
// and the next caller tries again.
type pool[T any] struct {
	limit int

	mu      sync.Mutex
	cond    *sync.Cond
	members []*member[T]
	opening int
}

type member[T any] struct {
	client T
	busy   int
}

// poolSize is the number of clients a repository's pool may hold: enough
// for every request of the run to have a client at perClient each.
func poolSize(parallel int) int {
	return max(1, (parallel+perClient-1)/perClient)
}

// get returns a client, opening one with open when every client is busy
// and the pool may grow, and the release to call when the request (or
// the read of its body) is over. open is told whether the client would be
// a spare: one is open already, so a failure costs nothing but the
// attempt (get falls back on the open one), and it should not retry.
func (p *pool[T]) get(ctx context.Context, open func(ctx context.Context, spare bool) (T, error)) (T, func(), error) {
	p.mu.Lock()
	if p.cond == nil {
		p.cond = sync.NewCond(&p.mu)
	}
	var m *member[T]
	for {
		m = p.leastBusy()
		grow := len(p.members)+p.opening < max(p.limit, 1)
		if m != nil && (m.busy < perClient || !grow) {
			break
		}
		if !grow {
			p.cond.Wait() // none open yet, the limit's worth being opened
			continue
		}
		p.opening++
		p.mu.Unlock()
		client, err := open(ctx, m != nil)
		p.mu.Lock()
		p.opening--
		p.cond.Broadcast()
		if err == nil {
			m = &member[T]{client: client}
			p.members = append(p.members, m)
			break
		}
		if m == nil {
			p.mu.Unlock()
			var zero T
			return zero, nil, err
		}
		// An open client can serve this request even if another could
		// not be opened; a lasting failure shows on its next request.
		break
	}
	m.busy++
	p.mu.Unlock()
	var once sync.Once
	return m.client, func() {
		once.Do(func() {
			p.mu.Lock()
			m.busy--
			p.mu.Unlock()
		})
	}, nil
}

// any returns one open client, if there is one, for work that makes no
// request of its own.
func (p *pool[T]) any() (client T, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.members) == 0 {
		return client, false
	}
	return p.members[0].client, true
}

func (p *pool[T]) leastBusy() *member[T] {
	var best *member[T]
	for _, m := range p.members {
		if best == nil || m.busy < best.busy {
			best = m
		}
	}
	return best
}

// each calls fn with every client opened, to close them.
func (p *pool[T]) each(fn func(T)) {
	p.mu.Lock()
	members := p.members
	p.members = nil
	p.mu.Unlock()
	for _, m := range members {
		fn(m.client)
	}
}
