package main_test

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"golang.org/x/sys/unix"
)

// A farm spread over hosts: each host is a network namespace made by the
// test, plugged into a bridge that lives in a namespace of its own (the
// switch). Every `ip` command names one of the test's namespaces (-n), and
// both ends of each veth pair are created inside them, so the host's own
// interfaces, addresses and routes are never touched.

// testNet is the test's switch and hosts.
type testNet struct {
	t      *testing.T
	prefix string // of every namespace name, unique per run
	sw     string // the switch's namespace
}

// needNetns fails the test under CI=true and skips it elsewhere.
func needNetns(t *testing.T, why string) {
	t.Helper()
	msg := "network namespaces cannot be created here (" + why + "): the multi-host test needs root and iproute2"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// newTestNet creates the switch: a namespace holding bridge br0.
func newTestNet(t *testing.T) *testNet {
	t.Helper()
	if _, err := exec.LookPath("ip"); err != nil {
		needNetns(t, "no ip command: "+err.Error())
	}
	sweepStaleNetns(t)
	var rnd [3]byte
	_, _ = rand.Read(rnd[:])
	n := &testNet{t: t, prefix: fmt.Sprintf("lbmh%d-%s-", os.Getpid(), hex.EncodeToString(rnd[:]))}
	n.sw = n.prefix + "sw"
	if out, err := exec.Command("ip", "netns", "add", n.sw).CombinedOutput(); err != nil {
		needNetns(t, fmt.Sprintf("ip netns add: %v: %s", err, strings.TrimSpace(string(out))))
	}
	n.cleanupNS(n.sw)
	n.ip(n.sw, "link", "set", "lo", "up")
	n.ip(n.sw, "link", "add", "br0", "type", "bridge")
	n.ip(n.sw, "link", "set", "br0", "up")
	return n
}

// staleNetnsRe matches the namespace names of this test: the test
// process's PID, a random part, the host.
var staleNetnsRe = regexp.MustCompile(`^lbmh(\d+)-[0-9a-f]{6}-[a-z0-9]+$`)

// sweepStaleNetns deletes the namespaces a run of this test left behind
// when it was killed before its cleanups (go test -timeout): those whose
// test process is gone.
func sweepStaleNetns(t *testing.T) {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return
	}
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		if len(f) == 0 {
			continue
		}
		m := staleNetnsRe.FindStringSubmatch(f[0])
		if m == nil {
			continue
		}
		if pid, _ := strconv.Atoi(m[1]); pid > 0 && syscall.Kill(pid, 0) == syscall.ESRCH {
			t.Logf("deleting namespace %s, left behind by test process %d", f[0], pid)
			_ = exec.Command("ip", "netns", "del", f[0]).Run()
		}
	}
}

// cleanupNS deletes namespace ns when the test ends, after the processes
// in it are stopped (cleanups run last-registered first). Deleting it
// destroys its veth, and so the peer in the switch.
func (n *testNet) cleanupNS(ns string) {
	n.t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
			n.t.Errorf("ip netns del %s: %v: %s", ns, err, out)
		}
	})
}

// ip runs `ip -n NS args…`; NS is always one of the test's namespaces.
func (n *testNet) ip(ns string, args ...string) {
	n.t.Helper()
	if !strings.HasPrefix(ns, n.prefix) {
		n.t.Fatalf("ip -n %s: not one of this test's namespaces", ns)
	}
	if out, err := exec.Command("ip", append([]string{"-n", ns}, args...)...).CombinedOutput(); err != nil {
		n.t.Fatalf("ip -n %s %s: %v: %s", ns, strings.Join(args, " "), err, out)
	}
}

// host creates a namespace with interface eth0 at addr/24, cabled to the
// switch port v-NAME, and returns the namespace's name.
func (n *testNet) host(name, addr string) string {
	n.t.Helper()
	ns := n.prefix + name
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		n.t.Fatalf("ip netns add %s: %v: %s", ns, err, out)
	}
	n.cleanupNS(ns)
	n.ip(n.sw, "link", "add", "v-"+name, "type", "veth", "peer", "name", "eth0", "netns", ns)
	n.ip(n.sw, "link", "set", "v-"+name, "master", "br0", "up")
	n.ip(ns, "link", "set", "lo", "up")
	n.ip(ns, "addr", "add", addr+"/24", "dev", "eth0")
	n.ip(ns, "link", "set", "eth0", "up")
	return ns
}

