package balancer

import (
	"github.com/valyala/fasthttp"
)

var _ Picker = (*randomTwo)(nil)

// randomTries bounds the random draws for one candidate before randomTwo
// falls back to a scan.
const randomTries = 3

// randomTwo is the power of two random choices: draw two distinct available
// servers at random and take the one with less load (in-flight requests per
// unit of weight). M. Mitzenmacher, "The Power of Two Choices in Randomized
// Load Balancing", IEEE TPDS 12(10), 2001; Nginx `random two least_conn`,
// HAProxy `balance random(2)`.
//
// It needs no shared counter, so it scales across cores better than the
// scanning policies, and it avoids the herd effect of every lb process
// sending to the same least loaded server.
//
// Each candidate takes at most randomTries draws; when they all land on
// unavailable servers, a scan from the last draw finds one (bounded by
// len(servers)). It is safe for concurrent use when opts.Rand is; servers
// is immutable after construction.
type randomTwo struct {
	servers []*Server
	rand    func(n int) int
}

func newRandomTwo(servers []*Server, opts Options) (Picker, error) {
	return &randomTwo{servers: servers, rand: opts.Rand}, nil
}

// Pick returns the less loaded of two random available servers, the only
// available server, or nil.
func (p *randomTwo) Pick(_ *fasthttp.RequestCtx) *Server {
	i := p.pickAvailable(-1)
	if i < 0 {
		return nil
	}
	j := p.pickAvailable(i)
	if j < 0 {
		return p.servers[i]
	}
	a, b := p.servers[i], p.servers[j]
	if lessLoaded(b, a) {
		return b
	}
	return a
}

// pickAvailable returns the index of a random available server other than
// skip (-1 skips none), or -1 when there is none.
func (p *randomTwo) pickAvailable(skip int) int {
	n := len(p.servers)
	m := n // the number of candidates
	if skip >= 0 {
		m--
	}
	if m < 1 {
		return -1
	}
	i := 0
	for range randomTries {
		i = p.rand(m)
		if skip >= 0 && i >= skip {
			i++ // draw from the servers other than skip
		}
		if p.servers[i].Available() {
			return i
		}
	}
	for k := 1; k < n; k++ {
		j := i + k
		if j >= n {
			j -= n
		}
		if j != skip && p.servers[j].Available() {
			return j
		}
	}
	return -1
}
