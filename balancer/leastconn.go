package balancer

import (
	"sync/atomic"

	"github.com/valyala/fasthttp"
)

var _ Picker = (*leastConn)(nil)

// leastConn picks the available server with the fewest requests in flight
// per unit of weight: weighted least connections as in Nginx `least_conn`
// (ngx_http_upstream_least_conn_module.c, which compares
// conns*best.weight < best.conns*weight) and HAProxy `balance leastconn`.
//
// The load comparison is by cross-multiplication (no division, no floats).
// Ties are broken fairly: each pick starts its scan one position further
// than the previous one (an atomic counter), and the first least loaded
// server in that order wins, so equally loaded servers take turns, as
// HAProxy's round robin among equal servers does.
//
// A pick is one atomic add and one scan of the servers, reading each
// one's state and in-flight count once. It is safe for concurrent use;
// servers is immutable after construction. The counts are read without a
// lock, so concurrent picks may choose the same server; the proxy's
// Server.TryAcquire keeps MaxConns exact regardless.
type leastConn struct {
	servers []*Server
	next    atomic.Uint64 // the position the next scan starts at
}

func newLeastConn(servers []*Server, opts Options) (Picker, error) {
	p := &leastConn{servers: servers}
	p.next.Store(startOffset(opts.Rand, len(servers)))
	return p, nil
}

// Pick returns the least loaded available server, or nil.
func (p *leastConn) Pick(_ *fasthttp.RequestCtx) *Server {
	n := len(p.servers)
	if n == 0 {
		return nil
	}
	start := int((p.next.Add(1) - 1) % uint64(n))
	var best *Server
	var bestLoad, bestWeight int64
	for i := range n {
		j := start + i
		if j >= n {
			j -= n
		}
		s := p.servers[j]
		load, ok := s.availableLoad()
		if !ok {
			continue
		}
		// load/w < bestLoad/bestWeight, by cross-multiplication.
		if w := weight(s); best == nil || load*bestWeight < bestLoad*w {
			best, bestLoad, bestWeight = s, load, w
		}
	}
	return best
}
