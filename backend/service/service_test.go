package service

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"lb/backend/data"
	"lb/backend/session"
	"lb/backend/work"
	"lb/internal/testsvc"
)

// served is a Service on a real loopback listener.
type served struct {
	svc  *Service
	url  string
	ln   net.Listener
	done chan error
}

// serve starts a Service with memory stores unless cfg names others.
func serve(t *testing.T, cfg Config) *served {
	t.Helper()
	if cfg.ID == "" {
		cfg.ID = "test"
	}
	if cfg.Sessions == nil {
		cfg.Sessions = session.NewMemory(time.Hour)
	}
	if cfg.Data == nil {
		cfg.Data = data.NewMemory()
	}
	if cfg.Work == nil {
		cfg.Work = work.New(2, 4)
	}
	svc := New(cfg)
	srv := svc.Server(ServerConfig{ReadTimeout: time.Minute, WriteTimeout: time.Minute, IdleTimeout: time.Minute})
	ln, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &served{svc: svc, url: "http://" + ln.Addr().String(), ln: ln, done: make(chan error, 1)}
	go func() { s.done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		_ = srv.Shutdown()
		cfg.Work.Close()
	})
	return s
}

// client is an HTTP client with a cookie jar.
func client(t *testing.T) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 10 * time.Second}
}

// do sends a request and returns status, headers and body.
func do(t *testing.T, c *http.Client, method, url, body string, hdr ...string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.Close { // net/http takes Connection: close out of the header
		resp.Header.Set("Connection", "close")
	}
	return resp.StatusCode, resp.Header, string(b)
}

func TestWhoamiAndHealth(t *testing.T) {
	s := serve(t, Config{ID: "b-1"})
	c := client(t)
	for _, path := range []string{"/whoami", "/anything/else"} {
		code, _, body := do(t, c, "GET", s.url+path, "")
		var w whoamiBody
		if err := json.Unmarshal([]byte(body), &w); code != 200 || err != nil || w.Instance != "b-1" || w.PID == 0 || w.GOMAXPROCS == 0 || w.Path != path {
			t.Fatalf("GET %s = %d %s, want 200 with the instance", path, code, body)
		}
	}
	if code, _, body := do(t, c, "GET", s.url+"/healthz", ""); code != 200 || body != "ok\n" {
		t.Fatalf("/healthz = %d %q, want 200 ok", code, body)
	}
}

// TestSessionCookie: login sets an HttpOnly, SameSite=Lax, Path=/ cookie
// (Secure behind HTTPS), /me sees the user, logout ends it.
func TestSessionCookie(t *testing.T) {
	s := serve(t, Config{})
	c := client(t)
	if code, _, _ := do(t, c, "GET", s.url+"/me", ""); code != 401 {
		t.Fatalf("/me before login = %d, want 401", code)
	}
	for _, bad := range []string{`{"user":""}`, `{"user":"a b"}`, `{"user":1}`, `nope`, `{"user":"` + strings.Repeat("a", 65) + `"}`} {
		if code, _, body := do(t, c, "POST", s.url+"/login", bad); code != 400 || !strings.Contains(body, `"error"`) {
			t.Fatalf("login %s = %d %s, want a 400 JSON error", bad, code, body)
		}
	}
	if code, h, _ := do(t, c, "GET", s.url+"/login", ""); code != 405 || h.Get("Allow") != "POST" {
		t.Fatalf("GET /login = %d Allow %q, want 405 Allow POST", code, h.Get("Allow"))
	}
	code, h, _ := do(t, c, "POST", s.url+"/login", `{"user":"ann"}`)
	set := h.Get("Set-Cookie")
	if code != 200 || !strings.HasPrefix(set, "sid=") || !strings.Contains(set, "HttpOnly") ||
		!strings.Contains(set, "SameSite=Lax") || !strings.Contains(set, "path=/") || strings.Contains(set, "secure") {
		t.Fatalf("login = %d Set-Cookie %q, want sid with HttpOnly, SameSite=Lax, path=/, not secure", code, set)
	}
	if _, h, _ := do(t, client(t), "POST", s.url+"/login", `{"user":"bob"}`, "X-Forwarded-Proto", "https"); !strings.Contains(h.Get("Set-Cookie"), "secure") {
		t.Fatalf("login behind HTTPS: Set-Cookie %q, want secure", h.Get("Set-Cookie"))
	}
	code, _, body := do(t, c, "GET", s.url+"/me", "")
	var me sessionBody
	if err := json.Unmarshal([]byte(body), &me); code != 200 || err != nil || me.User != "ann" {
		t.Fatalf("/me = %d %s, want ann", code, body)
	}
	if code, _, _ := do(t, c, "POST", s.url+"/logout", ""); code != 200 {
		t.Fatalf("logout = %d", code)
	}
	if code, _, _ := do(t, c, "GET", s.url+"/me", ""); code != 401 {
		t.Fatalf("/me after logout = %d, want 401", code)
	}
}

