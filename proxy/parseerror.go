package proxy

import (
	"errors"
	"net"

	"github.com/valyala/fasthttp"

	"lb/edge"
)

// ParseError is the fasthttp.Server ErrorHandler: it answers a request
// fasthttp could not read with the status that names the problem, never
// echoing the parser's message. fasthttp closes the connection after it.
func ParseError(ctx *fasthttp.RequestCtx, err error) {
	status := fasthttp.StatusBadRequest
	var small *fasthttp.ErrSmallBuffer
	var ne *net.OpError
	if st, _ := edge.StatusOf(err); st != 0 {
		status = st // refused by lb's strict framing checks
	}
	switch {
	case status != fasthttp.StatusBadRequest:
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		status = fasthttp.StatusRequestEntityTooLarge // Nginx client_max_body_size
	case errors.As(err, &small):
		status = fasthttp.StatusRequestHeaderFieldsTooLarge
	case errors.As(err, &ne) && ne.Timeout():
		status = fasthttp.StatusRequestTimeout
	}
	ctx.Response.Reset()
	ctx.SetStatusCode(status)
	ctx.Response.Header.SetCanonical(hContentType, textPlain)
	ctx.Response.AppendBodyString(fasthttp.StatusMessage(status))
	ctx.Response.AppendBody(slashN)
}
