// Package balancer holds the runtime state of pools and servers and the
// policies that pick a server for a request.
//
// Everything here is read on the request path: a pick is one non-blocking,
// allocation-free call that reads server state with atomic loads. State
// changes (health, drain) are made off the request path.
package balancer

import (
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"lb/metrics"
)

// State is a server's availability as set by configuration, health checks
// and the admin API.
type State uint32

// Server states.
const (
	// StateUp servers receive new requests.
	StateUp State = iota
	// StateDown servers receive none (failed checks or `down: true`).
	StateDown
	// StateDraining servers finish in-flight requests and get no new ones.
	StateDraining
)

// String returns the state's name as used in logs and the admin API.
func (s State) String() string {
	switch s {
	case StateUp:
		return "up"
	case StateDown:
		return "down"
	case StateDraining:
		return "draining"
	}
	return "unknown"
}

// AdminState is an operator override of a server's State set through the
// admin API (HAProxy `set server ... state`). Unlike the configured state
// it is runtime state: it survives a reload while the server stays in the
// configuration, and goes with the server when a reload removes it.
type AdminState int32

// Admin overrides.
const (
	// AdminNone: the configuration decides the state.
	AdminNone AdminState = iota
	// AdminUp: ready (HAProxy `state ready`), whatever the configuration says.
	AdminUp
	// AdminDrain: draining (HAProxy `state drain`).
	AdminDrain
	// AdminDown: down for maintenance (HAProxy `state maint`).
	AdminDown
)

// State returns the server state the override stands for; AdminNone
// stands for none and returns StateUp.
func (a AdminState) State() State {
	switch a {
	case AdminDrain:
		return StateDraining
	case AdminDown:
		return StateDown
	}
	return StateUp
}

// String returns the override's name as used in the admin API.
func (a AdminState) String() string {
	switch a {
	case AdminNone:
		return "none"
	case AdminUp:
		return "up"
	case AdminDrain:
		return "drain"
	case AdminDown:
		return "down"
	}
	return "unknown"
}

// Server is one upstream address with its runtime state. It is safe for
// concurrent use and must not be copied after first use. A Server is keyed
// by pool name and address and carried from one snapshot to the next when
// a reload keeps it.
type Server struct {
	// Addr is host:port, as configured.
	Addr string
	// Weight is the configured weight, at least 1.
	Weight int
	// Backup servers are picked only when no primary server is available.
	Backup bool
	// MaxConns bounds the requests in flight to this server; 0 means no
	// bound. A server at its bound is skipped by every policy.
	MaxConns int64
	// Client is the server's keep-alive connection pool. The balancer never
	// uses it; the proxy forwards through it.
	Client *fasthttp.HostClient
	// ClientIdle is the idle bound Client's connections were made with,
	// for a reload to tell whether Client still fits the configuration.
	ClientIdle time.Duration

	// ID names the server in sticky cookies: opaque and stable (see
	// StableID), never its address.
	ID string

	state     atomic.Uint32 // a State
	admin     atomic.Int32  // an AdminState: the admin API's override
	weight    atomic.Int32  // the admin API's weight; 0: Weight
	inflight  atomic.Int64  // requests between Acquire and Release
	requests  atomic.Uint64 // requests ever acquired
	unhealthy atomic.Bool   // active checks say down
	upSince   atomic.Int64  // unix ns it came back, while in slow start; 0 otherwise
	slowStart atomic.Int64  // slow start length in ns; 0: none
	passive   passiveState  // passive failure memory and ejection
	pool      atomic.Pointer[Pool]

	// Stats are the server's metrics, recorded by the proxy and read by
	// the admin listener.
	Stats metrics.ServerStats
}

// NewServer returns an up server.
func NewServer(addr string, weight int, backup bool, maxConns int64) *Server {
	if weight < 1 {
		weight = 1
	}
	return &Server{Addr: addr, Weight: weight, Backup: backup, MaxConns: maxConns}
}

// StableID returns an opaque ID for the server at addr in pool: the same
// on every lb instance and across restarts, revealing nothing about the
// address (sticky cookies carry it).
func StableID(pool, addr string) string {
	h := mix64(fnv1a([]byte(pool + "\x00" + addr)))
	const digits = "0123456789abcdef"
	var b [16]byte
	for i := range b {
		b[i] = digits[h>>(60-4*i)&0xf]
	}
	return string(b[:])
}

// State returns the server's current state.
func (s *Server) State() State { return State(s.state.Load()) }

// SetState stores st and reports whether the state changed. Callers log and
// count a transition only when it reports true. Code that owns a Pool calls
// Pool.SetServerState instead, so that policies that precompute from the
// states (the smooth WRR schedule) rebuild.
func (s *Server) SetState(st State) bool {
	return State(s.state.Swap(uint32(st))) != st
}

// AdminState returns the admin API's override of the server's state.
func (s *Server) AdminState() AdminState { return AdminState(s.admin.Load()) }

// SetAdminState records the override a without changing the state; the
// snapshot builder uses it to carry an override to a rebuilt server. Code
// that owns a Pool calls Pool.SetServerAdminState instead.
func (s *Server) SetAdminState(a AdminState) { s.admin.Store(int32(a)) }

