// Command floor is not a proxy: it is the floor under one, for the
// benchmarks. It relays keep-alive GETs without bodies to origins that
// answer with a Content-Length, touching the bytes no more than it must:
// it finds the end of a request head, adds an X-Forwarded-For line,
// writes the head to the client connection's own origin connection
// (round robin when the client connects), finds the answer's head and
// length, and copies the answer back. No parsing beyond that, no limits,
// no timeouts, no pooling, no health, no metrics: anything else it meets
// ends the connection.
//
// The benchmarks run it next to lb, Nginx and HAProxy on the keep-alive
// GET workloads to show what the Go runtime and its network poller cost
// on their own, under the same load: the part of lb's CPU per request
// that no HTTP engine in Go can remove.
package main

import (
	"bytes"
	"flag"
	"log"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	origins := flag.String("origins", "", "comma-separated origin addresses")
	flag.Parse()
	ups := strings.Split(*origins, ",")
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	var next atomic.Uint64
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go relay(c, ups[next.Add(1)%uint64(len(ups))])
	}
}

var (
	endOfHead     = []byte("\r\n\r\n")
	contentLength = []byte("content-length:")
	forwardedFor  = []byte("X-Forwarded-For: 127.0.0.1\r\n\r\n")
)

func relay(c net.Conn, origin string) {
	defer c.Close()
	up, err := net.Dial("tcp", origin)
	if err != nil {
		return
	}
	defer up.Close()
	in := make([]byte, 4096)
	out := make([]byte, 0, 4096)
	buf := make([]byte, 32<<10)
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
		out = append(append(out[:0], in[:end-2]...), forwardedFor...)
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
		if _, err := c.Write(buf[:r]); err != nil {
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
