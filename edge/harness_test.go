package edge_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"lb/process"
)

// rawOrigin is a TCP server that records the exact bytes it receives and
// answers each request it can read (with fasthttp's parser) with 200 "ok".
type rawOrigin struct {
	addr string
	ln   net.Listener
	mu   sync.Mutex
	got  bytes.Buffer // every byte received, all connections
	reqs int          // requests read
}

func startRawOrigin(t *testing.T) *rawOrigin {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := &rawOrigin{addr: ln.Addr().String(), ln: ln}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				o.serve(c)
			}()
		}
	}()
	return o
}

type recorder struct {
	c net.Conn
	o *rawOrigin
}

func (r recorder) Read(p []byte) (int, error) {
	n, err := r.c.Read(p)
	r.o.mu.Lock()
	r.o.got.Write(p[:n])
	r.o.mu.Unlock()
	return n, err
}

func (o *rawOrigin) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(recorder{c, o})
	for {
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		var req fasthttp.Request
		if err := req.Read(br); err != nil {
			return
		}
		o.mu.Lock()
		o.reqs++
		o.mu.Unlock()
		if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"); err != nil {
			return
		}
	}
}

// await waits, up to 10 s, until the origin has received at least n
// bytes: lb may answer its client before the origin has read all that lb
// forwarded. It does not fail: the caller compares what arrived.
func (o *rawOrigin) await(n int) {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		o.mu.Lock()
		got := o.got.Len()
		o.mu.Unlock()
		if got >= n {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// take returns and clears what the origin received.
func (o *rawOrigin) take() (string, int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	s, n := o.got.String(), o.reqs
	o.got.Reset()
	o.reqs = 0
	return s, n
}

// startLB starts an lb process core on yaml, with $ORIGIN replaced.
func startLB(t *testing.T, yaml string) *process.Process {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "lb.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := process.Start(path)
	if err != nil {
		t.Fatalf("start lb: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = p.Shutdown(ctx)
	})
	return p
}

func lbConfig(listener, origin string) string {
	return fmt.Sprintf(`listeners:
  - address: 127.0.0.1:0
%slog:
  level: error
  access:
    enabled: false
routes:
  - pool: web
pools:
  web:
    retries: {attempts: 1}
    passive: {max_fails: 0}
    timeouts: {connect: 1s, response: 2s}
    servers:
      - address: %s
`, listener, origin)
}

// exchangeParts sends the parts on a new connection, pausing between
// them, and reads every response until the server closes or stays quiet
// for quiet after a response (the first may take up to 10 s). It returns
// the statuses and whether the server closed the connection. Where the
// number of responses is known, exchangeN does not depend on how soon
// the later ones come.
func exchangeParts(t *testing.T, addr string, parts []string, quiet time.Duration) (statuses []int, closed bool) {
	t.Helper()
	return exchangeN(t, addr, parts, nil, 1, false, quiet)
}

// exchangeN sends the parts on a new connection, pausing between them
// and calling between (if not nil) before each part after the first, and
// reads the n responses expected, each within 10 s. Then it reads on:
// when wantClosed, until the server closes (within 10 s); otherwise for
// quiet, a window in which nothing more may come (too short a window can
// only miss a late response or close, never invent one). It returns
// every status read (fewer than n if the server closed first) and
// whether the server closed the connection.
func exchangeN(t *testing.T, addr string, parts []string, between func(), n int, wantClosed bool, quiet time.Duration) (statuses []int, closed bool) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i, part := range parts {
		if i > 0 {
			time.Sleep(100 * time.Millisecond)
			if between != nil {
				between()
			}
		}
		if _, err := io.WriteString(c, part); err != nil {
			break // lb may have closed after a refusal
		}
	}
	br := bufio.NewReader(c)
	for {
		wait := 10 * time.Second
		if len(statuses) >= n && !wantClosed {
			wait = quiet
		}
		_ = c.SetReadDeadline(time.Now().Add(wait))
		if _, err := br.Peek(1); err != nil {
			ne, ok := err.(net.Error)
			return statuses, !(ok && ne.Timeout())
		}
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		var resp fasthttp.Response
		if err := resp.Read(br); err != nil {
			t.Fatalf("reading response %d: %v", len(statuses)+1, err)
		}
		statuses = append(statuses, resp.StatusCode())
	}
}
