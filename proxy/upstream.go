package proxy

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strconv"

	"github.com/valyala/fasthttp"

	"lb/balancer"
)

// The exchange with a server. fasthttp's HostClient keeps the server's
// connections (dialing, limits, idle timeouts); lb writes the request and
// reads the answer over them itself, through the HostClient's public
// connection methods, instead of HostClient.Do. Do would have lb build a
// fasthttp.Request field by field, then parse its absolute URI and
// serialise it again, and it allocates four objects per streamed answer.
// Here the request head is written once, straight from the client's
// fields (headBuf), and the answer's body stream is the relay's own.
//
// A request whose body streams, or that carries trailer fields, is
// still built as a fasthttp.Request (st.up), which frames it; it is
// written over the same exchange.

// fieldSink receives the fields of the request sent upstream: the head
// lb writes itself (headBuf), or the fasthttp.RequestHeader of a request
// fasthttp frames.
type fieldSink interface{ AddBytesKV(k, v []byte) }

// headBuf builds a request head as bytes.
type headBuf struct {
	b     []byte
	lines int // lines ended so far
	// careful: every field is checked for CR and LF as it is added.
	careful bool
}

// AddBytesKV appends the field line "k: v". A CR or LF in either, which
// the edge checks (client fields) and config validation (lb's own) keep
// out, would become a space in careful mode, as fasthttp does with the
// fields it writes: no field can split the head.
func (h *headBuf) AddBytesKV(k, v []byte) {
	n := len(h.b)
	h.b = append(h.b, k...)
	h.b = append(h.b, ": "...)
	h.b = append(h.b, v...)
	if h.careful {
		blankLineBreaks(h.b[n:])
	}
	h.endLine()
}

// blankLineBreaks turns every CR and LF in b into a space.
func blankLineBreaks(b []byte) {
	for i, c := range b {
		if c == '\r' || c == '\n' {
			b[i] = ' '
		}
	}
}

func (h *headBuf) endLine() {
	h.b = append(h.b, '\r', '\n')
	h.lines++
}

// clean reports whether every CR and LF in the head ends one of its
// lines: one count of each over the whole head, instead of a search in
// every field.
func (h *headBuf) clean() bool {
	return bytes.Count(h.b, lf) == h.lines && bytes.Count(h.b, cr) == h.lines
}

var (
	cr            = []byte{'\r'}
	lf            = []byte{'\n'}
	http11        = []byte(" HTTP/1.1")
	contentLength = []byte("Content-Length")
)

// writesHead reports whether lb writes the head of the request it sends
// upstream itself: its body, if any, is read whole and has no trailer
// fields.
func writesHead(req *fasthttp.Request, maxWhole int) bool {
	if len(req.Header.PeekTrailerKeys()) > 0 {
		return false
	}
	if req.IsBodyStream() {
		cl := req.Header.ContentLength()
		return cl >= 0 && cl <= maxWhole
	}
	return true
}

// buildHead writes the head of the request sent upstream into st.head:
// the request line with the target's path and query as received, the
// fields (copyRequestHeaders), and the body's Content-Length, sent
// whenever there is a body or the method may have one (as fasthttp
// frames requests: never for a bodiless GET or HEAD).
func (st *state) buildHead(ctx *fasthttp.RequestCtx, snap *Snapshot, pool *Pool, pathQuery []byte, hasHost bool, bodyLen int) {
	method := ctx.Request.Header.Method()
	h := &st.head
	for _, careful := range [...]bool{false, true} {
		h.b, h.lines, h.careful = append(h.b[:0], method...), 0, careful
		h.b = append(h.b, ' ')
		h.b = appendTarget(h.b, pathQuery)
		if careful {
			blankLineBreaks(h.b)
		}
		h.b = append(h.b, http11...)
		h.endLine()
		st.copyRequestHeaders(ctx, snap, pool, hasHost, h)
		if bodyLen > 0 || (string(method) != fasthttp.MethodGet && string(method) != fasthttp.MethodHead) {
			var digits [20]byte
			h.AddBytesKV(contentLength, strconv.AppendInt(digits[:0], int64(bodyLen), 10))
		}
		h.endLine()
		if careful || h.clean() {
			return
		}
	}
}

