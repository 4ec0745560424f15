package edge_test

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// dial opens a client connection and closes it when the test ends.
func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// readResponse reads one response within 5 seconds.
func readResponse(t *testing.T, c net.Conn, br *bufio.Reader) *fasthttp.Response {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp := &fasthttp.Response{}
	if err := resp.Read(br); err != nil {
		t.Fatalf("reading response: %v", err)
	}
	return resp
}

// closedWithin reports whether the peer closes c within d.
func closedWithin(c net.Conn, br *bufio.Reader, d time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(d))
	_, err := br.ReadByte()
	if err == nil {
		return false
	}
	ne, ok := err.(net.Error)
	return !(ok && ne.Timeout())
}

// wantEOF fails unless c's next read, after an answer, finds a clean
// close: a close over the client's unread bytes would have been a reset,
// which can cost a client the answer (lingering close).
func wantEOF(t *testing.T, c net.Conn, br *bufio.Reader, what string) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("%s: %v, want EOF", what, err)
	}
}

// TestUploadOverLimitGets413AndEOF: a client uploading a body over
// max_body_bytes gets 413 and then a clean close, though most of its
// body was never read: lb lingers, draining it (Nginx lingering_close).
func TestUploadOverLimitGets413AndEOF(t *testing.T) {
	o := startRawOrigin(t)
	p := startLB(t, lbConfig("    max_body_bytes: 1024\n", o.addr))
	c := dial(t, p.Addrs()[0].String())
	head := "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1048576\r\n\r\n"
	if _, err := io.WriteString(c, head+strings.Repeat("x", 64<<10)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	if resp := readResponse(t, c, br); resp.StatusCode() != 413 {
		t.Fatalf("status = %d, want 413", resp.StatusCode())
	}
	wantEOF(t, c, br, "after the 413")
}

// TestSlowlorisGets408: a client dribbling its head one field every
// 100ms is answered 408 and closed once header_timeout has passed since
// its first byte, though every single read was quick; nothing reaches the
// origin (Nginx client_header_timeout, HAProxy timeout http-request).
func TestSlowlorisGets408(t *testing.T) {
	o := startRawOrigin(t)
	p := startLB(t, lbConfig("    header_timeout: 500ms\n    read_timeout: 10s\n", o.addr))
	c := dial(t, p.Addrs()[0].String())
	start := time.Now()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n")
	for i := 0; i < 30; i++ {
		time.Sleep(100 * time.Millisecond)
		if _, err := io.WriteString(c, "X-Drip: y\r\n"); err != nil {
			break
		}
	}
	br := bufio.NewReader(c)
	resp := readResponse(t, c, br)
	took := time.Since(start)
	if resp.StatusCode() != 408 {
		t.Fatalf("status = %d, want 408", resp.StatusCode())
	}
	if !closedWithin(c, br, 2*time.Second) {
		t.Fatal("connection still open after the 408")
	}
	if took < 400*time.Millisecond || took > 2900*time.Millisecond {
		t.Errorf("408 after %v, want about header_timeout (500ms)", took)
	}
	if got, n := o.take(); n != 0 || got != "" {
		t.Errorf("origin received %q", got)
	}
}

// TestHeaderTimeoutSparesSlowBodies: header_timeout bounds the head only;
// a body that takes longer arrives whole within read_timeout.
func TestHeaderTimeoutSparesSlowBodies(t *testing.T) {
	o := startRawOrigin(t)
	p := startLB(t, lbConfig("    header_timeout: 300ms\n    read_timeout: 10s\n", o.addr))
	c := dial(t, p.Addrs()[0].String())
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\n\r\n")
	for i := 0; i < 6; i++ {
		time.Sleep(150 * time.Millisecond)
		io.WriteString(c, "x")
	}
	if resp := readResponse(t, c, bufio.NewReader(c)); resp.StatusCode() != 200 {
		t.Fatalf("status = %d, want 200", resp.StatusCode())
	}
	if got, _ := o.take(); !strings.HasSuffix(got, "\r\n\r\nxxxxxx") {
		t.Errorf("origin received %q, want the 6-byte body", got)
	}
}

// TestIdleTimeoutClosesKeepAlive: a keep-alive connection idle longer
// than idle_timeout is closed without an answer (Nginx
// keepalive_timeout).
func TestIdleTimeoutClosesKeepAlive(t *testing.T) {
	o := startRawOrigin(t)
	p := startLB(t, lbConfig("    idle_timeout: 300ms\n", o.addr))
	c := dial(t, p.Addrs()[0].String())
	br := bufio.NewReader(c)
	// The idle time starts once lb has answered, after the request was
	// sent: timing from the send cannot be cut short by a slow reader.
	start := time.Now()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	if resp := readResponse(t, c, br); resp.StatusCode() != 200 {
		t.Fatalf("status = %d, want 200", resp.StatusCode())
	}
	if !closedWithin(c, br, 3*time.Second) {
		t.Fatal("idle connection not closed")
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("closed %v after the request, want about 300ms after the answer", d)
	}
}

// TestMaxConnsPerIP: with max_conns_per_ip 2 a third connection from the
// same address is answered 429 and closed; once one closes, a new one is
// served (Nginx limit_conn).
func TestMaxConnsPerIP(t *testing.T) {
	o := startRawOrigin(t)
	p := startLB(t, lbConfig("    max_conns_per_ip: 2\n", o.addr))
	addr := p.Addrs()[0].String()
	var open []net.Conn
	for i := 0; i < 2; i++ {
		c := dial(t, addr)
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
		if resp := readResponse(t, c, bufio.NewReader(c)); resp.StatusCode() != 200 {
			t.Fatalf("connection %d: status = %d, want 200", i+1, resp.StatusCode())
		}
		open = append(open, c)
	}
	third := dial(t, addr)
	io.WriteString(third, "GET / HTTP/1.1\r\nHost: a\r\n\r\n") // lb's listeners defer accept to a first byte
	br := bufio.NewReader(third)
	if resp := readResponse(t, third, br); resp.StatusCode() != 429 {
		t.Fatalf("third connection: status = %d, want 429", resp.StatusCode())
	}
	wantEOF(t, third, br, "third connection after the answer")
	open[0].Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c := dial(t, addr)
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
		resp := readResponse(t, c, bufio.NewReader(c))
		if resp.StatusCode() == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after a close: status = %d, want 200", resp.StatusCode())
		}
		c.Close()
		time.Sleep(20 * time.Millisecond)
	}
}

