package proxy_test

import (
	"bufio"
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"lb/internal/loopback"
)

func TestRoundRobinVisitsEachServerInTurn(t *testing.T) {
	a, b, c := startOrigin(t, "a", nil), startOrigin(t, "b", nil), startOrigin(t, "c", nil)
	lb := startLB(t, basicConfig("round_robin", "", a, b, c))
	conn := dialRaw(t, lb.addr)
	var got []string
	for range 9 {
		got = append(got, string(conn.mustDo("GET / HTTP/1.1\r\nHost: x\r\n\r\n").Body()))
	}
	// The start is random; after it the order is fixed.
	for i := 3; i < 9; i++ {
		if got[i] != got[i-3] {
			t.Fatalf("responses %v: not a cycle of three", got)
		}
	}
	first := got[:3]
	sorted := slices.Clone(first)
	slices.Sort(sorted)
	if !slices.Equal(sorted, []string{"a", "b", "c"}) {
		t.Fatalf("first three responses %v, want each of a, b, c once", first)
	}
}

func TestHopByHopHeadersAreDroppedBothWays(t *testing.T) {
	o := startOrigin(t, "o", func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.Set("Connection", "X-Resp-Hop")
		ctx.Response.Header.Set("X-Resp-Hop", "1")
		ctx.Response.Header.Set("Keep-Alive", "timeout=5")
		ctx.Response.Header.Set("Proxy-Authenticate", "Basic")
		ctx.Response.Header.Set("Upgrade", "h2c")
		ctx.Response.Header.Set("X-Resp-Kept", "yes")
		ctx.WriteString("ok")
	})
	lb := startLB(t, basicConfig("round_robin", "", o))
	resp := dialRaw(t, lb.addr).mustDo("GET / HTTP/1.1\r\nHost: x\r\n" +
		"Connection: keep-alive, X-Hop, x-other-hop\r\n" +
		"X-Hop: 1\r\nX-OTHER-HOP: 2\r\nKeep-Alive: timeout=5\r\nkeep-alive: x\r\n" +
		"Proxy-Connection: keep-alive\r\nProxy-Authorization: Basic Zm9v\r\nTE: trailers\r\n" +
		"Upgrade: websocket\r\nX-Kept: yes\r\n\r\n")
	s := o.last(t)
	for _, name := range []string{"Connection", "X-Hop", "X-Other-Hop", "Keep-Alive", "Proxy-Connection", "Proxy-Authorization", "TE", "Upgrade"} {
		if v := s.headerFold(name); len(v) > 0 {
			t.Errorf("origin received hop-by-hop %s: %q", name, v)
		}
	}
	if v := s.header("X-Kept"); !slices.Equal(v, []string{"yes"}) {
		t.Errorf("origin received X-Kept %q, want [yes]", v)
	}
	names := respHeaderNames(resp)
	for _, name := range []string{"X-Resp-Hop", "Keep-Alive", "Proxy-Authenticate", "Upgrade"} {
		if slices.ContainsFunc(names, func(n string) bool { return strings.EqualFold(n, name) }) {
			t.Errorf("client received hop-by-hop %s (headers %v)", name, names)
		}
	}
	if v := string(resp.Header.Peek("X-Resp-Kept")); v != "yes" {
		t.Errorf("client received X-Resp-Kept %q, want yes", v)
	}
}

func TestConnectionTokenCannotRemoveFramingOrForwardedHeaders(t *testing.T) {
	// A client naming X-Forwarded-For or Host in Connection must not strip
	// what lb adds or what addresses the request.
	o := startOrigin(t, "o", nil)
	lb := startLB(t, basicConfig("round_robin", "", o))
	dialRaw(t, lb.addr).mustDo("POST / HTTP/1.1\r\nHost: x\r\nConnection: Host, Content-Length, X-Forwarded-For, X-Real-IP\r\nContent-Length: 5\r\n\r\nhello")
	s := o.last(t)
	if s.host != "x" || s.body != "hello" {
		t.Fatalf("origin got host %q body %q, want x and hello", s.host, s.body)
	}
	if v := s.header("X-Forwarded-For"); !slices.Equal(v, []string{"127.0.0.1"}) {
		t.Fatalf("origin got X-Forwarded-For %q, want [127.0.0.1]", v)
	}
}

