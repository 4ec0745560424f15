package proxy

import (
	"net/netip"
	"time"

	"lb/balancer"
	"lb/compress"
	"lb/metrics"
	"lb/route"
)

// Snapshot is one compiled configuration: routes, pools and forwarding
// settings. It is immutable once published with Handler.Store; requests
// in flight keep the snapshot they started with.
type Snapshot struct {
	routes  *route.Table
	targets []*Route // targets[i] is where routes rule i sends requests
	trusted []netip.Prefix
}

// Route is a compiled route: its name and the pool it sends to.
type Route struct {
	Name string
	Pool *Pool
	// RetryNonIdempotent lets the pool retry non-idempotent requests on
	// timeouts, errors and statuses, not only on connect failures.
	RetryNonIdempotent bool
	// RejectDotSegments and RejectEncodedSlashes refuse (400) paths with
	// dot segments or encoded slashes (see rejectPath).
	RejectDotSegments, RejectEncodedSlashes bool
	// RateLimit, when not nil, limits the route's requests (429).
	RateLimit *RateLimit
	// Compression, when not nil, compresses eligible responses.
	Compression *Compression
	// Stats are the route's metrics, set by Handler.Store from the
	// handler's registry, by name.
	Stats *metrics.RouteStats
	// Access says which of the route's requests get an access log line.
	Access AccessLog
}

// Compression is a route's response compression.
type Compression struct {
	Policy *compress.Policy
	// Offload drops Accept-Encoding from requests lb will compress the
	// answer to, so that the server sends identity and spends no CPU.
	Offload bool
}

// Pool is a balancer pool with the forwarding settings of its servers.
type Pool struct {
	*balancer.Pool
	// Host, when non-empty, replaces the Host header sent upstream.
	Host []byte
	// ResponseTimeout bounds one exchange with a server.
	ResponseTimeout time.Duration
	// RequestHeaders and ResponseHeaders are applied after lb's own
	// header handling (hop-by-hop, X-Forwarded-*).
	RequestHeaders  HeaderOps
	ResponseHeaders HeaderOps

	// Retry says when a failed attempt is tried again on another server.
	Retry RetryPolicy
	// PassiveStatuses are the statuses reported to passive checks as
	// failures.
	PassiveStatuses StatusSet
	// RetryAfter is the Retry-After value (seconds) of lb's own 503s.
	RetryAfter []byte
	// Sticky, when not nil, keeps a client on one server by a cookie.
	Sticky *Sticky
	// Stats are the pool's metrics, set by Handler.Store from the
	// handler's registry, by name.
	Stats *metrics.PoolStats
}

// RetryPolicy says when lb tries a request again on a server not yet
// tried (Nginx proxy_next_upstream, HAProxy retry-on + redispatch). A
// connect failure is always retried: nothing reached the server.
type RetryPolicy struct {
	// Attempts is the most tries per request, the first included.
	Attempts int
	// OnTimeout and OnError retry timeouts and other transport errors,
	// for idempotent requests (or when the route allows any).
	OnTimeout, OnError bool
	// Statuses are retried answers, for idempotent requests (or when the
	// route allows any); the last attempt's answer goes to the client.
	Statuses StatusSet
	// Timeout bounds all attempts together.
	Timeout time.Duration
	// MaxBodyBytes: requests with larger bodies are tried once.
	MaxBodyBytes int
}

// StatusSet is a set of HTTP status codes 100..599.
type StatusSet [10]uint64

// Add puts code in the set; codes outside 0..639 are ignored.
func (s *StatusSet) Add(code int) {
	if code >= 0 && code < 640 {
		s[code/64] |= 1 << (code % 64)
	}
}

// Has reports whether code is in the set.
func (s *StatusSet) Has(code int) bool {
	return code >= 0 && code < 640 && s[code/64]&(1<<(code%64)) != 0
}

// Sticky is cookie-insert stickiness (HAProxy cookie NAME insert indirect
// nocache): the cookie names the server by its opaque ID; lb strips it
// from requests it forwards and sets it when the server changes.
type Sticky struct {
	Cookie []byte
	// Attrs is the cookie's attributes, starting with "; ".
	Attrs []byte
}

// HeaderOps are header edits in application order: remove, set, add.
// Names are matched case-insensitively.
type HeaderOps struct {
	Remove [][]byte
	Set    []HeaderKV
	Add    []HeaderKV
}

// HeaderKV is one header name and value.
type HeaderKV struct {
	Name, Value []byte
}

// NewSnapshot builds a snapshot from a route table and, for each of its
// rules in order, the route it selects. trusted lists the peers whose
// X-Forwarded-* headers are kept and extended.
func NewSnapshot(routes *route.Table, targets []*Route, trusted []netip.Prefix) *Snapshot {
	if routes.Len() != len(targets) {
		panic("proxy: route table and targets differ in length")
	}
	return &Snapshot{routes: routes, targets: targets, trusted: trusted}
}

// Routes returns the snapshot's routes in match order.
func (s *Snapshot) Routes() []*Route { return s.targets }

// isTrusted reports whether ip is a trusted proxy.
func (s *Snapshot) isTrusted(ip netip.Addr) bool {
	for _, p := range s.trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