// TestMaxConns: with max_conns 2 a third open connection is answered 503
// and closed (Nginx worker_connections, HAProxy maxconn).
func TestMaxConns(t *testing.T) {
	o := startRawOrigin(t)
	p := startLB(t, lbConfig("    max_conns: 2\n", o.addr))
	addr := p.Addrs()[0].String()
	for i := 0; i < 2; i++ {
		c := dial(t, addr)
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
		if resp := readResponse(t, c, bufio.NewReader(c)); resp.StatusCode() != 200 {
			t.Fatalf("connection %d: status = %d, want 200", i+1, resp.StatusCode())
		}
	}
	third := dial(t, addr)
	io.WriteString(third, "GET / HTTP/1.1\r\nHost: a\r\n\r\n") // lb's listeners defer accept to a first byte
	br := bufio.NewReader(third)
	if resp := readResponse(t, third, br); resp.StatusCode() != 503 {
		t.Fatalf("third connection: status = %d, want 503", resp.StatusCode())
	}
	wantEOF(t, third, br, "third connection after the answer")
}

// TestMaxRequestsPerConn: the second of three pipelined requests ends
// the connection with max_requests_per_conn 2 (Nginx
// keepalive_requests); the third never reaches the origin.
func TestMaxRequestsPerConn(t *testing.T) {
	o := startRawOrigin(t)
	p := startLB(t, lbConfig("    max_requests_per_conn: 2\n", o.addr))
	statuses, closed := exchangeN(t, p.Addrs()[0].String(), []string{strings.Repeat("GET / HTTP/1.1\r\nHost: a\r\n\r\n", 3)}, nil, 2, true, time.Second)
	if !equalInts(statuses, []int{200, 200}) || !closed {
		t.Fatalf("statuses %v closed %v, want [200 200] and closed", statuses, closed)
	}
	if _, n := o.take(); n != 2 {
		t.Errorf("origin read %d requests, want 2", n)
	}
}
