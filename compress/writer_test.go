package compress

import (
	"bytes"
	stdgzip "compress/gzip"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"
)

// textBody returns n bytes of deterministic English-like text.
func textBody(n int) []byte {
	words := strings.Fields(`the quick brown fox jumps over lazy dog load balancer proxy
		upstream request response header body compression brotli gzip stream chunk event
		server client connection timeout retry health check route path cache vary etag`)
	r := rand.New(rand.NewPCG(1, 2))
	var b bytes.Buffer
	for b.Len() < n {
		b.WriteString(words[r.IntN(len(words))])
		if r.IntN(12) == 0 {
			b.WriteString(".\n")
		} else {
			b.WriteByte(' ')
		}
	}
	return b.Bytes()[:n]
}

// jsonBody returns about n bytes of API-like JSON.
func jsonBody(n int) []byte {
	r := rand.New(rand.NewPCG(3, 4))
	var b bytes.Buffer
	b.WriteString(`{"items":[`)
	for i := 0; b.Len() < n-2; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":%d,"name":"user-%d","email":"user%d@example.com","active":%t,"score":%.3f,"tags":["a%d","b%d"],"created":"2025-%02d-%02dT%02d:%02d:00Z"}`,
			i, r.IntN(100000), r.IntN(100000), r.IntN(2) == 0, r.Float64()*100, r.IntN(50), r.IntN(50),
			1+r.IntN(12), 1+r.IntN(28), r.IntN(24), r.IntN(60))
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

// htmlBody returns about n bytes of HTML with inline script.
func htmlBody(n int) []byte {
	r := rand.New(rand.NewPCG(5, 6))
	var b bytes.Buffer
	b.WriteString("<!doctype html><html><head><title>lb</title><script>function f(a,b){return a.map(x=>x*b).filter(Boolean)}</script></head><body>\n")
	text := textBody(n)
	for off := 0; b.Len() < n; {
		k := 40 + r.IntN(200)
		if off+k > len(text) {
			off = 0
		}
		fmt.Fprintf(&b, `<div class="row c%d"><a href="/p/%d">%s</a><span data-id="%d">%s</span></div>`+"\n",
			r.IntN(20), r.IntN(1000), text[off:off+k/4], r.IntN(1e6), text[off+k/4:off+k])
		off += k
	}
	b.WriteString("</body></html>")
	return b.Bytes()
}

func decode(t testing.TB, a Algorithm, data []byte) []byte {
	t.Helper()
	var r io.Reader
	switch a {
	case Gzip:
		zr, err := stdgzip.NewReader(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("gzip.NewReader: %v", err)
		}
		r = zr
	case Brotli:
		r = brotli.NewReader(bytes.NewReader(data))
	default:
		return data
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("decode %v: %v", a, err)
	}
	return out
}

var allAlgorithms = []Algorithm{Gzip, Brotli, Identity}

// TestRoundTrip compresses 1 MiB in uneven writes with a Flush in the
// middle, decodes with the standard library's gzip and brotli's reader, and
// compares byte for byte; then does a second stream with a pooled writer.
func TestRoundTrip(t *testing.T) {
	body := textBody(1 << 20)
	levels := map[Algorithm][]int{Gzip: {1, 6, -1}, Brotli: {0, 4, 6}, Identity: {0}}
	for _, a := range allAlgorithms {
		for _, level := range levels[a] {
			t.Run(fmt.Sprintf("%v/%d", a, level), func(t *testing.T) {
				for stream := range 2 { // the second stream reuses the pooled writer
					var out bytes.Buffer
					w := NewWriter(a, level, &out)
					if w.Algorithm() != a {
						t.Fatalf("Algorithm() = %v, want %v", w.Algorithm(), a)
					}
					for off, i := 0, 0; off < len(body); i++ {
						n := min(1+i*7919%65536, len(body)-off)
						if _, err := w.Write(body[off : off+n]); err != nil {
							t.Fatalf("Write: %v", err)
						}
						off += n
						if i == 10 {
							if err := w.Flush(); err != nil {
								t.Fatalf("Flush: %v", err)
							}
						}
					}
					if err := w.Close(); err != nil {
						t.Fatalf("Close: %v", err)
					}
					w.Release()
					got := decode(t, a, out.Bytes())
					if !bytes.Equal(got, body) {
						t.Fatalf("stream %d: decoded %d bytes, differ from the %d-byte body", stream, len(got), len(body))
					}
					if a != Identity && out.Len() > len(body)/2 {
						t.Errorf("stream %d: compressed to %d of %d bytes, ratio too poor", stream, out.Len(), len(body))
					}
				}
			})
		}
	}
}

