package proxy_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"go.uber.org/zap/zapcore"

	"lb/config"
	"lb/logging"
	"lb/proxy"
	"lb/snapshot"
)

// rawRequest is what a raw origin received: the head as sent, the body
// de-chunked, and the trailer lines after the last chunk.
type rawRequest struct {
	head     string
	body     []byte
	trailers []string
}

// rawOrigin is a net.Listener origin that reads requests byte by byte
// and answers every one with resp.
type rawOrigin struct {
	addr string
	mu   sync.Mutex
	reqs []rawRequest
}

func startRawOrigin(t *testing.T, resp string) *rawOrigin {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := &rawOrigin{addr: ln.Addr().String()}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go o.serve(c, resp)
		}
	}()
	return o
}

func (o *rawOrigin) serve(c net.Conn, resp string) {
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		head, err := readHead(br)
		if err != nil {
			return
		}
		r := rawRequest{head: head}
		switch {
		case headerValue(head, "Transfer-Encoding") == "chunked":
			if r.body, r.trailers, err = readChunked(br); err != nil {
				return
			}
		case headerValue(head, "Content-Length") != "":
			n, _ := strconv.Atoi(headerValue(head, "Content-Length"))
			r.body = make([]byte, n)
			if _, err := io.ReadFull(br, r.body); err != nil {
				return
			}
		}
		o.mu.Lock()
		o.reqs = append(o.reqs, r)
		o.mu.Unlock()
		if _, err := io.WriteString(c, resp); err != nil {
			return
		}
	}
}

func (o *rawOrigin) last(t *testing.T) rawRequest {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.reqs) == 0 {
		t.Fatal("raw origin received no request")
	}
	return o.reqs[len(o.reqs)-1]
}

// readHead reads a message head up to and including its empty line.
func readHead(br *bufio.Reader) (string, error) {
	var b strings.Builder
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return "", err
		}
		if line == "\r\n" {
			return b.String(), nil
		}
		b.WriteString(line)
	}
}

// headerValue returns the value of the first field name (any case) in a
// raw head, or "".
func headerValue(head, name string) string {
	for _, line := range strings.Split(head, "\r\n")[1:] {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(k, name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// readChunked reads a chunked body as framed on the wire and returns its
// data and the trailer lines after the last chunk.
func readChunked(br *bufio.Reader) (body []byte, trailers []string, err error) {
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return nil, nil, err
		}
		size, err := strconv.ParseInt(strings.TrimRight(line, "\r\n"), 16, 64)
		if err != nil {
			return nil, nil, fmt.Errorf("chunk size %q: %w", line, err)
		}
		if size == 0 {
			break
		}
		chunk := make([]byte, size+2)
		if _, err := io.ReadFull(br, chunk); err != nil {
			return nil, nil, err
		}
		if !bytes.HasSuffix(chunk, []byte("\r\n")) {
			return nil, nil, fmt.Errorf("chunk not ended by CRLF")
		}
		body = append(body, chunk[:size]...)
	}
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return nil, nil, err
		}
		if line == "\r\n" {
			return body, trailers, nil
		}
		trailers = append(trailers, strings.TrimRight(line, "\r\n"))
	}
}

// exchangeChunked sends raw to addr and reads one response: its head and,
// if chunked, its de-chunked body and trailer lines.
func exchangeChunked(t *testing.T, addr, raw string) (head string, body []byte, trailers []string) {
	t.Helper()
	c := dialRaw(t, addr)
	_ = c.c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c.c, raw); err != nil {
		t.Fatal(err)
	}
	head, err := readHead(c.br)
	if err != nil {
		t.Fatalf("reading the head: %v", err)
	}
	switch {
	case headerValue(head, "Transfer-Encoding") == "chunked":
		if body, trailers, err = readChunked(c.br); err != nil {
			t.Fatalf("reading the chunked body: %v (head %q)", err, head)
		}
	case headerValue(head, "Content-Length") != "":
		n, _ := strconv.Atoi(headerValue(head, "Content-Length"))
		body = make([]byte, n)
		if _, err := io.ReadFull(c.br, body); err != nil {
			t.Fatal(err)
		}
	}
	return head, body, trailers
}

// rawConfig is basicConfig for one server at addr.
func rawConfig(addr any) string {
	return basicConfig("round_robin", "", &origin{addr: fmt.Sprint(addr)})
}

func hasField(head, name string) bool {
	for _, line := range strings.Split(head, "\r\n")[1:] {
		if k, _, ok := strings.Cut(line, ":"); ok && strings.EqualFold(k, name) {
			return true
		}
	}
	return false
}

