package proxy

import (
	"errors"
	"io"
	"sync"

	"github.com/valyala/fasthttp"

	"lb/balancer"
)

// errBodyTooLarge fails an upstream request whose streamed body crossed
// the listener's max_body_bytes.
var errBodyTooLarge = errors.New("proxy: request body over max_body_bytes")

// limitedBody streams a request body to the server and fails the upload
// once more than max bytes have passed (Nginx client_max_body_size on a
// chunked body). It is reused by its request's state.
type limitedBody struct {
	r    io.Reader
	left int64
	over bool
}

func (l *limitedBody) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		l.over = true
		return 0, errBodyTooLarge
	}
	return n, err
}

// relay is a response on its way from a server to the client. It holds
// the server's in-flight slot until its body has been relayed: fasthttp
// writes the body after the handler returns and then closes the stream,
// which releases the slot and the server's connection. Relays are pooled;
// one belongs to one response at a time.
type relay struct {
	resp fasthttp.Response // the server's response
	srv  *balancer.Server  // nil once released
	pool *sync.Pool
}

// Read reads the server's body.
func (r *relay) Read(p []byte) (int, error) { return r.resp.BodyStream().Read(p) }

// Close ends the relay: the server's stream is closed (its connection goes
// back to the pool, or is closed if the body was cut short), the slot is
// released, and the relay is recycled.
func (r *relay) Close() error {
	err := r.resp.CloseBodyStream()
	r.release()
	r.resp.Reset()
	r.pool.Put(r)
	return err
}

// release gives the server's slot back, once.
func (r *relay) release() {
	if r.srv != nil {
		r.srv.Release()
		r.srv = nil
	}
}

// discard ends a relay whose response is not sent to the client (a retry
// follows, or lb answers itself).
func (r *relay) discard() {
	_ = r.Close()
}

// bodySize returns the length of a message body without reading a
// streamed one: -1 when it is streamed and its length is unknown.
func responseBodySize(resp *fasthttp.Response) int {
	if resp.IsBodyStream() {
		return resp.Header.ContentLength()
	}
	return len(resp.Body())
}

func requestBodySize(req *fasthttp.Request) int {
	if req.IsBodyStream() {
		return req.Header.ContentLength()
	}
	return len(req.Body())
}
