package proxy_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// startShortBody starts a server that declares a 1000-byte body, sends
// 500 bytes of it and closes the connection.
func startShortBody(t *testing.T) (string, *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var seen atomic.Int64
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
				if _, err := http.ReadRequest(bufio.NewReader(conn)); err != nil {
					return
				}
				seen.Add(1)
				_, _ = io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"+strings.Repeat("x", 500))
			}()
		}
	}()
	return ln.Addr().String(), &seen
}

// TestBodyCutShortIsAFailedAttempt: a small response body that ends before
// its Content-Length is read whole before anything is sent, so the client
// never gets half an answer with a 200: the attempt fails and is retried
// on another server, or answered 502 when there is none.
func TestBodyCutShortIsAFailedAttempt(t *testing.T) {
	short, seen := startShortBody(t)
	good := startOrigin(t, "good", nil)
	lb := startLB(t, poolConfig("    passive: {max_fails: 0}\n    retries: {on: [connect, error]}\n", short, good.addr))
	for i := range 6 {
		resp := get(t, lb.addr, "/item")
		if resp.StatusCode() != 200 || string(resp.Body()) == strings.Repeat("x", 500) {
			t.Fatalf("GET %d: %d with %d bytes, want the good server's answer", i, resp.StatusCode(), len(resp.Body()))
		}
	}
	if seen.Load() == 0 {
		t.Fatal("no GET met the short server; the retry path was not exercised")
	}

	alone := startLB(t, poolConfig("    passive: {max_fails: 0}\n", short))
	if resp := get(t, alone.addr, "/item"); resp.StatusCode() != 502 {
		t.Fatalf("only a short server: status %d with %d bytes, want 502", resp.StatusCode(), len(resp.Body()))
	}
}
