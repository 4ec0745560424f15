package process

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/valyala/fasthttp"

	"lb/balancer"
	"lb/internal/dnstest"
)

// loopbackBackends are origins on 127.0.0.1 … 127.0.0.N, all on one port,
// as the pods behind a headless Service are. Each counts its requests,
// except lb's health probes (checkPath), which may still reach a removed
// server after its checker stopped.
type loopbackBackends struct {
	port   int
	srvs   []*fasthttp.Server
	counts []atomic.Int64
}

func startLoopbackBackends(t *testing.T, n int) *loopbackBackends {
	t.Helper()
	for attempt := 0; attempt < 20; attempt++ {
		var lns []net.Listener
		first, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, first)
		port := first.Addr().(*net.TCPAddr).Port
		for i := 2; i <= n && err == nil; i++ {
			var ln net.Listener
			if ln, err = net.Listen("tcp", fmt.Sprintf("127.0.0.%d:%d", i, port)); err == nil {
				lns = append(lns, ln)
			}
		}
		if err != nil {
			for _, ln := range lns {
				ln.Close()
			}
			continue // the port is taken on another address: try another
		}
		b := &loopbackBackends{port: port, counts: make([]atomic.Int64, n+1)}
		for i, ln := range lns {
			k := i + 1
			srv := &fasthttp.Server{
				Handler: func(ctx *fasthttp.RequestCtx) {
					if string(ctx.Path()) == checkPath {
						fmt.Fprintf(ctx, "backend-%d", k)
						return
					}
					b.counts[k].Add(1)
					time.Sleep(time.Millisecond) // requests are in flight when the set changes
					fmt.Fprintf(ctx, "backend-%d", k)
				},
				CloseOnShutdown: true,
			}
			b.srvs = append(b.srvs, srv)
			go srv.Serve(ln) //nolint:errcheck
		}
		t.Cleanup(func() {
			for _, s := range b.srvs {
				_ = s.Shutdown()
			}
		})
		return b
	}
	t.Fatal("no port free on 127.0.0.1-5")
	return nil
}

// ips returns 127.0.0.k for each k.
func ips(ks ...int) []string {
	var s []string
	for _, k := range ks {
		s = append(s, fmt.Sprintf("127.0.0.%d", k))
	}
	return s
}

func (b *loopbackBackends) addrs(ks ...int) []string {
	var s []string
	for _, ip := range ips(ks...) {
		s = append(s, net.JoinHostPort(ip, fmt.Sprint(b.port)))
	}
	return s
}

func (b *loopbackBackends) snapshotCounts() []int64 {
	c := make([]int64, len(b.counts))
	for i := range b.counts {
		c[i] = b.counts[i].Load()
	}
	return c
}

// checkPath is the path of discoveryConfig's health checks.
const checkPath = "/healthz"

// discoveryConfig's health checks are generous (a probe may take up to
// 500ms): with fall 3 a slow probe in a -race binary on a loaded machine
// must not take a server down under load that never retries.
const discoveryConfig = `listeners: [{address: "127.0.0.1:0"}]
log: {level: error, access: {enabled: false}}
routes: [{pool: web}]
pools:
  web:
    health_check: {interval: 500ms, timeout: 500ms, path: /healthz}
    servers:
      - address: backend.test:PORT
        resolve: true
resolver: {addresses: ["DNS"], interval: 100ms, timeout: 500ms}
admin: {address: "127.0.0.1:0"}
`

