// Package service is the backend's HTTP service: identity and health,
// login sessions, items with read-your-writes, CPU work on a bounded
// pool and a streamed bulk import. Its state lives in a session.Store and
// a data.Store (Redis and PostgreSQL in a farm), so any instance can serve
// any request, and it drains without dropping requests on a rolling
// restart.
package service

import (
	"encoding/json"
	"log"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"lb/backend/data"
	"lb/backend/session"
	"lb/backend/work"
)

// Config is what a Service needs. Sessions, Data and Work are required.
type Config struct {
	ID       string // instance ID shown by /whoami
	Sessions session.Store
	Data     data.Store
	Work     *work.Pool
	Log      *log.Logger // nil: the standard logger

	StoreTimeout    time.Duration // one store call (default 5s)
	MaxBodyBytes    int           // JSON bodies but /import (default 1 MiB)
	ImportBatch     int           // items per InsertBatch (default 1000)
	MaxElementBytes int           // one element of an /import array (default 1 MiB)
	MaxImportBytes  int64         // a whole /import body, 0 for no limit
}

// Service is the request handler. Safe for concurrent use.
type Service struct {
	cfg        Config
	log        *log.Logger
	pid        int
	gomaxprocs int
	draining   atomic.Bool // set once by StartDrain
	docs       jsonDocs
}

// New returns a Service serving with cfg.
func New(cfg Config) *Service {
	if cfg.StoreTimeout <= 0 {
		cfg.StoreTimeout = 5 * time.Second
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	if cfg.ImportBatch <= 0 {
		cfg.ImportBatch = 1000
	}
	if cfg.MaxElementBytes <= 0 {
		cfg.MaxElementBytes = 1 << 20
	}
	l := cfg.Log
	if l == nil {
		l = log.Default()
	}
	return &Service{cfg: cfg, log: l, pid: os.Getpid(), gomaxprocs: runtime.GOMAXPROCS(0)}
}

// StartDrain turns readiness to 503 "draining" and asks every client to
// close its connection after its next response (Connection: close), so
// keep-alive connections end cleanly before the listener closes.
func (s *Service) StartDrain() { s.draining.Store(true) }

// Draining reports whether StartDrain was called.
func (s *Service) Draining() bool { return s.draining.Load() }

// Handle is the fasthttp request handler.
func (s *Service) Handle(ctx *fasthttp.RequestCtx) {
	if s.draining.Load() {
		ctx.SetConnectionClose()
	}
	path := string(ctx.Path()) // one small copy: this is the backend, not lb's hot path
	switch {
	case path == "/healthz":
		s.healthz(ctx)
	case path == "/slow":
		s.slow(ctx)
	case path == "/json":
		s.json(ctx)
	case path == "/login":
		s.login(ctx)
	case path == "/me":
		s.me(ctx)
	case path == "/logout":
		s.logout(ctx)
	case path == "/items":
		s.items(ctx)
	case len(path) > len("/items/") && path[:len("/items/")] == "/items/":
		s.item(ctx, path[len("/items/"):])
	case path == "/work":
		s.work(ctx)
	case path == "/import":
		s.importItems(ctx)
	default: // /whoami and any other path
		s.whoami(ctx)
	}
}

// allow answers 405 with Allow unless the request's method is one of
// methods.
func allow(ctx *fasthttp.RequestCtx, methods ...string) bool {
	m := string(ctx.Method())
	for _, a := range methods {
		if m == a {
			return true
		}
	}
	allowed := ""
	for i, a := range methods {
		if i > 0 {
			allowed += ", "
		}
		allowed += a
	}
	ctx.Response.Header.Set("Allow", allowed)
	writeError(ctx, fasthttp.StatusMethodNotAllowed, "method not allowed")
	return false
}

// writeJSON answers status with v as JSON.
func writeJSON(ctx *fasthttp.RequestCtx, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil { // only our own types are written: a broken invariant
		panic(err)
	}
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.SetBody(append(b, '\n'))
}

// errorBody is every error response: {"error": "..."} plus details.
type errorBody struct {
	Error    string `json:"error"`
	Index    *int   `json:"index,omitempty"`    // /import: the rejected element
	Imported *int   `json:"imported,omitempty"` // /import: committed before the error
}

// writeError answers status with {"error": msg}; 503s say when to retry.
func writeError(ctx *fasthttp.RequestCtx, status int, msg string) {
	if status == fasthttp.StatusServiceUnavailable {
		ctx.Response.Header.Set("Retry-After", "1")
	}
	writeJSON(ctx, status, errorBody{Error: msg})
}

// whoamiBody is what /whoami and unknown paths answer; lb's tests and
// scripts parse instance and pid.
type whoamiBody struct {
	Instance   string `json:"instance"`
	PID        int    `json:"pid"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	Path       string `json:"path"`
}

func (s *Service) whoami(ctx *fasthttp.RequestCtx) {
	writeJSON(ctx, fasthttp.StatusOK, whoamiBody{s.cfg.ID, s.pid, s.gomaxprocs, string(ctx.Path())})
}

// slow answers after ?ms=N milliseconds (up to a minute), for draining
// and graceful-stop tests.
func (s *Service) slow(ctx *fasthttp.RequestCtx) {
	time.Sleep(time.Duration(min(ctx.QueryArgs().GetUintOrZero("ms"), 60000)) * time.Millisecond)
	ctx.SetContentType("text/plain; charset=utf-8")
	ctx.WriteString("slow\n")
}

// json answers a JSON document of about ?kb=N KiB, for compression tests
// and benchmarks.
func (s *Service) json(ctx *fasthttp.RequestCtx) {
	ctx.SetContentType("application/json")
	ctx.SetBody(s.docs.get(ctx.QueryArgs().GetUintOrZero("kb")))
}

// healthz is readiness: 200 when both stores answer, 503 while draining
// or when either does not (lb then sends nothing here).
func (s *Service) healthz(ctx *fasthttp.RequestCtx) {
	ctx.SetContentType("text/plain; charset=utf-8")
	if s.draining.Load() {
		ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
		ctx.WriteString("draining\n")
		return
	}
	c, cancel := s.storeCtx()
	defer cancel()
	if err := s.cfg.Sessions.Ping(c); err != nil {
		ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
		ctx.WriteString("session store unavailable\n")
		return
	}
	if err := s.cfg.Data.Ping(c); err != nil {
		ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
		ctx.WriteString("data store unavailable\n")
		return
	}
	ctx.WriteString("ok\n")
}

// itoa is strconv.Itoa for int64 IDs.
func itoa(n int64) string { return strconv.FormatInt(n, 10) }