// cable plugs host name's switch port in (up) or pulls it out (down).
func (n *testNet) cable(name string, up bool) {
	state := "down"
	if up {
		state = "up"
	}
	n.ip(n.sw, "link", "set", "v-"+name, state)
}

// startIn starts program (a path) in namespace ns as a child process of
// its own process group, stopped at cleanup, like start.
func startIn(t *testing.T, ns, program string, args ...string) *proc {
	t.Helper()
	return startCmd(t, exec.Command("ip", append([]string{"netns", "exec", ns, program}, args...)...))
}

// nsDialer opens TCP connections from inside a namespace: a socket
// belongs to the namespace of the thread that made it, so one goroutine,
// locked to an OS thread that joined the namespace, makes them all; the
// connections are then used from any goroutine. The thread is never
// unlocked, so it ends with the goroutine instead of serving others.
type nsDialer struct {
	reqs chan dialReq
}

type dialReq struct {
	addr string
	res  chan dialRes
}

type dialRes struct {
	c   net.Conn
	err error
}

func newNSDialer(t *testing.T, ns string) *nsDialer {
	t.Helper()
	d := &nsDialer{reqs: make(chan dialReq)}
	ready := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		f, err := os.Open(filepath.Join("/run/netns", ns))
		if err != nil {
			ready <- err
			return
		}
		err = unix.Setns(int(f.Fd()), unix.CLONE_NEWNET)
		f.Close()
		if err != nil {
			ready <- fmt.Errorf("setns %s: %w", ns, err)
			return
		}
		ready <- nil
		for r := range d.reqs {
			c, err := net.DialTimeout("tcp", r.addr, 2*time.Second)
			r.res <- dialRes{c, err}
		}
	}()
	if err := <-ready; err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { close(d.reqs) })
	return d
}

// Dial is a fasthttp.DialFunc.
func (d *nsDialer) Dial(addr string) (net.Conn, error) {
	r := dialReq{addr, make(chan dialRes, 1)}
	d.reqs <- r
	res := <-r.res
	return res.c, res.err
}

// serverOut is the part of the admin API's /api/status this test reads.
type serverOut struct {
	Address string `json:"address"`
	Health  string `json:"health"`
	Ejected bool   `json:"ejected"`
}

