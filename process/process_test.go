package process

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

func startOrigin(t *testing.T) string {
	addr, _ := startFailingOrigin(t)
	return addr
}

// startFailingOrigin starts an origin that answers 503 to every request
// (health checks included) while the returned flag is set.
func startFailingOrigin(t *testing.T) (string, *atomic.Bool) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	failing := new(atomic.Bool)
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		if failing.Load() {
			ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
			return
		}
		ctx.WriteString("ok")
	}}
	go srv.Serve(ln) //nolint:errcheck
	t.Cleanup(func() { _ = srv.Shutdown() })
	return ln.Addr().String(), failing
}

// configTmpl's health checks are generous (a probe may take up to 500ms)
// so that a slow probe in a -race binary decides nothing.
const configTmpl = `listeners: [{address: "127.0.0.1:0"}]
log: {level: error, access: {enabled: false}}
routes: [{pool: web}]
pools:
  web:
    health_check: {interval: 500ms, timeout: 500ms}
    response_headers: {set: {X-Version: VERSION}}
    servers:
      - address: A
      - address: B
`

// TestReloadKeepsServerState pins "state survives reload": a server kept
// by the new configuration is the same runtime server, with its health,
// counters and connections; removed ones are gone; checkers are replaced,
// and Shutdown leaves no goroutine behind.
func TestReloadKeepsServerState(t *testing.T) {
	a, aFailing := startFailingOrigin(t)
	b, c := startOrigin(t), startOrigin(t)
	path := filepath.Join(t.TempDir(), "lb.yaml")
	write := func(version, s1, s2 string) {
		cfg := strings.NewReplacer("VERSION", version, "A", s1, "B", s2).Replace(configTmpl)
		if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("1", a, b)
	p, err := Start(path)
	if err != nil {
		t.Fatal(err)
	}
	addr := p.Addrs()[0].String()
	for range 10 {
		if code, _, err := fasthttp.GetTimeout(nil, "http://"+addr+"/", 5*time.Second); err != nil || code != 200 {
			t.Fatalf("GET: %v %d", err, code)
		}
	}
	old := p.Handler().Snapshot().Routes()[0].Pool
	oldA := old.Servers()[0]
	// a's checks fail from now on, so the old checker, which runs until
	// the reload stops it, keeps a down.
	aFailing.Store(true)
	old.SetServerHealth(oldA, false) // as if checks had taken it down
	reqsA := oldA.Requests()

	write("2", a, c) // keeps a, removes b, adds c
	if err := p.Reload(); err != nil {
		t.Fatal(err)
	}
	cur := p.Handler().Snapshot().Routes()[0].Pool
	if cur.Servers()[0] != oldA || cur.Servers()[0].Requests() != reqsA || cur.Servers()[0].Healthy() {
		t.Fatal("the kept server lost its runtime state across the reload")
	}
	if cur.Servers()[1] == old.Servers()[1] || cur.Servers()[1].Addr != c {
		t.Fatal("the new server c is not a fresh server")
	}
	// The new checker (the old one has stopped) brings a back once it
	// passes rise checks.
	aFailing.Store(false)
	deadline := time.Now().Add(10 * time.Second)
	for !cur.Servers()[0].Healthy() {
		if time.Now().After(deadline) {
			t.Fatal("kept server never came back under the new checker")
		}
		time.Sleep(10 * time.Millisecond)
	}
	client := &fasthttp.Client{}
	var resp fasthttp.Response
	var req fasthttp.Request
	req.SetRequestURI("http://" + addr + "/")
	if err := client.Do(&req, &resp); err != nil || string(resp.Header.Peek("X-Version")) != "2" {
		t.Fatalf("after reload X-Version = %q (%v), want 2", resp.Header.Peek("X-Version"), err)
	}

	// A bad configuration changes nothing.
	if err := os.WriteFile(path, []byte("pools: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := p.Reload(); err == nil {
		t.Fatal("Reload accepted an invalid configuration")
	}
	if p.Handler().Snapshot().Routes()[0].Pool != cur {
		t.Fatal("a failed reload replaced the snapshot")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	// No goroutine of lb's own (health checkers, listeners) is left;
	// fasthttp's cleaners of idle connections and DNS entries end on
	// their own timers.
	deadline = time.Now().Add(5 * time.Second)
	for {
		buf := make([]byte, 1<<20)
		stacks := string(buf[:runtime.Stack(buf, true)])
		if !strings.Contains(stacks, "lb/health.") && !strings.Contains(stacks, "lb/process.(*Process)") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("lb goroutines left after Shutdown:\n%s", stacks)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func shutdown(t *testing.T, p *Process) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = p.Shutdown(ctx)
}
