package health

import (
	"context"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"lb/balancer"
)

// t0 is the fixed time of the injected clock.
var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func fixedClock() time.Time { return t0 }

// mid is a randN that always draws the middle: no jitter.
func mid(n int64) int64 { return (n - 1) / 2 }

// addrs returns n placeholder addresses; tests that use them never probe.
func addrs(n int) []string {
	a := make([]string, n)
	for i := range a {
		a[i] = "192.0.2.1:" + strconv.Itoa(8000+i)
	}
	return a
}

// The first checks of the servers are spread over the first interval, each
// at the point the injected rand draws, so that they never run in step.
func TestFirstChecksSpread(t *testing.T) {
	const n = 10
	pool, _ := newPool(t, balancer.RoundRobin, addrs(n)...)
	cfg := Config{Interval: time.Second, Timeout: time.Second}

	t.Run("exact", func(t *testing.T) {
		draws := []int64{700, 100, 900, 0, 300, 500, 200, 800, 400, 600}
		for i := range draws {
			draws[i] *= int64(time.Millisecond)
		}
		c := newChecker(pool, cfg, nil, withClock(fixedClock), withRand(seqRand(draws...)))
		s := c.newSched(context.Background())
		for i, st := range s.st {
			if want := t0.Add(time.Duration(draws[i])); !st.next.Equal(want) {
				t.Errorf("server %d first due at %v, want %v", i, st.next.Sub(t0), want.Sub(t0))
			}
		}
		if first := s.queue.order[0]; first != 3 {
			t.Errorf("first due = server %d, want 3 (drawn 0ms)", first)
		}
	})

	t.Run("seeded", func(t *testing.T) {
		r := rand.New(rand.NewPCG(1, 2))
		c := newChecker(pool, cfg, nil, withClock(fixedClock), withRand(r.Int64N))
		s := c.newSched(context.Background())
		lo, hi := s.st[0].next, s.st[0].next
		seen := map[time.Time]bool{}
		for i, st := range s.st {
			if st.next.Before(t0) || !st.next.Before(t0.Add(cfg.Interval)) {
				t.Errorf("server %d first due at %v, want within [0, %v)", i, st.next.Sub(t0), cfg.Interval)
			}
			seen[st.next] = true
			if st.next.Before(lo) {
				lo = st.next
			}
			if st.next.After(hi) {
				hi = st.next
			}
		}
		if len(seen) != n || hi.Sub(lo) < cfg.Interval/2 {
			t.Errorf("%d distinct first checks spread over %v, want %d over at least %v", len(seen), hi.Sub(lo), n, cfg.Interval/2)
		}
	})
}

// Every next check comes an interval ± up to 10% later.
func TestJitter(t *testing.T) {
	pool, _ := newPool(t, balancer.RoundRobin, addrs(1)...)
	cfg := Config{Interval: time.Second, Timeout: time.Second}
	draw := func(randN func(int64) int64) time.Duration {
		c := newChecker(pool, cfg, nil, withClock(fixedClock), withRand(randN))
		return c.newSched(context.Background()).jitter(time.Second)
	}
	if got := draw(func(int64) int64 { return 0 }); got != 900*time.Millisecond {
		t.Errorf("jitter(1s) drawing 0 = %v, want 900ms", got)
	}
	if got := draw(func(n int64) int64 { return n - 1 }); got != 1100*time.Millisecond {
		t.Errorf("jitter(1s) drawing the top = %v, want 1.1s", got)
	}
	if got := draw(mid); got != time.Second {
		t.Errorf("jitter(1s) drawing the middle = %v, want 1s", got)
	}
	r := rand.New(rand.NewPCG(3, 4))
	c := newChecker(pool, cfg, nil, withClock(fixedClock), withRand(r.Int64N))
	s := c.newSched(context.Background())
	var below, above bool
	for range 1000 {
		d := s.jitter(time.Second)
		if d < 900*time.Millisecond || d > 1100*time.Millisecond {
			t.Fatalf("jitter(1s) = %v, want within 1s ± 10%%", d)
		}
		below, above = below || d < time.Second, above || d > time.Second
	}
	if !below || !above {
		t.Errorf("1000 jittered intervals below 1s: %v, above: %v; want both", below, above)
	}
}

