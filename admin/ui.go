package admin

import (
	"embed"
	"path"

	"github.com/valyala/fasthttp"
)

// ui holds the stats page: HTML, CSS and script, served from the binary
// (no external CDN, nothing to install).
//
//go:embed ui/index.html ui/app.js ui/style.css
var ui embed.FS

var uiTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
}

// serveUI answers GET / and GET /ui/FILE with the stats page's files and
// reports whether it did. The files hold no data (the page fetches
// /api/status with the token), so they need no token: a browser cannot
// send one when it opens the page.
func serveUI(ctx *fasthttp.RequestCtx) bool {
	p := string(ctx.Path())
	switch {
	case p == "/":
		p = "ui/index.html"
	case len(p) > len("/ui/") && p[:len("/ui/")] == "/ui/":
		p = p[1:]
	default:
		return false
	}
	if !ctx.IsGet() && !ctx.IsHead() {
		return false
	}
	b, err := ui.ReadFile(p)
	if err != nil {
		return false
	}
	ctx.Response.Header.Set("Content-Security-Policy",
		"default-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
	ctx.Response.Header.Set("X-Content-Type-Options", "nosniff")
	ctx.SetContentType(uiTypes[path.Ext(p)])
	ctx.SetBody(b)
	return true
}
