package proxy_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"lb/balancer"
	"lb/internal/loopback"
)

// poolConfig is an lb config with one pool "web" of the given addresses
// and the given extra pool keys (indented four spaces).
func poolConfig(extra string, addrs ...string) string {
	var b strings.Builder
	b.WriteString(`listeners: [{address: "127.0.0.1:0"}]
log: {level: error, access: {output: $ACCESS}}
routes: [{name: all, pool: web}]
pools:
  web:
    timeouts: {connect: 2s, response: 2s}
` + extra + "    servers:\n")
	for _, a := range addrs {
		if strings.HasPrefix(a, "{") {
			fmt.Fprintf(&b, "      - %s\n", a)
		} else {
			fmt.Fprintf(&b, "      - address: %s\n", a)
		}
	}
	return b.String()
}

func (lb *lbUnderTest) pool(t *testing.T) *balancer.Pool {
	t.Helper()
	return lb.p.Handler().Snapshot().Routes()[0].Pool.Pool
}

func TestConnectFailureIsRetriedOnAnotherServer(t *testing.T) {
	o := startOrigin(t, "o", nil)
	// Passive checks off, so that every request meets the dead server.
	lb := startLB(t, poolConfig("    passive: {max_fails: 0}\n", closedPort(t), o.addr))
	for i := range 6 {
		method := "GET"
		if i%2 == 1 {
			method = "POST" // a connect failure is retried whatever the method
		}
		resp := dialRaw(t, lb.addr).mustDo(method + " / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi")
		if resp.StatusCode() != 200 {
			t.Fatalf("%s %d: status %d, want 200 from the live server", method, i, resp.StatusCode())
		}
	}
	if n := o.count(); n != 6 {
		t.Fatalf("live origin saw %d requests, want each of 6 exactly once", n)
	}
}

// closer is an origin that reads a request and closes the connection
// without answering.
type closer struct {
	addr string
	seen atomic.Int64
}

func startCloser(t *testing.T) *closer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &closer{addr: ln.Addr().String()}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
				req, err := http.ReadRequest(bufio.NewReader(conn))
				if err != nil {
					return
				}
				_, _ = fmt.Fprint(new(strings.Builder), req.Body)
				c.seen.Add(1)
			}()
		}
	}()
	return c
}

