package balancer

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/valyala/fasthttp"
)

// Picker picks a server for a request; nil means none is available (the
// proxy answers 503).
//
// Pick is safe for concurrent use. It must not block, must not allocate,
// and every loop in it is bounded by the number of servers. It reads only
// the request's headers and remote address and leaves the request as it
// found it; ctx is not kept after Pick returns.
type Picker interface {
	Pick(ctx *fasthttp.RequestCtx) *Server
}

// Name is a policy name, spelled as in the configuration.
type Name string

// The policies. Nginx / HAProxy equivalents are named on each type.
const (
	RoundRobin         Name = "round_robin"
	WeightedRoundRobin Name = "weighted_round_robin"
	LeastConn          Name = "least_conn"
	RandomTwo          Name = "random_two"
	Hash               Name = "hash"
)

// Errors returned by New, NewPool and ParseHashKey; test with errors.Is.
var (
	ErrUnknownPolicy  = errors.New("balancer: unknown policy")
	ErrInvalidHashKey = errors.New("balancer: invalid hash key")
	ErrNilServer      = errors.New("balancer: nil server")
)

// Options tunes a policy. The zero value is ready to use.
type Options struct {
	// HashKey is what the hash policy hashes; other policies ignore it. The
	// zero value hashes the client IP.
	HashKey HashKey
	// Rand returns a pseudo-random number in [0, n) for n >= 1; nil means
	// math/rand/v2's IntN (lock-free, per-thread state). It must be safe for
	// concurrent use. It is injected so that tests assert exact sequences.
	Rand func(n int) int
}

// constructor builds one policy over servers. servers holds no nil entry
// and opts.Rand is set.
type constructor func(servers []*Server, opts Options) (Picker, error)

// policies maps each policy name to its constructor. It is never modified.
var policies = map[Name]constructor{
	RoundRobin:         newRoundRobin,
	WeightedRoundRobin: newWRR,
	LeastConn:          newLeastConn,
	RandomTwo:          newRandomTwo,
	Hash:               newHash,
}

// Names returns the policy names New accepts, sorted.
func Names() []Name {
	names := make([]Name, 0, len(policies))
	for n := range policies {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// New builds the named policy over servers. The picker owns the slice
// afterwards: the caller must not modify it. An empty slice gives a picker
// that always returns nil.
//
// An unknown name gives an error wrapping ErrUnknownPolicy, a nil server
// one wrapping ErrNilServer, and an invalid opts.HashKey for the hash policy
// one wrapping ErrInvalidHashKey.
func New(name Name, servers []*Server, opts Options) (Picker, error) {
	build, ok := policies[name]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownPolicy, string(name))
	}
	for i, s := range servers {
		if s == nil {
			return nil, fmt.Errorf("%w at index %d", ErrNilServer, i)
		}
	}
	if opts.Rand == nil {
		opts.Rand = rand.IntN
	}
	return build(servers, opts)
}

// weight returns the server's weight as policies use it: at least 1 (a
// Server built as a literal may carry 0), scaled, and ramped while the
// server is in slow start.
func weight(s *Server) int64 {
	return s.effectiveWeight()
}

// lessLoaded reports whether a carries less load than b, load being
// in-flight requests divided by weight. It compares a.inflight/a.weight with
// b.inflight/b.weight by cross-multiplication: no division, no floats
// (Nginx ngx_http_upstream_least_conn_module.c does the same).
func lessLoaded(a, b *Server) bool {
	return a.InFlight()*weight(b) < b.InFlight()*weight(a)
}

// scan returns the first available server of servers starting at index
// start and wrapping around, or nil. It probes at most len(servers)
// entries. start must be in [0, len(servers)).
func scan(servers []*Server, start int) *Server {
	n := len(servers)
	for i := range n {
		j := start + i
		if j >= n {
			j -= n
		}
		if s := servers[j]; s.Available() {
			return s
		}
	}
	return nil
}

// startOffset returns a random start in [0, n) for a rotating counter, or 0
// when n is 0.
func startOffset(rnd func(int) int, n int) uint64 {
	if n < 1 {
		return 0
	}
	return uint64(rnd(n))
}
