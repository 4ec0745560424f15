package proxy_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// scriptedOrigin is a loopback server that reads requests with net/http and
// answers with whatever bytes answer writes: it can misbehave in ways a
// real HTTP server library would not let it.
type scriptedOrigin struct {
	addr  string
	conns atomic.Int32
}

func startScriptedOrigin(t *testing.T, answer func(c net.Conn, req *http.Request)) *scriptedOrigin {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := &scriptedOrigin{addr: ln.Addr().String()}
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
			o.conns.Add(1)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					_, _ = io.Copy(io.Discard, req.Body)
					answer(c, req)
				}
			}()
		}
	}()
	return o
}

// lbInFront starts lb with one pool of the one server o.
func lbInFront(t *testing.T, o *scriptedOrigin) *lbUnderTest {
	t.Helper()
	return startLB(t, `listeners: [{address: 127.0.0.1:0}]
log: {level: warn, output: stderr, access: {enabled: false}}
routes: [{pool: web}]
pools:
  web:
    timeouts: {connect: 1s, response: 2s}
    servers: [{address: `+o.addr+`}]
`)
}

// landed waits for an origin's signal that it sent or closed something
// on its own, then a little for loopback to deliver it.
func landed(t *testing.T, done <-chan struct{}) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the origin never misbehaved")
	}
	time.Sleep(50 * time.Millisecond)
}

// await is an origin's wait for the test's go-ahead, bounded so that a
// failed test never leaves the origin's goroutine behind.
func await(ch <-chan struct{}) {
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
	}
}

func answerText(c net.Conn, body string) {
	fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
}

// TestUnsolicitedAnswerNeverReachesNextClient: a server that sends a
// second answer to one request, after the first was relayed, must not
// have it read as the answer to the next client's request on the pooled
// connection (FASTHTTP.md, response-queue poisoning), nor shift every
// later answer on that connection by one.
func TestUnsolicitedAnswerNeverReachesNextClient(t *testing.T) {
	relayed, sent := make(chan struct{}), make(chan struct{})
	o := startScriptedOrigin(t, func(c net.Conn, req *http.Request) {
		answerText(c, "answer to "+req.URL.Path)
		if req.URL.Path == "/twice" {
			await(relayed) // lb has read the first answer whole and pooled the connection
			answerText(c, "UNSOLICITED")
			close(sent)
		}
	})
	lb := lbInFront(t, o)
	if b := string(get(t, lb.addr, "/twice").Body()); b != "answer to /twice" {
		t.Fatalf("first answer %q", b)
	}
	close(relayed)
	landed(t, sent) // on the idle pooled connection
	for i := range 5 {
		path := fmt.Sprintf("/next%d", i)
		if b := string(get(t, lb.addr, path).Body()); b != "answer to "+path {
			t.Fatalf("request %s got %q: another request's answer", path, b)
		}
	}
	if n := o.conns.Load(); n != 2 {
		t.Fatalf("server saw %d connections, want 2: the one it misused, replaced once", n)
	}
}