// appendTarget appends the origin-form target for pathQuery (the path and
// query as received): a fragment is dropped, as is a "?" with no query
// after it, and a target that does not begin with "/" gets one.
func appendTarget(dst, pathQuery []byte) []byte {
	if i := bytes.IndexByte(pathQuery, '#'); i >= 0 {
		pathQuery = pathQuery[:i]
	}
	if n := len(pathQuery); n > 0 && pathQuery[n-1] == '?' && bytes.IndexByte(pathQuery, '?') == n-1 {
		pathQuery = pathQuery[:n-1]
	}
	if len(pathQuery) == 0 || pathQuery[0] != '/' {
		dst = append(dst, '/')
	}
	return append(dst, pathQuery...)
}

// conn is one of fasthttp's pooled server connections, whose type
// fasthttp does not export: it is kept as an interface value and given
// back through the HostClient's methods (giveBack).
type conn = any

// giveBack returns cc to hc's pool (put is hc.ReleaseConn) or closes it
// (hc.CloseConn). Method expressions keep it free of allocations.
func giveBack[C any](put func(*fasthttp.HostClient, C), hc *fasthttp.HostClient, cc conn) {
	put(hc, cc.(C))
}

// releaseConn returns cc to hc's pool of idle connections, or closes it
// when discard is set.
func releaseConn(hc *fasthttp.HostClient, cc conn, discard bool) {
	if discard {
		giveBack((*fasthttp.HostClient).CloseConn, hc, cc)
	} else {
		giveBack((*fasthttp.HostClient).ReleaseConn, hc, cc)
	}
}

// exchange sends one request to srv and reads the head of its answer
// into rl.resp: st.head and body when lb wrote the head, else st.up. A
// body stays on the connection, which rl holds until it is done with it
// (relay.endStream). HEAD answers have no body.
func exchange(srv *balancer.Server, st *state, body []byte, rl *relay, head bool) error {
	hc := srv.Client
	cc, err := hc.AcquireConn(0, false)
	if err != nil {
		return err
	}
	c := cc.Conn()
	bw := hc.AcquireWriter(c)
	if st.writesHead {
		_, err = bw.Write(st.head.b)
		if err == nil && len(body) > 0 {
			_, err = bw.Write(body)
		}
	} else {
		err = st.up.Write(bw)
	}
	if err == nil {
		err = bw.Flush()
	}
	hc.ReleaseWriter(bw)
	if err != nil {
		releaseConn(hc, cc, true)
		return upstreamError(err)
	}

	resp := &rl.resp
	resp.Header.DisableNormalizing()
	resp.SkipBody = head
	resp.StreamBody = true
	br := hc.AcquireReader(c)
	if err := resp.ReadLimitBody(br, 0); err != nil {
		hc.ReleaseReader(br)
		releaseConn(hc, cc, true)
		return upstreamError(err)
	}
	if !resp.IsBodyStream() {
		// Bytes after a bodiless answer are more than was asked for.
		discard := resp.ConnectionClose() || br.Buffered() > 0
		hc.ReleaseReader(br)
		releaseConn(hc, cc, discard)
		return nil
	}
	rl.hc, rl.cc, rl.br = hc, cc, br
	return nil
}

// upstreamError maps an exchange's error as HostClient.Do does, for
// classify: a timeout is fasthttp.ErrTimeout, a connection closed before
// the answer fasthttp.ErrConnectionClosed.
func upstreamError(err error) error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fasthttp.ErrTimeout
	}
	if err == io.EOF {
		return fasthttp.ErrConnectionClosed
	}
	return err
}
