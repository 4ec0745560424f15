package health

import (
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"lb/balancer"
)

// flaky is an origin whose status the test switches; it counts requests.
type flaky struct {
	status atomic.Int32
	hits   atomic.Int64
}

func newFlaky(t *testing.T) (*flaky, string) {
	f := &flaky{}
	f.status.Store(200)
	addr := origin(t, func(ctx *fasthttp.RequestCtx) {
		f.hits.Add(1)
		ctx.SetStatusCode(int(f.status.Load()))
	})
	return f, addr
}

// picks returns which servers 30 picks from pool chose.
func picks(pool *balancer.Pool) map[*balancer.Server]int {
	got := map[*balancer.Server]int{}
	var ctx fasthttp.RequestCtx
	for range 30 {
		got[pool.Pick(&ctx)]++
	}
	return got
}

// A server that starts failing goes down after Fall failures and Pick skips
// it; once it passes again it comes back after Rise successes. Each change
// is logged once, at Warn or Info, and counted once; probe results are
// logged at Debug only.
func TestFallAndRise(t *testing.T) {
	f, flakyAddr := newFlaky(t)
	_, steadyAddr := newFlaky(t)
	pool, servers := newPool(t, balancer.RoundRobin, flakyAddr, steadyAddr)
	core, logs := observer.New(zap.DebugLevel)
	cfg := Config{Interval: 20 * time.Millisecond, Timeout: 2 * time.Second, Rise: 2, Fall: 3}
	c := New(pool, cfg, zap.New(core))
	c.Start()
	defer c.Stop()

	const cycles = 2
	for range cycles {
		f.status.Store(503)
		waitFor(t, 5*time.Second, "flaky server down", func() bool { return !servers[0].Healthy() })
		if got := picks(pool); got[servers[0]] != 0 || got[servers[1]] != 30 {
			t.Errorf("while down: Pick() chose flaky %d and steady %d times of 30, want 0 and 30", got[servers[0]], got[servers[1]])
		}
		f.status.Store(200)
		waitFor(t, 5*time.Second, "flaky server up", func() bool { return servers[0].Healthy() })
		if got := picks(pool); got[servers[0]] == 0 {
			t.Errorf("after coming back: Pick() never chose the flaky server in 30 picks")
		}
	}
	c.Stop()

	r, ok := c.Status(servers[0])
	if !ok || !r.OK || !r.Healthy || r.Reason != "status 200" || r.Transitions != 2*cycles {
		t.Errorf("Status(flaky) = %+v, %v; want OK, healthy, \"status 200\", %d transitions", r, ok, 2*cycles)
	}
	if r, _ := c.Status(servers[1]); r.Transitions != 0 || !r.Healthy {
		t.Errorf("Status(steady) = %+v, want healthy, no transitions", r)
	}
	down := logs.FilterMessage("health: server down")
	up := logs.FilterMessage("health: server up")
	if down.Len() != cycles || up.Len() != cycles {
		t.Fatalf("logged %d down and %d up lines, want %d each", down.Len(), up.Len(), cycles)
	}
	for _, e := range down.All() {
		fields := e.ContextMap()
		if e.Level != zapcore.WarnLevel || fields["pool"] != "web" || fields["server"] != flakyAddr || fields["reason"] != "status 503" {
			t.Errorf("down line %v %v, want Warn with pool web, server %s, reason status 503", e.Level, fields, flakyAddr)
		}
	}
	for _, e := range up.All() {
		if e.Level != zapcore.InfoLevel {
			t.Errorf("up line at %v, want Info", e.Level)
		}
	}
	if n := logs.Len() - down.Len() - up.Len(); logs.FilterLevelExact(zapcore.DebugLevel).Len() != n {
		t.Errorf("%d other lines, not all at Debug", n)
	}
}

// A checker made for a server that is already down (after a reload) starts
// from that state and needs Rise successes to bring it up.
func TestStartsDown(t *testing.T) {
	f, addr := newFlaky(t)
	pool, servers := newPool(t, balancer.RoundRobin, addr)
	pool.SetServerHealth(servers[0], false)
	const rise = 3
	c := New(pool, Config{Interval: 20 * time.Millisecond, Timeout: 2 * time.Second, Rise: rise}, nil)
	c.Start()
	defer c.Stop()
	waitFor(t, 5*time.Second, "server up", servers[0].Healthy)
	if hits := f.hits.Load(); hits < rise {
		t.Errorf("up after %d probes, want at least Rise = %d", hits, rise)
	}
	c.Stop()
	if r, _ := c.Status(servers[0]); r.Transitions != 1 {
		t.Errorf("Status().Transitions = %d, want 1", r.Transitions)
	}
}

