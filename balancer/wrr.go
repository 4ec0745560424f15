package balancer

import (
	"sync/atomic"

	"github.com/valyala/fasthttp"
)

var _ Picker = (*wrr)(nil)

// maxPeriod bounds the length of a smooth weighted round robin schedule.
// With weights up to 1000 and a few hundred servers the exact period
// (sum of weights / gcd) may reach a few hundred thousand entries; above
// maxPeriod the weights are scaled down proportionally (each at least 1),
// which keeps every server's share within about 1/(its scaled weight) of
// exact. A schedule then has at most maxPeriod+len(servers) entries of 4
// bytes: about 256 KiB per pool.
const maxPeriod = 1 << 16

// maxTickets bounds the turns a pick takes before it scans the servers.
const maxTickets = 4

// wrr is Nginx's smooth weighted round robin made lock-free.
//
// Nginx (ngx_http_upstream_round_robin.c, ngx_http_upstream_get_peer) keeps
// a current_weight per server under a lock: on each pick every up server's
// current_weight grows by its weight, the largest wins (the first one on a
// tie) and loses the total weight. The sequence it produces is periodic
// with period sum(weights) (after dividing the weights by their gcd), so
// here it is computed once, off the request path, into an immutable
// schedule published with an atomic.Pointer; a pick is one atomic load and
// one atomic add on the schedule's counter. This is the same shape as
// grpc-go's weightedroundrobin, which swaps a precomputed scheduler.
//
// The schedule holds the servers that were up when it was built. Pool
// rebuilds it on each state transition (SetServerState), so a down server
// does not hand its turns to its neighbour. A server that is not Available
// at pick time (full, or changed state behind the pool's back) is skipped
// by taking the next turn: another atomic add, so the skipped turns are
// spread over the others in schedule order. After maxTickets turns the pick
// scans all servers, so it costs at most maxTickets atomic adds and
// len(servers) atomic loads.
//
// With unweighted set, every weight counts as 1: the schedule is the up
// servers in configuration order, which is plain round robin.
//
// Pick is safe for concurrent use. rebuild is safe for concurrent use with
// Pick and with itself; concurrent rebuilds are coalesced.
type wrr struct {
	servers    []*Server // immutable after construction
	rand       func(n int) int
	unweighted bool
	sched      atomic.Pointer[wrrSchedule]
	// pending counts rebuild requests not yet served. The caller that takes
	// it from 0 to 1 builds, and builds again until no request arrived
	// meanwhile; the others return at once.
	pending atomic.Int64
}

// wrrSchedule is one period of the smooth sequence. order is immutable.
type wrrSchedule struct {
	order []uint32      // indices into wrr.servers
	next  atomic.Uint64 // the next turn, modulo len(order)
}

func newWRR(servers []*Server, opts Options) (Picker, error) {
	p := &wrr{}
	p.init(servers, opts, false)
	return p, nil
}

// init sets up a new picker and builds its first schedule.
func (p *wrr) init(servers []*Server, opts Options, unweighted bool) {
	p.servers, p.rand, p.unweighted = servers, opts.Rand, unweighted
	p.sched.Store(p.build())
}

// Pick returns the server whose turn it is, or the next available one, or
// nil.
func (p *wrr) Pick(_ *fasthttp.RequestCtx) *Server {
	s := p.sched.Load()
	var turn uint64
	if m := uint64(len(s.order)); m > 0 {
		for range min(m, maxTickets) {
			turn = s.next.Add(1) - 1
			if srv := p.servers[s.order[turn%m]]; srv.Available() {
				return srv
			}
		}
	} else {
		turn = s.next.Add(1) - 1
	}
	n := len(p.servers)
	if n == 0 {
		return nil
	}
	return scan(p.servers, int(turn%uint64(n)))
}

// rebuild recomputes the schedule from the servers' current states. The
// states must be stored before rebuild is called; the schedule published
// when rebuild returns, or soon after by a concurrent rebuild, reflects
// them.
func (p *wrr) rebuild() {
	if p.pending.Add(1) > 1 {
		return // the running rebuild will build again
	}
	for {
		seen := p.pending.Load()
		p.sched.Store(p.build())
		if p.pending.CompareAndSwap(seen, 0) {
			return
		}
	}
}

// build computes one period of the smooth weighted round robin sequence
// over the servers that are up, with a counter at a random offset. It reads
// the states once each; a state that changes meanwhile is caught by the
// rebuild that its transition triggers.
func (p *wrr) build() *wrrSchedule {
	var idx []uint32
	var w []int64
	for i, s := range p.servers {
		if s.State() != StateUp || !s.Healthy() {
			continue
		}
		idx = append(idx, uint32(i))
		if p.unweighted {
			w = append(w, s.ramped(1))
		} else {
			w = append(w, weight(s))
		}
	}
	s := &wrrSchedule{order: smoothSchedule(idx, w)}
	s.next.Store(startOffset(p.rand, len(s.order)))
	return s
}

// smoothSchedule returns one period of Nginx's smooth weighted round robin
// over the entries idx with weights w (all at least 1). It modifies w.
func smoothSchedule(idx []uint32, w []int64) []uint32 {
	total := reduceWeights(w)
	if total == 0 {
		return nil
	}
	order := make([]uint32, 0, total)
	current := make([]int64, len(w))
	for range total {
		best := 0
		for k := range w {
			current[k] += w[k]
			if current[k] > current[best] {
				best = k
			}
		}
		current[best] -= total
		order = append(order, idx[best])
	}
	return order
}

// reduceWeights divides w by its gcd, scales it down when its sum exceeds
// maxPeriod, and returns the sum (0 for no weights).
func reduceWeights(w []int64) int64 {
	total := divideByGCD(w)
	if total <= maxPeriod {
		return total
	}
	for k := range w {
		w[k] = max(1, (w[k]*maxPeriod+total/2)/total) // rounded
	}
	return divideByGCD(w)
}

// divideByGCD divides every weight by their greatest common divisor and
// returns the new sum.
func divideByGCD(w []int64) int64 {
	var g int64
	for _, x := range w {
		g = gcd(g, x)
	}
	var total int64
	for k := range w {
		w[k] /= g
		total += w[k]
	}
	return total
}

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
