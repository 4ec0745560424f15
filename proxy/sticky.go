package proxy

import (
	"bytes"

	"github.com/valyala/fasthttp"
)

var (
	hSetCookie    = []byte("Set-Cookie")
	hCacheControl = []byte("Cache-Control")
	cachePrivate  = []byte("private")
)

// setStickyCookie tells the client which server served it. Like HAProxy's
// nocache, it marks the response private so that no shared cache hands
// the cookie to other clients.
func (st *state) setStickyCookie(h *fasthttp.ResponseHeader, sc *Sticky, id string) {
	n := len(st.buf)
	st.buf = append(st.buf, sc.Cookie...)
	st.buf = append(st.buf, '=')
	st.buf = append(st.buf, id...)
	st.buf = append(st.buf, sc.Attrs...)
	h.AddBytesKV(hSetCookie, st.buf[n:])
	h.AddBytesKV(hCacheControl, cachePrivate)
}

// stripCookie appends to dst the Cookie field value v without the pairs
// named name (HAProxy's indirect mode: the server never sees lb's
// cookie), keeping everything else as received.
func stripCookie(dst, v, name []byte) []byte {
	first := true
	for len(v) > 0 {
		var pair []byte
		if i := bytes.IndexByte(v, ';'); i >= 0 {
			pair, v = v[:i], v[i+1:]
		} else {
			pair, v = v, nil
		}
		trimmed := bytes.TrimLeft(pair, " \t")
		if k, _, ok := bytes.Cut(trimmed, []byte("=")); ok && bytes.Equal(bytes.TrimRight(k, " \t"), name) {
			continue
		}
		if len(bytes.TrimSpace(pair)) == 0 {
			continue
		}
		if !first {
			dst = append(dst, "; "...)
		}
		dst = append(dst, trimmed...)
		first = false
	}
	return dst
}
