package main_test

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"lb/internal/dnstest"
)

// TestDiscoverySRVUnderLoad: a real lb finds its pool in the SRV records
// of _http._tcp.backend.test, served by a DNS server inside the test (the
// shape of a Kubernetes headless Service's named port), in front of five
// real backend processes on ports of their own. Under load from clients
// that never retry, the records go 2 → 5 → 1 and the removed backends
// then stop (SIGTERM): no request fails, all five serve after the
// scale-up, and only the one left after the scale-down.
func TestDiscoverySRVUnderLoad(t *testing.T) {
	d := dnstest.Start(t)
	var backends []*proc
	var ports []uint16
	for i := 1; i <= 5; i++ {
		b := start(t, "backend", "-addr", "127.0.0.1:0", "-id", fmt.Sprintf("backend-%d", i))
		_, port, err := net.SplitHostPort(b.waitFor(t, backendAddrRe))
		if err != nil {
			t.Fatal(err)
		}
		p, _ := strconv.Atoi(port)
		backends = append(backends, b)
		ports = append(ports, uint16(p))
		d.SetAddrs(fmt.Sprintf("b%d.backend.test.", i), "127.0.0.1")
	}
	answer := func(ks ...int) {
		var srvs []dnstest.SRV
		for _, k := range ks {
			srvs = append(srvs, dnstest.SRV{Target: fmt.Sprintf("b%d.backend.test.", k), Port: ports[k-1], Weight: 10})
		}
		d.SetSRV("_http._tcp.backend.test.", true, srvs...)
	}
	answer(1, 2)

	cfg := filepath.Join(t.TempDir(), "lb.yaml")
	if err := os.WriteFile(cfg, []byte(`listeners: [{address: "127.0.0.1:0"}]
log: {format: json, access: {enabled: false}}
routes: [{pool: web}]
pools:
  web:
    servers:
      - address: backend.test
        resolve: true
        service: http
resolver: {addresses: ["`+d.Addr+`"], interval: 100ms, timeout: 500ms}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := start(t, "lb", "-config", cfg).waitFor(t, lbAddrRe)
	ld := startLoad(t, addr, 8)
	defer ld.end()

	// served returns the instances that answered since from, and when
	// each last did.
	served := func(from time.Time) map[string]time.Time {
		ld.mu.Lock()
		defer ld.mu.Unlock()
		last := map[string]time.Time{}
		for _, s := range ld.samples {
			if !s.at.Before(from) {
				last[s.instance] = s.at
			}
		}
		return last
	}
	waitUntil := func(what string, cond func() bool) time.Duration {
		t.Helper()
		start := time.Now()
		for !cond() {
			if time.Since(start) > 10*time.Second {
				t.Fatalf("%s: not within 10s", what)
			}
			time.Sleep(10 * time.Millisecond)
		}
		return time.Since(start)
	}
	begin := time.Now()
	waitUntil("backend-1 and backend-2 serve", func() bool { s := served(begin); return len(s) == 2 })
	if s := served(begin); s["backend-1"].IsZero() || s["backend-2"].IsZero() {
		t.Fatalf("served by %v, want backend-1 and backend-2", s)
	}

	up := time.Now()
	answer(1, 2, 3, 4, 5)
	upTook := waitUntil("all 5 serve", func() bool { return len(served(up)) == 5 })

	down := time.Now()
	answer(1)
	// Wait until the removed backends have been quiet for 300 ms.
	var lastRemoved time.Time
	waitUntil("only backend-1 serves", func() bool {
		s := served(down)
		for _, k := range []string{"backend-2", "backend-3", "backend-4", "backend-5"} {
			if s[k].After(lastRemoved) {
				lastRemoved = s[k]
			}
		}
		return time.Since(lastRemoved) > 300*time.Millisecond && time.Since(down) > 300*time.Millisecond
	})
	downTook := time.Duration(0)
	if !lastRemoved.IsZero() {
		downTook = lastRemoved.Sub(down)
	}
	if downTook > 2*time.Second {
		t.Errorf("removed backends served until %v after the scale-down, want within a few intervals", downTook)
	}
	for _, b := range backends[1:] {
		if err := b.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
	}
	for _, b := range backends[1:] {
		if code := b.exitCode(t, 30*time.Second); code != 0 {
			t.Errorf("a removed backend exited with %d", code)
		}
	}
	after := time.Now()
	time.Sleep(300 * time.Millisecond)
	sent, failed := ld.end()
	if s := served(after); len(s) != 1 || s["backend-1"].IsZero() {
		t.Errorf("after the removed backends stopped, served by %v, want backend-1 only", s)
	}
	t.Logf("%d requests, %d failed; all 5 served within %v of the scale-up; the last request to a removed backend came %v after the scale-down (interval 100ms)",
		sent, failed, upTook.Round(time.Millisecond), downTook.Round(time.Millisecond))
	if failed != 0 {
		t.Errorf("%d of %d requests failed", failed, sent)
	}
}