// Available reports whether the server may take a new request now: it is
// up, healthy, not ejected by passive checks, and below its connection
// bound.
func (s *Server) Available() bool {
	_, ok := s.availableLoad()
	return ok
}

// Usable reports whether the server may be sent requests at all, leaving
// its connection bound aside: up, healthy and not ejected. A full but
// usable server is worth queueing for.
func (s *Server) Usable() bool {
	return State(s.state.Load()) == StateUp && s.serving()
}

// serving reports whether health and passive checks let the server serve.
func (s *Server) serving() bool {
	return !s.unhealthy.Load() && !s.passive.ejectedNow()
}

// availableLoad returns the requests in flight and whether the server is
// Available, both from the same load of the counter.
func (s *Server) availableLoad() (int64, bool) {
	if State(s.state.Load()) != StateUp || !s.serving() {
		return 0, false
	}
	n := s.inflight.Load()
	return n, s.MaxConns <= 0 || n < s.MaxConns
}

// weightScale multiplies weights so that a server in slow start can be
// given a fraction of even weight 1; comparisons and schedules do not
// change under a common factor (schedules reduce by the gcd).
const weightScale = 64

// effectiveWeight is the weight policies use: the configured weight times
// weightScale, ramped linearly from 1/weightScale of it to all of it over
// slow start (HAProxy slowstart).
func (s *Server) effectiveWeight() int64 {
	return s.ramped(int64(s.CurrentWeight()))
}

// CurrentWeight returns the weight in force: the admin API's if it set
// one, else the configured Weight.
func (s *Server) CurrentWeight() int {
	if w := s.weight.Load(); w > 0 {
		return int(w)
	}
	return max(s.Weight, 1)
}

// AdminWeight returns the admin API's weight, 0 when it set none.
func (s *Server) AdminWeight() int { return int(s.weight.Load()) }

// SetAdminWeight records the admin API's weight (0 clears it) without
// rebuilding schedules; the snapshot builder uses it to carry the weight
// to a rebuilt server. Code that owns a Pool calls Pool.SetServerWeight.
func (s *Server) SetAdminWeight(w int) { s.weight.Store(int32(max(w, 0))) }

// ramped returns base times weightScale, ramped by slow start.
func (s *Server) ramped(base int64) int64 {
	w := base * weightScale
	since := s.upSince.Load()
	if since == 0 {
		return w
	}
	ramp := s.slowStart.Load()
	elapsed := nowNanos() - since
	if ramp <= 0 || elapsed >= ramp {
		s.upSince.CompareAndSwap(since, 0) // ramp over
		return w
	}
	return max(1, w*max(elapsed, 0)/ramp)
}

// InFlight returns the number of requests in flight to the server.
func (s *Server) InFlight() int64 { return s.inflight.Load() }

// Requests returns the number of requests ever sent to the server.
func (s *Server) Requests() uint64 { return s.requests.Load() }

// Acquire counts a request in flight. Every Acquire must be paired with
// exactly one Release, on every path (use defer).
func (s *Server) Acquire() {
	s.inflight.Add(1)
	s.requests.Add(1)
}

// TryAcquire counts a request in flight, like Acquire, only if the server
// is below its connection bound, and reports whether it did. A pick reads
// the bound without reserving a slot, so concurrent picks may all choose a
// server with one slot left; the proxy calls TryAcquire after Pick to
// enforce MaxConns exactly (and picks again on false). It does not look at
// the state. A true result must be paired with exactly one Release.
func (s *Server) TryAcquire() bool {
	if s.MaxConns <= 0 {
		s.Acquire()
		return true
	}
	for {
		n := s.inflight.Load()
		if n >= s.MaxConns {
			return false
		}
		if s.inflight.CompareAndSwap(n, n+1) {
			s.requests.Add(1)
			return true
		}
	}
}

// Release ends a request counted by Acquire and wakes one request queued
// for the server's pool, if any.
func (s *Server) Release() {
	s.inflight.Add(-1)
	if p := s.pool.Load(); p != nil && p.queued.Load() > 0 {
		p.wakeOne()
	}
}

// InSlowStart reports whether the server is ramping its weight; it ends
// the ramp when its time is up.
func (s *Server) InSlowStart() bool {
	if s.upSince.Load() == 0 {
		return false
	}
	s.ramped(1) // clears upSince once the ramp is over
	return s.upSince.Load() != 0
}

// StickyUsable reports whether the server may take a request that is
// stuck to it: up or draining (Nginx drain keeps sticky sessions),
// healthy, not ejected, and below its connection bound.
func (s *Server) StickyUsable() bool {
	st := State(s.state.Load())
	return (st == StateUp || st == StateDraining) && s.serving()
}

// closeIdle closes the server's idle keep-alive connections. When the
// server has gone away they are all dead: left in the pool, each would
// fail one request after the server comes back (and, counted by passive
// checks, take it out again).
func (s *Server) closeIdle() {
	if s.Client != nil {
		s.Client.CloseIdleConnections()
	}
}
