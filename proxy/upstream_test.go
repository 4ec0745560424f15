package proxy_test

import (
	"bufio"
	"bytes"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// TestUpstreamRequestBytes pins the request lb writes upstream, byte for
// byte: the request line with the target's path and query as received
// (less a fragment and a bare "?"), the client's fields in order less
// hop-by-hop ones, lb's forwarding fields, and the body's length last,
// sent for a body or a method that may have one.
func TestUpstreamRequestBytes(t *testing.T) {
	o := startRawOrigin(t, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
	lb := startLB(t, basicConfig("round_robin", "", &origin{addr: o.addr}))
	conn := dialRaw(t, lb.addr)
	fwd := "X-Forwarded-For: 127.0.0.1\r\nX-Real-IP: 127.0.0.1\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: x\r\nX-Request-ID: r1\r\n"
	for _, tc := range []struct{ send, want string }{
		{
			"GET /a/b?q=1&r=%2F#frag HTTP/1.1\r\nHost: x\r\nAccept: */*\r\nConnection: keep-alive, X-Gone\r\nX-Gone: 1\r\nX-Request-ID: r1\r\nkeep-me: Spelling\r\n\r\n",
			"GET /a/b?q=1&r=%2F HTTP/1.1\r\nHost: x\r\nAccept: */*\r\nkeep-me: Spelling\r\n" + fwd + "\r\n",
		},
		{
			"HEAD /h? HTTP/1.1\r\nHost: x\r\nX-Request-ID: r1\r\n\r\n",
			"HEAD /h HTTP/1.1\r\nHost: x\r\n" + fwd + "\r\n",
		},
		{
			"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nX-Request-ID: r1\r\n\r\nhello",
			"POST /p HTTP/1.1\r\nHost: x\r\n" + fwd + "Content-Length: 5\r\n\r\nhello",
		},
		{
			"DELETE /d HTTP/1.1\r\nHost: x\r\nX-Request-ID: r1\r\n\r\n",
			"DELETE /d HTTP/1.1\r\nHost: x\r\n" + fwd + "Content-Length: 0\r\n\r\n",
		},
		{
			"GET http://x?q HTTP/1.1\r\nHost: x\r\nX-Request-ID: r1\r\n\r\n",
			"GET /?q HTTP/1.1\r\nHost: x\r\n" + fwd + "\r\n",
		},
	} {
		resp := conn.mustDoHead(tc.send, strings.HasPrefix(tc.send, "HEAD "))
		if resp.StatusCode() != 200 {
			t.Fatalf("%q: status %d", firstLine(tc.send), resp.StatusCode())
		}
		if r := o.last(t); r.head+"\r\n"+string(r.body) != tc.want {
			got := r.head + "\r\n" + string(r.body)
			t.Errorf("%q: origin got\n%q\nwant\n%q", firstLine(tc.send), got, tc.want)
		}
	}
}

// TestServerConnectionKeptAcrossBodies: whatever the answer's body (read
// whole, streamed by length or chunked, none for HEAD, 204 and 304), the
// server's connection goes back to the pool once the body is relayed, so
// one connection carries them all.
func TestServerConnectionKeptAcrossBodies(t *testing.T) {
	big := bytes.Repeat([]byte("b"), 300<<10)
	o := startOrigin(t, "o", func(ctx *fasthttp.RequestCtx) {
		switch string(ctx.Path()) {
		case "/big":
			ctx.SetBody(big)
		case "/chunked":
			ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
				for range 3 {
					w.Write(big[:10000])
					w.Flush()
				}
			})
		case "/204":
			ctx.SetStatusCode(204)
		case "/304":
			ctx.SetStatusCode(304)
		default:
			ctx.WriteString("small")
		}
	})
	lb := startLB(t, basicConfig("round_robin", "", o))
	conn := dialRaw(t, lb.addr)
	for _, tc := range []struct {
		method, path string
		status, size int
	}{
		{"GET", "/small", 200, 5},
		{"GET", "/big", 200, len(big)},
		{"GET", "/chunked", 200, 30000},
		{"HEAD", "/big", 200, 0},
		{"GET", "/204", 204, 0},
		{"GET", "/304", 304, 0},
		{"GET", "/small", 200, 5},
	} {
		resp := conn.mustDoHead(tc.method+" "+tc.path+" HTTP/1.1\r\nHost: x\r\n\r\n", tc.method == "HEAD")
		if resp.StatusCode() != tc.status || len(resp.Body()) != tc.size {
			t.Fatalf("%s %s: status %d, %d body bytes; want %d, %d", tc.method, tc.path, resp.StatusCode(), len(resp.Body()), tc.status, tc.size)
		}
	}
	if n := o.connCount(); n != 1 {
		t.Fatalf("origin saw %d connections, want 1 kept across every answer", n)
	}
}
