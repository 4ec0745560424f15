package proxy_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// TestServerSentEventsArriveAsSent: an origin sends one event and sends
// the next only once the client has had the first: a proxy that held the
// stream back would never deliver it.
func TestServerSentEventsArriveAsSent(t *testing.T) {
	next := holdNextEvents()
	o := startOrigin(t, "sse", func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("text/event-stream")
		ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
			for i := range 3 {
				if i > 0 {
					next.wait()
				}
				fmt.Fprintf(w, "data: event %d\n\n", i)
				_ = w.Flush()
			}
		})
	})
	next.endsWith(t)
	// Between events the origin waits for the test, not for a clock.
	lb := startLB(t, noResponseTimeout(basicConfig("round_robin", "", o)))
	c := dialRaw(t, lb.addr)
	if _, err := c.c.Write([]byte("GET /events HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	_ = c.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for want := range 3 {
		for {
			line, err := c.br.ReadString('\n')
			if err != nil {
				t.Fatalf("reading the stream for event %d: %v (the origin sends the next only after it)", want, err)
			}
			if strings.HasPrefix(line, "data: event ") {
				if line != fmt.Sprintf("data: event %d\n", want) {
					t.Fatalf("event line %q, want event %d", line, want)
				}
				break
			}
		}
		if want == 0 {
			next.release()
		}
	}
}

// nextEvents holds an event-stream origin's later events until the test
// has read the first.
type nextEvents struct {
	ch   chan struct{}
	once sync.Once
}

// holdNextEvents returns a hold that release ends. Call endsWith once
// the origin has started so that the hold ends, at the latest, with the
// test, before the origin's Shutdown, which waits for the stream.
func holdNextEvents() *nextEvents { return &nextEvents{ch: make(chan struct{})} }

// endsWith releases n when t ends (cleanups run last registered first).
func (n *nextEvents) endsWith(t *testing.T) { t.Cleanup(n.release) }

func (n *nextEvents) release() { n.once.Do(func() { close(n.ch) }) }

func (n *nextEvents) wait() { <-n.ch }

// TestBodyLimit pins Nginx client_max_body_size: a declared length over
// it gets 413 before anything is forwarded; a chunked body that crosses
// it gets 413 and the upload to the server is cut off there.
func TestBodyLimit(t *testing.T) {
	var got int
	o := startOrigin(t, "o", func(ctx *fasthttp.RequestCtx) {
		got = len(ctx.Request.Body())
		ctx.WriteString("ok")
	})
	cfg := strings.Replace(basicConfig("round_robin", "    retries: {max_body_bytes: 1KiB}\n", o),
		"  - address: 127.0.0.1:0", "  - address: 127.0.0.1:0\n    max_body_bytes: 64KiB", 1)
	lb := startLB(t, cfg)

	resp := dialRaw(t, lb.addr).mustDo(fmt.Sprintf("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", 65<<10, strings.Repeat("c", 65<<10)))
	if resp.StatusCode() != 413 || o.count() != 0 {
		t.Fatalf("declared 65 KiB: status %d, origin saw %d requests; want 413 and none", resp.StatusCode(), o.count())
	}

	// Exactly the limit passes, streamed.
	body := strings.Repeat("a", 64<<10)
	resp = dialRaw(t, lb.addr).mustDo(fmt.Sprintf("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", len(body), body))
	if resp.StatusCode() != 200 || got != len(body) {
		t.Fatalf("64 KiB body: status %d, origin got %d bytes", resp.StatusCode(), got)
	}

	// A chunked body that grows past the limit.
	conn, err := net.Dial("tcp", lb.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	before := o.count()
	_, _ = conn.Write([]byte("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"))
	chunk := fmt.Sprintf("%x\r\n%s\r\n", 16<<10, strings.Repeat("b", 16<<10))
	for range 8 { // 128 KiB, twice the limit
		if _, err := conn.Write([]byte(chunk)); err != nil {
			break // lb may close early
		}
	}
	_, _ = conn.Write([]byte("0\r\n\r\n"))
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var r fasthttp.Response
	if err := r.Read(bufio.NewReader(conn)); err != nil {
		t.Fatalf("reading the answer to an over-limit chunked body: %v", err)
	}
	if r.StatusCode() != 413 {
		t.Fatalf("chunked 128 KiB: status %d, want 413", r.StatusCode())
	}
	if o.count() != before {
		t.Fatalf("origin handled an over-limit chunked body (%d bytes)", got)
	}
}

// TestLargeResponseStreams: a response much larger than any buffer
// arrives whole and in order.
func TestLargeResponseStreams(t *testing.T) {
	const size = 32 << 20
	o := startOrigin(t, "big", func(ctx *fasthttp.RequestCtx) {
		ctx.SetBodyStream(io.LimitReader(pattern{}, size), size)
	})
	lb := startLB(t, basicConfig("round_robin", "", o))
	c := dialRaw(t, lb.addr)
	_, _ = c.c.Write([]byte("GET /big HTTP/1.1\r\nHost: x\r\n\r\n"))
	_ = c.c.SetReadDeadline(time.Now().Add(30 * time.Second))
	var r fasthttp.Response
	r.StreamBody = true
	if err := r.Read(c.br); err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(checker{t: t}, r.BodyStream())
	if err != nil || n != size {
		t.Fatalf("read %d bytes (%v), want %d", n, err, size)
	}
}

// pattern is an endless stream of bytes.
type pattern struct{}

func (p pattern) Read(b []byte) (int, error) {
	for i := range b {
		b[i] = byte(i % 251)
	}
	return len(b), nil
}

// checker verifies nothing here but that the stream flows; byte-exact
// hashing of GiB transfers is in the lb package's heavy tests.
type checker struct{ t *testing.T }

func (c checker) Write(b []byte) (int, error) { return len(b), nil }
