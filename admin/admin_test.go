package admin_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"lb/process"
)

const token = "0123456789abcdef-test"

// origin is a real upstream server that says its name. GET /slow blocks
// until release is closed, after reporting its name on started.
type origin struct {
	addr     string
	name     string
	requests atomic.Int64 // excluding health checks
}

type farm struct {
	started chan string
	release chan struct{}
	once    sync.Once
}

func (f *farm) releaseSlow() { f.once.Do(func() { close(f.release) }) }

func newFarm(t *testing.T) *farm {
	f := &farm{started: make(chan string, 16), release: make(chan struct{})}
	t.Cleanup(f.releaseSlow)
	return f
}

func (f *farm) origin(t *testing.T, name string) *origin {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := &origin{addr: ln.Addr().String(), name: name}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		if string(ctx.Path()) == "/healthz" {
			return
		}
		o.requests.Add(1)
		if string(ctx.Path()) == "/slow" {
			f.started <- name
			<-f.release
		}
		ctx.WriteString(name)
	}}
	go srv.Serve(ln) //nolint:errcheck
	t.Cleanup(func() { _ = srv.Shutdown() })
	return o
}

// configTmpl's health checks are generous (a probe may take up to 500ms,
// and the first comes within 500ms): a slow probe in a -race binary on a
// loaded machine must not fail a check the tests expect to pass.
const configTmpl = `listeners: [{address: "127.0.0.1:0"}]
log: {level: error, access: {enabled: false}}
admin: {address: "127.0.0.1:0", token: "TOKEN"}
routes: [{pool: web}]
pools:
  web:
    health_check: {interval: 500ms, timeout: 500ms, path: /healthz}
    servers: [SERVERS]
`

type lbUnderTest struct {
	t     *testing.T
	p     *process.Process
	path  string
	addr  string
	admin string
}

func (l *lbUnderTest) write(servers ...*origin) {
	var list []string
	for _, o := range servers {
		list = append(list, fmt.Sprintf("{address: %q}", o.addr))
	}
	cfg := strings.NewReplacer("TOKEN", token, "SERVERS", strings.Join(list, ", ")).Replace(configTmpl)
	if err := os.WriteFile(l.path, []byte(cfg), 0o644); err != nil {
		l.t.Fatal(err)
	}
}

func startLB(t *testing.T, servers ...*origin) *lbUnderTest {
	t.Helper()
	l := &lbUnderTest{t: t, path: filepath.Join(t.TempDir(), "lb.yaml")}
	l.write(servers...)
	p, err := process.Start(l.path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = p.Shutdown(ctx)
	})
	l.p, l.addr, l.admin = p, p.Addrs()[0].String(), p.AdminAddr().String()
	return l
}

// get sends one request through lb and returns the origin's name.
func (l *lbUnderTest) get(path string) string {
	l.t.Helper()
	code, body, err := fasthttp.GetTimeout(nil, "http://"+l.addr+path, 10*time.Second)
	if err != nil || code != 200 {
		l.t.Fatalf("GET %s: %d %v", path, code, err)
	}
	return string(body)
}

// call sends an admin request with the token and decodes the answer.
func (l *lbUnderTest) call(method, path string, out any) int {
	return l.callAuth(method, path, "Bearer "+token, out)
}

func (l *lbUnderTest) callAuth(method, path, auth string, out any) int {
	l.t.Helper()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.Header.SetMethod(method)
	req.SetRequestURI("http://" + l.admin + path)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if err := fasthttp.DoTimeout(req, resp, 30*time.Second); err != nil {
		l.t.Fatalf("%s %s: %v", method, path, err)
	}
	if out != nil {
		if err := json.Unmarshal(resp.Body(), out); err != nil {
			l.t.Fatalf("%s %s: %v in %s", method, path, err, resp.Body())
		}
	}
	return resp.StatusCode()
}

