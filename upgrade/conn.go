package upgrade

import (
	"crypto/tls"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// Conn is a client connection accepted on a Socket. During a hand-over it
// goes to the new process the moment the server waits for its next
// request with nothing of one read: the request bytes, if any are on the
// way, are still in the kernel's socket buffer, which the new process now
// reads. No request is ever lost between two processes.
type Conn struct {
	net.Conn
	tcp  *net.TCPConn // nil: not a plain TCP connection, never handed over
	sock *Socket
	// state is the server's fasthttp.ConnState for this connection, set
	// by ConnState.
	state  atomic.Int32
	handed atomic.Bool
	once   sync.Once
}

// stateUnknown is a connection's state until the server reports one: it
// is never handed over.
const stateUnknown = -1

// ConnState is the fasthttp.Server.ConnState hook that tells a Set where
// each of its connections stands. Servers of a Set's views must use it.
// It finds the Conn under wrappers that expose theirs with NetConn (as
// lb's edge checks do), except TLS: a TLS connection's state lives in
// this process, so it is never handed over.
func ConnState(c net.Conn, st fasthttp.ConnState) {
	for {
		switch x := c.(type) {
		case *Conn:
			x.state.Store(int32(st))
			return
		case *tls.Conn:
			return
		case interface{ NetConn() net.Conn }:
			c = x.NetConn()
		default:
			return
		}
	}
}

// between reports whether the server waits for the first byte of a new
// request: fasthttp reads the connection in StateNew or StateIdle only
// through a Peek of one byte on an empty buffer, so nothing of a request
// has left the kernel.
func (c *Conn) between() bool {
	st := fasthttp.ConnState(c.state.Load())
	return st == fasthttp.StateNew || st == fasthttp.StateIdle
}

// aLongTimeAgo is a deadline that makes a blocked read return at once.
var aLongTimeAgo = time.Unix(1, 0)

// wake makes a read waiting between requests return, so that it sees the
// hand-over.
func (c *Conn) wake() {
	if c.tcp != nil && c.between() {
		_ = c.tcp.SetReadDeadline(aLongTimeAgo)
	}
}

// Read reads from the connection, or hands it over and reports io.EOF
// when a hand-over is on and the server waits for a new request.
func (c *Conn) Read(b []byte) (int, error) {
	for {
		if c.handOver() {
			return 0, io.EOF
		}
		n, err := c.Conn.Read(b)
		if n == 0 && err != nil && c.tcp != nil && c.sock.set.next.Load() != nil && c.between() {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				continue // woken (or idle too long): hand over above
			}
		}
		return n, err
	}
}

// handOver sends the connection to the new process if a hand-over is on
// and the connection is between requests. After it returns true the
// connection belongs to the new process; this one only closes its
// descriptor.
func (c *Conn) handOver() bool {
	if c.handed.Load() {
		return true
	}
	next := c.sock.set.next.Load()
	if next == nil || c.tcp == nil || !c.between() {
		return false
	}
	if err := sendConn(next, c.sock.key, c.tcp); err != nil {
		// The new process is gone: what remains is served here, and this
		// connection, woken early, closes as if idle too long.
		if c.sock.set.next.CompareAndSwap(next, nil) {
			c.sock.set.sendErr.Store(&err)
		}
		return false
	}
	c.handed.Store(true)
	return true
}

// Close closes this process's descriptor of the connection. A server
// closing an idle connection during a hand-over hands it over instead.
func (c *Conn) Close() error {
	var err error
	c.once.Do(func() {
		c.handOver()
		err = c.Conn.Close()
		c.sock.set.untrack(c)
	})
	return err
}

// CloseWrite half-closes a TCP connection (tunnels use it).
func (c *Conn) CloseWrite() error {
	if c.tcp != nil {
		return c.tcp.CloseWrite()
	}
	return c.Conn.Close()
}
