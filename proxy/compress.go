package proxy

import (
	"bufio"
	"io"

	"github.com/valyala/fasthttp"

	"lb/compress"
)

var (
	hAcceptEncoding = []byte("Accept-Encoding")
	hVary           = []byte("Vary")
	hETag           = []byte("ETag")
	hContentRange   = []byte("Content-Range")
)

// negotiate picks the coding lb will compress the answer with, from the
// client's Accept-Encoding, or Identity.
func (st *state) negotiate(req *fasthttp.RequestHeader) compress.Algorithm {
	c := st.route.Compression
	if c == nil || req.IsHead() {
		return compress.Identity
	}
	a, _ := c.Policy.Negotiate(st.hdrs.Header(hAcceptEncoding))
	return a
}

// compressing reports whether lb compresses resp with st.coding, and if
// so rewrites its header for it: Content-Encoding set, Content-Length
// dropped, Vary: Accept-Encoding merged in once, a strong ETag weakened.
func (st *state) compressing(ctx *fasthttp.RequestCtx, resp *fasthttp.Response, length int) bool {
	if st.coding == compress.Identity {
		return false
	}
	h := &resp.Header
	st.ccBuf = st.ccBuf[:0]
	st.varyBuf = st.varyBuf[:0]
	var etag []byte
	for k, v := range h.All() {
		switch {
		case foldEqual(k, hCacheControl):
			st.ccBuf = append(st.ccBuf, v)
		case foldEqual(k, hVary):
			st.varyBuf = append(st.varyBuf, v)
		case foldEqual(k, hETag):
			etag = v
		}
	}
	r := compress.Response{
		Status:          resp.StatusCode(),
		Head:            ctx.Request.Header.IsHead(),
		Path:            ctx.Request.Header.RequestURI(),
		ContentType:     h.ContentType(),
		ContentEncoding: h.ContentEncoding(),
		ContentRange:    peekResponse(h, hContentRange),
		CacheControl:    st.ccBuf,
		Length:          length,
	}
	if ok, _ := st.route.Compression.Policy.Eligible(&r); !ok {
		return false
	}
	n := len(st.buf)
	vary, changed := compress.AppendMergedVary(st.buf, st.varyBuf)
	st.buf = vary
	if etag != nil {
		m := len(st.buf)
		st.buf = compress.AppendWeakETag(st.buf, etag)
		// An ETag that cannot be weakened is dropped (as Nginx does).
		st.replaceField(h, hETag, st.buf[m:len(st.buf):len(st.buf)])
	}
	if changed {
		st.replaceField(h, hVary, vary[n:len(vary):len(vary)])
	}
	h.SetContentEncoding(st.coding.Token())
	h.SetContentLength(-1)
	return true
}

// peekResponse returns the first response field named name in any
// spelling, or nil.
func peekResponse(h *fasthttp.ResponseHeader, name []byte) []byte {
	for k, v := range h.All() {
		if foldEqual(k, name) {
			return v
		}
	}
	return nil
}

// compressInto sets resp's body to src compressed with a, streamed: each
// read from the server is compressed and, when the server paused (a
// short read), flushed to the client at once, so that event streams stay
// live. src is closed when done (a relay then gives its slot back).
func (h *Handler) compressInto(resp *fasthttp.Response, src io.ReadCloser, a compress.Algorithm, level int) {
	resp.SetBodyStreamWriter(func(w *bufio.Writer) {
		out := &countingWriter{w: w}
		cw := compress.NewWriter(a, level, out)
		buf := h.bufs.Get().(*[]byte)
		in := 0
		for {
			n, err := src.Read(*buf)
			in += n
			if n > 0 {
				if _, werr := cw.Write((*buf)[:n]); werr != nil {
					break
				}
				if n < len(*buf) {
					if cw.Flush() != nil || w.Flush() != nil {
						break
					}
				}
			}
			if err != nil {
				break
			}
		}
		_ = cw.Close()
		cw.Release()
		h.bufs.Put(buf)
		h.countCompressed(a, in, out.n)
		_ = src.Close()
	})
}

// replaceField replaces every field named name (any spelling) by one with
// value, in the place of the first; an empty value drops them. fasthttp
// deletes by moving the last field into the hole, so the ordered field
// list is rebuilt to keep the order of the others.
func (s *scratch) replaceField(h *fasthttp.ResponseHeader, name, value []byte) {
	s.kept = s.kept[:0]
	placed := false
	for k, v := range h.All() {
		if foldIn(k, responseSpecial) {
			continue // kept by fasthttp outside the list
		}
		s.markDel(k)
		if foldEqual(k, name) {
			if !placed && len(value) > 0 {
				s.kept = append(s.kept, [2][]byte{name, value})
				placed = true
			}
			continue
		}
		s.kept = append(s.kept, [2][]byte{s.keep(k), s.keep(v)})
	}
	for _, d := range s.dels {
		h.DelBytes(d)
	}
	s.dels = s.dels[:0]
	for _, kv := range s.kept {
		h.AddBytesKV(kv[0], kv[1])
	}
}