type status struct {
	Pools []struct {
		Name    string `json:"name"`
		Queue   int64  `json:"queue"`
		Servers []struct {
			Address   string `json:"address"`
			ID        string `json:"id"`
			State     string `json:"state"`
			Admin     string `json:"admin"`
			Health    string `json:"health"`
			Ejected   bool   `json:"ejected"`
			Weight    int    `json:"weight"`
			InFlight  int64  `json:"in_flight"`
			Requests  uint64 `json:"requests"`
			SlowStart bool   `json:"slow_start"`
			LastCheck *struct {
				OK     bool      `json:"ok"`
				Reason string    `json:"reason"`
				At     time.Time `json:"at"`
			} `json:"last_check"`
		} `json:"servers"`
	} `json:"pools"`
	LastReload *struct {
		At    time.Time `json:"at"`
		OK    bool      `json:"ok"`
		Error string    `json:"error"`
	} `json:"last_reload"`
}

type command struct {
	Pool     string `json:"pool"`
	Address  string `json:"address"`
	State    string `json:"state"`
	Admin    string `json:"admin"`
	Changed  bool   `json:"changed"`
	Drained  *bool  `json:"drained"`
	InFlight *int64 `json:"in_flight"`
	Waited   string `json:"waited"`
	Error    string `json:"error"`
}

func TestStatus(t *testing.T) {
	f := newFarm(t)
	a, b := f.origin(t, "a"), f.origin(t, "b")
	l := startLB(t, a, b)
	for range 4 {
		l.get("/")
	}
	var st status
	deadline := time.Now().Add(5 * time.Second)
	for {
		st = status{}
		if code := l.call("GET", "/api/status", &st); code != 200 {
			t.Fatalf("status: %d", code)
		}
		if s := st.Pools[0].Servers; s[0].LastCheck != nil && s[1].LastCheck != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no health check result in the status")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(st.Pools) != 1 || st.Pools[0].Name != "web" || st.Pools[0].Queue != 0 || len(st.Pools[0].Servers) != 2 {
		t.Fatalf("status pools: %+v", st.Pools)
	}
	for i, o := range []*origin{a, b} {
		s := st.Pools[0].Servers[i]
		if s.Address != o.addr || len(s.ID) != 16 || s.State != "up" || s.Admin != "none" || s.Health != "up" ||
			s.Ejected || s.Weight != 1 || s.InFlight != 0 || s.Requests != 2 || s.SlowStart {
			t.Errorf("server %d: %+v", i, s)
		}
		if c := s.LastCheck; !c.OK || c.Reason != "status 200" || time.Since(c.At) > 5*time.Second {
			t.Errorf("server %d last check: %+v", i, c)
		}
	}
	if st.LastReload != nil {
		t.Errorf("last_reload = %+v before any reload, want null", st.LastReload)
	}
	var r struct {
		OK bool `json:"ok"`
	}
	if code := l.call("POST", "/api/reload", &r); code != 200 || !r.OK {
		t.Fatalf("reload: %d %+v", code, r)
	}
	st = status{}
	l.call("GET", "/api/status", &st)
	if st.LastReload == nil || !st.LastReload.OK || st.LastReload.Error != "" || time.Since(st.LastReload.At) > 5*time.Second {
		t.Errorf("last_reload after a good reload: %+v", st.LastReload)
	}
}

func TestToken(t *testing.T) {
	f := newFarm(t)
	l := startLB(t, f.origin(t, "a"))
	for _, auth := range []string{"", "Bearer wrong", "Bearer " + token + "x", token, "bearer " + token} {
		var e struct {
			Error string `json:"error"`
		}
		if code := l.callAuth("GET", "/api/status", auth, &e); code != 401 || e.Error == "" {
			t.Errorf("Authorization %q: %d %+v, want 401", auth, code, e)
		}
	}
	if code := l.callAuth("POST", "/api/servers/web/x/drain", "", nil); code != 401 {
		t.Errorf("command without token: %d, want 401", code)
	}
	if code := l.call("GET", "/api/status", nil); code != 200 {
		t.Errorf("with the token: %d, want 200", code)
	}
}

