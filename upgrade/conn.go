package upgrade

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// Conn is a client connection accepted on a Socket.
//
// During a hand-over it goes to the new process the moment the server
// waits for its next request with nothing of one read: the request bytes,
// if any are on the way, are still in the kernel's socket buffer, which
// the new process now reads. No request is ever lost between two
// processes.
//
// A connection idle between requests for a while is parked (see
// Set.ParkIdle): the server lets it go, with its goroutine and buffers,
// and a small goroutine waits for its next bytes, then gives it back to
// the server as a new connection. An idle keep-alive connection then
// costs a few KiB instead of a server goroutine's stack and buffers.
type Conn struct {
	net.Conn
	tcp  *net.TCPConn // nil: not a plain TCP connection, never handed over or parked
	sock *Socket
	// state is the server's fasthttp.ConnState for this connection, set
	// by ConnState.
	state atomic.Int32
	// idleSince is the Set's park epoch when the connection last went
	// idle or was opened.
	idleSince atomic.Int64
	handed    atomic.Bool
	park      atomic.Bool // the sweeper asks the server to let it go
	parked    atomic.Bool // let go: Close keeps the socket, the parker owns it
	once      sync.Once

	// mu orders wake against a read between requests: wake moves the
	// deadline only while such a read is in progress, and the read
	// restores the server's deadline if it returned data anyway.
	mu       sync.Mutex
	reading  bool
	woken    bool
	deadline time.Time // the server's read deadline, restored after a wake

	parkDeadline time.Time // the server's idle deadline when parked
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
			if st == fasthttp.StateIdle {
				x.idleSince.Store(x.sock.set.epoch.Load())
			}
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

// wake makes a read waiting between requests return, so that it sees a
// hand-over or a park.
func (c *Conn) wake() {
	if c.tcp == nil {
		return
	}
	c.mu.Lock()
	if c.reading {
		c.woken = true
		_ = c.Conn.SetReadDeadline(aLongTimeAgo)
	}
	c.mu.Unlock()
}

// SetReadDeadline records the server's deadline (a wake restores it) and
// sets it.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.deadline = t
	c.mu.Unlock()
	return c.Conn.SetReadDeadline(t)
}

// SetDeadline records the read deadline and sets both.
func (c *Conn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	c.deadline = t
	c.mu.Unlock()
	return c.Conn.SetDeadline(t)
}

// Read reads from the connection. Between requests it may instead hand
// the connection over or park it, and report io.EOF: the server then
// lets the connection go without an answer, as after a client's close.
func (c *Conn) Read(b []byte) (int, error) {
	if c.tcp == nil || !c.between() {
		return c.Conn.Read(b)
	}
	// No yield here before the read, unlike the server connection's read
	// of an answer: a client's next request comes a round trip after the
	// answer, and a goroutine that yields and finds it keeps the run
	// queue full, so that Go, which polls the network only when that
	// queue is empty (or every 10 ms), leaves the connections parked in
	// the poller waiting: the yield cost lb's p99 latency about 40% at
	// saturation for no CPU saved on small requests (README, Benchmarks).
	for {
		if c.handOver() {
			return 0, io.EOF
		}
		if c.park.Load() && c.sock.set.parking.Load() {
			c.parked.Store(true)
			return 0, io.EOF
		}
		c.mu.Lock()
		c.reading = true
		c.mu.Unlock()
		n, err := c.Conn.Read(b)
		c.mu.Lock()
		c.reading = false
		woken := c.woken
		c.woken = false
		deadline := c.deadline
		c.mu.Unlock()
		if !woken {
			return n, err
		}
		if n > 0 || !isTimeout(err) {
			_ = c.Conn.SetReadDeadline(deadline)
			c.park.Store(false)
			return n, err
		}
		if c.sock.set.next.Load() == nil && !c.park.Load() {
			_ = c.Conn.SetReadDeadline(deadline) // a hand-over that failed
		}
	}
}

// isTimeout reports whether err is a timeout. A nil err returns before
// errors.As, whose target escapes: every accepted connection asks.
func isTimeout(err error) bool {
	if err == nil {
		return false
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
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
	if next == nil || c.tcp == nil || !(c.between() || c.parked.Load()) {
		return false
	}
	if err := sendConn(next, c.sock.key, c.tcp); err != nil {
		// The new process is gone: what remains is served here.
		if c.sock.set.next.CompareAndSwap(next, nil) {
			c.sock.set.sendErr.Store(&err)
		}
		return false
	}
	c.handed.Store(true)
	return true
}

// Close closes this process's descriptor of the connection. A server
// closing an idle connection during a hand-over hands it over instead; a
// parked connection stays open, waiting for its next request.
func (c *Conn) Close() error {
	var err error
	c.once.Do(func() {
		set := c.sock.set
		if c.parked.Load() {
			c.mu.Lock()
			c.parkDeadline = c.deadline
			c.mu.Unlock()
			if pk := set.parker.Load(); pk != nil && !set.closingParked.Load() && set.next.Load() == nil {
				pk.add(c)
				return
			}
		}
		c.handOver()
		err = c.Conn.Close()
		set.untrack(c)
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