// A server that accepts and never answers fails by Timeout and goes down;
// it holds at most one probe slot, so the other servers keep being checked
// even with Concurrency 1.
func TestHungServerGoesDown(t *testing.T) {
	hung := hungServer(t)
	f, addr := newFlaky(t)
	pool, servers := newPool(t, balancer.RoundRobin, hung, addr)
	cfg := Config{Interval: 20 * time.Millisecond, Timeout: 100 * time.Millisecond, Fall: 2, Concurrency: 1}
	c := New(pool, cfg, nil)
	c.Start()
	defer c.Stop()
	waitFor(t, 5*time.Second, "hung server down", func() bool { return !servers[0].Healthy() })
	r, ok := c.Status(servers[0])
	if !ok || r.OK || r.Reason != "timeout" || r.Duration < cfg.Timeout {
		t.Errorf("Status(hung) = %+v, %v; want a failure by timeout lasting at least %v", r, ok, cfg.Timeout)
	}
	before := f.hits.Load()
	waitFor(t, 5*time.Second, "more checks of the good server", func() bool { return f.hits.Load() >= before+3 })
	if !servers[1].Healthy() {
		t.Error("good server down, want up")
	}
}

// Probes stuck on a server that never answers do not starve the other
// servers' checks, and Stop cuts them short: it returns at once, not after
// the Timeout, with every goroutine of the checker ended.
func TestStopCutsProbesShort(t *testing.T) {
	hung := hungServer(t)
	a, addrA := newFlaky(t)
	b, addrB := newFlaky(t)
	pool, _ := newPool(t, balancer.RoundRobin, hung, addrA, addrB)
	cfg := Config{Interval: 20 * time.Millisecond, Timeout: time.Minute, Concurrency: 2}
	c := New(pool, cfg, nil)
	c.Start()
	waitFor(t, 5*time.Second, "checks of the answering servers", func() bool {
		return a.hits.Load() >= 5 && b.hits.Load() >= 5
	})
	start := time.Now()
	c.Stop()
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Stop() took %v with a probe stuck for a minute, want it prompt", took)
	}
	if n := checkerGoroutines(); n != 0 {
		t.Errorf("%d checker goroutines alive after Stop, want 0", n)
	}
}

// Stop waits for every goroutine the checker started: the goroutine count
// returns to its baseline.
func TestStopWaits(t *testing.T) {
	hung := []string{hungServer(t), hungServer(t), hungServer(t)}
	base := runtime.NumGoroutine()
	pool, _ := newPool(t, balancer.RoundRobin, hung...)
	c := New(pool, Config{Interval: 10 * time.Millisecond, Timeout: time.Minute}, nil)
	c.Start()
	waitFor(t, 5*time.Second, "probes running", func() bool { return checkerGoroutines() >= 4 })
	c.Stop()
	if n := checkerGoroutines(); n != 0 {
		t.Errorf("%d checker goroutines alive after Stop, want 0", n)
	}
	waitFor(t, 5*time.Second, "goroutine count back to baseline", func() bool { return runtime.NumGoroutine() <= base })
}

// Start and Stop may come in any order and any number of times.
func TestLifecycle(t *testing.T) {
	_, addr := newFlaky(t)
	pool, servers := newPool(t, balancer.RoundRobin, addr)
	cfg := Config{Interval: 10 * time.Millisecond, Timeout: time.Second}

	c := New(pool, cfg, nil)
	c.Stop() // before Start
	c.Start()
	c.Stop()
	if n := checkerGoroutines(); n != 0 {
		t.Errorf("Start after Stop left %d goroutines, want none started", n)
	}
	if _, ok := c.Status(servers[0]); ok {
		t.Error("Status() of a never started checker: ok, want no result")
	}

	c = New(pool, cfg, nil)
	c.Start()
	c.Start()
	waitFor(t, 5*time.Second, "a result", func() bool { _, ok := c.Status(servers[0]); return ok })
	c.Stop()
	c.Stop()
	if n := checkerGoroutines(); n != 0 {
		t.Errorf("%d checker goroutines alive after Stop, want 0", n)
	}
	if _, ok := c.Status(balancer.NewServer(addr, 1, false, 0)); ok {
		t.Error("Status() of a server outside the pool: ok, want false")
	}
}

// While a server ramps up after coming back, the checker refreshes the
// pool so that precomputed schedules follow; the ramp then ends even with
// no request picking.
func TestSlowStartRefresh(t *testing.T) {
	_, addr := newFlaky(t)
	pool, servers := newPool(t, balancer.WeightedRoundRobin, addr)
	// A ramp long enough to be seen while it lasts: the polls below must
	// not miss it on a loaded machine.
	pool.SetSlowStart(2 * time.Second)
	pool.SetServerHealth(servers[0], false)
	c := New(pool, Config{Interval: 20 * time.Millisecond, Timeout: 2 * time.Second, Rise: 1}, nil)
	c.Start()
	defer c.Stop()
	waitFor(t, 5*time.Second, "server up", servers[0].Healthy)
	waitFor(t, 5*time.Second, "slow start begun", servers[0].InSlowStart)
	waitFor(t, 5*time.Second, "slow start over", func() bool { return !servers[0].InSlowStart() })
}