// TestResponseTrailersRelayed: a chunked response announcing and sending
// a trailer reaches the client with the announcement in the head and the
// field after the last chunk.
func TestResponseTrailersRelayed(t *testing.T) {
	o := startRawOrigin(t, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n"+
		"5\r\nhello\r\n6\r\n world\r\n0\r\nX-Checksum: abc\r\n\r\n")
	lb := startLB(t, rawConfig(o.addr))
	for range 2 { // a fresh relay, then a pooled one
		head, body, trailers := exchangeChunked(t, lb.addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		if !strings.Contains(head, "\r\nTrailer: X-Checksum") {
			t.Errorf("head %q does not announce X-Checksum", head)
		}
		if string(body) != "hello world" {
			t.Errorf("body %q, want %q", body, "hello world")
		}
		if len(trailers) != 1 || trailers[0] != "X-Checksum: abc" {
			t.Errorf("trailer section %q, want [X-Checksum: abc]", trailers)
		}
	}
}

// TestResponseTrailersOnTheWire pins the raw bytes after the last chunk.
func TestResponseTrailersOnTheWire(t *testing.T) {
	o := startOrigin(t, "o", func(ctx *fasthttp.RequestCtx) {
		if err := ctx.Response.Header.SetTrailer("X-Checksum"); err != nil {
			t.Error(err)
		}
		ctx.Response.Header.Set("X-Checksum", "abc") // announced: a trailer
		ctx.SetBodyStream(strings.NewReader("payload"), -1)
	})
	lb := startLB(t, basicConfig("round_robin", "", o))
	got := rawExchange(t, lb.addr, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 2*time.Second)
	_, head, body := splitRaw(got)
	if !strings.Contains(head, "\r\nTrailer: X-Checksum") || !strings.Contains(head, "Transfer-Encoding: chunked") {
		t.Fatalf("head %q: want chunked with Trailer: X-Checksum", head)
	}
	i := strings.Index(body, "\r\n0\r\n")
	if i < 0 {
		t.Fatalf("no last chunk in %q", body)
	}
	if tail := body[i+len("\r\n0\r\n"):]; tail != "X-Checksum: abc\r\n\r\n" {
		t.Fatalf("after the last chunk %q, want %q", tail, "X-Checksum: abc\r\n\r\n")
	}
}

// TestResponseWithoutTrailers: no Trailer field is invented, for a
// chunked response without trailers, and none is relayed for a response
// with a Content-Length, which cannot carry trailers.
func TestResponseWithoutTrailers(t *testing.T) {
	for _, tc := range []struct{ name, resp string }{
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"},
		{"length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"},
		{"length announcing", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTrailer: X-Checksum\r\n\r\nhello"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := startRawOrigin(t, tc.resp)
			lb := startLB(t, rawConfig(o.addr))
			got := rawExchange(t, lb.addr, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 2*time.Second)
			_, head, body := splitRaw(got)
			if hasField(head, "Trailer") {
				t.Errorf("head %q has a Trailer field", head)
			}
			if strings.Contains(head, "chunked") && !strings.HasSuffix(body, "\r\n0\r\n\r\n") {
				t.Errorf("chunked body %q does not end with an empty trailer section", body)
			}
			if !strings.Contains(body, "hello") {
				t.Errorf("body %q", body)
			}
		})
	}
}

// chunkedPost is a chunked POST of body with the given trailer fields and
// announcement.
func chunkedPost(body []byte, announce string, trailers ...string) string {
	var b strings.Builder
	b.WriteString("POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n")
	if announce != "" {
		b.WriteString("Trailer: " + announce + "\r\n")
	}
	b.WriteString("\r\n")
	for len(body) > 0 {
		n := min(len(body), 64<<10)
		fmt.Fprintf(&b, "%x\r\n", n)
		b.Write(body[:n])
		b.WriteString("\r\n")
		body = body[n:]
	}
	b.WriteString("0\r\n")
	for _, tr := range trailers {
		b.WriteString(tr + "\r\n")
	}
	b.WriteString("\r\n")
	return b.String()
}

func patternBody(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + i%26)
	}
	return b
}

