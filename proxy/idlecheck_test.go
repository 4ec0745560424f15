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

func startScriptedOrigin(t *testing.T, answer func(c net.Conn, req *http.Request, n int)) *scriptedOrigin {
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
				for n := 1; ; n++ {
					_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					_, _ = io.Copy(io.Discard, req.Body)
					answer(c, req, n)
				}
			}()
		}
	}()
	return o
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
	o := startScriptedOrigin(t, func(c net.Conn, req *http.Request, n int) {
		answerText(c, "answer to "+req.URL.Path)
		if req.URL.Path == "/twice" {
			time.Sleep(50 * time.Millisecond)
			answerText(c, "UNSOLICITED")
		}
	})
	lb := startLB(t, `listeners: [{address: 127.0.0.1:0}]
log: {level: warn, output: stderr, access: {enabled: false}}
routes: [{pool: web}]
pools:
  web:
    timeouts: {connect: 1s, response: 2s}
    servers: [{address: `+o.addr+`}]
`)
	if b := string(get(t, lb.addr, "/twice").Body()); b != "answer to /twice" {
		t.Fatalf("first answer %q", b)
	}
	time.Sleep(300 * time.Millisecond) // the second answer lands on the idle pooled connection
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

// TestServerClosedIdleConnectionIsReplaced: a server that closes a
// keep-alive connection while it sits in the pool (here: right after
// every answer, without saying so) costs no request, not even a POST,
// which lb may not retry once sent: the close is seen before the request
// is written, and a fresh connection carries it.
func TestServerClosedIdleConnectionIsReplaced(t *testing.T) {
	o := startScriptedOrigin(t, func(c net.Conn, req *http.Request, n int) {
		answerText(c, "ok "+req.Method)
		time.Sleep(20 * time.Millisecond)
		c.Close() // the next read in the origin's loop fails: the goroutine ends
	})
	lb := startLB(t, `listeners: [{address: 127.0.0.1:0}]
log: {level: warn, output: stderr, access: {enabled: false}}
routes: [{pool: web}]
pools:
  web:
    timeouts: {connect: 1s, response: 2s}
    servers: [{address: `+o.addr+`}]
`)
	c := dialRaw(t, lb.addr)
	for i := range 3 {
		resp := c.mustDo("POST /form HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\n\r\nhello")
		if resp.StatusCode() != 200 || string(resp.Body()) != "ok POST" {
			t.Fatalf("POST %d: %d %q", i+1, resp.StatusCode(), resp.Body())
		}
		time.Sleep(150 * time.Millisecond)
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
	o := startScriptedOrigin(t, func(c net.Conn, req *http.Request, _ int) {
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
	lb := startLB(t, `listeners: [{address: 127.0.0.1:0}]
log: {level: warn, output: stderr, access: {enabled: false}}
routes: [{pool: web}]
pools:
  web:
    timeouts: {connect: 1s, response: 2s}
    servers: [{address: `+o.addr+`}]
`)
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