// TestFlushPerChunk pins the streaming/SSE contract: after each Flush, the
// bytes written so far decode to exactly the chunks written so far.
func TestFlushPerChunk(t *testing.T) {
	events := []string{"data: one\n\n", "data: two\n\n", "event: x\ndata: three\n\n", strings.Repeat("data: long\n", 300) + "\n"}
	for _, a := range []Algorithm{Gzip, Brotli} {
		t.Run(a.String(), func(t *testing.T) {
			var out bytes.Buffer
			w := NewWriter(a, 5, &out)
			defer w.Release()
			var sent string
			for i, ev := range events {
				if _, err := io.WriteString(w, ev); err != nil {
					t.Fatalf("Write: %v", err)
				}
				if err := w.Flush(); err != nil {
					t.Fatalf("Flush: %v", err)
				}
				sent += ev
				if got := decodePrefix(t, a, out.Bytes(), len(sent)); got != sent {
					t.Fatalf("after event %d decoded %q, want %q", i, got, sent)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if got := string(decode(t, a, out.Bytes())); got != sent {
				t.Fatalf("full stream decoded %q, want %q", got, sent)
			}
		})
	}
}

// decodePrefix decodes n bytes from an unterminated stream.
func decodePrefix(t *testing.T, a Algorithm, data []byte, n int) string {
	t.Helper()
	var r io.Reader
	switch a {
	case Gzip:
		zr, err := stdgzip.NewReader(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("gzip.NewReader: %v", err)
		}
		r = zr
	case Brotli:
		r = brotli.NewReader(bytes.NewReader(data))
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		t.Fatalf("decode %d flushed bytes: %v", n, err)
	}
	return string(buf)
}

func TestWriterLevelClampAndReleased(t *testing.T) {
	for _, tc := range []struct {
		a     Algorithm
		level int
	}{{Gzip, 42}, {Gzip, -9}, {Brotli, 99}, {Brotli, -1}} {
		var out bytes.Buffer
		w := NewWriter(tc.a, tc.level, &out)
		io.WriteString(w, "hello, hello, hello")
		if err := w.Close(); err != nil {
			t.Fatalf("%v level %d: Close: %v", tc.a, tc.level, err)
		}
		w.Release()
		if got := string(decode(t, tc.a, out.Bytes())); got != "hello, hello, hello" {
			t.Errorf("%v level %d: decoded %q", tc.a, tc.level, got)
		}
		w.Release() // a second Release is a no-op, not a double Put
		if _, err := w.Write([]byte("x")); err != ErrReleased {
			t.Errorf("%v: Write after Release = %v, want ErrReleased", tc.a, err)
		}
	}
}

// TestWriterConcurrent runs pooled writers from many goroutines (for -race).
func TestWriterConcurrent(t *testing.T) {
	body := textBody(64 << 10)
	done := make(chan error)
	for g := range 16 {
		go func() {
			a := []Algorithm{Gzip, Brotli}[g%2]
			for range 5 {
				var out bytes.Buffer
				w := NewWriter(a, 4, &out)
				w.Write(body)
				w.Close()
				w.Release()
				if !bytes.Equal(decode(t, a, out.Bytes()), body) {
					done <- fmt.Errorf("%v: round trip mismatch", a)
					return
				}
			}
			done <- nil
		}()
	}
	for range 16 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

func TestWriterAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under -race")
	}
	body := textBody(16 << 10)
	for _, a := range allAlgorithms {
		level := (&Policy{}).Level(a)
		run := func() {
			w := NewWriter(a, level, io.Discard)
			w.Write(body)
			w.Close()
			w.Release()
		}
		run() // warm the pool
		// sync.Pool may drop an item at a GC; allow a fraction.
		if allocs := testing.AllocsPerRun(50, run); allocs >= 1 {
			t.Errorf("%v: allocs per stream = %v, want 0 in steady state", a, allocs)
		}
	}
}

// BenchmarkWriter16K: one 16 KiB response per op through a pooled writer.
func BenchmarkWriter16K(b *testing.B) {
	body := textBody(16 << 10)
	for _, a := range []Algorithm{Gzip, Brotli} {
		level := (&Policy{}).Level(a)
		b.Run(fmt.Sprintf("%v-%d", a, level), func(b *testing.B) {
			var cw countWriter
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				w := NewWriter(a, level, &cw)
				w.Write(body)
				w.Close()
				w.Release()
			}
			b.ReportMetric(float64(len(body))*float64(b.N)/float64(cw.n), "ratio")
		})
	}
}

// BenchmarkLevels: MB/s and ratio per algorithm and level on a 64 KiB JSON
// and a 200 KiB HTML/JS body (generated, deterministic).
func BenchmarkLevels(b *testing.B) {
	bodies := []struct {
		name string
		data []byte
	}{{"json64K", jsonBody(64 << 10)}, {"html200K", htmlBody(200 << 10)}}
	levels := map[Algorithm][]int{Gzip: {1, 4, 5, 6, 9}, Brotli: {0, 1, 2, 3, 4, 5, 6, 9, 11}}
	for _, body := range bodies {
		for _, a := range []Algorithm{Gzip, Brotli} {
			for _, level := range levels[a] {
				b.Run(fmt.Sprintf("%s/%v-%d", body.name, a, level), func(b *testing.B) {
					var cw countWriter
					b.SetBytes(int64(len(body.data)))
					b.ReportAllocs()
					for b.Loop() {
						w := NewWriter(a, level, &cw)
						w.Write(body.data)
						w.Close()
						w.Release()
					}
					b.ReportMetric(float64(len(body.data))*float64(b.N)/float64(cw.n), "ratio")
				})
			}
		}
	}
}

type countWriter struct{ n int }

func (c *countWriter) Write(p []byte) (int, error) { c.n += len(p); return len(p), nil }
