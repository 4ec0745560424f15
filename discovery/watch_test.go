package discovery

import (
	"context"
	"maps"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"lb/internal/dnstest"
)

var (
	srcA   = Source{Name: "backend.test.", Port: 8080}
	srcSRV = Source{Name: "_http._tcp.backend.test.", SRV: true}
)

func refresh(t *testing.T, w *Watcher, missing bool) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return w.Refresh(ctx, missing)
}

// TestWatcherKeepsLastGoodAnswer: every kind of failed lookup (SERVFAIL,
// NXDOMAIN, an empty answer, no answer at all) keeps the servers of the
// last good answer, and is logged once when it starts and once when it
// ends.
func TestWatcherKeepsLastGoodAnswer(t *testing.T) {
	d := dnstest.Start(t)
	d.SetAddrs("backend.test.", "127.0.0.1", "127.0.0.2")
	core, logs := observer.New(zap.DebugLevel)
	w := NewWatcher(testResolver(d), time.Hour, []Source{srcA}, nil, zap.New(core))
	if !refresh(t, w, false) {
		t.Fatal("first Refresh reported no change")
	}
	want := Sets{srcA: {ep("127.0.0.1:8080"), ep("127.0.0.2:8080")}}
	if got := w.Sets(); !maps.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("Sets = %v, want %v", got, want)
	}
	if refresh(t, w, false) {
		t.Error("Refresh with the same answer reported a change")
	}

	failures := []struct {
		name   string
		break_ func()
	}{
		{"servfail", func() { d.SetRcode("backend.test.", dns.RcodeServerFailure) }},
		{"nxdomain", func() { d.SetRcode("backend.test.", dns.RcodeNameError) }},
		{"empty", func() {
			d.SetRcode("backend.test.", dns.RcodeSuccess)
			d.SetAddrs("backend.test.")
			d.SetSRV("backend.test.", false, dnstest.SRV{Target: "x.test.", Port: 1})
		}},
		{"timeout", func() { d.SetSilent(true) }},
	}
	for _, f := range failures {
		f.break_()
		for range 2 {
			if refresh(t, w, false) {
				t.Errorf("%s: Refresh reported a change", f.name)
			}
		}
		if got := w.Sets(); !maps.EqualFunc(got, want, slices.Equal) {
			t.Errorf("%s: Sets = %v, want the last good %v", f.name, got, want)
		}
	}
	if n := logs.FilterMessage("service discovery: lookup failed; keeping the last servers found").Len(); n != 1 {
		t.Errorf("failure logged %d times at warn, want once", n)
	}

	d.SetSilent(false)
	d.SetSRV("backend.test.", false)
	d.SetAddrs("backend.test.", "127.0.0.3")
	if !refresh(t, w, false) {
		t.Error("Refresh after recovery with a new answer reported no change")
	}
	want = Sets{srcA: {ep("127.0.0.3:8080")}}
	if got := w.Sets(); !maps.EqualFunc(got, want, slices.Equal) {
		t.Errorf("Sets = %v, want %v", got, want)
	}
	if n := logs.FilterMessage("service discovery: lookups answered again").Len(); n != 1 {
		t.Errorf("recovery logged %d times, want once", n)
	}
}

// TestWatcherSeedAndMissing: a Watcher that replaces another keeps its
// answers for the sources they share, and Refresh(missing) looks up only
// the new ones.
func TestWatcherSeedAndMissing(t *testing.T) {
	d := dnstest.Start(t)
	d.SetAddrs("backend.test.", "127.0.0.1")
	d.SetAddrs("b1.backend.test.", "127.0.0.5")
	d.SetSRV("_http._tcp.backend.test.", true, dnstest.SRV{Target: "b1.backend.test.", Port: 9001, Weight: 5})
	old := Sets{srcA: {ep("127.0.0.9:8080")}, Source{Name: "gone.test.", Port: 1}: {ep("127.0.0.1:1")}}
	w := NewWatcher(testResolver(d), time.Hour, []Source{srcA, srcSRV}, old, nil)
	if !refresh(t, w, true) {
		t.Fatal("Refresh(missing) reported no change")
	}
	want := Sets{srcA: {ep("127.0.0.9:8080")}, srcSRV: {srvEP("127.0.0.5:9001", 5, 0)}}
	if got := w.Sets(); !maps.EqualFunc(got, want, slices.Equal) {
		t.Errorf("Sets = %v, want %v (the seed kept for the shared source)", got, want)
	}
}

// TestWatcherRunFollowsChanges: Run calls changed once per change and
// stops with its context.
func TestWatcherRunFollowsChanges(t *testing.T) {
	before := runtime.NumGoroutine()
	d := dnstest.Start(t)
	d.SetAddrs("backend.test.", "127.0.0.1")
	w := NewWatcher(testResolver(d), 20*time.Millisecond, []Source{srcA}, nil, nil)
	refresh(t, w, false)
	got := make(chan Sets, 10)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { w.Run(ctx, func(s Sets) { got <- s }) })
	for _, ips := range [][]string{{"127.0.0.1", "127.0.0.2"}, {"127.0.0.2"}} {
		d.SetAddrs("backend.test.", ips...)
		select {
		case s := <-got:
			if n := len(s[srcA]); n != len(ips) {
				t.Errorf("changed(%v): %d endpoints, want %d", s, n, len(ips))
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no change reported for %v", ips)
		}
	}
	select {
	case s := <-got:
		t.Errorf("changed(%v) without a change", s)
	case <-time.After(100 * time.Millisecond):
	}
	cancel()
	wg.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before+4 && time.Now().Before(deadline) { // the DNS server's own
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before+4 {
		t.Errorf("%d goroutines after Run stopped, %d before", n, before)
	}
}
