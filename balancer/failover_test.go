package balancer

import (
	"errors"
	"sync"
	"testing"
	"time"
)

// fakeClock replaces nowNanos for a test.
func fakeClock(t *testing.T) *int64 {
	t.Helper()
	now := int64(1_000_000_000_000)
	old := nowNanos
	nowNanos = func() int64 { return now }
	t.Cleanup(func() { nowNanos = old })
	return &now
}

func TestPassiveMaxFailsWithinFailTimeout(t *testing.T) {
	now := fakeClock(t)
	servers := newServers(t, "a", "b")
	p, _ := NewPool("p", RoundRobin, servers, Options{Rand: zeroRand})
	cfg := Passive{MaxFails: 3, FailTimeout: 10 * time.Second, MaxEjectedPercent: 100}
	cfg.Count[ConnectFailed] = true
	p.SetPassive(cfg)
	a := servers[0]

	// Two failures, then the window passes: the count restarts (Nginx).
	p.Report(a, ConnectFailed, 0)
	p.Report(a, ConnectFailed, 0)
	*now += int64(11 * time.Second)
	if p.Report(a, ConnectFailed, 0) || a.Ejected() {
		t.Fatal("ejected after failures spread over more than fail_timeout")
	}
	p.Report(a, ConnectFailed, 0)
	if !p.Report(a, ConnectFailed, 0) || !a.Ejected() || a.Available() {
		t.Fatal("not ejected after max_fails failures within fail_timeout")
	}
	// Not counted outcomes never eject.
	p.Report(servers[1], TimedOut, 0)
	p.Report(servers[1], TimedOut, 0)
	p.Report(servers[1], TimedOut, 0)
	if servers[1].Ejected() {
		t.Fatal("ejected on an outcome the pool does not count")
	}
	for range 4 {
		if s := p.Pick(nil); s != servers[1] {
			t.Fatalf("Pick() = %s, want b while a is out", name(s))
		}
	}
	*now += int64(10*time.Second) + 1
	if a.Ejected() || !a.Available() {
		t.Fatal("still out after fail_timeout")
	}
}

func TestConsecutive5xxEjectionGrowsAndIsCapped(t *testing.T) {
	now := fakeClock(t)
	servers := newServers(t, "a", "b", "c", "d")
	p, _ := NewPool("p", RoundRobin, servers, Options{Rand: zeroRand})
	p.SetPassive(Passive{Consecutive5xx: 2, BaseEjection: time.Second, MaxEjection: 3 * time.Second, MaxEjectedPercent: 50})
	a := servers[0]
	eject := func(s *Server) bool {
		return p.Report(s, OK, 503) || p.Report(s, OK, 502)
	}
	// A success in between resets the run.
	p.Report(a, OK, 500)
	p.Report(a, OK, 200)
	if p.Report(a, OK, 500) {
		t.Fatal("ejected without two consecutive 5xx")
	}
	for i, want := range []time.Duration{time.Second, 2 * time.Second, 3 * time.Second, 3 * time.Second} {
		if !eject(a) {
			t.Fatalf("ejection %d did not happen", i+1)
		}
		if got := time.Duration(a.passive.until.Load() - *now); got != want {
			t.Fatalf("ejection %d lasts %v, want %v (growing, capped)", i+1, got, want)
		}
		*now += int64(want) + 1
	}
	// At most half the pool may be out: a and b yes, c no.
	eject(a)
	eject(servers[1])
	if eject(servers[2]) || servers[2].Ejected() {
		t.Fatal("a third of four servers ejected past max_ejection_percent 50")
	}
}

func TestSlowStartRampsWeight(t *testing.T) {
	now := fakeClock(t)
	servers := newServers(t, "a", "b")
	p, _ := NewPool("p", LeastConn, servers, Options{Rand: zeroRand})
	p.SetSlowStart(10 * time.Second)
	a := servers[0]
	p.SetServerHealth(a, false)
	if a.InSlowStart() {
		t.Fatal("in slow start while down")
	}
	p.SetServerHealth(a, true)
	if !a.InSlowStart() {
		t.Fatal("not in slow start after coming back")
	}
	full := servers[1].effectiveWeight()
	var last int64
	for i := range 10 {
		w := a.effectiveWeight()
		if w <= last || w >= full {
			t.Fatalf("at %ds weight %d (previous %d, full %d): want a strict ramp below full", i, w, last, full)
		}
		last = w
		*now += int64(time.Second)
	}
	if w := a.effectiveWeight(); w != full || a.InSlowStart() {
		t.Fatalf("after slow start weight %d in slow start %v, want %d and over", w, a.InSlowStart(), full)
	}
	// A server present at start-up does not ramp.
	if servers[1].InSlowStart() {
		t.Fatal("server never down is in slow start")
	}
}

func TestAcquireSkipsTriedServers(t *testing.T) {
	for _, policy := range allPolicies {
		t.Run(string(policy), func(t *testing.T) {
			servers := newServers(t, "a", "b", "c")
			p, _ := NewPool("p", policy, servers, Options{Rand: zeroRand})
			var tried Tried
			seen := map[*Server]bool{}
			for range 3 {
				s, err := p.Acquire(rawCtx("10.0.0.1", "/", "X-User", "u"), &tried)
				if err != nil {
					t.Fatalf("Acquire: %v", err)
				}
				if seen[s] {
					t.Fatalf("Acquire() = %s again, want a server not tried", name(s))
				}
				seen[s] = true
				tried.Add(s)
				s.Release()
			}
			if _, err := p.Acquire(nil, &tried); !errors.Is(err, ErrNoServer) {
				t.Fatalf("Acquire with every server tried: %v, want ErrNoServer", err)
			}
		})
	}
}

