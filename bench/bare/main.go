// Command bare is a reverse proxy with no features at all: fasthttp's
// server and one keep-alive HostClient per origin, round robin. The
// benchmarks run it next to lb to show what lb's features cost over
// fasthttp itself.
package main

import (
	"flag"
	"log"
	"strings"
	"sync/atomic"

	"github.com/valyala/fasthttp"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	origins := flag.String("origins", "", "comma-separated origin addresses")
	flag.Parse()
	var clients []*fasthttp.HostClient
	for _, o := range strings.Split(*origins, ",") {
		clients = append(clients, &fasthttp.HostClient{Addr: o, MaxConns: 1024})
	}
	var next atomic.Uint64
	s := &fasthttp.Server{
		NoDefaultServerHeader: true,
		Handler: func(ctx *fasthttp.RequestCtx) {
			c := clients[next.Add(1)%uint64(len(clients))]
			if err := c.Do(&ctx.Request, &ctx.Response); err != nil {
				ctx.Error("bad gateway", fasthttp.StatusBadGateway)
			}
		},
	}
	log.Fatal(s.ListenAndServe(*addr))
}
