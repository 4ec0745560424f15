package balancer

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// Errors of Pool.Acquire.
var (
	// ErrNoServer: no server of the pool can take the request.
	ErrNoServer = errors.New("balancer: no available server")
	// ErrQueueFull: every usable server is full and so is the queue.
	ErrQueueFull = errors.New("balancer: queue full")
	// ErrQueueTimeout: the request waited in the queue past its timeout.
	ErrQueueTimeout = errors.New("balancer: queue timeout")
)

// Pool is a named group of servers with one policy (Nginx upstream,
// HAProxy backend). Primary servers take the traffic; backup servers are
// picked only when no primary server is available, and the primaries take
// it back as soon as one is available again.
//
// A Pool is safe for concurrent use: Pick and Acquire on the request path,
// SetServerState and SetServerHealth off it. Its settings (Set* methods)
// are made before it serves. It must not be copied, and belongs to one
// runtime snapshot; its Servers are carried into the next one.
type Pool struct {
	// Name is the pool's name in the configuration.
	Name string

	servers []*Server // all, in configuration order
	primary Picker    // over the primary servers; never nil
	backup  Picker    // over the backup servers; nil when there are none
	byID    map[string]*Server

	// Settings, fixed before serving.
	passive      Passive
	slowStart    time.Duration
	panicMode    bool
	maxQueue     int
	queueTimeout time.Duration
	now          func() time.Time

	panicNext atomic.Uint64 // rotating start for panic-mode picks
	ejected   atomic.Uint64 // passive ejections, ever

	// The queue of requests waiting for a connection slot (HAProxy
	// maxqueue / timeout queue). queued is read on every Release; mu guards
	// waiters, a FIFO of wake-up channels.
	queued  atomic.Int64
	mu      sync.Mutex
	waiters []chan struct{}
}

// rebuilder is implemented by policies that precompute from the servers'
// states (the smooth WRR schedule). rebuild must be safe for concurrent use
// with Pick and with itself.
type rebuilder interface {
	rebuild()
}

// NewPool builds a pool over servers, which it copies: primary and backup
// servers each get their own picker of the named policy. Errors are those
// of New. The servers are attached to the pool: their Release wakes its
// queue.
func NewPool(name string, policy Name, servers []*Server, opts Options) (*Pool, error) {
	all := make([]*Server, len(servers))
	copy(all, servers)
	var primaries, backups []*Server
	for _, s := range all {
		if s != nil && s.Backup {
			backups = append(backups, s)
		} else {
			primaries = append(primaries, s) // New rejects nil
		}
	}
	p := &Pool{Name: name, servers: all, now: time.Now, byID: make(map[string]*Server, len(all))}
	var err error
	if p.primary, err = New(policy, primaries, opts); err != nil {
		return nil, err
	}
	if len(backups) > 0 {
		if p.backup, err = New(policy, backups, opts); err != nil {
			return nil, err
		}
	}
	for _, s := range all {
		if s.ID != "" {
			p.byID[s.ID] = s
		}
		s.pool.Store(p)
	}
	return p, nil
}

// SetPassive sets the pool's passive health checking.
func (p *Pool) SetPassive(cfg Passive) { p.passive = cfg }

// SetPanicMode makes the pool, when no server is available, send requests
// to its servers regardless of their health rather than fail them (Envoy's
// panic threshold at 100%). Servers set down or draining by the operator
// stay out.
func (p *Pool) SetPanicMode(on bool) { p.panicMode = on }

// SetQueue lets up to max requests wait up to timeout for a connection
// slot when every usable server is at its bound (HAProxy maxqueue,
// timeout queue). max 0: no queue.
func (p *Pool) SetQueue(max int, timeout time.Duration) {
	p.maxQueue, p.queueTimeout = max, timeout
}

// Pick returns an available primary server chosen by the pool's policy, or
// an available backup server when no primary is available, or nil. It is
// the request-path call: non-blocking and allocation-free.
func (p *Pool) Pick(ctx *fasthttp.RequestCtx) *Server {
	if s := p.primary.Pick(ctx); s != nil {
		return s
	}
	if p.backup != nil {
		return p.backup.Pick(ctx)
	}
	return nil
}

