// Command floor is not a proxy: it is the floor under one, for the
// benchmarks. It relays GETs without bodies to origins that answer with
// a Content-Length, touching the bytes no more than it must: it finds
// the end of a request head, adds an X-Forwarded-For line, writes the
// head to an origin connection (round robin when the client connects,
// kept open between clients), finds the answer's head and length, and
// copies the answer back. A request that asks to close with the exact
// line the benchmark's client sends ("Connection: close") goes upstream
// without that line, and its answer goes back with it and ends the
// client's connection, so the origin connection stays open, as a
// proxy's pool keeps it. Its listener defers accept until the first
// bytes arrive, as lb, Nginx (deferred) and HAProxy (defer-accept) do in
// the benchmarks. No parsing beyond that, no limits, no timeouts, no
// health, no metrics: anything else it meets ends the connection.
//
// The benchmarks run it next to lb, Nginx and HAProxy on the keep-alive
// GET workloads and on a new connection per request to show what the Go
// runtime, its network poller and its accept path cost on their own,
// under the same load: the part of lb's CPU per request that no HTTP
// engine in Go can remove.
package main

import (
	"bytes"
	"context"
	"flag"
	"log"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	origins := flag.String("origins", "", "comma-separated origin addresses")
	flag.Parse()
	var ups []*origin
	for _, a := range strings.Split(*origins, ",") {
		ups = append(ups, &origin{addr: a, idle: make(chan net.Conn, idleMax)})
	}
	// No TCP keep-alive probes on accepted connections (Go's default
	// sets four socket options on each), as lb and the peers have none.
	lc := net.ListenConfig{Control: deferAccept, KeepAlive: -1}
	ln, err := lc.Listen(context.Background(), "tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	log.Fatal(serve(ln, ups))
}

// serve relays each connection ln accepts to the next of ups.
func serve(ln net.Listener, ups []*origin) error {
	var next atomic.Uint64
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go relay(c, ups[next.Add(1)%uint64(len(ups))])
	}
}

// deferAccept sets TCP_DEFER_ACCEPT, the option behind Nginx's deferred
// and HAProxy's defer-accept, on the listening socket.
func deferAccept(_, _ string, rc syscall.RawConn) error {
	var err error
	if cerr := rc.Control(func(fd uintptr) {
		err = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_DEFER_ACCEPT, 1)
	}); cerr != nil {
		return cerr
	}
	return err
}

// buffers are a connection's, reused by the next one: a floor
// allocates nothing per connection.
type buffers struct {
	in  [4096]byte
	out [4096 + 64]byte
	buf [32 << 10]byte
}

var bufPool = sync.Pool{New: func() any { return new(buffers) }}

// idleMax bounds the open connections kept idle per origin.
const idleMax = 1024

// origin is one origin and its idle connections.
type origin struct {
	addr string
	idle chan net.Conn
}

// get returns an idle connection to o, or a new one.
func (o *origin) get() (net.Conn, error) {
	select {
	case c := <-o.idle:
		return c, nil
	default:
		return net.Dial("tcp", o.addr)
	}
}

// put keeps c for the next client, or closes it when enough are kept.
func (o *origin) put(c net.Conn) {
	select {
	case o.idle <- c:
	default:
		c.Close()
	}
}

var (
	endOfHead     = []byte("\r\n\r\n")
	contentLength = []byte("content-length:")
	forwardedFor  = []byte("X-Forwarded-For: 127.0.0.1\r\n\r\n")
	closeLine     = []byte("\r\nConnection: close\r\n")
)

func relay(c net.Conn, o *origin) {
	defer c.Close()
	up, err := o.get()
	if err != nil {
		return
	}
	// up goes back to o only between answers, when nothing of one is
	// left unread on it.
	clean := true
	defer func() {
		if clean {
			o.put(up)
		} else {
			up.Close()
		}
	}()
	bufs := bufPool.Get().(*buffers)
	defer bufPool.Put(bufs)
	in, out, buf := bufs.in[:], bufs.out[:0], bufs.buf[:]
	n := 0
	for {
		end := -1
		for end < 0 {
			if i := bytes.Index(in[:n], endOfHead); i >= 0 {
				end = i + len(endOfHead)
				break
			}
			if n == len(in) {
				return
			}
			m, err := c.Read(in[n:])
			if err != nil {
				return
			}
			n += m
		}
		req := in[:end-2]
		out = out[:0]
		closing := false
		if i := bytes.Index(req, closeLine); i >= 0 {
			closing = true
			out = append(out, req[:i+2]...)
			req = req[i+len(closeLine):]
		}
		out = append(append(out, req...), forwardedFor...)
		clean = false
		if _, err := up.Write(out); err != nil {
			return
		}
		n = copy(in, in[end:n])

		r, head := 0, -1
		for head < 0 {
			if r == len(buf) {
				return
			}
			m, err := up.Read(buf[r:])
			if err != nil {
				return
			}
			r += m
			if i := bytes.Index(buf[:r], endOfHead); i >= 0 {
				head = i + len(endOfHead)
			}
		}
		left := head + bodyLength(buf[:head]) - r
		answer := buf[:r]
		if closing {
			// The client is told the connection ends, as a server must.
			out = append(append(append(out[:0], buf[:head-2]...), closeLine[2:]...), buf[head-2:r]...)
			answer = out
		}
		if _, err := c.Write(answer); err != nil {
			return
		}
		for left > 0 {
			m, err := up.Read(buf[:min(left, len(buf))])
			if err != nil {
				return
			}
			left -= m
			if _, err := c.Write(buf[:m]); err != nil {
				return
			}
		}
		clean = left == 0
		if closing {
			return
		}
	}
}

// bodyLength returns the Content-Length of an answer's head.
func bodyLength(head []byte) int {
	for len(head) > 0 {
		i := bytes.IndexByte(head, '\n')
		if i < 0 {
			break
		}
		line := head[:i]
		head = head[i+1:]
		if len(line) > len(contentLength) && bytes.EqualFold(line[:len(contentLength)], contentLength) {
			n, _ := strconv.Atoi(string(bytes.TrimSpace(line[len(contentLength):])))
			return n
		}
	}
	return 0
}
