package proxy

import (
	"errors"
	"net"

	"github.com/valyala/fasthttp"
)

// classify maps a forwarding error to the status the client gets and a
// short reason for the log. It never exposes the error text, which may
// hold bytes the server sent.
//
// Nginx maps the same way: refused or reset 502, timed out 504 (connect
// timeouts included), and HAProxy answers 503 when a server's maxconn
// queue times out.
func classify(err error) (status int, reason string) {
	switch {
	case errors.Is(err, fasthttp.ErrNoFreeConns):
		return fasthttp.StatusServiceUnavailable, "server connection limit"
	case errors.Is(err, fasthttp.ErrDialTimeout):
		return fasthttp.StatusGatewayTimeout, "connect timeout"
	case errors.Is(err, fasthttp.ErrTimeout):
		return fasthttp.StatusGatewayTimeout, "upstream timeout"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fasthttp.StatusGatewayTimeout, "upstream timeout"
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "dial" {
		return fasthttp.StatusBadGateway, "connect failed"
	}
	return fasthttp.StatusBadGateway, "upstream error"
}

var (
	textPlain   = []byte("text/plain; charset=utf-8")
	requestIDIs = []byte("\nrequest id: ")
)

// fail answers the request itself with status and a short plain body
// naming the request ID. reason goes to the access log. A 503 for a pool
// says when to come back (Retry-After).
func (h *Handler) fail(ctx *fasthttp.RequestCtx, st *state, status int, reason string, pool *Pool) {
	st.errorReason = reason
	h.logRefusal(st, status, reason, pool)
	resp := &ctx.Response
	resp.Reset()
	resp.SetStatusCode(status)
	resp.Header.SetCanonical(hContentType, textPlain)
	resp.Header.SetCanonical(hXRequestID, st.requestID)
	if status == fasthttp.StatusServiceUnavailable && pool != nil && len(pool.RetryAfter) > 0 {
		resp.Header.SetCanonical(hRetryAfter, pool.RetryAfter)
	}
	resp.AppendBodyString(fasthttp.StatusMessage(status))
	resp.AppendBody(requestIDIs)
	resp.AppendBody(st.requestID)
	resp.AppendBody(slashN)
	if status == fasthttp.StatusBadRequest {
		// The framing of what follows cannot be trusted (HAProxy closes too).
		resp.SetConnectionClose()
	}
}

var slashN = []byte("\n")
