package admin

import (
	"bytes"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/common/expfmt"
	"github.com/valyala/fasthttp"

	"lb/balancer"
	"lb/compress"
	"lb/metrics"
)

// MetricsSource is what /metrics reads besides the pools; a Source that
// implements it gets the proxy's, the reloads' and the tunnels' metrics.
// Its methods must be safe for concurrent use.
type MetricsSource interface {
	// Routes returns the served snapshot's routes: name, pool name and
	// stats.
	Routes() []RouteInfo
	// PoolStats returns the stats of a pool of the served snapshot.
	PoolStats(p *balancer.Pool) *metrics.PoolStats
	// Registry returns the proxy's metrics registry.
	Registry() *metrics.Registry
	// Reloads returns the reloads that took effect and those refused, and
	// when the last good one happened (zero: none yet).
	Reloads() (ok, failed uint64, lastGood time.Time)
	// OpenTunnels returns the number of open Upgrade tunnels.
	OpenTunnels() int64
}

// RouteInfo is one route as /metrics reports it.
type RouteInfo struct {
	Name, Pool string
	Stats      *metrics.RouteStats
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

// The metrics of lb. Label values are route, pool and server names from
// the configuration and fixed enumerations: no paths, no client addresses.
var (
	dRequests = desc("lb_requests_total",
		"Requests answered, by route and the class of the status the client got (route \"\": no route matched).",
		"route", "pool", "class")
	dDuration = desc("lb_request_duration_seconds",
		"Time from a request's arrival to its response head, per pool.", "pool")
	dUpstream = desc("lb_upstream_duration_seconds",
		"Time a request spent waiting for servers, all attempts together, per pool.", "pool")
	dRetries = desc("lb_retries_total", "Attempts after a request's first, per pool.", "pool")
	dErrors  = desc("lb_errors_total",
		"lb's own error answers by cause and status: 502, 503, 504 (and 413).", "pool", "code", "cause")
	dBytesIn  = desc("lb_request_bytes_total", "Request body bytes forwarded to servers, per pool.", "pool")
	dBytesOut = desc("lb_response_bytes_total",
		"Response body bytes relayed from servers (before lb's compression), per pool.", "pool")
	dQueued = desc("lb_pool_queued", "Requests waiting in the pool's queue for a connection slot.", "pool")

	dServerResponses = desc("lb_server_responses_total",
		"Attempts to a server by the class of its answer (error: no answer).", "pool", "server", "class")
	dServerDiscarded = desc("lb_server_connections_discarded_total",
		"Idle pooled connections replaced before reuse: the server sent bytes nobody asked for (unsolicited) or closed them (closed).", "pool", "server", "reason")
	dServerLatency = desc("lb_server_latency_seconds",
		"Each attempt's time to the server's response head.", "pool", "server")
	dInFlight = desc("lb_server_in_flight", "Requests in flight to the server.", "pool", "server")
	dState    = desc("lb_server_state",
		"The server's state set by configuration or the admin API: 1 for the current one.", "pool", "server", "state")
	dHealthy   = desc("lb_server_healthy", "Active health checks' verdict: 1 up, 0 down.", "pool", "server")
	dEjected   = desc("lb_server_ejected", "1 while passive checks keep the server out.", "pool", "server")
	dSlowStart = desc("lb_server_slow_start", "1 while the server ramps its weight up.", "pool", "server")
	dWeight    = desc("lb_server_weight", "The server's weight in force (configured, or set through the admin API).", "pool", "server")
	dEjections = desc("lb_server_ejections_total", "Times passive checks took the server out.", "pool", "server")
	dHealthTr  = desc("lb_server_health_transitions_total",
		"Changes of the active health checks' verdict.", "pool", "server")
	dChecks = desc("lb_server_checks_total",
		"Active health check probes by result.", "pool", "server", "result")
	dCheckOK = desc("lb_server_last_check_ok",
		"Result of the last active health check: 1 passed, 0 failed.", "pool", "server")
	dCheckAt = desc("lb_server_last_check_timestamp_seconds",
		"Unix time of the last active health check.", "pool", "server")

	dCompIn  = desc("lb_compression_in_bytes_total", "Bytes lb compressed, before compression.", "algorithm")
	dCompOut = desc("lb_compression_out_bytes_total", "Bytes lb compressed, after compression.", "algorithm")
	dTunnels = desc("lb_tunnels_open", "Open Upgrade (WebSocket) tunnels.")
	dReloads = desc("lb_config_reloads_total", "Configuration reloads by result.", "result")
	dLastOK  = desc("lb_config_last_reload_success_timestamp_seconds",
		"Unix time of the last reload that took effect (0: none yet).")
)

var serverStates = [...]balancer.State{balancer.StateUp, balancer.StateDraining, balancer.StateDown}

// collector reads lb's atomics at scrape time.
type collector struct {
	src Source
	ms  MetricsSource // nil: pools and servers only
}

// Describe sends nothing: the collector is unchecked, its series follow
// the configuration.
func (c *collector) Describe(chan<- *prometheus.Desc) {}

func counter(ch chan<- prometheus.Metric, d *prometheus.Desc, v uint64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
}

func gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func histogram(ch chan<- prometheus.Metric, d *prometheus.Desc, h *metrics.Histogram, labels ...string) {
	s := h.Snapshot()
	ch <- prometheus.MustNewConstHistogram(d, s.Count(), s.Sum.Seconds(), s.Buckets(), labels...)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	for _, p := range c.src.Pools() {
		gauge(ch, dQueued, float64(p.Queued()), p.Name)
		if c.ms != nil {
			if ps := c.ms.PoolStats(p); ps != nil {
				histogram(ch, dDuration, &ps.Duration, p.Name)
				histogram(ch, dUpstream, &ps.Upstream, p.Name)
				counter(ch, dRetries, ps.Retries.Load(), p.Name)
				for i := range ps.Errors {
					cause := metrics.Causes[i]
					code := ""
					if cause.Status != 0 {
						code = itoa(cause.Status)
					}
					counter(ch, dErrors, ps.Errors[i].Load(), p.Name, code, cause.Name)
				}
				counter(ch, dBytesIn, ps.BytesIn.Load(), p.Name)
				counter(ch, dBytesOut, ps.BytesOut.Load(), p.Name)
			}
		}
		for _, s := range p.Servers() {
			c.collectServer(ch, p, s)
		}
	}
	if c.ms == nil {
		return
	}
	for _, r := range c.ms.Routes() {
		for i := range r.Stats.Requests {
			counter(ch, dRequests, r.Stats.Requests[i].Load(), r.Name, r.Pool, metrics.ClassNames[i])
		}
	}
	reg := c.ms.Registry()
	for i := range reg.Unrouted.Requests {
		counter(ch, dRequests, reg.Unrouted.Requests[i].Load(), "", "", metrics.ClassNames[i])
	}
	for _, a := range []compress.Algorithm{compress.Gzip, compress.Brotli} {
		cs := &reg.Compression[a]
		counter(ch, dCompIn, cs.In.Load(), a.Token())
		counter(ch, dCompOut, cs.Out.Load(), a.Token())
	}
	gauge(ch, dTunnels, float64(c.ms.OpenTunnels()))
	ok, failed, last := c.ms.Reloads()
	counter(ch, dReloads, ok, "success")
	counter(ch, dReloads, failed, "failure")
	lastF := 0.0
	if !last.IsZero() {
		lastF = float64(last.UnixNano()) / 1e9
	}
	gauge(ch, dLastOK, lastF)
}

func (c *collector) collectServer(ch chan<- prometheus.Metric, p *balancer.Pool, s *balancer.Server) {
	pn, sn := p.Name, s.Addr
	st := &s.Stats
	for i := range st.Responses {
		counter(ch, dServerResponses, st.Responses[i].Load(), pn, sn, metrics.ClassNames[i])
	}
	histogram(ch, dServerLatency, &st.Latency, pn, sn)
	for i := range st.Discarded {
		counter(ch, dServerDiscarded, st.Discarded[i].Load(), pn, sn, metrics.DiscardNames[i])
	}
	gauge(ch, dInFlight, float64(s.InFlight()), pn, sn)
	cur := s.State()
	for _, state := range serverStates {
		gauge(ch, dState, b2f(cur == state), pn, sn, state.String())
	}
	gauge(ch, dHealthy, b2f(s.Healthy()), pn, sn)
	gauge(ch, dEjected, b2f(s.Ejected()), pn, sn)
	gauge(ch, dSlowStart, b2f(s.InSlowStart()), pn, sn)
	gauge(ch, dWeight, float64(s.CurrentWeight()), pn, sn)
	counter(ch, dEjections, uint64(s.Ejections()), pn, sn)
	counter(ch, dHealthTr, st.HealthTransitions.Load(), pn, sn)
	counter(ch, dChecks, st.ChecksPassed.Load(), pn, sn, "passed")
	counter(ch, dChecks, st.ChecksFailed.Load(), pn, sn, "failed")
	if r, ok := c.src.CheckStatus(s); ok {
		gauge(ch, dCheckOK, b2f(r.OK), pn, sn)
		gauge(ch, dCheckAt, float64(r.At.UnixNano())/1e9, pn, sn)
	}
}

func itoa(n int) string {
	var b [8]byte
	i := len(b)
	for n > 0 || i == len(b) {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}

// newRegistry returns the Prometheus registry /metrics serves: lb's
// collector and the Go runtime's and process's.
func newRegistry(src Source) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	c := &collector{src: src}
	if ms, ok := src.(MetricsSource); ok {
		c.ms = ms
	}
	reg.MustRegister(c,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// serveMetrics answers GET /metrics in the Prometheus text format.
func (s *Server) serveMetrics(ctx *fasthttp.RequestCtx) {
	mfs, err := s.reg.Gather()
	if err != nil {
		s.log.Warn("admin: gathering metrics: " + err.Error())
	}
	var buf bytes.Buffer
	format := expfmt.NewFormat(expfmt.TypeTextPlain)
	enc := expfmt.NewEncoder(&buf, format)
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			writeError(ctx, fasthttp.StatusInternalServerError, "cannot encode metrics")
			return
		}
	}
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.SetContentType(string(format))
	ctx.SetBody(buf.Bytes())
}
