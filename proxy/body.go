package proxy

import (
	"bufio"
	"errors"
	"io"
	"sync"

	"github.com/valyala/fasthttp"

	"lb/balancer"
	"lb/metrics"
)

// errBodyTooLarge fails an upstream request whose streamed body crossed
// the listener's max_body_bytes.
var errBodyTooLarge = errors.New("proxy: request body over max_body_bytes")

// limitedBody streams a request body to the server and fails the upload
// once more than max bytes have passed (Nginx client_max_body_size on a
// chunked body). It is reused by its request's state.
//
// At the end of a chunked body the client's trailer fields have been read
// into in; they are copied to out, the request being sent, whose trailer
// section fasthttp writes once this stream has returned io.EOF.
type limitedBody struct {
	r    io.Reader
	left int64
	over bool

	in  *fasthttp.RequestHeader // nil: no trailers to relay
	out *fasthttp.RequestHeader
	s   *scratch   // the request's Connection tokens
	ops *HeaderOps // the pool's request header edits
}

func (l *limitedBody) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		l.over = true
		return 0, errBodyTooLarge
	}
	if err == io.EOF && l.in != nil {
		s, ops := l.s, l.ops
		copyTrailers(l.out, l.in.TrailerHeader(), true, func(k []byte) bool { return s.dropRequest(k, ops) })
		l.in = nil
	}
	return n, err
}

// relay is a response on its way from a server to the client. It holds
// the server's in-flight slot until its body has been relayed: fasthttp
// writes the body after the handler returns and then closes the stream,
// which releases the slot and the server's connection. Relays are pooled;
// one belongs to one response at a time.
//
// A chunked response may end in trailer fields, which exist only once its
// body has been read to the end: Read then copies them to out, the
// client's response header, whose trailer section fasthttp writes after
// the body stream has returned io.EOF. out is valid until the response has
// been written, which ends with Close.
type relay struct {
	resp fasthttp.Response // the server's response
	// The server's connection the body is read from (exchange), until
	// endStream gives it back: nil when there is none.
	hc  *fasthttp.HostClient
	cc  conn
	br  *bufio.Reader
	eof bool // the body was read to its end
	// held is the connection's read buffer, kept (after the connection
	// went back) because it holds the body: given back at Close.
	held *bufio.Reader
	srv  *balancer.Server         // nil once released
	out  *fasthttp.ResponseHeader // nil: no trailers to relay
	ops  *HeaderOps               // the pool's response header edits
	pool *sync.Pool
	// stats, when set, count the body bytes relayed (n so far) at Close.
	stats *metrics.PoolStats
	n     int64
	buf   []byte // a small body read whole (readWhole), kept for reuse
}

// wholeBody is the largest response body of known length that is read
// whole before it is sent, as Nginx reads a response into proxy_buffers:
// the client then gets it in one write instead of 4 KiB pieces, and a
// body the server cuts short is found before anything is sent, so that
// the attempt fails (and may be retried) rather than the client getting
// half an answer. Larger and chunked bodies stream.
const wholeBody = 64 << 10

// errShortBody is a response body that ended before its Content-Length.
var errShortBody = errors.New("proxy: the server's response body ended before its Content-Length")

// readWhole reads a streamed body of known length up to wholeBody into
// the relay, so that the response is no longer a stream. A HEAD answer
// has no body to read.
func (r *relay) readWhole(head bool) error {
	cl := r.resp.Header.ContentLength()
	if head || !r.resp.IsBodyStream() || cl < 0 || cl > wholeBody {
		return nil
	}
	if r.br != nil && r.br.Buffered() >= cl {
		// The body came with the head: it stays where it was read, in
		// the connection's read buffer, which the relay keeps.
		b, _ := r.br.Peek(cl)
		_, _ = r.br.Discard(cl)
		r.eof = true
		if err := r.endStream(true); err != nil {
			return err
		}
		r.resp.SetBodyRaw(b)
		return nil
	}
	if cap(r.buf) < cl+1 {
		r.buf = make([]byte, max(cl+1, 4<<10))
	}
	b := r.buf[:cl+1] // one byte more: the stream must end at cl
	n, err := io.ReadFull(r.resp.BodyStream(), b)
	if n != cl || (err != io.ErrUnexpectedEOF && err != io.EOF) {
		return errShortBody
	}
	r.eof = true
	if err := r.endStream(false); err != nil {
		return err
	}
	r.resp.SetBodyRaw(b[:n])
	return nil
}

// endStream closes the body stream and gives the server's connection
// back: to the pool when the body was read to its end and the server
// keeps the connection, else closed (a body cut short leaves unread
// bytes; a body delimited by the close leaves none to reuse; bytes after
// the answer are more than the server was asked for). keepReader keeps
// the connection's read buffer, which holds the body, until Close.
func (r *relay) endStream(keepReader bool) error {
	err := r.resp.CloseBodyStream()
	if r.cc != nil {
		discard := !r.eof || r.resp.ConnectionClose() || r.resp.Header.ContentLength() == -2 || r.br.Buffered() > 0
		if keepReader {
			r.held = r.br
		} else {
			r.hc.ReleaseReader(r.br)
		}
		releaseConn(r.hc, r.cc, discard)
		r.cc, r.br = nil, nil
	}
	r.eof = false
	return err
}

// Read reads the server's body, and at its end relays its trailers.
func (r *relay) Read(p []byte) (int, error) {
	n, err := r.resp.BodyStream().Read(p)
	r.n += int64(n)
	if err == io.EOF {
		r.eof = true
	}
	if err == io.EOF && r.out != nil {
		copyTrailers(r.out, r.resp.Header.TrailerHeader(), true, r.ops.dropTrailer)
		r.out = nil
	}
	return n, err
}

// Close ends the relay: the server's stream is closed (its connection goes
// back to the pool, or is closed if the body was cut short), the slot is
// released, and the relay is recycled.
func (r *relay) Close() error {
	err := r.endStream(false)
	if r.held != nil {
		r.hc.ReleaseReader(r.held)
		r.held = nil
	}
	r.hc = nil
	r.release()
	if r.stats != nil {
		r.stats.BytesOut.Add(uint64(r.n))
	}
	r.out, r.ops, r.stats, r.n = nil, nil, nil, 0
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

// lend gives the server's slot back now and the relay, whose buffer
// holds the body of ctx's response (SetBodyRaw), to ctx's request: fasthttp
// closes a request's user values when it resets the request, which it
// does once the response is written (or when it lets the context go),
// and Close then returns the relay to its pool. A 16 KiB answer is then
// copied once less on its way to the client.
func (r *relay) lend(ctx *fasthttp.RequestCtx) {
	r.release()
	ctx.SetUserValue(lentRelay{}, r)
}

// lentRelay is the user-value key of a relay lent to a request.
type lentRelay struct{}

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