// TestItems walks the items API through its answers and errors.
func TestItems(t *testing.T) {
	s := serve(t, Config{MaxBodyBytes: 1 << 10})
	c := client(t)
	code, h, body := do(t, c, "POST", s.url+"/items", `{"name":"a","value":{"n":1}}`)
	var it data.Item
	if err := json.Unmarshal([]byte(body), &it); code != 201 || err != nil || it.ID == 0 || it.Version != 1 {
		t.Fatalf("create = %d %s", code, body)
	}
	loc := s.url + h.Get("Location")
	if h.Get("ETag") != `"1"` || h.Get("X-Data-Source") != "primary" || !strings.HasSuffix(loc, fmt.Sprint("/items/", it.ID)) {
		t.Fatalf("create headers %v", h)
	}
	for _, tc := range []struct {
		name, method, path, body string
		hdr                      []string
		want                     int
	}{
		{"read", "GET", h.Get("Location"), "", nil, 200},
		{"duplicate name", "POST", "/items", `{"name":"a"}`, nil, 409},
		{"empty name", "POST", "/items", `{"name":""}`, nil, 400},
		{"not JSON", "POST", "/items", `{"name":`, nil, 400},
		{"too large", "POST", "/items", `{"name":"` + strings.Repeat("x", 2000) + `"}`, nil, 413},
		{"stale If-Match", "PUT", h.Get("Location"), `{"name":"b"}`, []string{"If-Match", `"7"`}, 409},
		{"stale body version", "PUT", h.Get("Location"), `{"name":"b","version":7}`, nil, 409},
		{"bad If-Match", "PUT", h.Get("Location"), `{"name":"b"}`, []string{"If-Match", `*`}, 412},
		{"update", "PUT", h.Get("Location"), `{"name":"b","value":[2]}`, []string{"If-Match", `"1"`}, 200},
		{"update by body version", "PUT", h.Get("Location"), `{"name":"c","version":2}`, nil, 200},
		{"missing", "GET", "/items/999", "", nil, 404},
		{"bad id", "GET", "/items/x", "", nil, 400},
		{"bad limit", "GET", "/items?limit=0", "", nil, 400},
		{"list", "GET", "/items?limit=10", "", nil, 200},
		{"method", "PATCH", h.Get("Location"), "", nil, 405},
		{"delete", "DELETE", h.Get("Location"), "", nil, 200},
		{"deleted", "GET", h.Get("Location"), "", nil, 404},
		{"delete again", "DELETE", h.Get("Location"), "", nil, 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, h, body := do(t, c, tc.method, s.url+tc.path, tc.body, tc.hdr...)
			if code != tc.want {
				t.Fatalf("%s %s = %d %s, want %d", tc.method, tc.path, code, body, tc.want)
			}
			if code >= 400 && (!strings.Contains(body, `"error":`) || h.Get("Content-Type") != "application/json") {
				t.Fatalf("error body %q (%s), want a JSON error", body, h.Get("Content-Type"))
			}
		})
	}
}