func TestForwardedHeadersFromUntrustedClientAreReplaced(t *testing.T) {
	o := startOrigin(t, "o", nil)
	lb := startLB(t, basicConfig("round_robin", "", o)) // no trusted_proxies
	get(t, lb.addr, "/", "X-Forwarded-For: 1.2.3.4", "x-forwarded-for: 5.6.7.8", "X-Real-IP: 6.6.6.6",
		"X-Forwarded-Proto: https", "X-Forwarded-Host: evil.example")
	s := o.last(t)
	want := map[string][]string{
		"X-Forwarded-For":   {"127.0.0.1"},
		"X-Real-IP":         {"127.0.0.1"},
		"X-Forwarded-Proto": {"http"},
		"X-Forwarded-Host":  {"example.com"},
	}
	for name, w := range want {
		if got := s.headerFold(name); !slices.Equal(got, w) {
			t.Errorf("origin got %s %q, want %q", name, got, w)
		}
	}
}

func TestForwardedHeadersFromTrustedProxyAreExtended(t *testing.T) {
	o := startOrigin(t, "o", nil)
	cfg := "trusted_proxies: [127.0.0.0/8, 10.0.0.0/8]\n" + basicConfig("round_robin", "", o)
	lb := startLB(t, cfg)
	get(t, lb.addr, "/", "X-Forwarded-For: 203.0.113.7, 10.1.2.3", "x-forwarded-for: 10.0.0.9",
		"X-Real-IP: 6.6.6.6", "X-Forwarded-Proto: https", "X-Forwarded-Host: shop.example")
	s := o.last(t)
	want := map[string][]string{
		// Appended like Nginx's $proxy_add_x_forwarded_for; the client is the
		// rightmost untrusted address (real_ip_recursive on).
		"X-Forwarded-For":   {"203.0.113.7, 10.1.2.3, 10.0.0.9, 127.0.0.1"},
		"X-Real-IP":         {"203.0.113.7"},
		"X-Forwarded-Proto": {"https"},
		"X-Forwarded-Host":  {"shop.example"},
	}
	for name, w := range want {
		if got := s.headerFold(name); !slices.Equal(got, w) {
			t.Errorf("origin got %s %q, want %q", name, got, w)
		}
	}
}

var requestIDRe = regexp.MustCompile(`^[0-9a-f]{32}$`)

func TestRequestIDIsGeneratedOrPassedOnAndLogged(t *testing.T) {
	o := startOrigin(t, "o", nil)
	lb := startLB(t, basicConfig("round_robin", "", o))

	get(t, lb.addr, "/gen")
	gen := o.last(t).header("X-Request-ID")
	if len(gen) != 1 || !requestIDRe.MatchString(gen[0]) {
		t.Fatalf("origin got X-Request-ID %q, want one 32-hex-digit ID", gen)
	}
	get(t, lb.addr, "/kept", "x-request-id: abc-123")
	if got := o.last(t).headerFold("X-Request-ID"); !slices.Equal(got, []string{"abc-123"}) {
		t.Fatalf("origin got X-Request-ID %q, want [abc-123]", got)
	}

	lines := readAccessLog(t, lb, 2)
	if lines[0]["request_id"] != gen[0] || lines[1]["request_id"] != "abc-123" {
		t.Fatalf("access log request IDs %v, %v; want %s, abc-123", lines[0]["request_id"], lines[1]["request_id"], gen[0])
	}
}

