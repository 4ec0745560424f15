package proxy

import (
	"errors"

	"github.com/valyala/fasthttp"

	"lb/edge"
)

// clientFault reports whether a failed attempt failed because of the
// client's request body rather than the server: the body crossed
// max_body_bytes, or its chunked framing broke lb's strict checks (see
// package edge) after the head had gone upstream. Such an attempt is the
// client's 413 or 400, and no passive failure of the server: otherwise
// any client could eject servers by sending bad bodies.
func (st *state) clientFault(err error) bool {
	if st.body.over || errors.Is(err, errBodyTooLarge) {
		return true
	}
	status, _ := edge.StatusOf(err)
	return status != 0
}

// protocolSwitcher is a client connection whose HTTP framing checks must
// end when it becomes a tunnel (edge.Conn).
type protocolSwitcher interface{ SwitchProtocols() }

// switchedProtocols tells the client's connection, before it is hijacked,
// that the bytes after this request are a tunnel's, not HTTP requests.
func switchedProtocols(ctx *fasthttp.RequestCtx) {
	if c, ok := ctx.Conn().(protocolSwitcher); ok {
		c.SwitchProtocols()
	}
}

// rejectPath returns why the route refuses path (as received, without
// the query), or "" when it does not.
func (rt *Route) rejectPath(path []byte) string {
	switch {
	case rt.RejectDotSegments && hasDotSegment(path):
		return "dot segment in path"
	case rt.RejectEncodedSlashes && hasEncodedSlash(path):
		return "encoded slash in path"
	}
	return ""
}

// hasDotSegment reports whether a segment of path is "." or "..", each
// dot maybe written "%2e" (any case), the segment maybe followed by
// ";params" (the "..;/" trick that Java servers resolve).
func hasDotSegment(path []byte) bool {
	dots, other := 0, false
	for i := 0; i <= len(path); i++ {
		if i == len(path) || path[i] == '/' {
			if !other && (dots == 1 || dots == 2) {
				return true
			}
			dots, other = 0, false
			continue
		}
		if other {
			continue
		}
		switch c := path[i]; {
		case c == '.':
			dots++
		case c == '%' && i+2 < len(path) && path[i+1] == '2' && path[i+2]|0x20 == 'e':
			dots++
			i += 2
		case c == ';':
			// Parameters end the segment's name.
			if dots == 1 || dots == 2 {
				return true
			}
			other = true
		default:
			other = true
		}
	}
	return false
}

// hasEncodedSlash reports whether path holds %2F or %5C (any case).
func hasEncodedSlash(path []byte) bool {
	for i := 0; i+2 < len(path); i++ {
		if path[i] == '%' && (path[i+1] == '2' && path[i+2]|0x20 == 'f' || path[i+1] == '5' && path[i+2]|0x20 == 'c') {
			return true
		}
	}
	return false
}
