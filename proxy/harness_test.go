package proxy_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"lb/process"
)

// seen is what an origin received for one request, copied.
type seen struct {
	uri     string
	host    string
	headers []string // "Name: value" as received, in order
	body    string
	connID  uint64
}

// header returns the values of name (exact spelling) the origin received.
func (s seen) header(name string) []string {
	var vs []string
	for _, h := range s.headers {
		if k, v, _ := strings.Cut(h, ": "); k == name {
			vs = append(vs, v)
		}
	}
	return vs
}

// headerFold returns the values of name in any spelling.
func (s seen) headerFold(name string) []string {
	var vs []string
	for _, h := range s.headers {
		if k, v, _ := strings.Cut(h, ": "); strings.EqualFold(k, name) {
			vs = append(vs, v)
		}
	}
	return vs
}

// origin is a real fasthttp server on a loopback port that records what
// it receives.
type origin struct {
	name  string
	addr  string
	srv   *fasthttp.Server
	mu    sync.Mutex
	reqs  []seen
	conns int
}

// startOrigin starts an origin; handle, when not nil, writes the response
// after the origin has recorded the request (default: its name as body).
func startOrigin(t *testing.T, name string, handle fasthttp.RequestHandler) *origin {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := &origin{name: name, addr: ln.Addr().String()}
	o.srv = &fasthttp.Server{
		DisableHeaderNamesNormalizing: true,
		NoDefaultServerHeader:         true,
		NoDefaultContentType:          true,
		ConnState: func(_ net.Conn, st fasthttp.ConnState) {
			if st == fasthttp.StateNew {
				o.mu.Lock()
				o.conns++
				o.mu.Unlock()
			}
		},
		Handler: func(ctx *fasthttp.RequestCtx) {
			s := seen{
				uri:    string(ctx.Request.Header.RequestURI()),
				host:   string(ctx.Request.Header.Host()),
				body:   string(ctx.Request.Body()),
				connID: ctx.ConnID(),
			}
			for k, v := range ctx.Request.Header.AllInOrder() {
				s.headers = append(s.headers, string(k)+": "+string(v))
			}
			o.mu.Lock()
			o.reqs = append(o.reqs, s)
			o.mu.Unlock()
			if handle != nil {
				handle(ctx)
				return
			}
			ctx.WriteString(name)
		},
	}
	go o.srv.Serve(ln) //nolint:errcheck
	t.Cleanup(func() { _ = o.srv.Shutdown() })
	return o
}

// last returns the last request the origin received.
func (o *origin) last(t *testing.T) seen {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.reqs) == 0 {
		t.Fatalf("origin %s received no request", o.name)
	}
	return o.reqs[len(o.reqs)-1]
}

func (o *origin) count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.reqs)
}

func (o *origin) connCount() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.conns
}

// lbUnderTest is a real lb process core (process.Start) on a loopback
// port, configured from YAML.
type lbUnderTest struct {
	p         *process.Process
	addr      string
	accessLog string
}

// startLB writes yaml (with $ACCESS replaced by an access-log path in a
// temporary folder) and starts lb on it.
func startLB(t *testing.T, yaml string) *lbUnderTest {
	t.Helper()
	dir := t.TempDir()
	access := filepath.Join(dir, "access.log")
	yaml = strings.ReplaceAll(yaml, "$ACCESS", access)
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
	return &lbUnderTest{p: p, addr: p.Addrs()[0].String(), accessLog: access}
}

// basicConfig is an lb config with one pool of the given servers.
func basicConfig(policy string, extraPool string, servers ...*origin) string {
	var b strings.Builder
	fmt.Fprintf(&b, `listeners:
  - address: 127.0.0.1:0
log:
  level: warn
  output: stderr
  access:
    output: $ACCESS
routes:
  - name: all
    pool: web
pools:
  web:
    policy: %s
    timeouts:
      connect: 1s
      response: 2s
%s    servers:
`, policy, extraPool)
	for _, s := range servers {
		fmt.Fprintf(&b, "      - address: %s\n", s.addr)
	}
	return b.String()
}

// rawConn is a client connection that sends bytes exactly as written.
type rawConn struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, c: c, br: bufio.NewReader(c)}
}

// do sends raw and reads one response (nil and the error if the
// connection closed instead).
func (r *rawConn) do(raw string) (*fasthttp.Response, error) {
	r.t.Helper()
	return r.doHead(raw, false)
}

// doHead is do for a request that may be a HEAD, whose answer has no
// body whatever its Content-Length.
func (r *rawConn) doHead(raw string, head bool) (*fasthttp.Response, error) {
	r.t.Helper()
	_ = r.c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := r.c.Write([]byte(raw)); err != nil {
		return nil, err
	}
	resp := &fasthttp.Response{SkipBody: head}
	resp.Header.DisableNormalizing()
	if err := resp.Read(r.br); err != nil {
		return nil, err
	}
	return resp, nil
}

// mustDo is do that fails the test on error.
func (r *rawConn) mustDo(raw string) *fasthttp.Response {
	r.t.Helper()
	return r.mustDoHead(raw, false)
}

// mustDoHead is doHead that fails the test on error.
func (r *rawConn) mustDoHead(raw string, head bool) *fasthttp.Response {
	r.t.Helper()
	resp, err := r.doHead(raw, head)
	if err != nil {
		r.t.Fatalf("request %q: %v", firstLine(raw), err)
	}
	return resp
}

// closed reports whether the server closed the connection (EOF within
// the wait).
func (r *rawConn) closed(wait time.Duration) bool {
	_ = r.c.SetReadDeadline(time.Now().Add(wait))
	_, err := r.br.ReadByte()
	return err != nil && !isTimeout(err)
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\r\n")
	return l
}

// get sends a simple GET through a fresh raw connection.
func get(t *testing.T, addr, path string, headers ...string) *fasthttp.Response {
	t.Helper()
	raw := "GET " + path + " HTTP/1.1\r\nHost: example.com\r\n"
	for _, h := range headers {
		raw += h + "\r\n"
	}
	return dialRaw(t, addr).mustDo(raw + "\r\n")
}

// respHeaderNames lists the response header names in order.
func respHeaderNames(resp *fasthttp.Response) []string {
	var names []string
	for k := range resp.Header.All() {
		names = append(names, string(k))
	}
	return names
}