// readAccessLog waits for n JSON lines in lb's access log and returns them.
func readAccessLog(t *testing.T, lb *lbUnderTest, n int) []map[string]any {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		data, _ := os.ReadFile(lb.accessLog)
		var lines []map[string]any
		sc := bufio.NewScanner(strings.NewReader(string(data)))
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Fatalf("access log line %q: %v", sc.Text(), err)
			}
			lines = append(lines, m)
		}
		if len(lines) >= n {
			return lines
		}
		if time.Now().After(deadline) {
			t.Fatalf("access log has %d lines, want %d:\n%s", len(lines), n, data)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestAccessLogLineHasEveryField(t *testing.T) {
	o := startOrigin(t, "o", nil)
	lb := startLB(t, basicConfig("round_robin", "", o))
	dialRaw(t, lb.addr).mustDo("POST /p?q=1 HTTP/1.1\r\nHost: example.com\r\nContent-Length: 3\r\n\r\nabc")
	l := readAccessLog(t, lb, 1)[0]
	want := map[string]any{
		"msg": "request", "client": "127.0.0.1", "method": "POST", "host": "example.com",
		"uri": "/p?q=1", "status": float64(200), "bytes_in": float64(3), "bytes_out": float64(1),
		"route": "all", "pool": "web", "server": o.addr,
	}
	for k, w := range want {
		if l[k] != w {
			t.Errorf("access log %s = %v, want %v", k, l[k], w)
		}
	}
	for _, k := range []string{"ts", "duration", "upstream_duration", "request_id"} {
		if _, ok := l[k]; !ok {
			t.Errorf("access log has no %s: %v", k, l)
		}
	}
}

func TestPathAndHeaderNamesAreForwardedByteForByte(t *testing.T) {
	o := startOrigin(t, "o", nil)
	lb := startLB(t, basicConfig("round_robin", "", o))
	for _, target := range []string{
		"//a/../b%2Fc/./d?x=1&y=%2F&z=http://y",
		"/%7Euser/a%20b//c/",
		"//evil.example/x?u=http://y",
	} {
		dialRaw(t, lb.addr).mustDo("GET " + target + " HTTP/1.1\r\nHost: good.example\r\nx-lower-case: v\r\nX-MiXeD-CaSe: w\r\n\r\n")
		s := o.last(t)
		if s.uri != target {
			t.Errorf("origin got target %q, want %q", s.uri, target)
		}
		if s.host != "good.example" {
			t.Errorf("target %q: origin got Host %q, want good.example", target, s.host)
		}
		if len(s.header("x-lower-case")) != 1 || len(s.header("X-MiXeD-CaSe")) != 1 {
			t.Errorf("origin got headers %q, want names as sent", s.headers)
		}
		// Nothing invented: no User-Agent, no Content-Type.
		if v := s.headerFold("User-Agent"); len(v) > 0 {
			t.Errorf("origin got an invented User-Agent %q", v)
		}
		if v := s.headerFold("Content-Type"); len(v) > 0 {
			t.Errorf("origin got an invented Content-Type %q", v)
		}
	}
}

func TestHostIsKeptOrSetPerPool(t *testing.T) {
	o := startOrigin(t, "o", nil)
	lb := startLB(t, basicConfig("round_robin", "", o))
	get(t, lb.addr, "/")
	if h := o.last(t).host; h != "example.com" {
		t.Fatalf("origin got Host %q, want the client's example.com", h)
	}

	o2 := startOrigin(t, "o2", nil)
	lb2 := startLB(t, basicConfig("round_robin", "    host: internal.svc:8080\n", o2))
	get(t, lb2.addr, "/")
	s := o2.last(t)
	if s.host != "internal.svc:8080" {
		t.Fatalf("origin got Host %q, want internal.svc:8080", s.host)
	}
	if v := s.header("X-Forwarded-Host"); !slices.Equal(v, []string{"example.com"}) {
		t.Fatalf("origin got X-Forwarded-Host %q, want the client's [example.com]", v)
	}
}

func TestAbsoluteFormTarget(t *testing.T) {
	o := startOrigin(t, "o", nil)
	lb := startLB(t, basicConfig("round_robin", "", o))
	tests := []struct {
		name, raw  string
		status     int
		originSees string
	}{
		{"same host", "GET http://good.example/p?q=1 HTTP/1.1\r\nHost: good.example\r\n\r\n", 200, "/p?q=1"},
		{"same host other case", "GET HTTP://GOOD.example/p HTTP/1.1\r\nHost: good.example\r\n\r\n", 200, "/p"},
		{"other host", "GET http://evil.example/p HTTP/1.1\r\nHost: good.example\r\n\r\n", 400, ""},
		{"userinfo", "GET http://user@good.example/p HTTP/1.1\r\nHost: good.example\r\n\r\n", 400, ""},
		{"connect", "CONNECT good.example:443 HTTP/1.1\r\nHost: good.example:443\r\n\r\n", 405, ""},
		{"asterisk", "OPTIONS * HTTP/1.1\r\nHost: good.example\r\n\r\n", 400, ""},
		{"no host on HTTP/1.1", "GET /p HTTP/1.1\r\n\r\n", 400, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := o.count()
			resp := dialRaw(t, lb.addr).mustDo(tc.raw)
			if resp.StatusCode() != tc.status {
				t.Fatalf("status %d, want %d (body %q)", resp.StatusCode(), tc.status, resp.Body())
			}
			if tc.originSees == "" {
				if o.count() != before {
					t.Fatalf("origin received a request lb should have refused: %+v", o.last(t))
				}
				return
			}
			if s := o.last(t); s.uri != tc.originSees || s.host != "good.example" {
				t.Fatalf("origin got %q Host %q, want %q Host good.example", s.uri, s.host, tc.originSees)
			}
		})
	}
}