// Servers returns all the pool's servers in configuration order. The slice
// is shared: the caller must not modify it.
func (p *Pool) Servers() []*Server { return p.servers }

// ByID returns the pool's server with the given sticky ID, or nil.
func (p *Pool) ByID(id []byte) *Server { return p.byID[string(id)] }

// Queued returns the number of requests waiting in the pool's queue.
func (p *Pool) Queued() int64 { return p.queued.Load() }

// SetServerState changes the state of s, one of the pool's servers, and
// reports whether it changed. On a transition, policies that precompute
// from the states (the smooth WRR schedule) rebuild before it returns, or
// just after when another rebuild is running. Call it off the request
// path: a rebuild takes up to tens of milliseconds for a pool of hundreds
// of servers with unequal weights (BenchmarkWRRBuild).
//
// Changing a state with Server.SetState directly is still honoured by
// every pick (unavailable servers are skipped), but a WRR schedule then
// keeps its old shape until the next transition made through the pool.
func (p *Pool) SetServerState(s *Server, st State) bool {
	if !s.SetState(st) {
		return false
	}
	p.rebuildFor(s)
	if st == StateUp {
		p.wakeOne()
	}
	return true
}

// SetServerAdminState records the admin override a for s, one of the
// pool's servers, and applies the state it stands for as SetServerState
// does, reporting whether the state changed. AdminNone clears the override
// and leaves the state as it is (the next reload applies the
// configuration's). Call it off the request path.
func (p *Pool) SetServerAdminState(s *Server, a AdminState) bool {
	s.SetAdminState(a)
	if a == AdminNone {
		return false
	}
	if a.State() == StateUp && s.State() != StateUp {
		// Out of rotation, the server may have been restarted: its idle
		// keep-alive connections would each fail a request.
		s.closeIdle()
	}
	return p.SetServerState(s, a.State())
}

// SetServerWeight sets the weight of s, one of the pool's servers, at
// runtime (HAProxy `set server <pool>/<server> weight`); 0 returns it to
// the configured weight. Policies see it at once. Call it off the request
// path.
func (p *Pool) SetServerWeight(s *Server, w int) {
	s.SetAdminWeight(w)
	p.rebuildFor(s)
}

// Server returns the pool's server at addr, or nil.
func (p *Pool) Server(addr string) *Server {
	for _, s := range p.servers {
		if s.Addr == addr {
			return s
		}
	}
	return nil
}

// SetSlowStart sets the time over which a server that comes back ramps its
// weight from a small share to full (HAProxy slowstart). Zero turns it off.
// Call it before the pool serves.
func (p *Pool) SetSlowStart(d time.Duration) {
	p.slowStart = d
	for _, s := range p.servers {
		s.slowStart.Store(int64(d))
	}
}

// rebuildFor rebuilds the picker that holds s, if it precomputes.
func (p *Pool) rebuildFor(s *Server) {
	picker := p.primary
	if s.Backup {
		picker = p.backup
	}
	if r, ok := picker.(rebuilder); ok {
		r.rebuild()
	}
}

// rebuildAll rebuilds every precomputing picker.
func (p *Pool) rebuildAll() {
	for _, picker := range []Picker{p.primary, p.backup} {
		if r, ok := picker.(rebuilder); ok {
			r.rebuild()
		}
	}
}

// Tried is the set of servers one request has tried. Its zero value is
// empty; it holds up to 8 servers, beyond which further ones are not
// excluded. It is owned by one request.
type Tried struct {
	n int
	s [8]*Server
}

// Add records s as tried.
func (t *Tried) Add(s *Server) {
	if t.n < len(t.s) {
		t.s[t.n] = s
		t.n++
	}
}

// Has reports whether s was tried.
func (t *Tried) Has(s *Server) bool {
	for _, x := range t.s[:t.n] {
		if x == s {
			return true
		}
	}
	return false
}

// Len returns the number of servers tried.
func (t *Tried) Len() int { return t.n }

// Reset empties the set.
func (t *Tried) Reset() { *t = Tried{} }

