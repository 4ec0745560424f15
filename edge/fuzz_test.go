package edge_test

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"

	"lb/edge"
)

var fuzzSeeds = []string{
	"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
	"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n0\r\nT: 1\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n c\r\n\r\n",
	"\r\nGET / HTTP/1.0\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n",
}

// fuzzServer is a fasthttp server on an in-memory listener wrapped by
// edge.Listener, as lb serves a listener; its handler counts requests
// and reads their bodies, as forwarding does.
type fuzzServer struct {
	ln     *fasthttputil.InmemoryListener
	srv    *fasthttp.Server
	served atomic.Int64
	mu     sync.Mutex
	closed map[net.Conn]chan struct{} // by server-side conn
	next   chan chan struct{}
}

func newFuzzServer(tb testing.TB) *fuzzServer {
	fs := &fuzzServer{ln: fasthttputil.NewInmemoryListener(), next: make(chan chan struct{}, 1)}
	fs.srv = &fasthttp.Server{
		Handler: func(ctx *fasthttp.RequestCtx) {
			fs.served.Add(1)
			if s := ctx.RequestBodyStream(); s != nil {
				_, _ = io.Copy(io.Discard, s)
			}
		},
		ErrorHandler:                  func(ctx *fasthttp.RequestCtx, err error) { ctx.SetStatusCode(400) },
		ReadTimeout:                   5 * time.Second,
		ReadBufferSize:                4096,
		MaxRequestBodySize:            1024,
		StreamRequestBody:             true,
		DisableHeaderNamesNormalizing: true,
		DisablePreParseMultipartForm:  true,
		NoDefaultServerHeader:         true,
		Logger:                        quiet{},
		ConnState: func(c net.Conn, st fasthttp.ConnState) {
			switch st {
			case fasthttp.StateNew:
				fs.mu.Lock()
				fs.closed[c] = <-fs.next
				fs.mu.Unlock()
			case fasthttp.StateClosed, fasthttp.StateHijacked:
				fs.mu.Lock()
				close(fs.closed[c])
				delete(fs.closed, c)
				fs.mu.Unlock()
			}
		},
	}
	fs.closed = map[net.Conn]chan struct{}{}
	ln := &edge.Listener{Listener: fs.ln, Limits: edge.Limits{MaxHeaderBytes: 4096, MaxURIBytes: 1024}}
	go fs.srv.Serve(ln) //nolint:errcheck
	tb.Cleanup(func() { _ = fs.srv.Shutdown() })
	return fs
}

type quiet struct{}

func (quiet) Printf(string, ...any) {}

// serve sends in on one connection, closes it, and waits until the
// server is done with it. It returns the requests the handler saw.
func (fs *fuzzServer) serve(t *testing.T, in []byte) int64 {
	done := make(chan struct{})
	fs.next <- done
	before := fs.served.Load()
	c, err := fs.ln.Dial()
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		// The server still reads what was written before the close.
		_, _ = c.Write(in)
		c.Close()
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("server still on the connection after 10s: hang on %q", in)
	}
	return fs.served.Load() - before
}

// FuzzListener feeds raw bytes to fasthttp behind edge.Listener and
// checks that nothing panics or hangs and that fasthttp never serves more
// requests than the Scanner framed: no byte the scanner took for a body
// became a request.
func FuzzListener(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	fs := newFuzzServer(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		served := fs.serve(t, in)
		var s edge.Scanner
		s.Limits = edge.Limits{MaxHeaderBytes: 4096, MaxURIBytes: 1024}
		_, _ = s.Scan(in)
		if served > int64(s.Heads()) {
			t.Fatalf("fasthttp served %d requests, the scanner framed %d heads: %q", served, s.Heads(), in)
		}
	})
}

// FuzzScanner checks that the Scanner's verdict does not depend on how
// the stream is cut into reads.
func FuzzScanner(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s), uint16(7))
	}
	f.Fuzz(func(t *testing.T, in []byte, cut uint16) {
		var whole edge.Scanner
		n1, err1 := whole.Scan(in)
		var split edge.Scanner
		k := int(cut) % (len(in) + 1)
		na, erra := split.Scan(in[:k])
		n2, err2 := na, erra
		if erra == nil {
			nb, errb := split.Scan(in[k:])
			n2, err2 = k+nb, errb
			if errb != nil && !split.RefusedHere() {
				n2 = -1 // began in the first part: position unknown here
			}
		}
		if err1 != err2 {
			t.Fatalf("whole: %v, cut at %d: %v", err1, k, err2)
		}
		if err1 == nil && (n1 != len(in) || n2 != len(in)) {
			t.Fatalf("accepted but n = %d, %d of %d", n1, n2, len(in))
		}
		if err1 != nil && n2 >= 0 && n1 != n2 && whole.RefusedHere() {
			t.Fatalf("refused at %d whole, %d cut at %d", n1, n2, k)
		}
		if whole.Heads() != split.Heads() {
			t.Fatalf("heads %d whole, %d cut", whole.Heads(), split.Heads())
		}
	})
}
