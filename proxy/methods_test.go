package proxy_test

import (
	"strconv"
	"testing"

	"github.com/valyala/fasthttp"
)

// TestHeadAndBodylessStatusesKeepTheirFraming pins RFC 9110 §9.3.2 and
// §15.4.5: a HEAD response carries the GET's Content-Length and no body;
// 204 and 304 carry no body, and the connection stays usable after each.
func TestHeadAndBodylessStatusesKeepTheirFraming(t *testing.T) {
	o := startOrigin(t, "o", bodylessOrigin)
	lb := startLB(t, basicConfig("round_robin", "", o))
	conn := dialRaw(t, lb.addr)

	head := &fasthttp.Response{SkipBody: true}
	_, _ = conn.c.Write([]byte("HEAD /doc HTTP/1.1\r\nHost: x\r\n\r\n"))
	if err := head.Read(conn.br); err != nil {
		t.Fatal(err)
	}
	if got := string(head.Header.Peek("Content-Length")); got != "10" {
		t.Errorf("HEAD Content-Length = %q, want 10", got)
	}
	for _, path := range []string{"/204", "/304"} {
		resp := conn.mustDo("GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n")
		if strconv.Itoa(resp.StatusCode()) != path[1:] || len(resp.Body()) != 0 {
			t.Errorf("GET %s = %d with %d body bytes, want %s and none", path, resp.StatusCode(), len(resp.Body()), path[1:])
		}
	}
	// The connection still frames correctly: a normal request follows.
	if resp := conn.mustDo("GET /doc HTTP/1.1\r\nHost: x\r\n\r\n"); string(resp.Body()) != "0123456789" {
		t.Fatalf("GET after HEAD/204/304 got body %q", resp.Body())
	}
}

// bodylessOrigin answers /204 and /304 without a body, anything else with
// ten bytes.
func bodylessOrigin(ctx *fasthttp.RequestCtx) {
	switch string(ctx.Path()) {
	case "/204":
		ctx.SetStatusCode(204)
	case "/304":
		ctx.SetStatusCode(304)
		ctx.Response.Header.Set("ETag", `"v1"`)
	default:
		ctx.SetBodyString("0123456789")
	}
}