func TestRequestFailingAfterSendIsRetriedOnlyWhenIdempotent(t *testing.T) {
	bad := startCloser(t)
	good := startOrigin(t, "good", nil)
	lb := startLB(t, poolConfig("    passive: {max_fails: 0}\n    retries: {on: [connect, error]}\n", bad.addr, good.addr))

	var post502, post200 int
	for range 6 {
		resp := dialRaw(t, lb.addr).mustDo("POST /order HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
		switch resp.StatusCode() {
		case 502:
			post502++
		case 200:
			post200++
		default:
			t.Fatalf("POST status %d, want 200 or 502", resp.StatusCode())
		}
	}
	// Each POST reached exactly one server: a 502 is one the closing
	// server swallowed, never resent to the good one.
	if got := int(bad.seen.Load()); got != post502 || good.count() != post200 || post502 == 0 {
		t.Fatalf("POSTs: %d got 502, %d got 200; closing server saw %d, good %d; want each POST seen once, some 502",
			post502, post200, got, good.count())
	}

	before := bad.seen.Load()
	for i := range 6 {
		if resp := get(t, lb.addr, "/item"); resp.StatusCode() != 200 {
			t.Fatalf("GET %d: status %d, want 200 after a retry", i, resp.StatusCode())
		}
	}
	if bad.seen.Load() == before {
		t.Fatal("no GET met the closing server; the retry path was not exercised")
	}
}

func TestAllServersDownAnswers503AtOnce(t *testing.T) {
	a, b := loopback.Blackhole(t), loopback.Blackhole(t)
	hc := "    health_check: {type: tcp, interval: 100ms, timeout: 50ms, fall: 1, rise: 1}\n"
	lb := startLB(t, strings.Replace(poolConfig(hc, a, b), "connect: 2s", "connect: 5s", 1))
	pool := lb.pool(t)
	waitFor(t, 10*time.Second, "both servers marked down", func() bool {
		return !pool.Servers()[0].Healthy() && !pool.Servers()[1].Healthy()
	})
	start := time.Now()
	resp := get(t, lb.addr, "/")
	took := time.Since(start)
	if resp.StatusCode() != 503 || string(resp.Header.Peek("Retry-After")) == "" {
		t.Fatalf("status %d Retry-After %q, want 503 with Retry-After", resp.StatusCode(), resp.Header.Peek("Retry-After"))
	}
	if took > 2*time.Second {
		t.Fatalf("503 took %v; want it at once, far inside the 5s connect timeout", took)
	}
}

func TestBackupServesOnlyWhilePrimariesAreDown(t *testing.T) {
	var primaryDown atomic.Bool
	primary := startOrigin(t, "primary", func(ctx *fasthttp.RequestCtx) {
		if string(ctx.Path()) == "/healthz" && primaryDown.Load() {
			ctx.SetStatusCode(503)
			return
		}
		ctx.WriteString("primary")
	})
	backup := startOrigin(t, "backup", nil)
	// A probe has a whole second before it counts as failed (one slow
	// probe would flip the primary with fall 1); while the primary is down
	// it is probed every 50ms, so that its return is seen soon.
	hc := "    health_check: {path: /healthz, interval: 1s, timeout: 1s, down_interval: 50ms, fall: 1, rise: 1}\n"
	lb := startLB(t, poolConfig(hc, primary.addr, "{address: "+backup.addr+", backup: true}"))
	pool := lb.pool(t)
	body := func() string { return string(get(t, lb.addr, "/").Body()) }

	for range 5 {
		if got := body(); got != "primary" {
			t.Fatalf("served by %q while the primary is up, want primary", got)
		}
	}
	primaryDown.Store(true)
	waitFor(t, 10*time.Second, "primary marked down", func() bool { return !pool.Servers()[0].Healthy() })
	for range 5 {
		if got := body(); got != "backup" {
			t.Fatalf("served by %q while the primary is down, want backup", got)
		}
	}
	primaryDown.Store(false)
	waitFor(t, 10*time.Second, "primary back up", func() bool { return pool.Servers()[0].Healthy() })
	for range 5 {
		if got := body(); got != "primary" {
			t.Fatalf("served by %q after the primary came back, want primary", got)
		}
	}
}

// holdingOrigin starts an origin whose requests wait until release is
// called (at the latest when the test ends).
func holdingOrigin(t *testing.T) (o *origin, release func()) {
	t.Helper()
	ch := make(chan struct{})
	var once sync.Once
	release = func() { once.Do(func() { close(ch) }) }
	o = startOrigin(t, "held", func(ctx *fasthttp.RequestCtx) {
		<-ch
		ctx.WriteString("done")
	})
	t.Cleanup(release) // before the origin's Shutdown, which waits for them
	return o, release
}

// noResponseTimeout lifts the pool's response timeout out of the way of
// requests that an origin holds.
func noResponseTimeout(yaml string) string {
	return strings.Replace(yaml, "response: 2s", "response: 60s", 1)
}

func TestQueueBoundsWaitingRequests(t *testing.T) {
	held, release := holdingOrigin(t)
	lb := startLB(t, noResponseTimeout(poolConfig("    max_conns_per_server: 2\n    max_queue: 3\n    queue_timeout: 10s\n", held.addr)))
	pool := lb.pool(t)

	type result struct {
		status int
		took   time.Duration
	}
	results := make(chan result, 6)
	var wg sync.WaitGroup
	send := func() {
		defer wg.Done()
		start := time.Now()
		resp := get(t, lb.addr, "/")
		results <- result{resp.StatusCode(), time.Since(start)}
	}
	for range 5 {
		wg.Add(1)
		go send()
	}
	waitFor(t, 10*time.Second, "2 requests running and 3 queued", func() bool {
		return pool.Servers()[0].InFlight() == 2 && pool.Queued() == 3
	})
	// The sixth finds the queue full: refused at once, not after the 10s
	// queue timeout.
	wg.Add(1)
	send()
	release()
	wg.Wait()
	close(results)
	var ok, rejected int
	for r := range results {
		switch {
		case r.status == 200:
			ok++
		case r.status == 503 && r.took < 5*time.Second:
			rejected++
		default:
			t.Errorf("a request got %d after %v", r.status, r.took)
		}
	}
	if ok != 5 || rejected != 1 {
		t.Fatalf("%d served and %d rejected at once, want 5 (2 running + 3 queued) and 1", ok, rejected)
	}
	if q := pool.Queued(); q != 0 {
		t.Fatalf("queue holds %d after the burst, want 0", q)
	}
	for _, s := range pool.Servers() {
		if n := s.InFlight(); n != 0 {
			t.Fatalf("server has %d in flight after the burst, want 0", n)
		}
	}
}

func TestQueuedRequestTimesOut(t *testing.T) {
	held, release := holdingOrigin(t)
	lb := startLB(t, noResponseTimeout(poolConfig("    max_conns_per_server: 1\n    max_queue: 5\n    queue_timeout: 100ms\n", held.addr)))
	first := make(chan int, 1)
	go func() { first <- get(t, lb.addr, "/").StatusCode() }()
	waitFor(t, 10*time.Second, "the first request to hold the only slot", func() bool {
		return lb.pool(t).Servers()[0].InFlight() == 1
	})
	// The slot stays taken until release: only the queue timeout can
	// answer the second request.
	start := time.Now()
	resp := get(t, lb.addr, "/")
	took := time.Since(start)
	if resp.StatusCode() != 503 || took < 100*time.Millisecond || took > 5*time.Second {
		t.Fatalf("queued request got %d after %v, want 503 at its 100ms queue timeout", resp.StatusCode(), took)
	}
	release()
	if s := <-first; s != 200 {
		t.Fatalf("first request got %d, want 200", s)
	}
	if q := lb.pool(t).Queued(); q != 0 {
		t.Fatalf("queue holds %d, want 0", q)
	}
}

// stickyCookie returns the value of the lb sticky cookie set by resp.
func stickyCookie(resp *fasthttp.Response) string {
	for k, v := range resp.Header.All() {
		if strings.EqualFold(string(k), "Set-Cookie") && strings.HasPrefix(string(v), "lb=") {
			val, _, _ := strings.Cut(strings.TrimPrefix(string(v), "lb="), ";")
			return val
		}
	}
	return ""
}

func TestStickyCookieKeepsAClientOnOneServer(t *testing.T) {
	origins := []*origin{startOrigin(t, "a", nil), startOrigin(t, "b", nil), startOrigin(t, "c", nil)}
	addrs := []string{origins[0].addr, origins[1].addr, origins[2].addr}
	lb := startLB(t, poolConfig("    sticky: {cookie: lb}\n", addrs...))

	first := get(t, lb.addr, "/")
	id := stickyCookie(first)
	home := string(first.Body())
	if id == "" || strings.Contains(id, "127.0.0.1") {
		t.Fatalf("sticky cookie %q: want an opaque server ID", id)
	}
	if cc := string(first.Header.Peek("Cache-Control")); !strings.Contains(cc, "private") {
		t.Fatalf("Cache-Control %q on a response that sets the cookie, want private", cc)
	}
	for i := range 100 {
		resp := get(t, lb.addr, "/", "Cookie: theme=dark; lb="+id)
		if got := string(resp.Body()); got != home {
			t.Fatalf("request %d with the cookie went to %s, want %s", i, got, home)
		}
		if c := stickyCookie(resp); c != "" {
			t.Fatalf("request %d: cookie re-set to %q though it was right", i, c)
		}
	}
	var homeOrigin *origin
	for _, o := range origins {
		if o.name == home {
			homeOrigin = o
		}
	}
	if v := homeOrigin.last(t).headerFold("Cookie"); len(v) != 1 || v[0] != "theme=dark" {
		t.Fatalf("origin got Cookie %q, want the client's own cookies without lb's", v)
	}

	// The server goes away: the client moves to one other server, is
	// re-stuck, and stays.
	_ = homeOrigin.srv.Shutdown()
	resp := get(t, lb.addr, "/", "Cookie: lb="+id)
	moved, newID := string(resp.Body()), stickyCookie(resp)
	if resp.StatusCode() != 200 || moved == home || newID == "" || newID == id {
		t.Fatalf("after %s died: status %d from %q with new cookie %q; want 200 from another server and a new cookie",
			home, resp.StatusCode(), moved, newID)
	}
	for i := range 50 {
		if got := string(get(t, lb.addr, "/", "Cookie: lb="+newID).Body()); got != moved {
			t.Fatalf("request %d after the move went to %s, want %s", i, got, moved)
		}
	}
}

func TestDrainingServerKeepsItsStickyClients(t *testing.T) {
	a, b := startOrigin(t, "a", nil), startOrigin(t, "b", nil)
	lb := startLB(t, poolConfig("    sticky: {}\n", a.addr, b.addr))
	pool := lb.pool(t)
	var aID string
	for _, s := range pool.Servers() {
		if s.Addr == a.addr {
			aID = s.ID
			pool.SetServerState(s, balancer.StateDraining)
		}
	}
	for i := range 10 {
		if got := string(get(t, lb.addr, "/", "Cookie: lb="+aID).Body()); got != "a" {
			t.Fatalf("sticky request %d went to %s, want the draining a", i, got)
		}
		if got := string(get(t, lb.addr, "/").Body()); got != "b" {
			t.Fatalf("new request %d went to %s, want b: a is draining", i, got)
		}
	}
}

func TestPassiveChecksTakeAFailingServerOut(t *testing.T) {
	o := startOrigin(t, "o", nil)
	lb := startLB(t, poolConfig("    passive: {max_fails: 1, fail_timeout: 30s}\n", closedPort(t), o.addr))
	for i := range 10 {
		if resp := get(t, lb.addr, "/"); resp.StatusCode() != 200 {
			t.Fatalf("request %d: %d", i, resp.StatusCode())
		}
	}
	lines := readAccessLog(t, lb, 10)
	retried := 0
	for _, l := range lines {
		if l["attempts"] != float64(1) {
			retried++
		}
	}
	if retried != 1 {
		t.Fatalf("%d requests needed a retry, want exactly 1: the dead server is out after its first failure", retried)
	}
	if dead := lb.pool(t).Servers()[0]; !dead.Ejected() {
		t.Fatal("dead server not ejected")
	}
}

func TestConsecutive5xxEjectServer(t *testing.T) {
	good := startOrigin(t, "good", nil)
	bad := startOrigin(t, "bad", func(ctx *fasthttp.RequestCtx) { ctx.SetStatusCode(500) })
	lb := startLB(t, poolConfig("    outlier: {consecutive_5xx: 3, base_ejection_time: 30s}\n", good.addr, bad.addr))
	statuses := map[int]int{}
	for range 30 {
		statuses[get(t, lb.addr, "/").StatusCode()]++
	}
	if bad.count() != 3 || statuses[500] != 3 || statuses[200] != 27 {
		t.Fatalf("bad server answered %d times, statuses %v; want it ejected after 3 consecutive 500s", bad.count(), statuses)
	}
}

func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var _ = strconv.Itoa