func TestUnknownServer(t *testing.T) {
	f := newFarm(t)
	a := f.origin(t, "a")
	l := startLB(t, a)
	for _, path := range []string{"/api/servers/nope/" + a.addr + "/drain", "/api/servers/web/127.0.0.1:1/drain", "/api/servers/web/" + a.addr + "/explode", "/api/nothing"} {
		var c command
		if code := l.call("POST", path, &c); code != 404 || c.Error == "" {
			t.Errorf("POST %s: %d %+v, want 404", path, code, c)
		}
	}
	if code := l.call("GET", "/api/servers/web/"+a.addr+"/drain", nil); code != 405 {
		t.Errorf("GET on a command: %d, want 405", code)
	}
	if code := l.call("POST", "/api/servers/web/"+a.addr+"/drain?wait=forever", nil); code != 400 {
		t.Errorf("bad wait: %d, want 400", code)
	}
}

// startSlow starts a GET /slow through lb and returns the name of the
// origin it reached and a channel that gets its answer.
func startSlow(t *testing.T, l *lbUnderTest, f *farm) (string, chan string) {
	t.Helper()
	done := make(chan string, 1)
	go func() {
		code, body, err := fasthttp.GetTimeout(nil, "http://"+l.addr+"/slow", 20*time.Second)
		done <- fmt.Sprint(code, " ", string(body), " ", err)
	}()
	select {
	case name := <-f.started:
		return name, done
	case <-time.After(10 * time.Second):
		t.Fatal("the slow request never reached an origin")
	}
	return "", nil
}

// TestDrainWait: a drain with a wait returns when the slow request in
// flight finishes, and no new request reaches the server meanwhile.
func TestDrainWait(t *testing.T) {
	f := newFarm(t)
	origins := map[string]*origin{"a": f.origin(t, "a"), "b": f.origin(t, "b")}
	l := startLB(t, origins["a"], origins["b"])
	name, slow := startSlow(t, l, f)
	x := origins[name]
	before := x.requests.Load()

	type answer struct {
		code int
		c    command
		at   time.Time
	}
	drained := make(chan answer, 1)
	go func() {
		var a answer
		a.code = l.call("POST", "/api/servers/web/"+x.addr+"/drain?wait=10s", &a.c)
		a.at = time.Now()
		drained <- a
	}()
	// Wait until the drain took effect, then load lb while it waits.
	deadline := time.Now().Add(5 * time.Second)
	for l.p.Handler().Snapshot().Routes()[0].Pool.Server(x.addr).State().String() != "draining" {
		if time.Now().After(deadline) {
			t.Fatal("drain never took effect")
		}
		time.Sleep(time.Millisecond)
	}
	for range 20 {
		if got := l.get("/"); got == name {
			t.Fatalf("a new request reached the draining server %s", name)
		}
	}
	select {
	case a := <-drained:
		t.Fatalf("drain returned with a request in flight: %+v", a)
	default:
	}
	released := time.Now()
	f.releaseSlow()
	if got := <-slow; got != "200 "+name+" <nil>" {
		t.Fatalf("slow request: %s", got)
	}
	a := <-drained
	if a.code != 200 || a.c.Drained == nil || !*a.c.Drained || *a.c.InFlight != 0 || a.c.State != "draining" || a.c.Admin != "drain" || !a.c.Changed {
		t.Fatalf("drain answer: %d %+v", a.code, a.c)
	}
	if a.at.Before(released) {
		t.Fatal("drain answered before the slow request finished")
	}
	if w, err := time.ParseDuration(a.c.Waited); err != nil || w <= 0 {
		t.Errorf("waited %q", a.c.Waited)
	}
	if got := x.requests.Load(); got != before {
		t.Fatalf("%d new requests reached the draining server", got-before)
	}

	// enable brings it back.
	var c command
	if code := l.call("POST", "/api/servers/web/"+x.addr+"/enable", &c); code != 200 || c.State != "up" || c.Admin != "up" || c.Drained != nil {
		t.Fatalf("enable: %d %+v", code, c)
	}
	seen := map[string]int{}
	for range 10 {
		seen[l.get("/")]++
	}
	if seen["a"] != 5 || seen["b"] != 5 {
		t.Fatalf("after enable: %v, want 5 each", seen)
	}

	// disable takes it out, as maintenance.
	c = command{}
	if code := l.call("POST", "/api/servers/web/"+x.addr+"/disable", &c); code != 200 || c.State != "down" || c.Admin != "down" {
		t.Fatalf("disable: %d %+v", code, c)
	}
	for range 10 {
		if got := l.get("/"); got == name {
			t.Fatal("a request reached the disabled server")
		}
	}
}