// feed hands the scheduler one probe result of server i, as if a probe
// had run.
func feed(s *sched, i int, ok bool) {
	s.st[i].running = true
	s.inflight++
	reason := "status 200"
	if !ok {
		reason = "status 503"
	}
	s.finish(probeResult{i: i, ok: ok, reason: reason, at: t0})
}

// Rise and Fall count consecutive results against the server's current
// state; any result that agrees resets the count.
func TestThresholds(t *testing.T) {
	for _, tc := range []struct {
		name       string
		rise, fall int
		startDown  bool
		results    string // s: success, f: failure
		want       string // U or D after each result
	}{
		{"fall after 3 failures", 2, 3, false, "ffff", "UUDD"},
		{"a success resets the failure count", 2, 3, false, "ffsfffs", "UUUUUDD"},
		{"rise after 2 successes", 2, 3, false, "fffss", "UUDDU"},
		{"a failure resets the success count", 2, 3, false, "fffsfss", "UUDDDDU"},
		{"fall 1, rise 1", 1, 1, false, "fsfs", "DUDU"},
		{"starts down: needs rise successes", 3, 3, true, "ssss", "DDUU"},
		{"starts down: a failure resets", 2, 3, true, "sfss", "DDDU"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pool, servers := newPool(t, balancer.RoundRobin, addrs(1)...)
			if tc.startDown {
				pool.SetServerHealth(servers[0], false)
			}
			cfg := Config{Interval: time.Second, Timeout: time.Second, Rise: tc.rise, Fall: tc.fall}
			c := newChecker(pool, cfg, nil, withClock(fixedClock), withRand(mid))
			s := c.newSched(context.Background())
			changes := uint64(0)
			prev := !tc.startDown
			for k, r := range tc.results {
				feed(s, 0, r == 's')
				got := servers[0].Healthy()
				if want := tc.want[k] == 'U'; got != want {
					t.Fatalf("after %q: Healthy() = %v, want %v", tc.results[:k+1], got, want)
				}
				if got != prev {
					changes++
					prev = got
				}
			}
			res, ok := c.Status(servers[0])
			if !ok || res.Transitions != changes || res.Healthy != prev {
				t.Errorf("Status() = %+v, %v; want Transitions %d, Healthy %v", res, ok, changes, prev)
			}
		})
	}
}

// Two checkers of one server (old and new, during a reload) both reach
// Fall: the server changes once, and only the checker whose change it was
// counts and logs it.
func TestTransitionCountedOnceAcrossCheckers(t *testing.T) {
	pool, servers := newPool(t, balancer.RoundRobin, addrs(1)...)
	core, logs := observer.New(zap.InfoLevel)
	cfg := Config{Interval: time.Second, Timeout: time.Second, Fall: 2}
	var scheds [2]*sched
	var checkers [2]*Checker
	for k := range scheds {
		checkers[k] = newChecker(pool, cfg, zap.New(core), withClock(fixedClock), withRand(mid))
		scheds[k] = checkers[k].newSched(context.Background())
	}
	for range 2 {
		feed(scheds[0], 0, false)
		feed(scheds[1], 0, false)
	}
	if servers[0].Healthy() {
		t.Fatal("Healthy() = true after Fall failures, want false")
	}
	var total uint64
	for _, c := range checkers {
		r, _ := c.Status(servers[0])
		total += r.Transitions
	}
	if total != 1 {
		t.Errorf("transitions counted %d times, want 1", total)
	}
	if n := logs.FilterMessage("health: server down").Len(); n != 1 || logs.Len() != 1 {
		t.Errorf("%d down lines of %d lines, want 1 of 1", n, logs.Len())
	}
}

