// Package admin serves lb's admin API on a listener of its own: the status
// of pools and servers, runtime commands (drain, enable, disable a server),
// reloads, Prometheus metrics and a live stats page. It is off the request
// path.
//
// Endpoints (with a token configured, every request but the stats page's
// own files needs "Authorization: Bearer TOKEN", else 401):
//
//	GET  /                 the stats page (HTML; its files under /ui/)
//	GET  /metrics          Prometheus text format
//	GET  /api/status
//	POST /api/servers/{pool}/{address}/drain[?wait=30s]
//	POST /api/servers/{pool}/{address}/enable
//	POST /api/servers/{pool}/{address}/disable
//	POST /api/servers/{pool}/{address}/weight?value=N (1..1000; 0: as configured)
//	POST /api/reload
//	GET  /debug/pprof/...  Go profiles (go tool pprof http://ADMIN/debug/pprof/profile)
//
// Runtime commands are balancer.AdminState overrides: they survive a
// reload while the server stays in the configuration (HAProxy semantics).
//
// The package depends on balancer and health only; the process provides
// what it reads and does through Source.
package admin

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/pprofhandler"
	"go.uber.org/zap"

	"lb/balancer"
	"lb/health"
)

// Source is what the admin API reads and acts on: the running process.
// Its methods must be safe for concurrent use.
type Source interface {
	// Pools returns the pools of the snapshot being served, each once.
	Pools() []*balancer.Pool
	// Reload loads the configuration again, as SIGHUP does; the error is
	// the configuration's problems (file:line) when it is refused.
	Reload() error
	// LastReload returns when the last reload was attempted (zero: never)
	// and its error (nil: it took effect).
	LastReload() (at time.Time, err error)
	// CheckStatus returns the last active health check result of s; ok is
	// false when s is not checked or not probed yet.
	CheckStatus(s *balancer.Server) (r health.Result, ok bool)
}

// MaxWait bounds the wait of a drain call.
const MaxWait = time.Hour

// pollInterval is how often a drain call with a wait looks at the
// server's in-flight count.
const pollInterval = 5 * time.Millisecond

// Server is the admin API's request handler. Its methods are safe for
// concurrent use.
type Server struct {
	src   Source
	token [sha256.Size]byte // of "Bearer TOKEN"; unused without a token
	auth  bool
	log   *zap.Logger
	reg   *prometheus.Registry // what /metrics serves
	rates sampler              // recent samples for the stats page

	closeOnce sync.Once
	done      chan struct{}
}

// New returns the admin API over src. With a non-empty token every request
// must carry "Authorization: Bearer token". log may be nil.
func New(src Source, token string, log *zap.Logger) *Server {
	if log == nil {
		log = zap.NewNop()
	}
	s := &Server{src: src, log: log, done: make(chan struct{}), reg: newRegistry(src)}
	if token != "" {
		s.auth = true
		s.token = sha256.Sum256([]byte("Bearer " + token))
	}
	go s.rates.run(src.Pools, sampleEvery, s.done)
	return s
}

// Close ends the drain calls that are waiting (they answer at once with
// what they see) and the sampling of the stats page's rates. The handler
// keeps serving.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.done) })
}

// Handler serves one admin request.
func (s *Server) Handler(ctx *fasthttp.RequestCtx) {
	ctx.Response.Header.Set("Cache-Control", "no-store")
	if serveUI(ctx) {
		return // the page's own files hold no data: no token needed
	}
	if !s.authorized(ctx) {
		ctx.Response.Header.Set("WWW-Authenticate", `Bearer realm="lb admin"`)
		writeError(ctx, fasthttp.StatusUnauthorized, "missing or wrong bearer token")
		return
	}
	path := string(ctx.Path())
	switch {
	case path == "/api/status":
		if !method(ctx, fasthttp.MethodGet) {
			return
		}
		s.status(ctx)
	case path == "/metrics":
		if !method(ctx, fasthttp.MethodGet) {
			return
		}
		s.serveMetrics(ctx)
	case path == "/api/reload":
		if !method(ctx, fasthttp.MethodPost) {
			return
		}
		s.reload(ctx)
	case strings.HasPrefix(path, "/debug/pprof/"):
		// Go's profiler (CPU, heap, goroutines), behind the same token.
		pprofhandler.PprofHandler(ctx)
	case strings.HasPrefix(path, "/api/servers/"):
		if !method(ctx, fasthttp.MethodPost) {
			return
		}
		s.command(ctx, strings.TrimPrefix(path, "/api/servers/"))
	default:
		writeError(ctx, fasthttp.StatusNotFound, "no such endpoint")
	}
}