// TestDrainWaitTimeout: the wait passes with the request still in flight.
func TestDrainWaitTimeout(t *testing.T) {
	f := newFarm(t)
	origins := map[string]*origin{"a": f.origin(t, "a"), "b": f.origin(t, "b")}
	l := startLB(t, origins["a"], origins["b"])
	name, slow := startSlow(t, l, f)
	start := time.Now()
	var c command
	code := l.call("POST", "/api/servers/web/"+origins[name].addr+"/drain?wait=200ms", &c)
	if took := time.Since(start); took < 200*time.Millisecond || took > 5*time.Second {
		t.Errorf("drain with wait=200ms took %s", took)
	}
	if code != 200 || c.Drained == nil || *c.Drained || *c.InFlight != 1 || c.State != "draining" {
		t.Fatalf("drain answer: %d %+v", code, c)
	}
	f.releaseSlow()
	<-slow
}

// TestDrainSurvivesReload: a runtime drain stays through reloads that keep
// the server, and goes when a reload removes it.
func TestDrainSurvivesReload(t *testing.T) {
	f := newFarm(t)
	a, b := f.origin(t, "a"), f.origin(t, "b")
	l := startLB(t, a, b)
	if code := l.call("POST", "/api/servers/web/"+a.addr+"/drain", nil); code != 200 {
		t.Fatalf("drain: %d", code)
	}
	serverOf := func(addr string) (state, admin string) {
		var st status
		l.call("GET", "/api/status", &st)
		for _, s := range st.Pools[0].Servers {
			if s.Address == addr {
				return s.State, s.Admin
			}
		}
		return "", ""
	}
	if code := l.call("POST", "/api/reload", nil); code != 200 {
		t.Fatalf("reload: %d", code)
	}
	if st, adm := serverOf(a.addr); st != "draining" || adm != "drain" {
		t.Fatalf("after a reload that keeps it: %s/%s, want draining/drain", st, adm)
	}
	for range 6 {
		if l.get("/") == "a" {
			t.Fatal("a request reached the drained server after the reload")
		}
	}

	l.write(b) // a removed
	if code := l.call("POST", "/api/reload", nil); code != 200 {
		t.Fatalf("reload: %d", code)
	}
	if code := l.call("POST", "/api/servers/web/"+a.addr+"/enable", nil); code != 404 {
		t.Fatalf("command on a removed server: %d, want 404", code)
	}
	l.write(a, b) // a back, without its override
	if code := l.call("POST", "/api/reload", nil); code != 200 {
		t.Fatalf("reload: %d", code)
	}
	if st, adm := serverOf(a.addr); st != "up" || adm != "none" {
		t.Fatalf("re-added server: %s/%s, want up/none", st, adm)
	}
	seen := map[string]int{}
	for range 10 {
		seen[l.get("/")]++
	}
	if seen["a"] != 5 {
		t.Fatalf("re-added server got %d of 10 requests: %v", seen["a"], seen)
	}
}

func TestReloadEndpointBad(t *testing.T) {
	f := newFarm(t)
	l := startLB(t, f.origin(t, "a"))
	if err := os.WriteFile(l.path, []byte("listeners: [{address: \"127.0.0.1:0\"}]\nroutes: [{pool: web}]\npools:\n  web:\n    servers: [{address: \"bad host\"}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var r struct {
		OK    bool      `json:"ok"`
		At    time.Time `json:"at"`
		Error string    `json:"error"`
	}
	if code := l.call("POST", "/api/reload", &r); code != 422 || r.OK || !strings.Contains(r.Error, l.path+":5: pools.web.servers[0].address") {
		t.Fatalf("bad reload: %d %+v", code, r)
	}
	if got := l.get("/"); got != "a" {
		t.Fatalf("after a bad reload: %q", got)
	}
	var st status
	l.call("GET", "/api/status", &st)
	if st.LastReload == nil || st.LastReload.OK || st.LastReload.Error != r.Error {
		t.Fatalf("last_reload after a bad reload: %+v", st.LastReload)
	}
}