// The interval follows the server's state: fastinter while results
// disagree with it, downinter while it is down, inter otherwise.
func TestIntervals(t *testing.T) {
	pool, servers := newPool(t, balancer.RoundRobin, addrs(1)...)
	cfg := Config{
		Interval: time.Second, FastInterval: 100 * time.Millisecond, DownInterval: 5 * time.Second,
		Timeout: time.Second, Rise: 2, Fall: 2,
	}
	c := newChecker(pool, cfg, nil, withClock(fixedClock), withRand(mid))
	s := c.newSched(context.Background())
	for _, step := range []struct {
		ok   bool
		want time.Duration
	}{
		{true, time.Second},             // up
		{false, 100 * time.Millisecond}, // going down
		{false, 5 * time.Second},        // down
		{true, 100 * time.Millisecond},  // coming up
		{false, 5 * time.Second},        // down again
		{true, 100 * time.Millisecond},  // coming up
		{true, time.Second},             // up
	} {
		s.st[0].launched = t0
		feed(s, 0, step.ok)
		if got := s.st[0].next.Sub(t0); got != step.want {
			t.Fatalf("after ok=%v (healthy %v): next check in %v, want %v", step.ok, servers[0].Healthy(), got, step.want)
		}
	}
}

// Never more than Concurrency probes run at once: due servers wait for a
// slot, soonest due first.
func TestLaunchBound(t *testing.T) {
	hung := []string{hungServer(t), hungServer(t), hungServer(t), hungServer(t)}
	s := hungSched(t, Config{Interval: time.Second, Timeout: time.Minute, Concurrency: 2}, hung)
	if wake := s.launchDue(t0); s.inflight != 2 || !wake.IsZero() {
		t.Fatalf("launchDue() with 4 due and 2 slots: %d in flight, wake %v; want 2, zero (wait for a result)", s.inflight, wake)
	}
	if wake := s.launchDue(t0.Add(10 * time.Second)); s.inflight != 2 || !wake.IsZero() {
		t.Fatalf("launchDue() later: %d in flight, wake %v; want still 2, zero", s.inflight, wake)
	}
	for i, st := range s.st {
		if want := i < 2; st.running != want {
			t.Errorf("server %d running = %v, want %v", i, st.running, want)
		}
	}
}

// A server whose probe is still running at its next turn skips that turn:
// never two probes of one server at once.
func TestSkipWhileRunning(t *testing.T) {
	hung := []string{hungServer(t), hungServer(t), hungServer(t)}
	s := hungSched(t, Config{Interval: time.Second, Timeout: time.Minute}, hung)
	s.launchDue(t0)
	for _, now := range []time.Time{t0.Add(5 * time.Second), t0.Add(time.Minute)} {
		wake := s.launchDue(now)
		if s.inflight != 3 || !wake.After(now) {
			t.Fatalf("launchDue() at +%v: %d in flight, wake %v; want 3, after now", now.Sub(t0), s.inflight, wake.Sub(t0))
		}
		for i, st := range s.st {
			if !st.running || !st.next.After(now) {
				t.Errorf("server %d: running %v, next +%v; want running and its turn skipped", i, st.running, st.next.Sub(t0))
			}
		}
	}
}

// hungSched returns a scheduler over servers at addrs, all due at t0 on a
// fixed clock; its probes end with the test.
func hungSched(t *testing.T, cfg Config, addrs []string) *sched {
	t.Helper()
	pool, _ := newPool(t, balancer.RoundRobin, addrs...)
	c := newChecker(pool, cfg, nil, withClock(fixedClock), withRand(func(int64) int64 { return 0 }))
	ctx, cancel := context.WithCancel(context.Background())
	s := c.newSched(ctx)
	t.Cleanup(func() {
		cancel()
		waited := make(chan struct{})
		go func() {
			c.wg.Wait()
			close(waited)
		}()
		for {
			select {
			case <-s.done: // nobody else reads results here
			case <-waited:
				return
			}
		}
	})
	return s
}
