package proxy_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/valyala/fasthttp"
)

var bigText = strings.Repeat("lb compresses what the backends send. ", 200) // ~7.6 KiB

// compressOrigin answers by path: content type, status and headers the
// compression rules look at.
func compressOrigin(ctx *fasthttp.RequestCtx) {
	h := &ctx.Response.Header
	h.Set("Content-Type", "text/plain; charset=utf-8")
	switch string(ctx.Path()) {
	case "/vary":
		h.Set("Vary", "Cookie")
		h.Set("ETag", `"v1"`)
	case "/no-transform":
		h.Set("Cache-Control", "public")
		h.Add("Cache-Control", "no-transform")
	case "/partial":
		ctx.SetStatusCode(206)
		h.Set("Content-Range", "bytes 0-99/1000")
	case "/png":
		h.Set("Content-Type", "image/png")
	case "/encoded":
		h.Set("Content-Encoding", "gzip")
	case "/short":
		ctx.SetBodyString("tiny")
		return
	case "/stream":
		ctx.SetBodyStreamWriter(func(w *bufio.Writer) { w.WriteString(bigText) })
		return
	}
	ctx.SetBodyString(bigText)
}

func decode(t *testing.T, encoding string, body []byte) string {
	t.Helper()
	var r io.Reader
	switch encoding {
	case "br":
		r = brotli.NewReader(bytes.NewReader(body))
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	default:
		return string(body)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("decoding %s: %v", encoding, err)
	}
	return string(out)
}

func TestCompressionRules(t *testing.T) {
	o := startOrigin(t, "o", compressOrigin)
	cfg := "compression: {exclude_paths: [/raw]}\n" + basicConfig("round_robin", "", o)
	lb := startLB(t, cfg)
	tests := []struct {
		name, method, path, accept string
		wantEncoding               string
	}{
		{"brotli preferred", "GET", "/", "gzip, br", "br"},
		{"gzip by q", "GET", "/", "br;q=0.5, gzip", "gzip"},
		{"nothing asked", "GET", "/", "", ""},
		{"identity only", "GET", "/", "br;q=0, gzip;q=0", ""},
		{"streamed body", "GET", "/stream", "br", "br"},
		{"no-transform", "GET", "/no-transform", "br", ""},
		{"206", "GET", "/partial", "br", ""},
		{"HEAD", "HEAD", "/", "br", ""},
		{"already compressed type", "GET", "/png", "br", ""},
		{"already encoded", "GET", "/encoded", "br", "gzip"}, // the server's own
		{"shorter than min_length", "GET", "/short", "br", ""},
		{"excluded path", "GET", "/raw/x", "br", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw := tc.method + " " + tc.path + " HTTP/1.1\r\nHost: x\r\n"
			if tc.accept != "" {
				raw += "Accept-Encoding: " + tc.accept + "\r\n"
			}
			c := dialRaw(t, lb.addr)
			_, _ = c.c.Write([]byte(raw + "\r\n"))
			var resp fasthttp.Response
			resp.SkipBody = tc.method == "HEAD"
			if err := resp.Read(c.br); err != nil {
				t.Fatal(err)
			}
			if got := string(resp.Header.ContentEncoding()); got != tc.wantEncoding {
				t.Fatalf("Content-Encoding %q, want %q", got, tc.wantEncoding)
			}
			if tc.wantEncoding == "" || tc.path == "/encoded" {
				return
			}
			if got := decode(t, tc.wantEncoding, resp.Body()); got != bigText {
				t.Fatalf("decoded body of %d bytes differs from the origin's %d", len(got), len(bigText))
			}
			// lb compresses, so the origin was not asked to.
			if v := o.last(t).headerFold("Accept-Encoding"); len(v) > 0 {
				t.Fatalf("origin got Accept-Encoding %q though lb compresses (offload)", v)
			}
		})
	}
}

func TestCompressedHeaders(t *testing.T) {
	o := startOrigin(t, "o", compressOrigin)
	lb := startLB(t, "compression: {}\n"+basicConfig("round_robin", "", o))
	resp := get(t, lb.addr, "/vary", "Accept-Encoding: br")
	var vary []string
	for k, v := range resp.Header.All() {
		if strings.EqualFold(string(k), "Vary") {
			vary = append(vary, string(v))
		}
	}
	if len(vary) != 1 || vary[0] != "Cookie, Accept-Encoding" {
		t.Errorf("Vary %q, want one field \"Cookie, Accept-Encoding\"", vary)
	}
	if etag := string(resp.Header.Peek("ETag")); etag != `W/"v1"` {
		t.Errorf("ETag %q, want the weakened W/\"v1\"", etag)
	}
	if got := decode(t, "br", resp.Body()); got != bigText {
		t.Errorf("body does not decode to the origin's")
	}
}

// TestCompressedEventStreamStaysLive: compression flushes when the server
// pauses, so an event reaches the client before the next one is sent (the
// origin sends the next only once the client has had the first).
func TestCompressedEventStreamStaysLive(t *testing.T) {
	next := holdNextEvents()
	o := startOrigin(t, "sse", func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("text/event-stream")
		ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
			for i := range 3 {
				if i > 0 {
					next.wait()
				}
				fmt.Fprintf(w, "data: %s event %d\n\n", strings.Repeat("x", 300), i)
				_ = w.Flush()
			}
		})
	})
	next.endsWith(t)
	// Between events the origin waits for the test, not for a clock.
	lb := startLB(t, noResponseTimeout("compression: {}\n"+basicConfig("round_robin", "", o)))
	c := dialRaw(t, lb.addr)
	_, _ = c.c.Write([]byte("GET /events HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n"))
	_ = c.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var resp fasthttp.Response
	resp.StreamBody = true
	if err := resp.Read(c.br); err != nil {
		t.Fatalf("response head: %v (the origin sends its second event only after the first is read)", err)
	}
	if string(resp.Header.ContentEncoding()) != "gzip" {
		t.Fatalf("Content-Encoding %q, want gzip", resp.Header.ContentEncoding())
	}
	zr, err := gzip.NewReader(resp.BodyStream())
	if err != nil {
		t.Fatalf("gzip header: %v (the origin sends its second event only after the first is read)", err)
	}
	br := bufio.NewReader(zr)
	line, err := br.ReadString('\n')
	if err != nil || !strings.Contains(line, "event 0") {
		t.Fatalf("first line %q (%v); the origin sends its second event only after it", line, err)
	}
	next.release()
	rest, err := io.ReadAll(br)
	if err != nil || !strings.Contains(string(rest), "event 1\n") || !strings.HasSuffix(string(rest), "event 2\n\n") {
		t.Fatalf("rest of the stream %q (%v), want events 1 and 2", rest, err)
	}
}