// TestImportRejectsOnlyTheBadBatch: batches of 10, a malformed element at
// index 25: the first two batches stay, nothing of the third is written,
// and the answer names the index and the count.
func TestImportRejectsOnlyTheBadBatch(t *testing.T) {
	store := data.NewMemory()
	s := serve(t, Config{Data: store, ImportBatch: 10})
	c := client(t)
	items := func(n, bad int) string {
		var b strings.Builder
		b.WriteString("[")
		for i := range n {
			if i > 0 {
				b.WriteString(",\n")
			}
			if i == bad {
				b.WriteString(`{"name": "broken", "value": }`)
				continue
			}
			fmt.Fprintf(&b, `{"name":"item-%d","value":{"i":%d}}`, i, i)
		}
		b.WriteString("]")
		return b.String()
	}
	code, _, body := do(t, c, "POST", s.url+"/import", items(40, 25))
	var res struct {
		Error           string
		Index, Imported int
	}
	if err := json.Unmarshal([]byte(body), &res); code != 400 || err != nil || res.Index != 25 || res.Imported != 20 || !strings.Contains(res.Error, "element 25") {
		t.Fatalf("import with a bad element = %d %s, want 400 at index 25 with 20 imported", code, body)
	}
	list, _, _ := store.List(t.Context(), 1000, "")
	if len(list) != 20 || list[19].Name != "item-19" {
		t.Fatalf("%d items stored after the rejected import, want the first 20", len(list))
	}
	for _, tc := range []struct{ body, want string }{
		{`{"name":"x"}`, "element 0: body is not a JSON array"},
		{`[{"name":"y1"},{"value":1}]`, `element 1: "name" is missing`},
		{`[{"name":"y2"},{"name":3}]`, `element 1: field "name" must be string`},
		{`[{"name":"y4"},{"name":"y5"}`, `element 2: unexpected end of body`},
		{`[{"name":"y3"}] [`, "element 1: data after the array"},
	} {
		code, _, body := do(t, c, "POST", s.url+"/import", tc.body)
		var res struct{ Error string }
		if err := json.Unmarshal([]byte(body), &res); code != 400 || err != nil || !strings.Contains(res.Error, tc.want) {
			t.Fatalf("import %s = %d %s, want 400 saying %q", tc.body, code, body, tc.want)
		}
	}
	code, _, body = do(t, c, "POST", s.url+"/import", strings.ReplaceAll(items(25, -1), "item-", "new-"))
	if code != 200 || !strings.Contains(body, `"imported":25,"batches":3`) {
		t.Fatalf("good import = %d %s, want 25 items in 3 batches", code, body)
	}
}

// TestWorkQueueFullIs503: one worker and a queue of one: of several
// concurrent heavy jobs some are refused at once with Retry-After, while
// /whoami keeps answering quickly.
func TestWorkQueueFullIs503(t *testing.T) {
	pool := work.New(1, 1)
	s := serve(t, Config{Work: pool})
	c := client(t)
	var wg sync.WaitGroup
	codes := make(chan int, 6)
	retryAfter := make(chan string, 6)
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, h, _ := do(t, c, "GET", fmt.Sprint(s.url, "/work?cost=", work.MaxCost/4), "")
			codes <- code
			retryAfter <- h.Get("Retry-After")
		}()
	}
	quick := &http.Client{Timeout: time.Second}
	for range 20 {
		if code, _, _ := do(t, quick, "GET", s.url+"/whoami", ""); code != 200 {
			t.Fatalf("/whoami = %d while /work is saturated", code)
		}
	}
	wg.Wait()
	close(codes)
	close(retryAfter)
	n := map[int]int{}
	for code := range codes {
		n[code]++
	}
	ra := map[string]int{}
	for v := range retryAfter {
		ra[v]++
	}
	if n[200] < 1 || n[503] < 1 || n[200]+n[503] != 6 || ra["1"] != n[503] {
		t.Fatalf("/work answers %v, Retry-After %v: want some 200, some 503 with Retry-After", n, ra)
	}
	if code, _, _ := do(t, c, "GET", s.url+"/work?cost=-1", ""); code != 400 {
		t.Fatalf("/work?cost=-1 = %d, want 400", code)
	}
}