func TestUpstreamConnectionCloseKeepsClientConnection(t *testing.T) {
	o := startOrigin(t, "o", func(ctx *fasthttp.RequestCtx) {
		ctx.SetConnectionClose()
		ctx.WriteString("bye")
	})
	lb := startLB(t, basicConfig("round_robin", "", o))
	conn := dialRaw(t, lb.addr)
	for i := range 3 {
		resp := conn.mustDo("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp.ConnectionClose() || string(resp.Body()) != "bye" {
			t.Fatalf("request %d: Connection close=%v body %q; want kept open and bye", i, resp.ConnectionClose(), resp.Body())
		}
	}
	if o.connCount() != 3 {
		t.Fatalf("origin saw %d connections, want 3 (it closed each one)", o.connCount())
	}
}

func TestClientConnectionCloseKeepsUpstreamConnection(t *testing.T) {
	o := startOrigin(t, "o", nil)
	lb := startLB(t, basicConfig("round_robin", "", o))
	for i := range 3 {
		conn := dialRaw(t, lb.addr)
		resp := conn.mustDo("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		if !resp.ConnectionClose() {
			t.Fatalf("request %d: response lacks Connection: close", i)
		}
		if !conn.closed(5 * time.Second) {
			t.Fatalf("request %d: lb kept the client connection open after Connection: close", i)
		}
	}
	if n := o.connCount(); n != 1 {
		t.Fatalf("origin saw %d connections, want 1 reused keep-alive connection", n)
	}
	if v := o.last(t).headerFold("Connection"); len(v) > 0 {
		t.Fatalf("origin got Connection %q, want none", v)
	}
}

func TestHeaderEditsPerPool(t *testing.T) {
	o := startOrigin(t, "o", func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.Set("X-Powered-By", "php")
		ctx.Response.Header.Set("x-cache", "miss")
		ctx.WriteString("ok")
	})
	pool := `    request_headers:
      set: {X-Env: prod}
      add: {X-Via: lb}
      remove: [Cookie]
    response_headers:
      set: {X-Cache: edge}
      add: {Strict-Transport-Security: max-age=60}
      remove: [X-Powered-By]
`
	lb := startLB(t, basicConfig("round_robin", pool, o))
	resp := get(t, lb.addr, "/", "x-env: dev", "Cookie: a=b", "X-Via: client")
	s := o.last(t)
	if v := s.headerFold("X-Env"); !slices.Equal(v, []string{"prod"}) {
		t.Errorf("origin got X-Env %q, want [prod]", v)
	}
	if v := s.headerFold("X-Via"); !slices.Equal(v, []string{"client", "lb"}) {
		t.Errorf("origin got X-Via %q, want [client lb]", v)
	}
	if v := s.headerFold("Cookie"); len(v) > 0 {
		t.Errorf("origin got Cookie %q, want none", v)
	}
	var cache []string
	for k, v := range resp.Header.All() {
		if strings.EqualFold(string(k), "X-Cache") {
			cache = append(cache, string(v))
		}
	}
	if !slices.Equal(cache, []string{"edge"}) {
		t.Errorf("client got X-Cache %q, want [edge]", cache)
	}
	if v := resp.Header.Peek("X-Powered-By"); v != nil {
		t.Errorf("client got X-Powered-By %q, want none", v)
	}
	if v := string(resp.Header.Peek("Strict-Transport-Security")); v != "max-age=60" {
		t.Errorf("client got Strict-Transport-Security %q", v)
	}
}

func TestErrorsMapToStatuses(t *testing.T) {
	slow := startOrigin(t, "slow", func(ctx *fasthttp.RequestCtx) {
		time.Sleep(1500 * time.Millisecond)
		ctx.WriteString("late")
	})
	ln := closedPort(t)
	cfg := `listeners:
  - address: 127.0.0.1:0
log: {level: error, access: {output: $ACCESS}}
routes:
  - {match: {path_prefix: /refused}, pool: refused}
  - {match: {path_prefix: /slow}, pool: slow}
  - {match: {path_prefix: /down}, pool: down}
pools:
  refused:
    servers: [{address: ` + ln + `}]
  slow:
    timeouts: {response: 300ms}
    servers: [{address: ` + slow.addr + `}]
  down:
    servers: [{address: ` + slow.addr + `, down: true}]
`
	lb := startLB(t, cfg)
	tests := []struct {
		path   string
		status int
	}{
		{"/refused", 502},
		{"/slow", 504},
		{"/down", 503},
		{"/nowhere", 404},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			resp := get(t, lb.addr, tc.path)
			if resp.StatusCode() != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode(), tc.status)
			}
			id := string(resp.Header.Peek("X-Request-ID"))
			if !requestIDRe.MatchString(id) {
				t.Fatalf("X-Request-ID %q, want a generated ID", id)
			}
			body := string(resp.Body())
			if !strings.HasPrefix(body, fasthttp.StatusMessage(tc.status)) || !strings.Contains(body, id) {
				t.Fatalf("body %q, want the status text and request ID %s", body, id)
			}
		})
	}
}

