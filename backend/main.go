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
	"sync"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9001", "listen address")
	id := flag.String("id", "", "instance ID (default: host name and PID)")
	compress := flag.Bool("compress", false, "compress responses when the client accepts it (as a backend without lb in front would)")
	flag.Parse()
	if *id == "" {
		host, _ := os.Hostname()
		*id = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	handler := whoami(*id)
	if *compress {
		handler = fasthttp.CompressHandlerBrotliLevel(handler, fasthttp.CompressBrotliDefaultCompression, fasthttp.CompressDefaultCompression)
	}
	s := &fasthttp.Server{
		Handler:      handler,
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
		case "/slow":
			// ?ms=N: answer after N milliseconds (up to a minute), for
			// draining and graceful-stop tests.
			time.Sleep(time.Duration(min(ctx.QueryArgs().GetUintOrZero("ms"), 60000)) * time.Millisecond)
			ctx.WriteString("slow\n")
		case "/json":
			// ?kb=N: a JSON document of about N KiB, for compression tests
			// and benchmarks.
			ctx.SetContentType("application/json")
			ctx.SetBody(jsonDoc(ctx.QueryArgs().GetUintOrZero("kb")))
		default:
			ctx.SetContentType("application/json")
			fmt.Fprintf(ctx, "{\"instance\":%q,\"pid\":%d,\"gomaxprocs\":%d,\"path\":%q}\n",
				id, pid, runtime.GOMAXPROCS(0), ctx.Path())
		}
	}
}

// jsonDocs caches the documents /json serves, by size in KiB.
var jsonDocs sync.Map

// jsonDoc returns a JSON list of items of about kb KiB.
func jsonDoc(kb int) []byte {
	if kb < 0 || kb > 16<<10 {
		kb = 0
	}
	if d, ok := jsonDocs.Load(kb); ok {
		return d.([]byte)
	}
	d := []byte(`{"items":[`)
	for i := 0; len(d) < kb<<10; i++ {
		if i > 0 {
			d = append(d, ',')
		}
		d = fmt.Appendf(d, `{"id":%d,"name":"item-%06d","price":%d.99}`, i, i, i%1000)
	}
	d = append(d, "]}\n"...)
	jsonDocs.Store(kb, d)
	return d
}
