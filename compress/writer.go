package compress

import (
	"errors"
	"io"
	"sync"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
)

// Level ranges accepted by NewWriter (values outside are clamped) and by
// Policy.Validate.
const (
	// gzip: -2 is Huffman-only, -1 is gzip.DefaultCompression (mapped to
	// level 6, as in the standard library), 0 stores, 1-9 as usual.
	gzipMinLevel = gzip.HuffmanOnly
	gzipMaxLevel = gzip.BestCompression
	// brotli quality 0-11.
	brotliMinLevel = brotli.BestSpeed
	brotliMaxLevel = brotli.BestCompression
)

// brotliWindowBits is the brotli window (log2): 19 = 512 KiB, the default of
// Nginx's brotli module (brotli_window 512k). The library's default (22,
// 4 MiB) makes every pooled encoder that once saw a large body hold several
// MiB of ring buffer and hash tables, for a ratio gain that is marginal on
// web bodies.
const brotliWindowBits = 19

// ErrReleased is returned by a Writer used after Release.
var ErrReleased = errors.New("compress: writer used after Release")

// Writer is a streaming encoder for one response body at a time.
//
// Write compresses; Flush emits everything written so far as a decodable
// block (a sync flush, for streamed and SSE responses) without ending the
// stream; Close writes the trailer; Reset starts a new stream to another
// destination; Release returns the encoder to its pool. Flush and Close
// write to dst but do not flush dst itself.
//
// A Writer is not safe for concurrent use. After Release it must not be
// used again (its methods return ErrReleased as a safety net, but the
// encoder may already serve another response). Release without Close
// abandons the stream; that is fine for an aborted response.
type Writer interface {
	io.WriteCloser
	Flush() error
	Reset(dst io.Writer)
	Release()
	// Algorithm reports the coding the writer produces.
	Algorithm() Algorithm
}

// Pools of encoders per algorithm and level. These package-level pools are
// the one deliberate exception to "no package-global mutable state":
// sync.Pool is safe for concurrent use, holds only interchangeable scratch
// encoders, and must be shared process-wide to be useful.
var (
	gzipPools     [gzipMaxLevel - gzipMinLevel + 1]sync.Pool
	brotliPools   [brotliMaxLevel - brotliMinLevel + 1]sync.Pool
	identityPools sync.Pool
)

// NewWriter returns a pooled Writer encoding with a at level (clamped to the
// algorithm's range; gzip -1 means 6) into dst. Identity returns a
// pass-through writer. In steady state (pooled encoder available) it does
// not allocate. The caller must Close and then Release it.
func NewWriter(a Algorithm, level int, dst io.Writer) Writer {
	switch a {
	case Gzip:
		if level == gzip.DefaultCompression {
			level = DefaultGzipLevel
		}
		level = min(max(level, gzipMinLevel), gzipMaxLevel)
		pool := &gzipPools[level-gzipMinLevel]
		w, _ := pool.Get().(*gzipWriter)
		if w == nil {
			w = &gzipWriter{pool: pool}
			// The level is in range, so NewWriterLevel cannot fail.
			w.gz, _ = gzip.NewWriterLevel(&w.dst, level)
		}
		w.Reset(dst)
		return w
	case Brotli:
		level = min(max(level, brotliMinLevel), brotliMaxLevel)
		pool := &brotliPools[level-brotliMinLevel]
		w, _ := pool.Get().(*brotliWriter)
		if w == nil {
			w = &brotliWriter{pool: pool}
			w.br = brotli.NewWriterOptions(&w.dst, brotli.WriterOptions{Quality: level, LGWin: brotliWindowBits})
		}
		w.Reset(dst)
		return w
	}
	w, _ := identityPools.Get().(*identityWriter)
	if w == nil {
		w = &identityWriter{}
	}
	w.Reset(dst)
	return w
}

// sink is the encoder's fixed destination; swapping sink.w retargets the
// encoder without resetting it, and Release drops the caller's writer so
// the pool does not retain it.
type sink struct{ w io.Writer }

func (s *sink) Write(p []byte) (int, error) {
	if s.w == nil {
		return 0, ErrReleased
	}
	return s.w.Write(p)
}

// gzipWriter is a pooled gzip encoder.
type gzipWriter struct {
	gz   *gzip.Writer
	dst  sink
	pool *sync.Pool
}

func (w *gzipWriter) Algorithm() Algorithm { return Gzip }

func (w *gzipWriter) Write(p []byte) (int, error) {
	if w.dst.w == nil {
		return 0, ErrReleased
	}
	return w.gz.Write(p)
}

func (w *gzipWriter) Flush() error {
	if w.dst.w == nil {
		return ErrReleased
	}
	return w.gz.Flush()
}

func (w *gzipWriter) Close() error {
	if w.dst.w == nil {
		return ErrReleased
	}
	return w.gz.Close()
}

func (w *gzipWriter) Reset(dst io.Writer) {
	w.dst.w = dst
	w.gz.Reset(&w.dst)
}

func (w *gzipWriter) Release() {
	if w.dst.w == nil {
		return // already released
	}
	w.dst.w = nil
	w.pool.Put(w)
}

// brotliWriter is a pooled brotli encoder.
type brotliWriter struct {
	br   *brotli.Writer
	dst  sink
	pool *sync.Pool
}

func (w *brotliWriter) Algorithm() Algorithm { return Brotli }

func (w *brotliWriter) Write(p []byte) (int, error) {
	if w.dst.w == nil {
		return 0, ErrReleased
	}
	return w.br.Write(p)
}

func (w *brotliWriter) Flush() error {
	if w.dst.w == nil {
		return ErrReleased
	}
	return w.br.Flush()
}

func (w *brotliWriter) Close() error {
	if w.dst.w == nil {
		return ErrReleased
	}
	return w.br.Close()
}

func (w *brotliWriter) Reset(dst io.Writer) {
	w.dst.w = dst
	w.br.Reset(&w.dst)
}

func (w *brotliWriter) Release() {
	if w.dst.w == nil {
		return
	}
	w.dst.w = nil
	w.pool.Put(w)
}

// identityWriter passes bytes through unchanged.
type identityWriter struct{ dst sink }

func (w *identityWriter) Algorithm() Algorithm { return Identity }

func (w *identityWriter) Write(p []byte) (int, error) { return w.dst.Write(p) }

func (w *identityWriter) Flush() error {
	if w.dst.w == nil {
		return ErrReleased
	}
	return nil
}

func (w *identityWriter) Close() error { return w.Flush() }

func (w *identityWriter) Reset(dst io.Writer) { w.dst.w = dst }

func (w *identityWriter) Release() {
	if w.dst.w == nil {
		return
	}
	w.dst.w = nil
	identityPools.Put(w)
}
