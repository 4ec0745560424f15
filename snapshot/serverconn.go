package snapshot

import (
	"crypto/tls"
	"errors"
	"net"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"lb/deadline"
	"lb/metrics"
)

// serverConn is one connection to a server, as fasthttp's client pools
// it. It does three things on top of the connection.
//
// It bounds the time between two reads or two writes, not the whole
// exchange (Nginx proxy_read_timeout and proxy_send_timeout): a 10 GB
// download or an SSE stream lasts as long as data keeps flowing.
// Deadlines set by fasthttp are replaced at every call; the connection
// below arms them lazily (package deadline), so the replacing costs a
// clock read.
//
// The first read after a write (the answer to a request just sent) first
// lets the other goroutines run: the server has usually answered by then,
// and the read finds the answer instead of failing with EAGAIN and
// parking in the poller, which would cost a system call and two scheduler
// trips more (about a tenth of lb's CPU per small request).
//
// Before a request goes out on a connection that already carried one, it
// checks that nothing is waiting to be read there (FASTHTTP.md: a
// server's unsolicited bytes, a second answer sent unasked, would
// otherwise be read as the answer to the next client's request, and every
// answer on the connection after it would go to the wrong client). Bytes
// waiting, or the server's close, and the connection is replaced by a
// fresh one to the same server before the request is written: nothing of
// the request went out, so this is safe for any method. Nginx's
// upstream keepalive and HAProxy's idle connections close a connection on
// which the server sends while it is idle, in the same spirit. The check
// is one non-blocking MSG_PEEK receive per reused connection. Under TLS,
// bytes waiting may be TLS's own messages (a session ticket, a key
// update), which leave the connection fit: only then is a TLS read tried,
// bounded by a millisecond, to tell them from data. Never on a tunnel's.
type serverConn struct {
	net.Conn
	idle time.Duration
	// dial opens a fresh connection to the same server, and returns its
	// socket for the check (nil: no check).
	dial  func() (net.Conn, syscall.RawConn, error)
	raw   syscall.RawConn
	tls   bool // c.Conn is a *tls.Conn over raw
	stats *metrics.ServerStats
	state atomic.Uint32 // a connState
	// The addresses, which fasthttp's client reads at every response
	// (Response.ParseNetConn), through the connections wrapped below.
	local, remote net.Addr

	peekFn  func(fd uintptr) // c.peek, bound once
	peekBuf [1]byte
	peekN   int
	peekErr syscall.Errno
}

// connState is where a serverConn is in its exchanges.
type connState = uint32

const (
	connFresh  connState = iota // nothing written yet
	connWrote                   // a request (or part of one) written, no answer read yet
	connRead                    // an answer read from: the next write begins a new exchange
	connTunnel                  // a tunnel's: no check, no yield
)

func newServerConn(dial func() (net.Conn, syscall.RawConn, error), idle time.Duration, stats *metrics.ServerStats) (*serverConn, error) {
	nc, raw, err := dial()
	if err != nil {
		return nil, err
	}
	c := &serverConn{Conn: nc, idle: idle, dial: dial, raw: raw, stats: stats,
		local: nc.LocalAddr(), remote: nc.RemoteAddr()}
	_, c.tls = nc.(*tls.Conn)
	c.peekFn = c.peek
	return c, nil
}

func (c *serverConn) Read(p []byte) (int, error) {
	if err := c.Conn.SetReadDeadline(deadline.After(c.idle)); err != nil {
		return 0, err
	}
	if c.state.Load() == connWrote {
		c.state.Store(connRead)
		runtime.Gosched()
	}
	return c.Conn.Read(p)
}

func (c *serverConn) Write(p []byte) (int, error) {
	switch c.state.Load() {
	case connRead:
		if err := c.checkIdle(); err != nil {
			return 0, err
		}
		c.state.Store(connWrote)
	case connFresh:
		c.state.Store(connWrote)
	}
	if err := c.Conn.SetWriteDeadline(deadline.After(c.idle)); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

func (c *serverConn) LocalAddr() net.Addr  { return c.local }
func (c *serverConn) RemoteAddr() net.Addr { return c.remote }

// Tunnel marks the connection as a tunnel's (proxy's Upgrade): bytes come
// both ways at any time, so no idle check and no yield.
func (c *serverConn) Tunnel() { c.state.Store(connTunnel) }

// checkIdle replaces the connection when the server sent anything on it,
// or closed it, since the last answer was read.
func (c *serverConn) checkIdle() error {
	if c.raw == nil {
		return nil
	}
	c.peekN, c.peekErr = 0, 0
	if err := c.raw.Control(c.peekFn); err != nil {
		return err
	}
	var reason int
	switch {
	case c.peekN > 0 && c.tls:
		var fit bool
		if reason, fit = c.readTLS(); fit {
			return nil
		}
	case c.peekN > 0:
		reason = metrics.DiscardUnsolicited
	case c.peekErr == syscall.EAGAIN:
		return nil // nothing waiting: the connection is as it was left
	default:
		reason = metrics.DiscardClosed // the server's FIN or RST
	}
	c.stats.Discarded[reason].Add(1)
	_ = c.Conn.Close()
	nc, raw, err := c.dial()
	if err != nil {
		return err
	}
	c.Conn, c.raw = nc, raw
	_, c.tls = nc.(*tls.Conn)
	c.local, c.remote = nc.LocalAddr(), nc.RemoteAddr()
	return nil
}

// tlsGrace bounds the TLS read of the idle check: long enough for the
// rest of a record whose start is waiting, short enough not to matter on
// the rare reuse that needs it.
const tlsGrace = time.Millisecond

// readTLS takes in what waits on a TLS connection without waiting for
// more than tlsGrace: TLS's own messages are handled by crypto/tls and
// leave the connection fit; data, a close_notify or an error do not. A
// read that times out leaves a tls.Conn usable (the deadline is the
// next read's to set again).
func (c *serverConn) readTLS() (reason int, fit bool) {
	if err := c.Conn.SetReadDeadline(deadline.After(tlsGrace)); err != nil {
		return metrics.DiscardClosed, false
	}
	n, err := c.Conn.Read(c.peekBuf[:])
	var ne net.Error
	switch {
	case n > 0:
		return metrics.DiscardUnsolicited, false
	case errors.As(err, &ne) && ne.Timeout():
		return 0, true
	}
	return metrics.DiscardClosed, false
}

// peek looks for one waiting byte without taking it and without waiting.
// Control neither waits nor looks at deadlines: a read deadline that
// passed while the connection sat in the pool does not matter here. The
// receive never blocks (MSG_DONTWAIT), so it is a raw system call, with
// no hand-off of the scheduler around it.
func (c *serverConn) peek(fd uintptr) {
	n, _, errno := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&c.peekBuf[0])), uintptr(len(c.peekBuf)),
		syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
	c.peekN, c.peekErr = int(n), errno
	if errno != 0 {
		c.peekN = -1
	}
}