// poolAddrs returns the addresses of the served pool's servers, sorted.
func poolAddrs(p *Process) []string {
	var a []string
	for _, s := range p.Handler().Snapshot().Routes()[0].Pool.Servers() {
		a = append(a, s.Addr)
	}
	slices.Sort(a)
	return a
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > timeout {
			t.Fatalf("%s: not within %v", what, timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start)
}

// discoveryLoad is a continuous GET load on lb from keep-alive clients
// that never retry by themselves: every failure counts.
type discoveryLoad struct {
	stop         atomic.Bool
	sent, failed atomic.Int64
	done         []atomic.Int64 // requests each worker has finished
	wg           sync.WaitGroup
}

func startDiscoveryLoad(t *testing.T, addr string, workers int) *discoveryLoad {
	l := &discoveryLoad{done: make([]atomic.Int64, workers)}
	client := &fasthttp.HostClient{Addr: addr, MaxConns: workers * 2, MaxIdemponentCallAttempts: 1}
	for w := range workers {
		l.wg.Go(func() {
			for !l.stop.Load() {
				l.sent.Add(1)
				req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
				req.SetRequestURI("http://lb/")
				if err := client.DoTimeout(req, resp, 10*time.Second); err != nil || resp.StatusCode() != 200 {
					l.failed.Add(1)
					t.Errorf("request failed: %v, status %d, body %q", err, resp.StatusCode(), resp.Body())
				}
				fasthttp.ReleaseRequest(req)
				fasthttp.ReleaseResponse(resp)
				l.done[w].Add(1)
			}
		})
	}
	return l
}

// settle waits until every worker has finished a request begun after
// settle was called: each sends one request at a time, so every request
// begun before the call (which may have picked from an older snapshot)
// has then been answered, and has reached its backend.
func (l *discoveryLoad) settle(t *testing.T) {
	t.Helper()
	start := make([]int64, len(l.done))
	for i := range l.done {
		start[i] = l.done[i].Load()
	}
	waitFor(t, "every load worker finishes a request", 10*time.Second, func() bool {
		for i := range l.done {
			if l.done[i].Load() <= start[i] {
				return false
			}
		}
		return true
	})
}

func (l *discoveryLoad) end() (sent, failed int64) {
	l.stop.Store(true)
	l.wg.Wait()
	return l.sent.Load(), l.failed.Load()
}

// TestDiscoveryScalesUnderLoad is issue 11's DNS test: a pool follows
// backend.test's A records, served by a DNS server in the test, while 8
// clients that never retry send requests: 2 servers, then 5, then a
// SERVFAIL spell (nothing changes), then 1, then the 4 removed backends
// stop. No request fails; all 5 serve after the scale-up, and after the
// scale-down only the one left does.
func TestDiscoveryScalesUnderLoad(t *testing.T) {
	d := dnstest.Start(t)
	b := startLoopbackBackends(t, 5)
	d.SetAddrs("backend.test.", ips(1, 2)...)
	path := filepath.Join(t.TempDir(), "lb.yaml")
	cfg := strings.NewReplacer("PORT", fmt.Sprint(b.port), "DNS", d.Addr).Replace(discoveryConfig)
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := Start(path)
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown(t, p)
	if got, want := poolAddrs(p), b.addrs(1, 2); !slices.Equal(got, want) {
		t.Fatalf("servers at start = %v, want %v", got, want)
	}
	load := startDiscoveryLoad(t, p.Addrs()[0].String(), 8)
	defer load.end()
	waitFor(t, "both servers serve", 10*time.Second, func() bool { return b.counts[1].Load() > 0 && b.counts[2].Load() > 0 })

	// 2 → 5: every new server gets requests within a few intervals.
	before := b.snapshotCounts()
	d.SetAddrs("backend.test.", ips(1, 2, 3, 4, 5)...)
	upTook := waitFor(t, "all 5 servers serve", 10*time.Second, func() bool {
		now := b.snapshotCounts()
		for k := 1; k <= 5; k++ {
			if now[k] <= before[k] {
				return false
			}
		}
		return true
	})
	if got, want := poolAddrs(p), b.addrs(1, 2, 3, 4, 5); !slices.Equal(got, want) {
		t.Fatalf("servers after scale-up = %v, want %v", got, want)
	}
	// The admin API lists the servers found like any other.
	code, status, err := fasthttp.GetTimeout(nil, "http://"+p.AdminAddr().String()+"/api/status", 5*time.Second)
	if err != nil || code != 200 {
		t.Fatalf("GET /api/status: %d, %v", code, err)
	}
	for _, a := range b.addrs(1, 2, 3, 4, 5) {
		if !strings.Contains(string(status), `"`+a+`"`) {
			t.Errorf("/api/status does not list %s:\n%s", a, status)
		}
	}

	// DNS trouble changes nothing.
	d.SetRcode("backend.test.", dns.RcodeServerFailure)
	time.Sleep(500 * time.Millisecond) // 5 intervals
	if got, want := poolAddrs(p), b.addrs(1, 2, 3, 4, 5); !slices.Equal(got, want) {
		t.Fatalf("servers after SERVFAIL = %v, want the last good %v", got, want)
	}
	d.SetRcode("backend.test.", dns.RcodeSuccess)

	// 5 → 1: the removed servers get no new requests.
	var leaving []*balancer.Server
	for _, s := range p.Handler().Snapshot().Routes()[0].Pool.Servers() {
		if s.Addr != b.addrs(1)[0] {
			leaving = append(leaving, s)
		}
	}
	d.SetAddrs("backend.test.", ips(1)...)
	downTook := waitFor(t, "pool down to one server", 10*time.Second, func() bool { return slices.Equal(poolAddrs(p), b.addrs(1)) })
	// Requests that loaded the old snapshot before the swap may still
	// pick a removed server and reach it: wait until all of them have
	// been answered rather than for some time.
	load.settle(t)
	waitFor(t, "no request in flight to a removed server", 10*time.Second, func() bool {
		for _, s := range leaving {
			if s.InFlight() != 0 {
				return false
			}
		}
		return true
	})
	removed := b.snapshotCounts()
	time.Sleep(300 * time.Millisecond) // a window for stray requests: it can only hide one, not invent one
	waitFor(t, "backend-1 serves after the scale-down", 10*time.Second, func() bool { return b.counts[1].Load() > removed[1] })
	after := b.snapshotCounts()
	for k := 2; k <= 5; k++ {
		if after[k] != removed[k] {
			t.Errorf("backend-%d got %d requests after it left the answer", k, after[k]-removed[k])
		}
	}
	// The removed backends go away; nothing notices.
	for _, s := range b.srvs[1:] {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := s.ShutdownWithContext(ctx); err != nil {
			t.Errorf("stopping a removed backend: %v", err)
		}
		cancel()
	}
	time.Sleep(300 * time.Millisecond)
	sent, failed := load.end()
	t.Logf("%d requests, %d failed; scale-up served by all 5 in %v, scale-down applied in %v (interval 100ms); per backend %v",
		sent, failed, upTook.Round(time.Millisecond), downTook.Round(time.Millisecond), b.snapshotCounts()[1:])
	if failed != 0 {
		t.Errorf("%d of %d requests failed", failed, sent)
	}
}

// TestDiscoveryAcrossReloads: a reload keeps the servers found (the same
// runtime servers, with their state) without waiting for a lookup; a
// name the reload adds is looked up before the reload returns; a name
// that cannot be looked up at start gives an empty pool (503) that fills
// when DNS answers; Shutdown leaves no discovery goroutine behind.
func TestDiscoveryAcrossReloads(t *testing.T) {
	d := dnstest.Start(t)
	b := startLoopbackBackends(t, 3)
	path := filepath.Join(t.TempDir(), "lb.yaml")
	write := func(extra string) {
		cfg := strings.NewReplacer("PORT", fmt.Sprint(b.port), "DNS", d.Addr).Replace(discoveryConfig)
		cfg = strings.Replace(cfg, "        resolve: true\n", "        resolve: true\n"+extra, 1)
		if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("")
	// backend.test does not exist yet: the pool starts empty.
	p, err := Start(path)
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			shutdown(t, p)
		}
	}()
	addr := "http://" + p.Addrs()[0].String() + "/"
	if code, _, err := fasthttp.GetTimeout(nil, addr, 5*time.Second); err != nil || code != 503 {
		t.Fatalf("GET with no server found: %d, %v; want 503", code, err)
	}
	d.SetAddrs("backend.test.", ips(1)...)
	waitFor(t, "server found once DNS answers", 10*time.Second, func() bool { return slices.Equal(poolAddrs(p), b.addrs(1)) })
	if code, body, err := fasthttp.GetTimeout(nil, addr, 5*time.Second); err != nil || code != 200 || string(body) != "backend-1" {
		t.Fatalf("GET: %d %q, %v; want 200 backend-1", code, body, err)
	}
	kept := p.Handler().Snapshot().Routes()[0].Pool.Servers()[0]

	// The reload adds other.test; the DNS server stops answering about
	// backend.test, whose server must stay without a new lookup.
	d.SetAddrs("other.test.", ips(2)...)
	d.SetRcode("backend.test.", dns.RcodeServerFailure)
	write(fmt.Sprintf("      - address: other.test:%d\n        resolve: true\n", b.port))
	if err := p.Reload(); err != nil {
		t.Fatal(err)
	}
	if got, want := poolAddrs(p), b.addrs(1, 2); !slices.Equal(got, want) {
		t.Fatalf("servers after reload = %v, want %v", got, want)
	}
	for _, s := range p.Handler().Snapshot().Routes()[0].Pool.Servers() {
		if s.Addr == kept.Addr && s != kept {
			t.Error("the reload replaced a kept server's runtime state")
		}
	}
	d.SetRcode("backend.test.", dns.RcodeSuccess)
	d.SetAddrs("backend.test.", ips(1, 3)...)
	waitFor(t, "the new watcher follows changes", 10*time.Second, func() bool { return slices.Equal(poolAddrs(p), b.addrs(1, 2, 3)) })
	// Health checks restarted on the new pool: the server found last is
	// checked too.
	found := p.Handler().Snapshot().Routes()[0].Pool.Server(b.addrs(3)[0])
	waitFor(t, "the found server is health checked", 10*time.Second, func() bool {
		r, ok := adminSource{p}.CheckStatus(found)
		return ok && r.OK
	})

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	stopped = true
	deadline := time.Now().Add(5 * time.Second)
	for {
		buf := make([]byte, 1<<20)
		stacks := string(buf[:runtime.Stack(buf, true)])
		if !strings.Contains(stacks, "lb/discovery.") && !strings.Contains(stacks, "lb/process.(*Process).rediscovered") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("discovery goroutines left after Shutdown:\n%s", stacks)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCheckDoesNotLookUp: lb -check validates and compiles a
// configuration with resolve entries without asking DNS.
func TestCheckDoesNotLookUp(t *testing.T) {
	d := dnstest.Start(t)
	path := filepath.Join(t.TempDir(), "lb.yaml")
	cfg := strings.NewReplacer("PORT", "8080", "DNS", d.Addr).Replace(discoveryConfig)
	cfg += "    # and an SRV entry, whose address has no port\n"
	cfg = strings.Replace(cfg, "        resolve: true\n", "        resolve: true\n      - address: backend.test\n        resolve: true\n        service: http\n", 1)
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Check(path); err != nil {
		t.Fatalf("Check: %v", err)
	}
	if n := d.Queries(); n != 0 {
		t.Errorf("Check sent %d DNS queries, want none", n)
	}
}

// TestDiscoveryRacesReloads: answers that change every few milliseconds
// (interval 10ms) while reloads run back to back and clients send
// requests: no request fails, the race detector finds nothing, and once
// both stop the pool holds the last answer.
func TestDiscoveryRacesReloads(t *testing.T) {
	d := dnstest.Start(t)
	b := startLoopbackBackends(t, 3)
	d.SetAddrs("backend.test.", ips(1)...)
	path := filepath.Join(t.TempDir(), "lb.yaml")
	cfg := strings.NewReplacer("PORT", fmt.Sprint(b.port), "DNS", d.Addr, "interval: 100ms", "interval: 10ms").Replace(discoveryConfig)
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := Start(path)
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown(t, p)
	load := startDiscoveryLoad(t, p.Addrs()[0].String(), 4)
	defer load.end()
	sets := [][]int{{1, 2}, {2, 3}, {1, 2, 3}, {3}, {1}}
	var flips sync.WaitGroup
	stop := make(chan struct{})
	flips.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(3 * time.Millisecond):
			}
			d.SetAddrs("backend.test.", ips(sets[i%len(sets)]...)...)
		}
	})
	for range 30 {
		if err := p.Reload(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(stop)
	flips.Wait()
	d.SetAddrs("backend.test.", ips(2, 3)...)
	waitFor(t, "the last answer served", 10*time.Second, func() bool { return slices.Equal(poolAddrs(p), b.addrs(2, 3)) })
	if sent, failed := load.end(); failed != 0 {
		t.Errorf("%d of %d requests failed", failed, sent)
	}
}