// authorized compares the Authorization header with the token in constant
// time (hashes of equal length, so the length leaks nothing either).
func (s *Server) authorized(ctx *fasthttp.RequestCtx) bool {
	if !s.auth {
		return true
	}
	got := sha256.Sum256(ctx.Request.Header.Peek(fasthttp.HeaderAuthorization))
	return subtle.ConstantTimeCompare(got[:], s.token[:]) == 1
}

// method answers 405 unless the request's method is m.
func method(ctx *fasthttp.RequestCtx, m string) bool {
	if string(ctx.Method()) == m || (m == fasthttp.MethodGet && ctx.IsHead()) {
		return true
	}
	ctx.Response.Header.Set(fasthttp.HeaderAllow, m)
	writeError(ctx, fasthttp.StatusMethodNotAllowed, "method not allowed (want "+m+")")
	return false
}

// Status is the body of GET /api/status.
type Status struct {
	Pools      []PoolStatus  `json:"pools"`
	LastReload *ReloadStatus `json:"last_reload"` // null: no reload yet
}

// PoolStatus is one pool in Status.
type PoolStatus struct {
	Name    string         `json:"name"`
	Queue   int64          `json:"queue"`
	Servers []ServerStatus `json:"servers"`
	Totals  PoolTotals     `json:"totals"`
}

// PoolTotals sum a pool's servers for the stats page.
type PoolTotals struct {
	Servers  int     `json:"servers"`
	Up       int     `json:"up"` // up, healthy and not ejected
	InFlight int64   `json:"in_flight"`
	Requests uint64  `json:"requests"`
	RPS      float64 `json:"rps"`
	// ErrorRate is the share of the pool's recent attempts that got a
	// 5xx or no answer.
	ErrorRate float64 `json:"error_rate"`
}

// ServerStatus is one server in PoolStatus.
type ServerStatus struct {
	Address string `json:"address"`
	ID      string `json:"id"`
	// State is up, draining or down: the operator's (configuration or
	// admin API).
	State string `json:"state"`
	// Admin is the admin API's override: none, up, drain or down.
	Admin string `json:"admin"`
	// Health is the active checks' verdict: up or down.
	Health string `json:"health"`
	// Ejected: passive checks have taken the server out for now.
	Ejected   bool   `json:"ejected"`
	Backup    bool   `json:"backup"`
	Weight    int    `json:"weight"`
	InFlight  int64  `json:"in_flight"`
	Requests  uint64 `json:"requests"`
	SlowStart bool   `json:"slow_start"`
	// LastCheck is the last active health check; null when checks do
	// not run or have not probed the server yet.
	LastCheck *CheckStatus `json:"last_check"`
	// Recent traffic: requests/s and error rate over the last ~10 s, p50
	// and p99 latency of the attempts then, and requests/s per 2 s over
	// the last 5 minutes.
	rates
}