// closedPort returns a loopback address that refuses connections.
func closedPort(t *testing.T) string { return loopback.Refusing(t) }

func TestLeastConnSteersAwayFromSlowServer(t *testing.T) {
	slow := startOrigin(t, "slow", func(ctx *fasthttp.RequestCtx) {
		time.Sleep(200 * time.Millisecond)
		ctx.WriteString("slow")
	})
	fast := startOrigin(t, "fast", nil)
	lb := startLB(t, basicConfig("least_conn", "", slow, fast))
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn := dialRaw(t, lb.addr)
			for range 15 {
				if _, err := conn.do("GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
					t.Errorf("worker %d: %v", w, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	// Four clients in a loop: the slow server holds one request for as
	// long as the fast one answers many. Round robin would give it 30.
	if n := slow.count(); n > 10 {
		t.Fatalf("slow server got %d of 60 requests, fast %d; want least_conn to steer away (<= 10)", n, fast.count())
	}
}

func TestInFlightCountsReturnToZeroAfterBurst(t *testing.T) {
	a := startOrigin(t, "a", nil)
	b := startOrigin(t, "b", func(ctx *fasthttp.RequestCtx) {
		time.Sleep(time.Millisecond)
		ctx.WriteString("b")
	})
	lb := startLB(t, basicConfig("random_two", "", a, b, &origin{addr: closedPort(t)}))
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &fasthttp.HostClient{Addr: lb.addr, MaxIdemponentCallAttempts: 1} // every failure counts
			for range 25 {
				req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
				req.SetRequestURI("http://x/")
				if err := c.Do(req, resp); err != nil || resp.StatusCode() != 200 {
					failed.Add(1)
				}
				fasthttp.ReleaseRequest(req)
				fasthttp.ReleaseResponse(resp)
			}
		}()
	}
	wg.Wait()
	if n := failed.Load(); n != 0 {
		t.Errorf("%d of 400 requests failed; the dead server's connect failures must be retried", n)
	}
	var total uint64
	for _, s := range lb.p.Handler().Snapshot().Routes()[0].Pool.Servers() {
		if n := s.InFlight(); n != 0 {
			t.Errorf("server %s has %d in flight after the burst, want 0", s.Addr, n)
		}
		total += s.Requests()
	}
	// Every request once, plus a retry for each that met the dead server
	// before passive checks took it out.
	if total < 400 || total > 400+16 {
		t.Errorf("servers counted %d attempts, want 400 plus at most one retry per client", total)
	}
}

func TestCookiesAreForwardedAsReceived(t *testing.T) {
	o := startOrigin(t, "o", func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.Add("Set-Cookie", `pref="a b"; Path=/; HttpOnly`)
		ctx.Response.Header.Add("Set-Cookie", `sid=x1; Secure; SameSite=Lax`)
		ctx.WriteString("ok")
	})
	// A route on a header and an X-Forwarded-For to read: both scan the
	// headers, which must not make fasthttp re-serialise the cookies.
	cfg := "trusted_proxies: [127.0.0.1]\n" + strings.Replace(basicConfig("round_robin", "", o),
		"    pool: web", "    match: {headers: {X-Env: a}}\n    pool: web", 1)
	lb := startLB(t, cfg)
	resp := dialRaw(t, lb.addr).mustDo("GET / HTTP/1.1\r\nHost: x\r\nX-Env: a\r\nX-Forwarded-For: 192.0.2.1\r\n" +
		"Cookie: theme=\"dark mode\"; a=b\r\ncookie: c=d\r\n\r\n")
	s := o.last(t)
	if got := s.headerFold("Cookie"); !slices.Equal(got, []string{`theme="dark mode"; a=b`, "c=d"}) {
		t.Errorf("origin got Cookie %q, want both headers as sent", got)
	}
	var setCookies []string
	for k, v := range resp.Header.All() {
		if strings.EqualFold(string(k), "Set-Cookie") {
			setCookies = append(setCookies, string(v))
		}
	}
	if !slices.Equal(setCookies, []string{`pref="a b"; Path=/; HttpOnly`, "sid=x1; Secure; SameSite=Lax"}) {
		t.Errorf("client got Set-Cookie %q, want both as sent", setCookies)
	}
}

