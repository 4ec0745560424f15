// Command backend is the reference service of the farm behind lb. This
// first version answers who it is; sessions, data and the rest come with
// the backend issue.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9001", "listen address")
	id := flag.String("id", "", "instance ID (default: host name and PID)")
	flag.Parse()
	if *id == "" {
		host, _ := os.Hostname()
		*id = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	s := &fasthttp.Server{
		Handler:      whoami(*id),
		Name:         "backend",
		ReadTimeout:  30 * time.Second,
		WriteTimeout: 30 * time.Second,
		IdleTimeout:  90 * time.Second, // longer than lb's upstream idle timeout
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("backend %s listening on %s (GOMAXPROCS=%d)", *id, ln.Addr(), runtime.GOMAXPROCS(0))
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
		<-sig
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.ShutdownWithContext(ctx)
	}()
	if err := s.Serve(ln); err != nil {
		log.Fatal(err)
	}
}

// whoami answers every path with the instance's identity.
func whoami(id string) fasthttp.RequestHandler {
	pid := os.Getpid()
	return func(ctx *fasthttp.RequestCtx) {
		switch string(ctx.Path()) {
		case "/healthz":
			ctx.SetContentType("text/plain; charset=utf-8")
			ctx.WriteString("ok\n")
		default:
			ctx.SetContentType("application/json")
			fmt.Fprintf(ctx, "{\"instance\":%q,\"pid\":%d,\"gomaxprocs\":%d,\"path\":%q}\n",
				id, pid, runtime.GOMAXPROCS(0), ctx.Path())
		}
	}
}
