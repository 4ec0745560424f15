// Package metrics is lb's metrics model: counters and fixed-bucket
// histograms made of atomics, owned by the runtime objects they describe
// (a balancer.Server, a proxy pool or route, the handler) and read at
// scrape time by the admin listener's Prometheus collector.
//
// Recording is a few atomic adds: no lock, no allocation, no map lookup
// and no label resolution per request (client_golang's CounterVec needs a
// label lookup per update; BenchmarkRecord compares). The types are safe
// for concurrent use, and their zero values are ready to use; none may be
// copied after first use.
package metrics

import (
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Status classes, the index of a counter by the class of a status code.
const (
	// ClassError counts attempts that got no response (connect failure,
	// timeout, reset).
	ClassError = iota
	Class1xx
	Class2xx
	Class3xx
	Class4xx
	Class5xx
	// NumClasses is the length of a per-class counter array.
	NumClasses
)

// ClassNames are the label values of the classes, by index.
var ClassNames = [NumClasses]string{"error", "1xx", "2xx", "3xx", "4xx", "5xx"}

// ClassOf returns the class index of a status code; anything outside
// 100..599 (0: no response) is ClassError.
func ClassOf(status int) int {
	if status < 100 || status > 599 {
		return ClassError
	}
	return status / 100
}

// Bounds are the histograms' bucket upper bounds (Prometheus le), chosen
// for request latencies from a millisecond to a minute.
var Bounds = [...]time.Duration{
	time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond,
	10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond,
	time.Second, 2500 * time.Millisecond, 5 * time.Second,
	10 * time.Second, 30 * time.Second, time.Minute,
}

// NumBuckets is the number of buckets, the last one (+Inf) included.
const NumBuckets = len(Bounds) + 1

// Histogram counts durations in the fixed buckets of Bounds. Observe is two
// atomic adds.
type Histogram struct {
	counts [NumBuckets]atomic.Uint64 // not cumulative; the last is +Inf
	sum    atomic.Int64              // nanoseconds
}

// Observe records one duration.
func (h *Histogram) Observe(d time.Duration) {
	i := 0
	for i < len(Bounds) && d > Bounds[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sum.Add(int64(d))
}

// Snapshot returns the histogram's counts now. Counts taken while others
// observe may be off by those in flight, never inconsistent with the count
// (the count is their sum).
func (h *Histogram) Snapshot() HistogramSnapshot {
	var s HistogramSnapshot
	for i := range h.counts {
		s.Counts[i] = h.counts[i].Load()
	}
	s.Sum = time.Duration(h.sum.Load())
	return s
}

// HistogramSnapshot is a histogram's content at one time.
type HistogramSnapshot struct {
	Counts [NumBuckets]uint64 // per bucket, not cumulative
	Sum    time.Duration
}

// Count returns the number of observations.
func (s *HistogramSnapshot) Count() uint64 {
	var n uint64
	for _, c := range s.Counts {
		n += c
	}
	return n
}

// Sub returns the observations in s and not in old, an earlier snapshot of
// the same histogram.
func (s *HistogramSnapshot) Sub(old *HistogramSnapshot) HistogramSnapshot {
	var d HistogramSnapshot
	for i := range s.Counts {
		d.Counts[i] = s.Counts[i] - old.Counts[i]
	}
	d.Sum = s.Sum - old.Sum
	return d
}

// Buckets returns the cumulative counts by upper bound in seconds, as
// prometheus.MustNewConstHistogram takes them (without +Inf).
func (s *HistogramSnapshot) Buckets() map[float64]uint64 {
	m := make(map[float64]uint64, len(Bounds))
	var n uint64
	for i, b := range Bounds {
		n += s.Counts[i]
		m[b.Seconds()] = n
	}
	return m
}

// Quantile estimates the q-quantile (0 < q <= 1) by linear interpolation
// within its bucket, as Prometheus' histogram_quantile does; observations
// above the last bound count as the last bound. It returns -1 with no
// observations.
func (s *HistogramSnapshot) Quantile(q float64) time.Duration {
	total := s.Count()
	if total == 0 {
		return -1
	}
	rank := q * float64(total)
	var cum float64
	for i, c := range s.Counts {
		if c == 0 {
			continue
		}
		if cum+float64(c) >= rank {
			if i == len(Bounds) {
				return Bounds[len(Bounds)-1]
			}
			lo := time.Duration(0)
			if i > 0 {
				lo = Bounds[i-1]
			}
			frac := math.Max(0, (rank-cum)/float64(c))
			return lo + time.Duration(frac*float64(Bounds[i]-lo))
		}
		cum += float64(c)
	}
	return Bounds[len(Bounds)-1]
}

// ServerStats are one server's counters; a balancer.Server holds them and
// they go with it across reloads.
type ServerStats struct {
	// Responses counts attempts by the class of the server's answer;
	// ClassError: no answer.
	Responses [NumClasses]atomic.Uint64
	// Latency is each attempt's time to the response head.
	Latency Histogram
	// HealthTransitions counts active health check verdict changes.
	HealthTransitions atomic.Uint64
	// ChecksPassed and ChecksFailed count active health check probes.
	ChecksPassed, ChecksFailed atomic.Uint64
	// Discarded counts idle pooled connections found unfit for the next
	// request and replaced, by reason (DiscardUnsolicited, DiscardClosed).
	Discarded [NumDiscards]atomic.Uint64
}

// Why an idle pooled connection to a server was replaced before reuse.
const (
	// DiscardUnsolicited: the server sent bytes nobody asked for (a
	// second answer to one request); a misbehaving server.
	DiscardUnsolicited = iota
	// DiscardClosed: the server closed the connection while it was idle.
	DiscardClosed
	NumDiscards
)

// DiscardNames are the reasons' label values, by index.
var DiscardNames = [NumDiscards]string{"unsolicited", "closed"}

// Check records one active health check probe's result.
func (s *ServerStats) Check(ok bool) {
	if ok {
		s.ChecksPassed.Add(1)
	} else {
		s.ChecksFailed.Add(1)
	}
}

// Attempt records one attempt that came to status (0: no answer) after d.
func (s *ServerStats) Attempt(status int, d time.Duration) {
	s.Responses[ClassOf(status)].Add(1)
	s.Latency.Observe(d)
}

// Causes of lb's own error answers: why it answered 502, 503, 504 (or
// 413) itself rather than relaying a server's answer.
const (
	CauseConnectFailed = iota
	CauseConnectTimeout
	CauseUpstreamTimeout
	CauseUpstreamError
	CauseConnLimit
	CauseNoServer
	CauseQueueFull
	CauseQueueTimeout
	CauseBodyTooLarge
	CauseOther
	// NumCauses is the length of a per-cause counter array.
	NumCauses
)

// Cause describes one cause: its label value and the status lb answers.
type Cause struct {
	Name   string
	Status int
}

// Causes are the causes by index.
var Causes = [NumCauses]Cause{
	{"connect_failed", 502},
	{"connect_timeout", 504},
	{"upstream_timeout", 504},
	{"upstream_error", 502},
	{"server_conn_limit", 503},
	{"no_server", 503},
	{"queue_full", 503},
	{"queue_timeout", 503},
	{"body_too_large", 413},
	{"other", 0},
}

// CauseOf maps the proxy's error reasons (as in the access log) to a cause
// index. It does not allocate.
func CauseOf(reason string) int {
	switch reason {
	case "connect failed":
		return CauseConnectFailed
	case "connect timeout":
		return CauseConnectTimeout
	case "upstream timeout":
		return CauseUpstreamTimeout
	case "upstream error":
		return CauseUpstreamError
	case "server connection limit":
		return CauseConnLimit
	case "no available server":
		return CauseNoServer
	case "queue full":
		return CauseQueueFull
	case "queue timeout":
		return CauseQueueTimeout
	case "body too large":
		return CauseBodyTooLarge
	}
	return CauseOther
}

// PoolStats are one pool's counters. They are keyed by pool name in a
// Registry, so that a reload that keeps the pool keeps them.
type PoolStats struct {
	// Duration is each request's time from its arrival to its response
	// head (the body streams after).
	Duration Histogram
	// Upstream is each request's time spent waiting for servers, all
	// attempts together.
	Upstream Histogram
	// Retries counts attempts after a request's first.
	Retries atomic.Uint64
	// Errors counts lb's own error answers by cause.
	Errors [NumCauses]atomic.Uint64
	// BytesIn counts request body bytes forwarded to servers; BytesOut
	// response body bytes relayed from servers (before lb compresses them).
	BytesIn, BytesOut atomic.Uint64
}

// RouteStats are one route's counters, keyed by route name in a Registry.
type RouteStats struct {
	// Requests counts requests by the class of the status the client got.
	Requests [NumClasses]atomic.Uint64
}

// CompressionStats count the bytes lb compressed with one algorithm.
type CompressionStats struct {
	In, Out atomic.Uint64 // before and after
}

// MaxAlgorithms bounds the compression algorithms a Registry counts.
const MaxAlgorithms = 4

// Registry holds the stats of a handler: per pool and per route ones by
// name, resolved once per snapshot (not per request), and handler-wide
// ones. Its methods are safe for concurrent use.
type Registry struct {
	mu     sync.Mutex
	pools  map[string]*PoolStats  // guarded by mu
	routes map[string]*RouteStats // guarded by mu

	// Unrouted counts requests answered before any route matched (no
	// route, bad requests).
	Unrouted RouteStats
	// Compression counts compressed bytes by compress.Algorithm.
	Compression [MaxAlgorithms]CompressionStats
}

// Pool returns the stats of the pool named name, made on first use.
func (r *Registry) Pool(name string) *PoolStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pools == nil {
		r.pools = map[string]*PoolStats{}
	}
	s := r.pools[name]
	if s == nil {
		s = new(PoolStats)
		r.pools[name] = s
	}
	return s
}

// Route returns the stats of the route named name, made on first use.
func (r *Registry) Route(name string) *RouteStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.routes == nil {
		r.routes = map[string]*RouteStats{}
	}
	s := r.routes[name]
	if s == nil {
		s = new(RouteStats)
		r.routes[name] = s
	}
	return s
}