func TestConnectionTokenRemovesTrustedForwardedHeader(t *testing.T) {
	o := startOrigin(t, "o", nil)
	lb := startLB(t, "trusted_proxies: [127.0.0.1]\n"+basicConfig("round_robin", "", o))
	get(t, lb.addr, "/", "Connection: X-Forwarded-Proto", "X-Forwarded-Proto: https", "x-forwarded-host: a.example")
	s := o.last(t)
	if got := s.headerFold("X-Forwarded-Proto"); !slices.Equal(got, []string{"http"}) {
		t.Errorf("origin got X-Forwarded-Proto %q, want lb's own [http]: the client named it hop-by-hop", got)
	}
	if got := s.headerFold("X-Forwarded-Host"); !slices.Equal(got, []string{"a.example"}) {
		t.Errorf("origin got X-Forwarded-Host %q, want the trusted [a.example]", got)
	}
}

func TestSpecialHeadersAreEditedInAnySpelling(t *testing.T) {
	o := startOrigin(t, "o", nil)
	pool := "    request_headers:\n      remove: [content-type, user-agent, cookie]\n"
	lb := startLB(t, basicConfig("round_robin", pool, o))
	dialRaw(t, lb.addr).mustDo("POST / HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nUser-Agent: curl\r\nCookie: a=b\r\nContent-Length: 2\r\n\r\nhi")
	s := o.last(t)
	for _, name := range []string{"Content-Type", "User-Agent", "Cookie"} {
		if v := s.headerFold(name); len(v) > 0 {
			t.Errorf("origin got %s %q, want it removed", name, v)
		}
	}
	if s.body != "hi" {
		t.Errorf("origin got body %q, want hi", s.body)
	}
}

// TestFieldOrderIsKept pins RFC 9110 §5.3: the order of fields with the
// same name is significant, and removing hop-by-hop fields around them
// must not change it (fasthttp's own deletion swaps fields).
func TestFieldOrderIsKept(t *testing.T) {
	o := startOrigin(t, "o", func(ctx *fasthttp.RequestCtx) {
		h := &ctx.Response.Header
		h.Add("X-Order", "1")
		h.Add("Keep-Alive", "timeout=5")
		h.Add("X-Order", "2")
		h.Add("Connection", "keep-alive")
		h.Add("X-Order", "3")
		h.Add("Cache-Control", "no-store")
		ctx.WriteString("ok")
	})
	lb := startLB(t, basicConfig("round_robin", "", o))
	resp := get(t, lb.addr, "/", "X-Order: a", "Keep-Alive: 1", "X-Order: b", "Proxy-Connection: x", "x-order: c", "Via: 1.1 a", "Via: 1.1 b")
	var got []string
	for k, v := range resp.Header.All() {
		if string(k) == "X-Order" {
			got = append(got, string(v))
		}
	}
	if !slices.Equal(got, []string{"1", "2", "3"}) {
		t.Errorf("client got X-Order %q, want [1 2 3]", got)
	}
	s := o.last(t)
	if v := s.headerFold("X-Order"); !slices.Equal(v, []string{"a", "b", "c"}) {
		t.Errorf("origin got X-Order %q, want [a b c]", v)
	}
	if v := s.header("Via"); !slices.Equal(v, []string{"1.1 a", "1.1 b"}) {
		t.Errorf("origin got Via %q, want [1.1 a, 1.1 b]", v)
	}
}

func TestDuplicateHostIsRejected(t *testing.T) {
	o := startOrigin(t, "o", nil)
	lb := startLB(t, basicConfig("round_robin", "", o))
	resp := dialRaw(t, lb.addr).mustDo("GET / HTTP/1.1\r\nHost: a.example\r\nhost: b.example\r\n\r\n")
	if resp.StatusCode() != 400 || o.count() != 0 {
		t.Fatalf("status %d, origin saw %d requests; want 400 and none", resp.StatusCode(), o.count())
	}
}
