package proxy

import (
	"net/netip"
	"time"

	"lb/balancer"
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