// CheckStatus is a server's last active health check.
type CheckStatus struct {
	OK     bool      `json:"ok"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// ReloadStatus is the outcome of the last reload attempt.
type ReloadStatus struct {
	At    time.Time `json:"at"`
	OK    bool      `json:"ok"`
	Error string    `json:"error,omitempty"`
}

func (s *Server) status(ctx *fasthttp.RequestCtx) {
	st := Status{Pools: []PoolStatus{}}
	now := time.Now()
	for _, p := range s.src.Pools() {
		ps := PoolStatus{Name: p.Name, Queue: p.Queued(), Servers: []ServerStatus{}}
		var errs float64
		for _, srv := range p.Servers() {
			ss := s.serverStatus(srv)
			ss.rates = s.rates.rates(srv, now)
			ps.Servers = append(ps.Servers, ss)
			t := &ps.Totals
			t.Servers++
			if srv.Usable() {
				t.Up++
			}
			t.InFlight += ss.InFlight
			t.Requests += ss.Requests
			t.RPS += ss.RPS
			errs += ss.RPS * ss.ErrorRate
		}
		if ps.Totals.RPS > 0 {
			ps.Totals.ErrorRate = errs / ps.Totals.RPS
		}
		st.Pools = append(st.Pools, ps)
	}
	st.LastReload = reloadStatus(s.src.LastReload())
	writeJSON(ctx, fasthttp.StatusOK, st)
}

func (s *Server) serverStatus(srv *balancer.Server) ServerStatus {
	health := "up"
	if !srv.Healthy() {
		health = "down"
	}
	ss := ServerStatus{
		Address:   srv.Addr,
		ID:        srv.ID,
		State:     srv.State().String(),
		Admin:     srv.AdminState().String(),
		Health:    health,
		Ejected:   srv.Ejected(),
		Backup:    srv.Backup,
		Weight:    srv.CurrentWeight(),
		InFlight:  srv.InFlight(),
		Requests:  srv.Requests(),
		SlowStart: srv.InSlowStart(),
	}
	if r, ok := s.src.CheckStatus(srv); ok {
		ss.LastCheck = &CheckStatus{OK: r.OK, Reason: r.Reason, At: r.At}
	}
	return ss
}

func reloadStatus(at time.Time, err error) *ReloadStatus {
	if at.IsZero() {
		return nil
	}
	r := &ReloadStatus{At: at, OK: err == nil}
	if err != nil {
		r.Error = err.Error()
	}
	return r
}

func (s *Server) reload(ctx *fasthttp.RequestCtx) {
	err := s.src.Reload()
	at, _ := s.src.LastReload()
	if at.IsZero() {
		at = time.Now()
	}
	r := reloadStatus(at, err)
	if err != nil {
		s.log.Error("admin: reload failed, still serving the previous configuration", zap.Error(err), remote(ctx))
		writeJSON(ctx, fasthttp.StatusUnprocessableEntity, r)
		return
	}
	s.log.Info("admin: configuration reloaded", remote(ctx))
	writeJSON(ctx, fasthttp.StatusOK, r)
}

// CommandResult is the body of a server command's answer.
type CommandResult struct {
	Pool    string `json:"pool"`
	Address string `json:"address"`
	State   string `json:"state"`
	Admin   string `json:"admin"`
	Weight  int    `json:"weight"`
	// Changed: the command changed the server's state (or weight).
	Changed bool `json:"changed"`
	// Drained, InFlight and Waited answer a drain with a wait: Drained
	// reports whether the in-flight count reached 0 within the wait.
	Drained  *bool  `json:"drained,omitempty"`
	InFlight *int64 `json:"in_flight,omitempty"`
	Waited   string `json:"waited,omitempty"`
}

// command runs POST /api/servers/{pool}/{address}/{verb}; rest is the path
// after /api/servers/.
func (s *Server) command(ctx *fasthttp.RequestCtx, rest string) {
	poolName, rest, ok1 := strings.Cut(rest, "/")
	i := strings.LastIndexByte(rest, '/')
	if !ok1 || i < 0 || poolName == "" || i == 0 {
		writeError(ctx, fasthttp.StatusNotFound, "want /api/servers/{pool}/{address}/{drain|enable|disable|weight}")
		return
	}
	addr, verb := rest[:i], rest[i+1:]
	if verb == "weight" {
		s.weight(ctx, poolName, addr)
		return
	}
	var a balancer.AdminState
	switch verb {
	case "drain":
		a = balancer.AdminDrain
	case "enable":
		a = balancer.AdminUp
	case "disable":
		a = balancer.AdminDown
	default:
		writeError(ctx, fasthttp.StatusNotFound, fmt.Sprintf("unknown command %q (want drain, enable, disable or weight)", verb))
		return
	}
	var wait time.Duration
	if w := ctx.QueryArgs().Peek("wait"); len(w) > 0 {
		if a != balancer.AdminDrain {
			writeError(ctx, fasthttp.StatusBadRequest, "wait is for drain only")
			return
		}
		d, err := time.ParseDuration(string(w))
		if err != nil || d < 0 || d > MaxWait {
			writeError(ctx, fasthttp.StatusBadRequest, fmt.Sprintf("bad wait %q: want a duration from 0s to %s, e.g. \"30s\"", w, MaxWait))
			return
		}
		wait = d
	}
	pool, srv := s.findOr404(ctx, poolName, addr)
	if srv == nil {
		return
	}
	changed := pool.SetServerAdminState(srv, a)
	s.log.Info("admin: server "+verb, zap.String("pool", pool.Name), zap.String("server", srv.Addr),
		zap.String("state", srv.State().String()), zap.Bool("changed", changed), remote(ctx))
	res := CommandResult{Pool: pool.Name, Address: srv.Addr, Changed: changed}
	if ctx.QueryArgs().Has("wait") {
		drained, n, waited := s.waitDrained(srv, wait)
		res.Drained, res.InFlight, res.Waited = &drained, &n, waited.Round(time.Millisecond).String()
	}
	res.State, res.Admin, res.Weight = srv.State().String(), srv.AdminState().String(), srv.CurrentWeight()
	writeJSON(ctx, fasthttp.StatusOK, res)
}

// MaxWeight is the largest weight the weight command sets, as in the
// configuration.
const MaxWeight = 1000

// weight runs POST /api/servers/{pool}/{address}/weight?value=N: the
// server's weight until the next change, across reloads while it stays
// in the configuration (HAProxy `set server <pool>/<server> weight`).
// value=0 returns it to the configured weight.
func (s *Server) weight(ctx *fasthttp.RequestCtx, poolName, addr string) {
	v := string(ctx.QueryArgs().Peek("value"))
	w, err := strconv.Atoi(v)
	if err != nil || w < 0 || w > MaxWeight {
		writeError(ctx, fasthttp.StatusBadRequest, fmt.Sprintf("bad weight %q: want value=N from 1 to %d, or 0 for the configured weight", v, MaxWeight))
		return
	}
	pool, srv := s.findOr404(ctx, poolName, addr)
	if srv == nil {
		return
	}
	before := srv.CurrentWeight()
	pool.SetServerWeight(srv, w)
	s.log.Info("admin: server weight", zap.String("pool", pool.Name), zap.String("server", srv.Addr),
		zap.Int("weight", srv.CurrentWeight()), zap.Int("was", before), remote(ctx))
	writeJSON(ctx, fasthttp.StatusOK, CommandResult{
		Pool: pool.Name, Address: srv.Addr, State: srv.State().String(), Admin: srv.AdminState().String(),
		Weight: srv.CurrentWeight(), Changed: srv.CurrentWeight() != before,
	})
}

// findOr404 is find answering 404 when the pool or server is unknown
// (then the server is nil).
func (s *Server) findOr404(ctx *fasthttp.RequestCtx, poolName, addr string) (*balancer.Pool, *balancer.Server) {
	pool, srv := s.find(poolName, addr)
	switch {
	case pool == nil:
		writeError(ctx, fasthttp.StatusNotFound, fmt.Sprintf("no pool %q", poolName))
	case srv == nil:
		writeError(ctx, fasthttp.StatusNotFound, fmt.Sprintf("no server %q in pool %q", addr, poolName))
	}
	return pool, srv
}

// find returns the pool named name in the served snapshot and its server
// at addr (nil when there is none).
func (s *Server) find(name, addr string) (*balancer.Pool, *balancer.Server) {
	for _, p := range s.src.Pools() {
		if p.Name == name {
			return p, p.Server(addr)
		}
	}
	return nil, nil
}

// waitDrained waits until srv has no request in flight or wait passes (or
// the admin server closes), and returns whether it drained, the count it
// saw last and how long it waited.
func (s *Server) waitDrained(srv *balancer.Server, wait time.Duration) (bool, int64, time.Duration) {
	start := time.Now()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		if n := srv.InFlight(); n <= 0 {
			return true, 0, time.Since(start)
		}
		select {
		case <-tick.C:
		case <-timer.C:
			n := srv.InFlight()
			return n <= 0, max(n, 0), time.Since(start)
		case <-s.done:
			n := srv.InFlight()
			return n <= 0, max(n, 0), time.Since(start)
		}
	}
}

func remote(ctx *fasthttp.RequestCtx) zap.Field {
	return zap.String("remote", ctx.RemoteAddr().String())
}

func writeJSON(ctx *fasthttp.RequestCtx, code int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		code, b = fasthttp.StatusInternalServerError, []byte(`{"error":"cannot encode the answer"}`)
	}
	ctx.SetStatusCode(code)
	ctx.SetContentType("application/json")
	ctx.SetBody(append(b, '\n'))
}

func writeError(ctx *fasthttp.RequestCtx, code int, msg string) {
	writeJSON(ctx, code, struct {
		Error string `json:"error"`
	}{msg})
}
