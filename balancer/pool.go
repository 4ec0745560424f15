package balancer

import (
	"github.com/valyala/fasthttp"
)

// Pool is a named group of servers with one policy (Nginx upstream,
// HAProxy backend). Primary servers take the traffic; backup servers are
// picked only when no primary server is available, and the primaries take
// it back as soon as one is available again.
//
// A Pool is safe for concurrent use: Pick on the request path,
// SetServerState off it. It is immutable after NewPool apart from its
// servers' states and counters, must not be copied, and belongs to one
// runtime snapshot; its Servers are carried into the next one.
type Pool struct {
	// Name is the pool's name in the configuration.
	Name string

	servers []*Server // all, in configuration order
	primary Picker    // over the primary servers; never nil
	backup  Picker    // over the backup servers; nil when there are none
}

// rebuilder is implemented by policies that precompute from the servers'
// states (the smooth WRR schedule). rebuild must be safe for concurrent use
// with Pick and with itself.
type rebuilder interface {
	rebuild()
}

// NewPool builds a pool over servers, which it copies: primary and backup
// servers each get their own picker of the named policy. Errors are those
// of New.
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
	p := &Pool{Name: name, servers: all}
	var err error
	if p.primary, err = New(policy, primaries, opts); err != nil {
		return nil, err
	}
	if len(backups) > 0 {
		if p.backup, err = New(policy, backups, opts); err != nil {
			return nil, err
		}
	}
	return p, nil
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
	picker := p.primary
	if s.Backup {
		picker = p.backup
	}
	if r, ok := picker.(rebuilder); ok {
		r.rebuild()
	}
	return true
}
