package mirror

import (
	"container/list"
	"context"
	"slices"
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
	// idle is the run's bound on the clients it keeps unused (nil: none),
	// and close closes one of this pool's.
	idle  *idleClients
	close func(T)

	mu      sync.Mutex
	cond    *sync.Cond
	members []*member[T]
	opening int
}

type member[T any] struct {
	client T
	busy   int
	// idle is the client's place among the run's unused clients while
	// it is unused (idleClients).
	idle *list.Element
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
	if m.idle != nil {
		p.idle.remove(m.idle)
		m.idle = nil
	}
	m.busy++
	p.mu.Unlock()
	var once sync.Once
	return m.client, func() {
		once.Do(func() {
			var over []func()
			p.mu.Lock()
			m.busy--
			if m.busy == 0 && p.idle != nil {
				m.idle, over = p.idle.push(func(e *list.Element) { p.evict(m, e) })
			}
			p.mu.Unlock()
			for _, evict := range over {
				evict()
			}
		})
	}, nil
}

// evict closes m and drops it from the pool, unless it was taken up
// since it became unused at e.
func (p *pool[T]) evict(m *member[T], e *list.Element) {
	p.mu.Lock()
	i := slices.Index(p.members, m)
	if i < 0 || m.idle != e {
		p.mu.Unlock()
		return
	}
	m.idle = nil
	p.members = slices.Delete(p.members, i, i+1)
	p.mu.Unlock()
	p.close(m.client)
}

// idleClients bounds the clients a run keeps open but unused across all
// its pools. Each containers/image client holds its own copy of the
// certificates it trusts and its idle connections, and a run over
// hundreds of repositories (an operator catalog's) would otherwise keep
// some for each to its end: beyond keep, the client unused longest is
// closed, and the next request to its repository opens another.
type idleClients struct {
	keep int

	mu sync.Mutex
	// lru evicts each unused client, the one unused longest first.
	lru list.List
}

// push records a client that became unused, with what evicts it, and
// returns the evictions of those beyond keep, to run once no pool is
// locked.
func (q *idleClients) push(evict func(*list.Element)) (*list.Element, []func()) {
	q.mu.Lock()
	defer q.mu.Unlock()
	e := q.lru.PushBack(evict)
	var over []func()
	for q.lru.Len() > q.keep {
		oldest := q.lru.Front()
		q.lru.Remove(oldest)
		evict := oldest.Value.(func(*list.Element))
		over = append(over, func() { evict(oldest) })
	}
	return e, over
}

// remove forgets a client taken up again.
func (q *idleClients) remove(e *list.Element) {
	q.mu.Lock()
	q.lru.Remove(e)
	q.mu.Unlock()
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
