package health

import (
	"bytes"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"lb/balancer"
)

// origin serves h on a fresh loopback port until the test ends and returns
// its address.
func origin(t *testing.T, h fasthttp.RequestHandler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: h}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		_ = srv.Shutdown()
		<-done
	})
	return ln.Addr().String()
}

// hungServer accepts connections on a fresh loopback port and never
// answers; it closes them when the test ends. It returns its address.
func hungServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return ln.Addr().String()
}

// newPool returns a pool of the given policy over servers at addrs.
func newPool(t *testing.T, policy balancer.Name, addrs ...string) (*balancer.Pool, []*balancer.Server) {
	t.Helper()
	servers := make([]*balancer.Server, len(addrs))
	for i, a := range addrs {
		servers[i] = balancer.NewServer(a, 1, false, 0)
	}
	pool, err := balancer.NewPool("web", policy, servers, balancer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return pool, servers
}

// waitFor polls cond until it holds, failing the test after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// checkerGoroutines counts the goroutines still running a Checker's
// scheduler loop or a probe. (A goroutine that has called WaitGroup.Done
// may take a moment more to exit; these frames are gone before that.)
func checkerGoroutines() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	count := 0
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		if bytes.Contains(g, []byte("lb/health.(*sched).run(")) ||
			bytes.Contains(g, []byte("lb/health.(*Checker).probe(")) {
			count++
		}
	}
	return count
}

// seqRand returns a deterministic randN for the scheduler.
func seqRand(vals ...int64) func(n int64) int64 {
	i := 0
	return func(n int64) int64 {
		v := vals[i%len(vals)] % n
		i++
		return v
	}
}