func TestPanicModeUsesUnhealthyServers(t *testing.T) {
	servers := newServers(t, "a", "b")
	p, _ := NewPool("p", RoundRobin, servers, Options{Rand: zeroRand})
	for _, s := range servers {
		p.SetServerHealth(s, false)
	}
	if _, err := p.Acquire(nil, nil); !errors.Is(err, ErrNoServer) {
		t.Fatalf("Acquire with all down: %v, want ErrNoServer", err)
	}
	p.SetPanicMode(true)
	s, err := p.Acquire(nil, nil)
	if err != nil {
		t.Fatalf("panic-mode Acquire: %v", err)
	}
	s.Release()
	// The operator's down stays down even in panic mode.
	for _, s := range servers {
		p.SetServerState(s, StateDown)
	}
	if _, err := p.Acquire(nil, nil); !errors.Is(err, ErrNoServer) {
		t.Fatalf("panic-mode Acquire with servers set down: %v, want ErrNoServer", err)
	}
}

func TestQueueWakesWaitersAndCountsReturnToZero(t *testing.T) {
	a := NewServer("a", 1, false, 2)
	p, _ := NewPool("p", LeastConn, []*Server{a}, Options{Rand: zeroRand})
	p.SetQueue(3, 5*time.Second)
	held := []*Server{}
	for range 2 {
		s, err := p.Acquire(nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, s)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := p.Acquire(nil, nil)
			if err == nil {
				time.Sleep(10 * time.Millisecond)
				s.Release()
			}
			errs <- err
		}()
	}
	// Three wait, the fourth is refused at once.
	if err := <-errs; !errors.Is(err, ErrQueueFull) {
		t.Fatalf("fourth waiter: %v, want ErrQueueFull", err)
	}
	for p.Queued() != 3 {
		time.Sleep(time.Millisecond)
	}
	for _, s := range held {
		s.Release()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("a queued request: %v, want a slot", err)
		}
	}
	if a.InFlight() != 0 || p.Queued() != 0 {
		t.Fatalf("in flight %d queued %d after the burst, want 0 and 0", a.InFlight(), p.Queued())
	}
}

func TestStableIDIsOpaqueAndStable(t *testing.T) {
	id := StableID("web", "10.0.0.1:8080")
	if id != StableID("web", "10.0.0.1:8080") || id == StableID("api", "10.0.0.1:8080") || id == StableID("web", "10.0.0.2:8080") {
		t.Fatal("StableID is not a stable function of pool and address")
	}
	if len(id) != 16 {
		t.Fatalf("StableID = %q, want 16 hex digits", id)
	}
	// Pinned: lb instances and restarts must agree on it.
	if id != "d31ca842b7b39540" {
		t.Fatalf("StableID(web, 10.0.0.1:8080) = %q, want the pinned d31ca842b7b39540", id)
	}
}

// TestPassiveChecksKeepTheLastServer: passive checks never take out the
// last server that could take a request (Nginx: a group's single server
// is never unavailable; when all have failed, all are live again), so a
// bad answer or two never turn into fail_timeout of refusals. A backup
// counts as a server that could take it.
func TestPassiveChecksKeepTheLastServer(t *testing.T) {
	fakeClock(t)
	fail := func(p *Pool, s *Server) bool {
		ejected := false
		for range 3 {
			ejected = p.Report(s, ConnectFailed, 0) || ejected
		}
		return ejected
	}
	passive := func(p *Pool) {
		cfg := Passive{MaxFails: 1, FailTimeout: 10 * time.Second, Consecutive5xx: 1, BaseEjection: time.Second, MaxEjectedPercent: 100}
		cfg.Count[ConnectFailed] = true
		p.SetPassive(cfg)
	}

	single := newServers(t, "a")
	p, _ := NewPool("p", RoundRobin, single, Options{Rand: zeroRand})
	passive(p)
	if fail(p, single[0]) || p.Report(single[0], OK, 503) || single[0].Ejected() {
		t.Fatal("the only server was taken out")
	}
	if s := p.Pick(nil); s != single[0] {
		t.Fatalf("Pick() = %s, want a", name(s))
	}

	two := newServers(t, "a", "b")
	p, _ = NewPool("p", RoundRobin, two, Options{Rand: zeroRand})
	passive(p)
	if !fail(p, two[0]) || !two[0].Ejected() {
		t.Fatal("a not taken out while b could serve")
	}
	if fail(p, two[1]) || two[1].Ejected() {
		t.Fatal("b, the last server left, was taken out")
	}

	withBackup := newServers(t, "a")
	bk := NewServer("backup", 1, true, 0)
	p, _ = NewPool("p", RoundRobin, append(withBackup, bk), Options{Rand: zeroRand})
	passive(p)
	if !fail(p, withBackup[0]) {
		t.Fatal("the primary not taken out while a backup could serve")
	}
	if s := p.Pick(nil); s != bk {
		t.Fatalf("Pick() = %s, want the backup", name(s))
	}
}
