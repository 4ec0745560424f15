package edge_test

import (
	"strings"
	"testing"

	"lb/edge"
)

// BenchmarkScanHead: the cost of the strict checks on a typical browser
// request head (about 500 bytes), per request.
func BenchmarkScanHead(b *testing.B) {
	head := []byte("GET /api/v1/items?page=2&sort=name HTTP/1.1\r\n" +
		"Host: shop.example.com\r\n" +
		"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36\r\n" +
		"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n" +
		"Accept-Language: en-US,en;q=0.5\r\n" +
		"Accept-Encoding: gzip, deflate, br\r\n" +
		"Cookie: session=0123456789abcdef0123456789abcdef; theme=dark\r\n" +
		"Connection: keep-alive\r\n\r\n")
	var s edge.Scanner
	b.SetBytes(int64(len(head)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Scan(head); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkScanSmallHead: a minimal head, as load generators send:
// per-request costs dominate.
func BenchmarkScanSmallHead(b *testing.B) {
	head := []byte("GET /small HTTP/1.1\r\nHost: 127.0.0.1:18090\r\n\r\n")
	var s edge.Scanner
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Scan(head); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkScanChunkedBody: chunked body bytes, 16 KiB chunks: the
// checker reads the chunk lines and skips the data.
func BenchmarkScanChunkedBody(b *testing.B) {
	chunk := []byte("4000\r\n" + strings.Repeat("x", 16<<10) + "\r\n")
	var s edge.Scanner
	if _, err := s.Scan([]byte("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(chunk)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Scan(chunk); err != nil {
			b.Fatal(err)
		}
	}
}
