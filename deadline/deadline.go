// Package deadline arms a connection's read and write deadlines lazily.
//
// A proxy moves each connection's deadlines several times per request:
// fasthttp's server sets the idle, header and body read deadlines and the
// write deadline of every exchange, its client sets a read and a write
// deadline per request, and lb's server connections bound the time
// between two reads or writes. Each move on a *net.TCPConn costs a clock
// read, the poller's lock and an update of a runtime timer, which the
// scheduler then keeps checking: together a tenth of lb's own CPU time per
// request before this package.
//
// Almost every move pushes a deadline further out. A Conn keeps the
// deadline its caller wants in memory and arms the poller's only when the
// wanted one is earlier than the one armed (or none is armed): a later
// deadline leaves the earlier one in place. When that earlier one fires,
// the Read or Write it cut short resumes with the wanted deadline armed,
// so no operation ever times out before the deadline its caller set, and
// none later either: an earlier deadline is armed at once. A connection
// kept busy re-arms about once per its shortest timeout instead of
// several times per request.
package deadline

import (
	"errors"
	"net"
	"os"
	"sync"
	"time"
)

// Conn is a net.Conn whose deadlines are armed lazily. Its methods are
// safe for concurrent use as net.Conn's are.
type Conn struct {
	net.Conn
	r, w dir
}

// New wraps c.
func New(c net.Conn) *Conn { return &Conn{Conn: c} }

// dir is the deadline state of one direction.
type dir struct {
	mu    sync.Mutex
	want  time.Time // what the caller set; zero: none
	armed time.Time // what the poller has; zero: none
}

// set records t as wanted and arms it when it is earlier than what is
// armed; arm is the connection's own setter for this direction.
func (d *dir) set(t time.Time, arm func(time.Time) error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.want = t
	if t.IsZero() || (!d.armed.IsZero() && !t.Before(d.armed)) {
		return nil // the armed deadline comes first; it fires early and is resumed
	}
	if err := arm(t); err != nil {
		return err
	}
	d.armed = t
	return nil
}

// resume reports whether an operation that failed with err may go on: err
// is a deadline that fired before the wanted one, which is now armed.
func (d *dir) resume(err error, arm func(time.Time) error) bool {
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		return false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.want.IsZero() && !time.Now().Before(d.want) {
		return false // the wanted deadline has passed: a real timeout
	}
	if d.want.Equal(d.armed) && !d.want.IsZero() {
		// Armed as wanted and not yet passed: the poller's clock and
		// ours differ by a hair. Report the timeout as the poller did.
		return false
	}
	if arm(d.want) != nil {
		return false
	}
	d.armed = d.want
	return true
}

// SetReadDeadline sets the read deadline, arming it only when it is
// earlier than the one armed.
func (c *Conn) SetReadDeadline(t time.Time) error {
	return c.r.set(t, c.Conn.SetReadDeadline)
}

// SetWriteDeadline sets the write deadline, arming it only when it is
// earlier than the one armed.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	return c.w.set(t, c.Conn.SetWriteDeadline)
}

// SetDeadline sets both deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

// Read reads, resuming when a deadline earlier than the wanted one cut
// the read short (it then read nothing).
func (c *Conn) Read(p []byte) (int, error) {
	for {
		n, err := c.Conn.Read(p)
		if err == nil || n > 0 || !c.r.resume(err, c.Conn.SetReadDeadline) {
			return n, err
		}
	}
}

// Write writes all of p, resuming where a deadline earlier than the
// wanted one cut the write short.
func (c *Conn) Write(p []byte) (int, error) {
	var done int
	for {
		n, err := c.Conn.Write(p[done:])
		done += n
		if err == nil || !c.w.resume(err, c.Conn.SetWriteDeadline) {
			return done, err
		}
	}
}

// base anchors After's monotonic clock.
var base = time.Now()

// After returns the time d from now, for a deadline, with one clock read
// where time.Now takes two (wall and monotonic): its wall clock part is
// the process start's moved by the monotonic time since, which is what a
// deadline is measured by.
func After(d time.Duration) time.Time {
	return base.Add(time.Since(base) + d)
}

// Now is After(0): the time now, for deadlines and durations (not for
// display: its wall clock part does not follow clock adjustments).
func Now() time.Time { return After(0) }

// NetConn returns the wrapped connection (as tls.Conn.NetConn does).
func (c *Conn) NetConn() net.Conn { return c.Conn }