// TestDrain: during the grace period readiness is 503 "draining" and
// responses close their connections; a slow request in flight finishes;
// then the listener is closed.
func TestDrain(t *testing.T) {
	svc := New(Config{ID: "d", Sessions: session.NewMemory(time.Hour), Data: data.NewMemory(), Work: work.New(1, 1)})
	srv := svc.Server(ServerConfig{ReadTimeout: time.Minute, WriteTimeout: time.Minute, IdleTimeout: time.Minute})
	// /slow is held until the test releases it: in flight for as long as
	// the test needs, whatever the machine's speed.
	arrived, release := make(chan struct{}), make(chan struct{})
	var releaseOnce sync.Once
	free := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(free)
	handle := srv.Handler
	srv.Handler = func(ctx *fasthttp.RequestCtx) {
		if string(ctx.Path()) == "/slow" {
			close(arrived)
			<-release
		}
		handle(ctx)
	}
	ln, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	url := "http://" + ln.Addr().String()
	c := client(t)
	slow := make(chan int, 1)
	go func() {
		code, _, _ := do(t, client(t), "GET", url+"/slow", "")
		slow <- code
	}()
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("the slow request never reached the handler")
	}
	// The grace only has to outlast two local requests: the test takes
	// about that long, as Drain sleeps through it.
	const grace = 2 * time.Second
	drained := make(chan error, 1)
	go func() { drained <- svc.Drain(srv, grace, 10*time.Second) }()
	waitUntil(t, 10*time.Second, "Drain to start draining", svc.Draining)
	code, h, body := do(t, c, "GET", url+"/healthz", "")
	if code != 503 || body != "draining\n" {
		t.Fatalf("/healthz while draining = %d %q, want 503 draining", code, body)
	}
	if code, h2, _ := do(t, c, "GET", url+"/whoami", ""); code != 200 || h2.Get("Connection") != "close" || h.Get("Connection") != "close" {
		t.Fatalf("/whoami while draining = %d Connection %q, want 200 with Connection: close", code, h2.Get("Connection"))
	}
	// After the grace the listener closes while /slow is still held.
	waitUntil(t, grace+10*time.Second, "the listener to close", func() bool {
		conn, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second)
		if err != nil {
			return true
		}
		conn.Close()
		return false
	})
	select {
	case err := <-drained:
		t.Fatalf("Drain() = %v with a request still in flight, want it to wait for it", err)
	default:
	}
	free()
	if code := <-slow; code != 200 {
		t.Fatalf("the request in flight got %d, want 200", code)
	}
	if err := <-drained; err != nil {
		t.Fatalf("Drain() = %v", err)
	}
	if _, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		t.Fatal("the listener still accepts after the drain")
	}
}

// waitUntil polls cond until it holds, failing the test after limit.
func waitUntil(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestListenSharesThePort: SO_REUSEPORT lets a second listener bind the
// port of the first (a new process during a rolling restart).
func TestListenSharesThePort(t *testing.T) {
	a, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Listen(a.Addr().String())
	if err != nil {
		t.Fatalf("second Listen on %s: %v", a.Addr(), err)
	}
	b.Close()
}

// TestSessionStoreDownIs503: with Redis stopped, the session endpoints
// and any request carrying a session answer 503 (never 401, never 500);
// after Redis returns, the session is intact.
func TestSessionStoreDownIs503(t *testing.T) {
	rs := testsvc.Redis(t)
	store, err := session.NewRedis(rs.URL(), time.Hour, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	s := serve(t, Config{Sessions: store, StoreTimeout: 2 * time.Second})
	c := client(t)
	if code, _, body := do(t, c, "POST", s.url+"/login", `{"user":"ann"}`); code != 200 {
		t.Fatalf("login = %d %s", code, body)
	}
	rs.Stop()
	for _, r := range []struct{ method, path, body string }{
		{"GET", "/me", ""}, {"POST", "/login", `{"user":"ann"}`}, {"POST", "/logout", ""}, {"GET", "/items", ""},
	} {
		code, h, body := do(t, c, r.method, s.url+r.path, r.body)
		if code != 503 || h.Get("Retry-After") == "" || !strings.Contains(body, "session store unavailable") {
			t.Fatalf("%s %s with Redis down = %d %s, want 503 with Retry-After", r.method, r.path, code, body)
		}
	}
	if code, _, _ := do(t, c, "GET", s.url+"/healthz", ""); code != 503 {
		t.Fatalf("/healthz with Redis down = %d, want 503", code)
	}
	rs.Start()
	// The pool redials on the next calls; the session was saved with Redis.
	deadline := time.Now().Add(5 * time.Second)
	for {
		code, _, body := do(t, c, "GET", s.url+"/me", "")
		if code == 200 && strings.Contains(body, `"user":"ann"`) {
			break
		}
		if code != 503 || time.Now().After(deadline) {
			t.Fatalf("/me after Redis came back = %d %s, want ann within 5s (503 meanwhile)", code, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
