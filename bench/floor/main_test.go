package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func TestBodyLength(t *testing.T) {
	for _, tc := range []struct {
		head string
		want int
	}{
		{"HTTP/1.1 200 OK\r\nContent-Length: 81\r\n\r\n", 81},
		{"HTTP/1.1 200 OK\r\nServer: origin\r\ncontent-length:16306\r\n\r\n", 16306},
		{"HTTP/1.1 204 No Content\r\n\r\n", 0},
		{"HTTP/1.1 200 OK\r\nX-Content-Length: 5\r\n\r\n", 0},
	} {
		if got := bodyLength([]byte(tc.head)); got != tc.want {
			t.Errorf("bodyLength(%q) = %d, want %d", tc.head, got, tc.want)
		}
	}
}

// FuzzBodyLength: any head gives a length without panicking, and a
// Content-Length line right after the status line is the one read,
// whatever follows it.
func FuzzBodyLength(f *testing.F) {
	f.Add([]byte("Server: origin\r\n\r\n"), uint16(81))
	f.Add([]byte("content-length:\r\n\r\n"), uint16(0))
	f.Add([]byte("Content-Length: 99999999999999999999\n"), uint16(7))
	f.Fuzz(func(t *testing.T, rest []byte, n uint16) {
		_ = bodyLength(rest)
		head := "HTTP/1.1 200 OK\r\nContent-Length: " + strconv.Itoa(int(n)) + "\r\n" + string(rest)
		if got := bodyLength([]byte(head)); got != int(n) {
			t.Fatalf("bodyLength(%q) = %d, want %d", head, got, n)
		}
	})
}

// TestRelay: keep-alive requests share one origin connection, and a
// request with "Connection: close" ends its client's connection after
// the answer but leaves that origin connection open for the next client.
func TestRelay(t *testing.T) {
	var conns atomic.Int32
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, fmt.Sprintf("%s close=%v xff=%s", r.URL.Path, r.Close, r.Header.Get("X-Forwarded-For")))
		mu.Unlock()
		io.WriteString(w, "answer to "+r.URL.Path)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	o := &origin{addr: srv.Listener.Addr().String(), idle: make(chan net.Conn, idleMax)}
	go serve(ln, []*origin{o})

	get := func(c net.Conn, br *bufio.Reader, path, extra string) {
		t.Helper()
		if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n%s\r\n", path, extra); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil || string(body) != "answer to "+path {
			t.Fatalf("%s: body %q, %v", path, body, err)
		}
		if resp.Close != (extra != "") {
			t.Fatalf("%s: answer says close %v, want %v", path, resp.Close, extra != "")
		}
	}
	for i, closing := range []string{"/a", "/b", "/c"} {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(c)
		if i == 0 {
			get(c, br, "/keep1", "")
			get(c, br, "/keep2", "")
		}
		get(c, br, closing, "Connection: close\r\n")
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, err := br.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("after %s: read %d, %v; want EOF", closing, n, err)
		}
		c.Close()
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("origin connections = %d, want 1", n)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{
		"/keep1 close=false xff=127.0.0.1", "/keep2 close=false xff=127.0.0.1",
		"/a close=false xff=127.0.0.1", "/b close=false xff=127.0.0.1", "/c close=false xff=127.0.0.1",
	}
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Errorf("origin saw %q, want %q", seen, want)
	}
}

// TestDeferAccept: the listener a floor serves on holds a silent
// connection back, as Nginx's deferred does.
func TestDeferAccept(t *testing.T) {
	lc := net.ListenConfig{Control: deferAccept}
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	tl := ln.(*net.TCPListener)
	rc, err := tl.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var gerr error
	if err := rc.Control(func(fd uintptr) {
		v, gerr = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_DEFER_ACCEPT)
	}); err != nil || gerr != nil {
		t.Fatal(err, gerr)
	}
	if v == 0 {
		t.Errorf("TCP_DEFER_ACCEPT = 0, want it set")
	}
}
