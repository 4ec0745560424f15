package edge

import (
	"bytes"
	"strconv"

	"github.com/valyala/fasthttp"

	"lb/config"
)

var (
	hStrictTransportSecurity = []byte("Strict-Transport-Security")
	hLocation                = []byte("Location")
)

// Handler wraps a listener's request handler with what lc asks of every
// response: with redirect_https, a 308 to the same URL on https instead
// of h (Nginx return 301 https://$host$request_uri, HAProxy redirect
// scheme https); on a TLS listener with hsts, the Strict-Transport-Security
// field on h's responses (Nginx add_header ... always).
func Handler(lc config.Listener, h fasthttp.RequestHandler) fasthttp.RequestHandler {
	switch {
	case lc.RedirectHTTPS:
		return redirectHandler(lc.HTTPSPort)
	case lc.TLS.Present && lc.TLS.HSTS != "":
		v := []byte(lc.TLS.HSTS)
		return func(ctx *fasthttp.RequestCtx) {
			h(ctx)
			ctx.Response.Header.SetCanonical(hStrictTransportSecurity, v)
		}
	}
	return h
}

// redirectHandler answers every request with 308 Permanent Redirect (the
// method and body are kept) to https on port.
func redirectHandler(port int) fasthttp.RequestHandler {
	suffix := ""
	if port != 443 {
		suffix = ":" + strconv.Itoa(port)
	}
	return func(ctx *fasthttp.RequestCtx) {
		host := hostOnly(ctx.Request.Header.Host())
		uri := ctx.Request.Header.RequestURI()
		if len(host) == 0 || len(uri) == 0 || uri[0] != '/' {
			ctx.Error("Bad Request\n", fasthttp.StatusBadRequest)
			ctx.SetConnectionClose()
			return
		}
		loc := make([]byte, 0, len("https://")+len(host)+len(suffix)+len(uri))
		loc = append(loc, "https://"...)
		loc = append(loc, host...)
		loc = append(loc, suffix...)
		loc = append(loc, uri...)
		ctx.Response.Header.SetCanonical(hLocation, loc)
		ctx.SetStatusCode(fasthttp.StatusPermanentRedirect)
	}
}

// hostOnly strips the port from a Host value ("[::1]:80" → "[::1]").
func hostOnly(host []byte) []byte {
	if i := bytes.LastIndexByte(host, ':'); i >= 0 && bytes.IndexByte(host[i:], ']') < 0 {
		return host[:i]
	}
	return host
}