// Acquire picks a server for the request that is not in tried and takes a
// connection slot on it; the caller must Release it. When every usable
// server is at its bound it waits in the pool's queue; when none is
// usable, the pool in panic mode picks one regardless of health. Errors:
// ErrNoServer, ErrQueueFull, ErrQueueTimeout. Without a wait it does not
// allocate.
func (p *Pool) Acquire(ctx *fasthttp.RequestCtx, tried *Tried) (*Server, error) {
	var deadline time.Time
	for {
		for range len(p.servers) + 1 {
			s := p.pickExcept(ctx, tried)
			if s == nil {
				break
			}
			if s.TryAcquire() {
				return s, nil
			}
		}
		if !p.anyFull(tried) {
			if s := p.panicPick(tried); s != nil {
				return s, nil
			}
			return nil, ErrNoServer
		}
		if p.maxQueue <= 0 {
			return nil, ErrQueueFull
		}
		if deadline.IsZero() {
			deadline = p.now().Add(p.queueTimeout)
		}
		if err := p.wait(ctx, tried, deadline); err != nil {
			return nil, err
		}
	}
}

// pickExcept picks like Pick but never a server in tried: a few policy
// picks, then a scan from a rotating start.
func (p *Pool) pickExcept(ctx *fasthttp.RequestCtx, tried *Tried) *Server {
	if tried == nil || tried.n == 0 {
		return p.Pick(ctx)
	}
	for range 3 {
		s := p.Pick(ctx)
		if s == nil {
			break
		}
		if !tried.Has(s) {
			return s
		}
	}
	// The policy keeps choosing tried servers (hash does, by design): take
	// the first other available one, primaries first.
	start := int(p.panicNext.Add(1))
	for _, backup := range [2]bool{false, true} {
		n := len(p.servers)
		for i := range n {
			s := p.servers[(start+i)%n]
			if s.Backup == backup && !tried.Has(s) && s.Available() {
				return s
			}
		}
	}
	return nil
}

// anyFull reports whether some usable server not in tried is at its
// connection bound: worth waiting for.
func (p *Pool) anyFull(tried *Tried) bool {
	for _, s := range p.servers {
		if s.MaxConns > 0 && s.Usable() && (tried == nil || !tried.Has(s)) && s.InFlight() >= s.MaxConns {
			return true
		}
	}
	return false
}

// panicPick, in panic mode, takes a slot on an operator-enabled server not
// in tried, whatever its health, or returns nil.
func (p *Pool) panicPick(tried *Tried) *Server {
	if !p.panicMode || len(p.servers) == 0 {
		return nil
	}
	start := int(p.panicNext.Add(1))
	n := len(p.servers)
	for i := range n {
		s := p.servers[(start+i)%n]
		if s.State() == StateUp && (tried == nil || !tried.Has(s)) && s.TryAcquire() {
			return s
		}
	}
	return nil
}

// wait queues the request until a slot may have freed or the deadline.
func (p *Pool) wait(ctx *fasthttp.RequestCtx, tried *Tried, deadline time.Time) error {
	if int(p.queued.Add(1)) > p.maxQueue {
		p.queued.Add(-1)
		return ErrQueueFull
	}
	defer p.queued.Add(-1)
	ch := make(chan struct{}, 1)
	p.mu.Lock()
	p.waiters = append(p.waiters, ch)
	p.mu.Unlock()
	// A slot freed between the failed pick and the enqueue woke nobody.
	if s := p.pickExcept(ctx, tried); s != nil {
		p.dequeue(ch)
		return nil
	}
	d := deadline.Sub(p.now())
	if d <= 0 {
		p.dequeue(ch)
		return ErrQueueTimeout
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
		return nil
	case <-t.C:
		if !p.dequeue(ch) {
			// Woken as the timer fired: pass the wake-up on.
			p.wakeOne()
		}
		return ErrQueueTimeout
	}
}

// dequeue removes ch from the waiters and reports whether it was there.
func (p *Pool) dequeue(ch chan struct{}) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, w := range p.waiters {
		if w == ch {
			p.waiters = append(p.waiters[:i], p.waiters[i+1:]...)
			return true
		}
	}
	return false
}

// wakeOne wakes the longest-waiting queued request, if any.
func (p *Pool) wakeOne() {
	p.mu.Lock()
	if len(p.waiters) > 0 {
		ch := p.waiters[0]
		p.waiters = p.waiters[1:]
		ch <- struct{}{}
	}
	p.mu.Unlock()
}