// TestMultiHostLinkCut puts lb, three backends, Redis and the clients on
// six hosts (network namespaces on one bridge, 10.77.0.0/24), logs a user
// in, and under continuous load pulls the cable of one backend for 3 s,
// then plugs it back in. lb's checks: active every 300 ms (timeout
// 300 ms, fall 2, rise 2), passive on the first failure; timeouts connect
// 300 ms, response 2 s (generous: make test loads the machine);
// GET is retried on connect failures and timeouts. No idempotent request
// fails (the client never retries), lb takes the backend out within
// seconds and back after the cable returns, and the session answers on
// every reachable backend throughout.
func TestMultiHostLinkCut(t *testing.T) {
	redisBin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("redis-server not found: %v", err)
		}
		t.Skipf("redis-server not found: %v", err)
	}
	n := newTestNet(t)
	const (
		lbIP, redisIP, clientIP = "10.77.0.10", "10.77.0.5", "10.77.0.100"
		token                   = "multihost-test-token-0123"
	)
	backendIPs := []string{"10.77.0.11", "10.77.0.12", "10.77.0.13"}
	lbNS := n.host("lb", lbIP)
	redisNS := n.host("redis", redisIP)
	clientNS := n.host("client", clientIP)
	var backendNS []string
	for i, ip := range backendIPs {
		backendNS = append(backendNS, n.host(fmt.Sprintf("b%d", i+1), ip))
	}
	dial := newNSDialer(t, clientNS)

	startIn(t, redisNS, redisBin, "--port", "6379", "--bind", redisIP, "--save", "", "--appendonly", "no",
		"--protected-mode", "no", "--dir", t.TempDir())
	waitTCP(t, dial, redisIP+":6379")
	var servers []string
	for i, ns := range backendNS {
		b := startIn(t, ns, filepath.Join(binDir, "backend"), "-addr", backendIPs[i]+":8080", "-id", fmt.Sprintf("b%d", i+1),
			"-redis", "redis://"+redisIP+":6379/0")
		servers = append(servers, b.waitFor(t, backendAddrRe))
	}
	cfg := filepath.Join(t.TempDir(), "lb.yaml")
	var b strings.Builder
	fmt.Fprintf(&b, `listeners: [{address: "%s:8080"}]
admin: {address: "%s:9090", token: "%s"}
log: {format: json, access: {enabled: false}}
routes: [{pool: web}]
pools:
  web:
    timeouts: {connect: 300ms, response: 2s}
    health_check: {path: /healthz, interval: 300ms, timeout: 300ms, rise: 2, fall: 2}
    passive: {max_fails: 1, fail_timeout: 1s}
    retries: {attempts: 3, on: [connect, timeout, error], timeout: 8s}
    servers:
`, lbIP, lbIP, token)
	for _, s := range servers {
		b.WriteString("      - address: " + s + "\n")
	}
	if err := os.WriteFile(cfg, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	lb := startIn(t, lbNS, filepath.Join(binDir, "lb"), "-config", cfg)
	lbAddr := lb.waitFor(t, lbAddrRe)

	client := &fasthttp.HostClient{Addr: lbAddr, Dial: dial.Dial, MaxConns: 64, MaxIdemponentCallAttempts: 1}
	admin := &fasthttp.HostClient{Addr: lbIP + ":9090", Dial: dial.Dial, MaxIdemponentCallAttempts: 1}
	status := func() map[string]serverOut {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		req.SetRequestURI("http://" + lbIP + ":9090/api/status")
		req.Header.Set("Authorization", "Bearer "+token)
		if err := admin.DoTimeout(req, resp, 5*time.Second); err != nil || resp.StatusCode() != 200 {
			t.Fatalf("/api/status: %v %d %s", err, resp.StatusCode(), resp.Body())
		}
		var st struct {
			Pools []struct{ Servers []serverOut }
		}
		if err := json.Unmarshal(resp.Body(), &st); err != nil {
			t.Fatal(err)
		}
		out := map[string]serverOut{}
		for _, p := range st.Pools {
			for _, s := range p.Servers {
				out[s.Address] = s
			}
		}
		return out
	}
	// retries reads lb_retries_total of the pool from /metrics.
	retries := func() int {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		req.SetRequestURI("http://" + lbIP + ":9090/metrics")
		req.Header.Set("Authorization", "Bearer "+token)
		if err := admin.DoTimeout(req, resp, 5*time.Second); err != nil || resp.StatusCode() != 200 {
			t.Fatalf("/metrics: %v %d", err, resp.StatusCode())
		}
		m := regexp.MustCompile(`(?m)^lb_retries_total\{pool="web"\} (\d+)$`).FindSubmatch(resp.Body())
		if m == nil {
			t.Fatalf("/metrics has no lb_retries_total for pool web")
		}
		v, _ := strconv.Atoi(string(m[1]))
		return v
	}
	in := func(s serverOut) bool { return s.Health == "up" && !s.Ejected }
	// waitStatus polls until cond holds for server addr; it returns when.
	waitStatus := func(addr string, cond func(serverOut) bool, limit time.Duration, what string) time.Time {
		deadline := time.Now().Add(limit)
		for {
			if cond(status()[addr]) {
				return time.Now()
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within %v (status %+v)", what, limit, status()[addr])
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	for _, s := range servers {
		waitStatus(s, in, 10*time.Second, s+" up at start")
	}

	// Log in once; the session lives in Redis, on its own host.
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	req.SetRequestURI("http://lb/login")
	req.Header.SetMethod("POST")
	req.SetBodyString(`{"user":"ann"}`)
	if err := client.DoTimeout(req, resp, 5*time.Second); err != nil || resp.StatusCode() != 200 {
		t.Fatalf("login through lb: %v %d %s", err, resp.StatusCode(), resp.Body())
	}
	sid := resp.Header.PeekCookie("sid")
	if len(sid) == 0 {
		t.Fatal("login set no sid cookie")
	}
	var c fasthttp.Cookie
	if err := c.ParseBytes(sid); err != nil {
		t.Fatal(err)
	}
	cookie := string(c.Value())

	// The load: 6 workers on /whoami, 2 on /me with the session cookie.
	type answer struct {
		at             time.Time
		path, instance string
	}
	var (
		stop         atomic.Bool
		sent, failed atomic.Int64
		mu           sync.Mutex
		answers      []answer
		wg           sync.WaitGroup
	)
	worker := func(path string) {
		defer wg.Done()
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		for !stop.Load() {
			req.Reset()
			resp.Reset()
			req.SetRequestURI("http://lb" + path)
			if path == "/me" {
				req.Header.SetCookie("sid", cookie)
			}
			sent.Add(1)
			err := client.DoTimeout(req, resp, 10*time.Second)
			var body meBody
			if err == nil {
				err = json.Unmarshal(resp.Body(), &body)
			}
			if err != nil || resp.StatusCode() != 200 || (path == "/me" && body.User != "ann") {
				failed.Add(1)
				t.Errorf("GET %s: %v, status %d, body %q", path, err, resp.StatusCode(), resp.Body())
				continue
			}
			mu.Lock()
			answers = append(answers, answer{time.Now(), path, body.Instance})
			mu.Unlock()
		}
	}
	for _, path := range []string{"/whoami", "/whoami", "/whoami", "/whoami", "/whoami", "/whoami", "/me", "/me"} {
		wg.Add(1)
		go worker(path)
	}
	defer func() { stop.Store(true); wg.Wait() }() // on a Fatal below
	time.Sleep(2 * time.Second)

	retriedBefore := retries()
	cut := servers[1]
	cutAt := time.Now()
	n.cable("b2", false)
	var outBy serverOut
	outAt := waitStatus(cut, func(s serverOut) bool { outBy = s; return !in(s) }, 10*time.Second, "cut backend taken out")
	// Out for 3 s, and at least 2 s after lb noticed: time for /me to be
	// answered by both other backends meanwhile, on a loaded machine too.
	time.Sleep(time.Until(later(cutAt.Add(3*time.Second), outAt.Add(2*time.Second))))
	restoredAt := time.Now()
	n.cable("b2", true)
	backAt := waitStatus(cut, in, 20*time.Second, "backend back in after its cable returned")
	// Traffic reaches it again: an answer from b2 after the cable returned.
	var servedAt time.Time
	for deadline := time.Now().Add(10 * time.Second); servedAt.IsZero() && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		mu.Lock()
		for _, a := range answers {
			if a.instance == "b2" && a.at.After(restoredAt) {
				servedAt = a.at
				break
			}
		}
		mu.Unlock()
	}
	if servedAt.IsZero() {
		t.Fatal("b2 served no request within 10 s of its cable returning")
	}
	time.Sleep(1500 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	retried := retries() - retriedBefore

	// Which backends answered /me, before, during and after the cut.
	phases := []struct {
		name     string
		from, to time.Time
		want     []string
	}{
		{name: "before the cut", to: cutAt, want: []string{"b1", "b2", "b3"}},
		{name: "during the cut", from: outAt, to: restoredAt, want: []string{"b1", "b3"}},
		{name: "after rejoining", from: servedAt, to: time.Now(), want: []string{"b1", "b2", "b3"}},
	}
	for _, ph := range phases {
		seen := map[string]int{}
		for _, a := range answers {
			if a.path == "/me" && !a.at.Before(ph.from) && a.at.Before(ph.to) {
				seen[a.instance]++
			}
		}
		got := make([]string, 0, len(seen))
		for k := range seen {
			got = append(got, k)
		}
		slices.Sort(got)
		t.Logf("/me as ann %s: %v", ph.name, seen)
		if !slices.Equal(got, ph.want) {
			t.Errorf("/me answered as ann %s by %v, want %v", ph.name, got, ph.want)
		}
	}
	t.Logf("cable of b2 (%s) out for %v under load: %d requests, %d failed, %d retried by lb; lb took it out %v after the cut (health %s, ejected %v), back in %v after the cable returned (rise 2), serving again after %v",
		cut, restoredAt.Sub(cutAt).Round(time.Millisecond), sent.Load(), failed.Load(), retried,
		outAt.Sub(cutAt).Round(time.Millisecond), outBy.Health, outBy.Ejected, backAt.Sub(restoredAt).Round(time.Millisecond), servedAt.Sub(restoredAt).Round(time.Millisecond))
	if failed.Load() != 0 {
		t.Fatalf("%d of %d idempotent requests failed; want 0 (lb retries them on another server)", failed.Load(), sent.Load())
	}
	if retried == 0 {
		t.Errorf("lb retried no request: the cut caught none in flight, so the test did not show the retries")
	}
	if d := outAt.Sub(cutAt); d > 3*time.Second {
		t.Errorf("lb took the cut backend out after %v, want within 3 s", d)
	}
	if d := backAt.Sub(restoredAt); d > 5*time.Second {
		t.Errorf("lb took the backend back %v after its cable returned, want within 5 s", d)
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// waitTCP waits until addr accepts a connection made through d.
func waitTCP(t *testing.T, d *nsDialer, addr string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := d.Dial(addr)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
