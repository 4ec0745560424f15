// Command origin is the cheap upstream of the benchmarks: fixed bodies
// from memory, as a fast application server would answer.
//
//	GET  /small   about 100 bytes of JSON
//	GET  /16k     16 KiB of JSON
//	GET  /64k     64 KiB of JSON (compressible, for the gzip and brotli runs)
//	POST /echo    the request body back
//	GET  /healthz ok
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"strings"

	"github.com/valyala/fasthttp"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	flag.Parse()
	small := []byte(`{"id":12345,"name":"lb benchmark","ok":true,"tags":["small","json"],"n":3.14159}` + "\n")
	k16, k64 := doc(16<<10), doc(64<<10)
	s := &fasthttp.Server{
		Name:                  "origin",
		NoDefaultServerHeader: true,
		Handler: func(ctx *fasthttp.RequestCtx) {
			switch string(ctx.Path()) {
			case "/small":
				ctx.SetContentType("application/json")
				ctx.SetBody(small)
			case "/16k":
				ctx.SetContentType("application/json")
				ctx.SetBody(k16)
			case "/64k":
				ctx.SetContentType("application/json")
				ctx.SetBody(k64)
			case "/echo":
				ctx.SetContentType("application/octet-stream")
				ctx.SetBody(ctx.PostBody())
			case "/healthz":
				ctx.SetBodyString("ok\n")
			default:
				ctx.SetStatusCode(fasthttp.StatusNotFound)
			}
		},
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("origin listening on %s\n", ln.Addr())
	log.Fatal(s.Serve(ln))
}

// doc returns a JSON array of records of about n bytes.
func doc(n int) []byte {
	var b strings.Builder
	b.WriteString("[")
	for i := 0; b.Len() < n-120; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"id":%d,"user":"user-%d","email":"user-%d@example.com","active":%t,"score":%d}`, i, i%977, i%977, i%3 == 0, (i*7919)%10007)
	}
	b.WriteString("]\n")
	return []byte(b.String())
}
