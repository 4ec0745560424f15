// Package health runs active health checks of a pool's servers (HAProxy
// check, option httpchk) and turns their results into health transitions
// of the balancer's servers.
package health

import (
	"context"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"lb/balancer"
)

// Result is the outcome of the last probe of one server.
type Result struct {
	// OK reports whether the probe passed.
	OK bool
	// At is when the probe started; Duration how long it took.
	At       time.Time
	Duration time.Duration
	// Reason says what the probe saw: "status 200", "connected",
	// "status 503", "connect: connection refused", "timeout",
	// "body mismatch", ...
	Reason string
	// Healthy is the server's health verdict after this result.
	Healthy bool
	// Transitions counts the health changes this Checker made to the
	// server.
	Transitions uint64
}

// Checker actively checks the servers of one pool and marks them healthy
// or unhealthy through Pool.SetServerHealth.
//
// One scheduler goroutine owns the per-server schedule and the consecutive
// success and failure counts; each probe runs in a goroutine of its own,
// at most Config.Concurrency at once, never two for one server. Start,
// Stop and Status are safe for concurrent use. A Checker must not be
// copied. It is not restartable: a configuration reload makes a new one
// and stops the old one; the servers carry their health across.
type Checker struct {
	// Immutable after New.
	pool    *balancer.Pool
	cfg     Config
	log     *zap.Logger
	targets []target                 // the pool's distinct servers
	index   map[*balancer.Server]int // server → index in targets

	// Test seams, set before Start. now must be safe for concurrent use
	// (probes call it); randN returns a number in [0, n) for n > 0 and is
	// called only by the scheduler goroutine.
	now   func() time.Time
	randN func(n int64) int64

	life    sync.Mutex // guards started, stopped and cancel
	started bool
	stopped bool
	cancel  context.CancelFunc
	wg      sync.WaitGroup // the scheduler and every probe

	mu     sync.Mutex // guards status
	status []status   // by index in targets
}

// status is a server's last result, if it has one.
type status struct {
	r  Result
	ok bool
}

// option sets a test seam of a Checker.
type option func(*Checker)

// withClock makes the Checker read the time from now.
func withClock(now func() time.Time) option { return func(c *Checker) { c.now = now } }

// withRand makes the Checker draw its jitter from randN.
func withRand(randN func(n int64) int64) option { return func(c *Checker) { c.randN = randN } }

// New returns a Checker of pool's servers; Start runs it. cfg must pass
// Validate (the configuration loader rejects invalid checks before they get
// here): New panics otherwise. log may be nil or zap.NewNop().
func New(pool *balancer.Pool, cfg Config, log *zap.Logger) *Checker {
	return newChecker(pool, cfg, log)
}

func newChecker(pool *balancer.Pool, cfg Config, log *zap.Logger, opts ...option) *Checker {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	cfg = cfg.withDefaults()
	cfg.Expect = slices.Clone(cfg.Expect)
	cfg.ExpectBody = slices.Clone(cfg.ExpectBody)
	if log == nil {
		log = zap.NewNop()
	}
	c := &Checker{
		pool:  pool,
		cfg:   cfg,
		log:   log,
		index: make(map[*balancer.Server]int, len(pool.Servers())),
		now:   time.Now,
		randN: rand.Int64N,
	}
	for _, s := range pool.Servers() {
		if _, dup := c.index[s]; dup {
			continue // one schedule per server, whatever the pool holds
		}
		c.index[s] = len(c.targets)
		t := target{srv: s}
		if cfg.Kind == HTTP {
			t.req = c.request(s.Addr)
		}
		c.targets = append(c.targets, t)
	}
	c.status = make([]status, len(c.targets))
	for _, o := range opts {
		o(c)
	}
	return c
}

// Start starts the checker's scheduler goroutine. Calls after the first,
// or after Stop, do nothing.
func (c *Checker) Start() {
	c.life.Lock()
	defer c.life.Unlock()
	if c.started || c.stopped {
		return
	}
	c.started = true
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.newSched(ctx).run()
	}()
}

// Stop stops the checker: probes in flight are cut short, and Stop returns
// once the scheduler and every probe goroutine have ended. It is
// idempotent and may be called before Start (the Checker then never
// starts). Server health is left as it is.
func (c *Checker) Stop() {
	c.life.Lock()
	c.stopped = true
	if c.cancel != nil {
		c.cancel()
	}
	c.life.Unlock()
	c.wg.Wait()
}

// Status returns the last result for s, one of the pool's servers. ok is
// false when s is not one of them or has not been probed yet. It is safe
// for concurrent use.
func (c *Checker) Status(s *balancer.Server) (r Result, ok bool) {
	i, found := c.index[s]
	if !found {
		return Result{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status[i].r, c.status[i].ok
}

// setStatus records r as the last result of the i-th target.
func (c *Checker) setStatus(i int, r Result) {
	c.mu.Lock()
	c.status[i] = status{r: r, ok: true}
	c.mu.Unlock()
}
