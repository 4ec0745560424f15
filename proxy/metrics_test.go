package proxy_test

import (
	"strings"
	"testing"
	"time"

	"lb/compress"
	"lb/metrics"
)

// TestMetricsCountBytesAndCompression sends known bodies through a real
// lb and checks the byte and compression counters exactly: request body
// bytes in, response body bytes relayed (streamed or not), and each
// algorithm's bytes before and after compression.
func TestMetricsCountBytesAndCompression(t *testing.T) {
	o := startOrigin(t, "o", compressOrigin)
	lb := startLB(t, "compression: {}\n"+basicConfig("round_robin", "", o))
	h := lb.p.Handler()

	gz := get(t, lb.addr, "/", "Accept-Encoding: gzip")
	br := get(t, lb.addr, "/stream", "Accept-Encoding: br")
	plain := get(t, lb.addr, "/short")
	if string(gz.Header.ContentEncoding()) != "gzip" || string(br.Header.ContentEncoding()) != "br" || len(plain.Body()) != 4 {
		t.Fatalf("encodings %q %q, plain %q", gz.Header.ContentEncoding(), br.Header.ContentEncoding(), plain.Body())
	}
	body := strings.Repeat("x", 1000)
	post := dialRaw(t, lb.addr).mustDo("POST /short HTTP/1.1\r\nHost: example.com\r\nContent-Length: 1000\r\n\r\n" + body)
	if post.StatusCode() != 200 {
		t.Fatalf("POST: %d", post.StatusCode())
	}

	ps := h.Snapshot().Routes()[0].Pool.Stats
	reg := h.Stats()
	want := []struct {
		name string
		got  func() uint64
		want uint64
	}{
		{"bytes in", ps.BytesIn.Load, 1000},
		{"bytes out", ps.BytesOut.Load, uint64(2*len(bigText) + 4 + 4)},
		{"gzip in", reg.Compression[compress.Gzip].In.Load, uint64(len(bigText))},
		{"gzip out", reg.Compression[compress.Gzip].Out.Load, uint64(len(gz.Body()))},
		{"br in", reg.Compression[compress.Brotli].In.Load, uint64(len(bigText))},
		{"br out", reg.Compression[compress.Brotli].Out.Load, uint64(len(br.Body()))},
		{"route 2xx", h.Snapshot().Routes()[0].Stats.Requests[metrics.Class2xx].Load, 4},
		{"server 2xx", h.Snapshot().Routes()[0].Pool.Servers()[0].Stats.Responses[metrics.Class2xx].Load, 4},
	}
	// A streamed body is counted when its relay closes, just after the
	// client has read it.
	deadline := time.Now().Add(5 * time.Second)
	for _, w := range want {
		for w.got() != w.want && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if got := w.got(); got != w.want {
			t.Errorf("%s = %d, want %d", w.name, got, w.want)
		}
	}
}
