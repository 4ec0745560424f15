package snapshot

import (
	"bytes"
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

	// The head of the answer being read (scanHead).
	inHead  bool
	lineLen int     // bytes of the line so far
	lastCR  bool    // the last byte read was a CR
	headPos int     // bytes of the head so far, up to the status code's end
	status  [3]byte // the status code's digits
}

// errBareLF is an answer whose head ends a line with a bare LF, which
// fasthttp's parser does not take: it would wait for the head's end until
// the response timeout. RFC 9112 §2.2 lets a recipient refuse it; lb
// refuses it at once (502), as it refuses one from a client.
var errBareLF = errors.New("snapshot: bare LF in the head of the server's answer")

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
	n, err := c.Conn.Read(p)
	if c.inHead && n > 0 {
		if serr := c.scanHead(p[:n]); serr != nil {
			return 0, serr
		}
	}
	return n, err
}

// beginHead readies scanHead for the answer to the request being written.
func (c *serverConn) beginHead() {
	c.inHead, c.lineLen, c.lastCR, c.headPos, c.status = true, 0, false, 0, [3]byte{}
}

// scanHead follows the head of an answer in p, read in any pieces, to
// its empty line, and fails at a line ended by a bare LF. The heads of
// interim answers (1xx but 101) are followed by the final answer's.
func (c *serverConn) scanHead(p []byte) error {
	for len(p) > 0 {
		j := bytes.IndexByte(p, '\n')
		seg := p // the bytes up to the line's end, or all of p
		if j >= 0 {
			seg = p[:j+1]
		}
		for k := 0; k < len(seg) && c.headPos+k < 12; k++ {
			if i := c.headPos + k - 9; i >= 0 {
				c.status[i] = seg[k] // "HTTP/1.1 200": bytes 9 to 11
			}
		}
		if j < 0 {
			c.headPos += len(p)
			c.lineLen += len(p)
			c.lastCR = p[len(p)-1] == '\r'
			return nil
		}
		if !(j > 0 && p[j-1] == '\r' || j == 0 && c.lastCR) {
			return errBareLF
		}
		line := c.lineLen + j // the line's bytes, its CR included
		c.headPos += j + 1
		c.lineLen, c.lastCR = 0, false
		p = p[j+1:]
		if line == 1 { // the empty line: the head ends
			if c.status[0] == '1' && string(c.status[:]) != "101" {
				c.beginHead() // interim: the final answer's head follows
				continue
			}
			c.inHead = false
			return nil
		}
	}
	return nil
}

func (c *serverConn) Write(p []byte) (int, error) {
	switch c.state.Load() {
	case connRead:
		if err := c.checkIdle(); err != nil {
			return 0, err
		}
		fallthrough
	case connFresh: // a new exchange begins
		c.state.Store(connWrote)
		c.beginHead()
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
// the rare reuse that needs it. A variable only so that a test can expire
// it before the read, as a stall of the goroutine would.
var tlsGrace = time.Millisecond

// readTLS takes in what waits on a TLS connection without waiting for
// more than tlsGrace: TLS's own messages are handled by crypto/tls and
// leave the connection fit; data, a close_notify or an error do not. A
// read that times out leaves a tls.Conn usable (the deadline is the
// next read's to set again). A read whose deadline passed before it
// looked (the goroutine stalled for longer than tlsGrace) took nothing in,
// so a timeout is fit only if the socket is empty now; what still waits
// is counted as unsolicited.
func (c *serverConn) readTLS() (reason int, fit bool) {
	if err := c.Conn.SetReadDeadline(deadline.After(tlsGrace)); err != nil {
		return metrics.DiscardClosed, false
	}
	n, err := c.Conn.Read(c.peekBuf[:])
	var ne net.Error
	switch {
	case n > 0:
		return metrics.DiscardUnsolicited, false
	case !errors.As(err, &ne) || !ne.Timeout():
		return metrics.DiscardClosed, false
	}
	if err := c.raw.Control(c.peekFn); err != nil {
		return metrics.DiscardClosed, false
	}
	switch {
	case c.peekErr == syscall.EAGAIN:
		return 0, true
	case c.peekN > 0:
		return metrics.DiscardUnsolicited, false
	}
	return metrics.DiscardClosed, false
}

// peek looks for one waiting byte without taking it and without waiting.
// Control neither waits nor looks at deadlines: a read deadline that
// passed while the connection sat in the pool does not matter here. The
// receive never blocks (MSG_DONTWAIT), so it is a raw system call, with
// no hand-off of the scheduler around it. It sets peekN and peekErr
// whenever Control runs it, that is whenever Control returns no error.
func (c *serverConn) peek(fd uintptr) {
	n, _, errno := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&c.peekBuf[0])), uintptr(len(c.peekBuf)),
		syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
	c.peekN, c.peekErr = int(n), errno
	if errno != 0 {
		c.peekN = -1
	}
}
