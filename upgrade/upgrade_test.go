package upgrade

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// The test binary plays the new process when started by Spawn.
const (
	envTestAddr = "LB_UPGRADE_TEST_ADDR"
	envTestFail = "LB_UPGRADE_TEST_FAIL"
)

func TestMain(m *testing.M) {
	if os.Getenv(envChannel) != "" {
		child()
		return
	}
	os.Exit(m.Run())
}

// child serves "child <pid>" on the inherited listener.
func child() {
	s, err := Inherit()
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(2)
	}
	if msg := os.Getenv(envTestFail); msg != "" {
		s.Failed(errors.New(msg))
		os.Exit(1)
	}
	v, err := s.Listen("http", os.Getenv(envTestAddr))
	if err != nil {
		s.Failed(err)
		os.Exit(1)
	}
	srv := serve(v, "child", time.Minute)
	_ = srv
	if err := s.Ready(); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(2)
	}
	select {}
}

// parent is the old process's side of a test: a set, optionally parking
// after park, with one listener served until the test ends.
func parent(t *testing.T, park, idle time.Duration) (*Set, string) {
	t.Helper()
	s := NewSet()
	if park > 0 {
		s.ParkIdle(park)
		t.Cleanup(s.StopParking)
	}
	v, err := s.Listen("http", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := serve(v, "parent", idle)
	t.Cleanup(func() { _ = srv.Shutdown() })
	return s, v.Addr().String()
}

// serve answers every request with name and the PID; /slow after 300 ms.
func serve(ln net.Listener, name string, idle time.Duration) *fasthttp.Server {
	body := fmt.Sprintf("%s %d", name, os.Getpid())
	srv := &fasthttp.Server{
		Handler: func(ctx *fasthttp.RequestCtx) {
			if string(ctx.Path()) == "/slow" {
				time.Sleep(300 * time.Millisecond)
			}
			ctx.WriteString(body)
		},
		ConnState:   ConnState,
		IdleTimeout: idle,
	}
	go srv.Serve(ln)
	return srv
}

// spawn starts the test binary as the new process of s, serving addr.
func spawn(t *testing.T, s *Set, addr, fail string) (*Child, error) {
	t.Setenv(envTestAddr, addr)
	if fail != "" {
		t.Setenv(envTestFail, fail)
	}
	c, err := s.Spawn(20 * time.Second)
	if c != nil {
		t.Cleanup(func() {
			_ = syscall.Kill(c.Pid, syscall.SIGKILL)
			<-c.Exited()
		})
	}
	return c, err
}

// rawConn is a keep-alive client connection that sends requests by hand.
type rawConn struct {
	c net.Conn
	r *bufio.Reader
}

func dial(t *testing.T, addr string) *rawConn {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{c: c, r: bufio.NewReader(c)}
}

func (rc *rawConn) get(path string) (string, error) {
	if _, err := fmt.Fprintf(rc.c, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path); err != nil {
		return "", err
	}
	return rc.read()
}

func (rc *rawConn) read() (string, error) {
	var resp fasthttp.Response
	rc.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if err := resp.Read(rc.r); err != nil {
		return "", err
	}
	return string(resp.Body()), nil
}

// TestHandOverIdleBusyAndNewConnections: an idle keep-alive connection,
// one with a request in flight, and new connections all end up served
// by the new process, with nothing lost and no error.
func TestHandOverIdleBusyAndNewConnections(t *testing.T) {
	s, addr := parent(t, 0, time.Minute)

	idle, busy := dial(t, addr), dial(t, addr)
	for _, rc := range []*rawConn{idle, busy} {
		if got, err := rc.get("/"); err != nil || !strings.HasPrefix(got, "parent") {
			t.Fatalf("before: %q, %v", got, err)
		}
	}
	// A request in flight through the whole hand-over.
	fmt.Fprintf(busy.c, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
	time.Sleep(50 * time.Millisecond)

	child, err := spawn(t, s, "127.0.0.1:0", "")
	if err != nil {
		t.Fatal(err)
	}
	s.HandOver(child.Channel())

	if got, err := busy.read(); err != nil || !strings.HasPrefix(got, "parent") {
		t.Fatalf("request in flight: %q, %v; want the old process's answer", got, err)
	}
	want := fmt.Sprintf("child %d", child.Pid)
	for name, rc := range map[string]*rawConn{"idle": idle, "busy": busy, "new": dial(t, addr)} {
		for range 3 {
			if got, err := rc.get("/"); err != nil || got != want {
				t.Fatalf("%s connection after hand-over: %q, %v; want %q", name, got, err, want)
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.WaitConns(ctx); err != nil {
		t.Fatalf("old process still holds %d connections: %v", s.Conns(), err)
	}
	if err := s.HandOverErr(); err != nil {
		t.Fatal(err)
	}
}

// TestHandOverUnderLoad: clients that never retry keep sending on their
// keep-alive connections while the process changes: not one fails.
func TestHandOverUnderLoad(t *testing.T) {
	s, addr := parent(t, 0, time.Minute)

	var stop atomic.Bool
	var ok, failed, byChild atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rc, err := net.Dial("tcp", addr)
			if err != nil {
				failed.Add(1)
				return
			}
			defer rc.Close()
			conn := &rawConn{c: rc, r: bufio.NewReader(rc)}
			for !stop.Load() {
				got, err := conn.get("/")
				if err != nil {
					failed.Add(1)
					t.Errorf("request: %v", err)
					return
				}
				ok.Add(1)
				if strings.HasPrefix(got, "child") {
					byChild.Add(1)
				}
			}
		}()
	}
	time.Sleep(200 * time.Millisecond)
	child, err := spawn(t, s, "127.0.0.1:0", "")
	if err != nil {
		t.Fatal(err)
	}
	s.HandOver(child.Channel())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.WaitConns(ctx); err != nil {
		t.Errorf("old process still holds %d connections: %v", s.Conns(), err)
	}
	time.Sleep(200 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	t.Logf("%d requests, %d failed, %d answered by the new process", ok.Load(), failed.Load(), byChild.Load())
	if failed.Load() != 0 || byChild.Load() == 0 {
		t.Fatalf("%d failed, %d by the new process", failed.Load(), byChild.Load())
	}
}

// TestSpawnFailureKeepsServing: a new process that cannot serve says why,
// and the old one goes on as if nothing happened.
func TestSpawnFailureKeepsServing(t *testing.T) {
	s, addr := parent(t, 0, time.Minute)
	rc := dial(t, addr)
	_, err := spawn(t, s, "127.0.0.1:0", "config.yaml:3: listeners: bad")
	if err == nil || !strings.Contains(err.Error(), "config.yaml:3: listeners: bad") {
		t.Fatalf("Spawn = %v; want the new process's reason", err)
	}
	for _, c := range []*rawConn{rc, dial(t, addr)} {
		if got, err := c.get("/"); err != nil || !strings.HasPrefix(got, "parent") {
			t.Fatalf("after a failed upgrade: %q, %v", got, err)
		}
	}
}

// TestParkIdle: a keep-alive connection idle between requests is parked
// (the server lets it go), its next request is served all the same, and
// a hand-over takes parked connections too. (That the server's idle
// timeout still closes a parked connection is TestParkedIdleTimeoutAndStop's
// part: here the idle timeout is long, so that spawning a -race child on
// a loaded machine cannot outlast it and close the connections first.)
func TestParkIdle(t *testing.T) {
	s, addr := parent(t, 100*time.Millisecond, time.Minute)

	conns := []*rawConn{dial(t, addr), dial(t, addr), dial(t, addr)}
	for _, c := range conns {
		if _, err := c.get("/"); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "3 parked connections", func() bool { return s.Parked() == 3 })
	for round := range 3 {
		for i, c := range conns {
			if got, err := c.get("/"); err != nil || !strings.HasPrefix(got, "parent") {
				t.Fatalf("round %d, parked connection %d: %q, %v", round, i, got, err)
			}
		}
		waitFor(t, "parked again", func() bool { return s.Parked() == 3 })
	}
	if s.Conns() != 3 {
		t.Fatalf("%d connections tracked, want 3", s.Conns())
	}

	// A hand-over wakes parked connections and passes them on.
	child, err := spawn(t, s, "127.0.0.1:0", "")
	if err != nil {
		t.Fatal(err)
	}
	s.HandOver(child.Channel())
	for i, c := range conns {
		if got, err := c.get("/"); err != nil || got != fmt.Sprintf("child %d", child.Pid) {
			t.Fatalf("parked connection %d after hand-over: %q, %v", i, got, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.WaitConns(ctx); err != nil {
		t.Fatalf("%d connections left after hand-over", s.Conns())
	}
}

// TestParkedIdleTimeoutAndStop: a parked connection still closes at the
// server's idle timeout, and StopParking closes the parked ones.
func TestParkedIdleTimeoutAndStop(t *testing.T) {
	s, addr := parent(t, 100*time.Millisecond, 1500*time.Millisecond)
	short := dial(t, addr)
	if _, err := short.get("/"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "parked", func() bool { return s.Parked() == 1 })
	short.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := short.r.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Fatalf("parked connection past its idle timeout: read %d, %v; want closed", n, err)
	}

	waitFor(t, "the first connection gone", func() bool { return s.Conns() == 0 })

	// Another set whose idle timeout cannot close it first.
	s, addr = parent(t, 100*time.Millisecond, time.Minute)
	other := dial(t, addr)
	if _, err := other.get("/"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "parked", func() bool { return s.Parked() == 1 })
	s.StopParking()
	other.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := other.r.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Fatalf("parked connection after StopParking: read %d, %v; want closed", n, err)
	}
	waitFor(t, "no connection left", func() bool { return s.Conns() == 0 })
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("not %s after 5s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestListenDefersAccept: a connection reaches Accept only once its
// client has sent something (TCP_DEFER_ACCEPT, which holds a silent one
// for at least a second), and then with its bytes waiting.
func TestListenDefersAccept(t *testing.T) {
	s := NewSet()
	v, err := s.Listen("http", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	c := dial(t, v.Addr().String())
	got := make(chan net.Conn, 1)
	go func() {
		if a, err := v.Accept(); err == nil {
			got <- a
		}
	}()
	select {
	case a := <-got:
		a.Close()
		t.Fatal("a connection that sent nothing was accepted")
	case <-time.After(300 * time.Millisecond):
	}
	if _, err := c.c.Write([]byte("GET")); err != nil {
		t.Fatal(err)
	}
	select {
	case a := <-got:
		defer a.Close()
		buf := make([]byte, 8)
		a.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, err := a.Read(buf); string(buf[:n]) != "GET" {
			t.Fatalf("first read = %q, %v; want the client's bytes", buf[:n], err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("not accepted after its first bytes")
	}
}

// TestViewsShareASocket: two views of one socket (a reload's old and new
// servers). Closing the one waiting in Accept makes it return at once,
// and the other then accepts the socket's connections; closing the last
// closes the socket.
func TestViewsShareASocket(t *testing.T) {
	s := NewSet()
	v1, err := s.Listen("http", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := v1.Addr().String()
	v2, err := s.Listen("http", addr)
	if err != nil {
		t.Fatal(err)
	}
	accepted := func(v *View) chan error {
		ch := make(chan error, 1)
		go func() {
			c, err := v.Accept()
			if c != nil {
				c.Close()
			}
			ch <- err
		}()
		return ch
	}
	first := accepted(v1)
	time.Sleep(50 * time.Millisecond) // v1 usually waits in the listener's Accept by now
	second := accepted(v2)
	v1.Close()
	select {
	case err := <-first:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("closed view's Accept = %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a closed view's Accept did not return")
	}
	c := dial(t, addr)
	if _, err := c.c.Write([]byte("GET")); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-second:
		if err != nil {
			t.Fatalf("open view's Accept = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the open view accepted nothing")
	}
	v2.Close()
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatal("the socket still accepts after its last view closed")
	}
}

// An accepted connection asks isTimeout about a nil error; that must not
// allocate (errors.As's target escapes to the heap).
func TestIsTimeoutNilDoesNotAllocate(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { _ = isTimeout(nil) }); n != 0 {
		t.Errorf("isTimeout(nil) allocates %v times", n)
	}
	if !isTimeout(os.ErrDeadlineExceeded) || isTimeout(net.ErrClosed) {
		t.Error("isTimeout misjudges a deadline or a closed listener")
	}
}
