package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
)

// idleResult is the resident memory one idle keep-alive client connection
// costs a proxy.
type idleResult struct {
	Conns     int
	BeforeKiB int64
	AfterKiB  int64
}

// perConnKiB is the growth of resident memory per connection.
func (r idleResult) perConnKiB() float64 {
	if r.Conns == 0 {
		return 0
	}
	return float64(r.AfterKiB-r.BeforeKiB) / float64(r.Conns)
}

// idleConns opens n keep-alive connections to addr, sends one small GET on
// each and reads its answer, then leaves them idle and reads the proxy's
// resident memory before and after.
func idleConns(t *target, n int) (idleResult, error) {
	addr := strings.TrimPrefix(t.url, "http://")
	time.Sleep(500 * time.Millisecond)
	res := idleResult{Conns: n, BeforeKiB: rssKiB(t.pids())}
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	req := "GET /small HTTP/1.1\r\nHost: bench\r\n\r\n"
	const batch = 200
	for len(conns) < n {
		var open []net.Conn
		for range min(batch, n-len(conns)) {
			c, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				return res, fmt.Errorf("connection %d: %w", len(conns)+len(open), err)
			}
			open = append(open, c)
			if _, err := io.WriteString(c, req); err != nil {
				return res, err
			}
		}
		for _, c := range open {
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			var resp fasthttp.Response
			if err := resp.Read(bufio.NewReader(c)); err != nil || resp.StatusCode() != 200 {
				return res, fmt.Errorf("idle connection's first request: %v (status %d)", err, resp.StatusCode())
			}
			c.SetReadDeadline(time.Time{})
		}
		conns = append(conns, open...)
	}
	time.Sleep(2 * time.Second) // let the proxy settle (and Go's GC run)
	res.AfterKiB = rssKiB(t.pids())
	return res, nil
}
