package balancer

import (
	"sync/atomic"
	"time"
)

// nowNanos is the clock of passive checks and slow start.
var nowNanos = func() int64 { return time.Now().UnixNano() }

// Outcome is what one attempt to a server came to, as the proxy saw it.
type Outcome uint8

// Outcomes the proxy reports.
const (
	// OK: the server answered with a status that is not a failure.
	OK Outcome = iota
	// ConnectFailed: the connection could not be made.
	ConnectFailed
	// TimedOut: the server did not answer in time.
	TimedOut
	// Failed: any other transport error (reset, closed, malformed answer).
	Failed
	// BadStatus: the server answered with a status the pool counts as a
	// failure.
	BadStatus
)

// Passive configures passive health checking of a pool's servers.
type Passive struct {
	// MaxFails failures within FailTimeout make a server unavailable for
	// FailTimeout (Nginx max_fails / fail_timeout). 0 turns it off.
	MaxFails    int
	FailTimeout time.Duration
	// Count says which outcomes are failures; OK never is.
	Count [BadStatus + 1]bool

	// Consecutive5xx consecutive 5xx answers eject a server (Envoy
	// outlier detection consecutive_5xx). 0 turns it off.
	Consecutive5xx int
	// BaseEjection is the first ejection's length; the n-th lasts n times
	// as long, up to MaxEjection (Envoy base_ejection_time,
	// max_ejection_time).
	BaseEjection time.Duration
	MaxEjection  time.Duration
	// MaxEjectedPercent caps the share of a pool's servers that may be
	// unavailable through passive checks at once (Envoy
	// max_ejection_percent); at least one server may always be ejected.
	MaxEjectedPercent int
}

// passiveState is a server's failure memory: a fixed handful of atomics,
// whatever the failure rate, and no goroutine or timer. The window is
// Nginx's: it starts at the first failure and the count restarts once it
// is older than fail_timeout.
type passiveState struct {
	windowStart atomic.Int64 // unix ns of the first failure counted
	fails       atomic.Int32 // failures since windowStart
	consec5xx   atomic.Int32 // consecutive 5xx answers
	ejections   atomic.Int32 // ejections so far, for the growing length
	until       atomic.Int64 // unix ns the server is unavailable until; 0: available
}

// ejectedNow reports whether passive checks keep the server out now. The
// common case, never ejected, reads one atomic and no clock.
func (ps *passiveState) ejectedNow() bool {
	u := ps.until.Load()
	return u != 0 && nowNanos() < u
}

// Ejected reports whether passive checks keep the server out now.
func (s *Server) Ejected() bool { return s.passive.ejectedNow() }

// Report records the outcome of one attempt to s, one of the pool's
// servers, and reports whether it made the server unavailable. status is
// the answer's status code (0 when there was none). It is cheap and safe
// on the request path: a few atomics, no lock, no allocation.
func (p *Pool) Report(s *Server, o Outcome, status int) bool {
	cfg := &p.passive
	ps := &s.passive
	if cfg.Consecutive5xx > 0 {
		if status >= 500 && status <= 599 {
			if int(ps.consec5xx.Add(1)) >= cfg.Consecutive5xx && p.eject(s, p.ejectionTime(ps)) {
				ps.consec5xx.Store(0)
				return true
			}
		} else if status != 0 && ps.consec5xx.Load() != 0 {
			ps.consec5xx.Store(0)
		}
	}
	if cfg.MaxFails <= 0 || !cfg.Count[o] {
		return false
	}
	now := nowNanos()
	window := int64(cfg.FailTimeout)
	start := ps.windowStart.Load()
	if start == 0 || now-start > window {
		if ps.windowStart.CompareAndSwap(start, now) {
			ps.fails.Store(0)
		}
	}
	if int(ps.fails.Add(1)) < cfg.MaxFails {
		return false
	}
	ps.fails.Store(0)
	ps.windowStart.Store(0)
	return p.eject(s, cfg.FailTimeout)
}

// ejectionTime is the length of the next consecutive-5xx ejection.
func (p *Pool) ejectionTime(ps *passiveState) time.Duration {
	n := time.Duration(ps.ejections.Load() + 1)
	d := p.passive.BaseEjection * n
	if m := p.passive.MaxEjection; m > 0 && d > m {
		d = m
	}
	return d
}

// eject makes s unavailable for d unless that would take more than the
// allowed share of the pool out, or the last server that could take a
// request, and reports whether it did.
//
// The last server stays in, as Nginx keeps it: a group's single server
// is never considered unavailable, and when every server has failed all
// are marked live again. Alone, a server's failures are answers the
// clients see (502, 504); taking it out would turn one bad answer into
// fail_timeout of 503s for everyone. Active health checks still take it
// out when it is really down.
func (p *Pool) eject(s *Server, d time.Duration) bool {
	if d <= 0 || s.passive.ejectedNow() || p.lastUsable(s) {
		return false
	}
	if pct := p.passive.MaxEjectedPercent; pct > 0 {
		out := 1 // s itself
		for _, o := range p.servers {
			if o != s && o.passive.ejectedNow() {
				out++
			}
		}
		if out > 1 && out*100 > pct*len(p.servers) {
			return false
		}
	}
	s.passive.until.Store(nowNanos() + int64(d))
	s.passive.ejections.Add(1)
	p.ejected.Add(1)
	s.closeIdle()
	return true
}

// lastUsable reports whether s is the only server of the pool, primary or
// backup, that could take a request now.
func (p *Pool) lastUsable(s *Server) bool {
	for _, o := range p.servers {
		if o != s && o.Usable() {
			return false
		}
	}
	return true
}

// Ejections returns how many times passive checks took s out.
func (s *Server) Ejections() int { return int(s.passive.ejections.Load()) }