// TestRequestTrailersRelayed: a client's chunked request with a trailer,
// large (streamed) or small, reaches the server with the body, the
// announcement and the trailer field; a hop-by-hop trailer is dropped.
func TestRequestTrailersRelayed(t *testing.T) {
	o := startRawOrigin(t, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	lb := startLB(t, rawConfig(o.addr))
	for _, size := range []int{2 << 20, 10} {
		t.Run(strconv.Itoa(size), func(t *testing.T) {
			body := patternBody(size)
			resp := dialRaw(t, lb.addr).mustDo(chunkedPost(body, "X-Sig", "X-Sig: s1", "Upgrade: h2c"))
			if resp.StatusCode() != 200 {
				t.Fatalf("status %d %q", resp.StatusCode(), resp.Body())
			}
			r := o.last(t)
			if !bytes.Equal(r.body, body) {
				t.Errorf("origin got %d bytes, want %d as sent", len(r.body), len(body))
			}
			if headerValue(r.head, "Trailer") != "X-Sig" {
				t.Errorf("origin head %q: want Trailer: X-Sig", r.head)
			}
			if len(r.trailers) != 1 || r.trailers[0] != "X-Sig: s1" {
				t.Errorf("origin trailer section %q, want [X-Sig: s1]", r.trailers)
			}
		})
	}
}

// TestRequestTrailersFastHTTPOrigin: a fasthttp origin streaming the
// request body finds the trailer in its request once the body is read.
func TestRequestTrailersFastHTTPOrigin(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	type got struct {
		n        int
		announce string
		sig      string
	}
	gotc := make(chan got, 1)
	srv := &fasthttp.Server{
		StreamRequestBody:             true,
		DisableHeaderNamesNormalizing: true,
		Handler: func(ctx *fasthttp.RequestCtx) {
			var g got
			for k := range ctx.Request.Header.Trailers() {
				g.announce += string(k)
			}
			n, _ := io.Copy(io.Discard, ctx.RequestBodyStream())
			g.n = int(n)
			g.sig = string(ctx.Request.Header.Peek("X-Sig"))
			gotc <- g
		},
	}
	go srv.Serve(ln) //nolint:errcheck
	t.Cleanup(func() { _ = srv.Shutdown() })
	lb := startLB(t, rawConfig(ln.Addr()))
	body := patternBody(2 << 20)
	resp := dialRaw(t, lb.addr).mustDo(chunkedPost(body, "X-Sig", "X-Sig: s1"))
	if resp.StatusCode() != 200 {
		t.Fatalf("status %d", resp.StatusCode())
	}
	g := <-gotc
	if g.n != len(body) || g.announce != "X-Sig" || g.sig != "s1" {
		t.Fatalf("origin read %d bytes, announcement %q, X-Sig %q; want %d, X-Sig, s1", g.n, g.announce, g.sig, len(body))
	}
}

// TestRequestTrailersBufferedBody: behind a server that reads bodies
// whole (no StreamRequestBody), a chunked request's trailer is still
// relayed: the body is sent chunked, not with a Content-Length.
func TestRequestTrailersBufferedBody(t *testing.T) {
	o := startRawOrigin(t, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	cfg, err := config.Parse("t.yaml", []byte(`listeners: [{address: "127.0.0.1:0"}]
routes: [{name: all, pool: web}]
pools:
  web:
    timeouts: {connect: 1s, response: 5s}
    servers: [{address: "`+o.addr+`"}]
`))
	if err != nil {
		t.Fatal(err)
	}
	snap, err := snapshot.Build(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := proxy.New(snap, logging.NewAccess(zapcore.AddSync(io.Discard)))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: h.Serve, DisableHeaderNamesNormalizing: true, NoDefaultServerHeader: true}
	go srv.Serve(ln) //nolint:errcheck
	t.Cleanup(func() { _ = srv.Shutdown() })

	body := patternBody(100)
	resp := dialRaw(t, ln.Addr().String()).mustDo(chunkedPost(body, "X-Sig", "X-Sig: s1"))
	if resp.StatusCode() != 200 {
		t.Fatalf("status %d %q", resp.StatusCode(), resp.Body())
	}
	r := o.last(t)
	if !bytes.Equal(r.body, body) || headerValue(r.head, "Transfer-Encoding") != "chunked" ||
		headerValue(r.head, "Trailer") != "X-Sig" || hasField(r.head, "Content-Length") {
		t.Errorf("origin got head %q and %d bytes; want chunked, Trailer: X-Sig, %d bytes", r.head, len(r.body), len(body))
	}
	if len(r.trailers) != 1 || r.trailers[0] != "X-Sig: s1" {
		t.Errorf("origin trailer section %q, want [X-Sig: s1]", r.trailers)
	}
}

// TestTrailersEdited: a trailer field the pool removes is not relayed,
// either way, and a trailer that shares its name with a field of the head
// leaves that field in the head.
func TestTrailersEdited(t *testing.T) {
	o := startRawOrigin(t, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Checksum: early\r\nTrailer: X-Checksum, X-Secret, X-Sum2\r\n\r\n"+
		"5\r\nhello\r\n0\r\nX-Checksum: abc\r\nX-Secret: no\r\nX-Sum2: def\r\n\r\n")
	pool := "    request_headers: {remove: [X-Secret]}\n    response_headers: {remove: [X-Secret]}\n"
	lb := startLB(t, basicConfig("round_robin", pool, &origin{addr: o.addr}))

	head, _, trailers := exchangeChunked(t, lb.addr, chunkedPost([]byte("ab"), "X-Sig, X-Secret", "X-Sig: s1", "X-Secret: no"))
	r := o.last(t)
	if v := headerValue(r.head, "Trailer"); v != "X-Sig" {
		t.Errorf("origin got Trailer %q, want X-Sig", v)
	}
	if strings.Join(r.trailers, "|") != "X-Sig: s1" {
		t.Errorf("origin trailer section %q, want [X-Sig: s1]", r.trailers)
	}
	if v := headerValue(head, "Trailer"); v != "X-Sum2" {
		t.Errorf("client got Trailer %q, want X-Sum2 (X-Checksum is in the head, X-Secret removed)", v)
	}
	if v := headerValue(head, "X-Checksum"); v != "early" {
		t.Errorf("client got X-Checksum %q in the head, want early", v)
	}
	if strings.Join(trailers, "|") != "X-Checksum: abc|X-Sum2: def" {
		t.Errorf("client trailer section %q, want [X-Checksum: abc X-Sum2: def]", trailers)
	}
}