// TestBytesAfterTheAnswerEndTheConnection: bytes a server sends after an
// answer in the same write (a second answer, or a body on an answer that
// has none) arrive with the answer, where no idle check sees them: the
// answer is relayed and the connection closed, never reused, so no
// later request reads them as its answer.
func TestBytesAfterTheAnswerEndTheConnection(t *testing.T) {
	o := startScriptedOrigin(t, func(c net.Conn, req *http.Request) {
		switch req.URL.Path {
		case "/extra":
			fmt.Fprint(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirstHTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nSMUGGLE")
		case "/204":
			fmt.Fprint(c, "HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nSMUGGLE")
		default:
			answerText(c, "answer to "+req.URL.Path)
		}
	})
	lb := lbInFront(t, o)
	c := dialRaw(t, lb.addr)
	for i, path := range []string{"/extra", "/next", "/204", "/next"} {
		resp := c.mustDo("GET " + path + " HTTP/1.1\r\nHost: example.com\r\n\r\n")
		want := map[string]string{"/extra": "first", "/204": "", "/next": "answer to /next"}[path]
		if string(resp.Body()) != want {
			t.Fatalf("request %d, %s: got %d %q, want %q", i+1, path, resp.StatusCode(), resp.Body(), want)
		}
	}
	if n := o.conns.Load(); n != 3 {
		t.Fatalf("server saw %d connections, want 3: each misused one closed", n)
	}
}

// TestBareLFAnswerIsA502: an answer whose head ends its lines with a
// bare LF, from a server that keeps the connection open, is refused at
// once (502), not waited on until the response timeout (504): fasthttp's
// parser never finds the end of such a head.
func TestBareLFAnswerIsA502(t *testing.T) {
	o := startScriptedOrigin(t, func(c net.Conn, req *http.Request) {
		if req.URL.Path == "/lf" {
			fmt.Fprint(c, "HTTP/1.1 200 OK\nContent-Length: 2\n\nok")
			return
		}
		answerText(c, "answer to "+req.URL.Path)
	})
	lb := lbInFront(t, o)
	c := dialRaw(t, lb.addr)
	if resp := c.mustDo("GET /lf HTTP/1.1\r\nHost: example.com\r\n\r\n"); resp.StatusCode() != 502 {
		t.Fatalf("bare-LF answer: status %d, want 502", resp.StatusCode())
	}
	if b := string(c.mustDo("GET /next HTTP/1.1\r\nHost: example.com\r\n\r\n").Body()); b != "answer to /next" {
		t.Fatalf("next request got %q", b)
	}
}

// TestServerClosedIdleConnectionIsReplaced: a server that closes a
// keep-alive connection while it sits in the pool (here: right after
// every answer, without saying so) costs no request, not even a POST,
// which lb may not retry once sent: the close is seen before the request
// is written, and a fresh connection carries it.
func TestServerClosedIdleConnectionIsReplaced(t *testing.T) {
	relayed, closed := make(chan struct{}), make(chan struct{})
	o := startScriptedOrigin(t, func(c net.Conn, req *http.Request) {
		answerText(c, "ok "+req.Method)
		await(relayed) // lb has pooled the connection
		c.Close()      // the next read in the origin's loop fails: the goroutine ends
		select {
		case closed <- struct{}{}:
		case <-time.After(10 * time.Second):
		}
	})
	lb := lbInFront(t, o)
	c := dialRaw(t, lb.addr)
	for i := range 3 {
		resp := c.mustDo("POST /form HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\n\r\nhello")
		if resp.StatusCode() != 200 || string(resp.Body()) != "ok POST" {
			t.Fatalf("POST %d: %d %q", i+1, resp.StatusCode(), resp.Body())
		}
		relayed <- struct{}{} // the origin's goroutine for this connection waits for it
		landed(t, closed)
	}
	if n := o.conns.Load(); n != 3 {
		t.Fatalf("server saw %d connections, want 3", n)
	}
}

// TestIdleCheckLeavesTunnelsAlone: on a tunnel bytes come both ways at
// any time; the client writing while the server's bytes wait to be read
// is not an unsolicited answer on an idle connection.
func TestIdleCheckLeavesTunnelsAlone(t *testing.T) {
	const burst = 32 << 20 // more than the sockets on the way hold: some waits unread at lb
	o := startScriptedOrigin(t, func(c net.Conn, req *http.Request) {
		if !strings.EqualFold(req.Header.Get("Upgrade"), "echo") {
			answerText(c, "no")
			return
		}
		fmt.Fprint(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
		go func() { _, _ = c.Write(make([]byte, burst)) }()
		buf := make([]byte, 64)
		n, err := c.Read(buf)
		if err != nil {
			return
		}
		time.Sleep(100 * time.Millisecond) // the burst goes out first
		fmt.Fprintf(c, "echo %s", buf[:n])
		time.Sleep(time.Second) // the client reads it all
	})
	lb := lbInFront(t, o)
	c := dialRaw(t, lb.addr)
	resp := c.mustDo("GET /ws HTTP/1.1\r\nHost: example.com\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
	if resp.StatusCode() != 101 {
		t.Fatalf("status %d", resp.StatusCode())
	}
	time.Sleep(200 * time.Millisecond) // the burst fills the way back, unread
	if _, err := c.c.Write([]byte("ping\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c.br, make([]byte, burst)); err != nil {
		t.Fatalf("the burst: %v", err)
	}
	l, err := c.br.ReadString('\n')
	if err != nil || l != "echo ping\n" {
		t.Fatalf("got %q, %v; want the echo", l, err)
	}
	if n := o.conns.Load(); n != 1 {
		t.Fatalf("server saw %d connections, want 1", n)
	}
}
