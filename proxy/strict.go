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
