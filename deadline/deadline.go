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
//
// Nothing is armed either until an operation has to wait: a connection's
// first deadline in each direction is kept in memory, and a Read or Write
// first tries its system call without waiting; only when it would wait
// (EAGAIN) is the deadline armed, before the wait. A new connection whose
// request is there when it is read and whose answer fits the socket's
// buffer never arms a runtime timer, nor has one to remove at its close.
// A deadline set while an operation waits is armed at once, as before.
package deadline

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// Conn is a net.Conn whose deadlines are armed lazily. Its methods are
// safe for concurrent use as net.Conn's are.
type Conn struct {
	net.Conn
	r, w dir

	// raw is the socket, for the first try of an operation that may not
	// wait; nil: every deadline is armed when set.
	raw syscall.RawConn
	// The tries' system calls, bound once.
	readFn, writeFn func(fd uintptr) bool
}

// New wraps c.
func New(c net.Conn) *Conn {
	dc := &Conn{Conn: c}
	if sc, ok := c.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			dc.raw = raw
			dc.readFn, dc.writeFn = dc.sysRead, dc.sysWrite
			dc.r.fresh.Store(true)
			dc.w.fresh.Store(true)
		}
	}
	return dc
}

// dir is the deadline state of one direction.
type dir struct {
	mu    sync.Mutex
	want  time.Time // what the caller set; zero: none
	armed time.Time // what the poller has; zero: none
	// fresh: nothing was ever armed in this direction, and a deadline
	// set now may wait in memory (pending) for an operation that has to
	// wait. Once something is armed, every set follows the rules above.
	fresh atomic.Bool
	// pending: want is set and nothing is armed; the next operation
	// that has to wait arms it first.
	pending atomic.Bool
	// busy counts the operations under way while fresh: a deadline set
	// while one may be waiting is armed at once.
	busy atomic.Int32
	// op is held through a first operation (firstRead, firstWrite),
	// which owns the fields below: p is its buffer, n and errno its
	// results; locked: it holds mu, until it has to wait.
	op     sync.Mutex
	p      []byte
	n      int
	errno  syscall.Errno
	armErr error
	locked bool
}

// set records t as wanted and arms it when it is earlier than what is
// armed; arm is the connection's own setter for this direction. While
// the direction is fresh it arms nothing yet (pending), unless an
// operation is under way.
func (d *dir) set(t time.Time, arm func(time.Time) error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.want = t
	if d.fresh.Load() && !t.IsZero() {
		// Stored before busy is read, as an operation adds to busy before
		// it reads pending: one of the two sees the other.
		d.pending.Store(true)
		if d.busy.Load() == 0 {
			return nil
		}
	}
	d.pending.Store(false)
	if t.IsZero() || (!d.armed.IsZero() && !t.Before(d.armed)) {
		return nil // the armed deadline comes first; it fires early and is resumed
	}
	return d.arm(t, arm)
}

// arm arms t (d.mu held).
func (d *dir) arm(t time.Time, arm func(time.Time) error) error {
	if err := arm(t); err != nil {
		return err
	}
	d.armed = t
	d.fresh.Store(false)
	return nil
}

// armPending arms the pending deadline, if any (d.mu held): the
// operation is about to wait.
func (d *dir) armPending(arm func(time.Time) error) error {
	if !d.pending.Load() {
		return nil
	}
	d.pending.Store(false)
	return d.arm(d.want, arm)
}

// passed reports whether the wanted deadline has passed (d.mu held): an
// operation then fails at once, as on a net.Conn, even if it could go on
// without waiting.
func (d *dir) passed() bool {
	return !d.want.IsZero() && !Now().Before(d.want)
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
	if c.r.fresh.Load() {
		c.r.busy.Add(1)
		defer c.r.busy.Add(-1)
		if c.r.pending.Load() && len(p) > 0 {
			if n, done, err := c.firstRead(p); done || err != nil {
				return n, err
			}
		}
	}
	for {
		n, err := c.Conn.Read(p)
		if err == nil || n > 0 || !c.r.resume(err, c.Conn.SetReadDeadline) {
			return n, err
		}
	}
}

// firstRead reads while the read deadline is pending. It arms the
// deadline only when the read has to wait, then waits in the same call,
// with no second failed read. done: it read, or found the end; else the
// read goes on as usual, under the deadline now armed: after an error,
// which that read meets again and reports as net.Conn does, or a
// deadline that has passed, which fails it at once.
func (c *Conn) firstRead(p []byte) (n int, done bool, err error) {
	d := &c.r
	d.op.Lock()
	defer d.op.Unlock()
	if !d.begin() {
		return 0, false, d.armLocked(c.Conn.SetReadDeadline)
	}
	d.p = p
	rerr := c.raw.Read(c.readFn)
	n, errno, armErr := d.end()
	switch {
	case armErr != nil:
		return 0, false, armErr
	case rerr == nil && errno == 0 && n > 0:
		return n, true, nil
	case rerr == nil && errno == 0:
		return 0, true, io.EOF
	}
	return 0, false, d.armLocked(c.Conn.SetReadDeadline)
}

// Write writes all of p, resuming where a deadline earlier than the
// wanted one cut the write short.
func (c *Conn) Write(p []byte) (int, error) {
	var done int
	if c.w.fresh.Load() {
		c.w.busy.Add(1)
		defer c.w.busy.Add(-1)
		if c.w.pending.Load() && len(p) > 0 {
			n, all, err := c.firstWrite(p)
			if all || err != nil {
				return n, err
			}
			done = n
		}
	}
	for {
		n, err := c.Conn.Write(p[done:])
		done += n
		if err == nil || !c.w.resume(err, c.Conn.SetWriteDeadline) {
			return done, err
		}
	}
}

// firstWrite writes while the write deadline is pending, as firstRead
// reads: the deadline is armed only when the socket's buffer is full,
// and the write then waits in the same call. all: p is written; else
// the write of the rest goes on as usual.
func (c *Conn) firstWrite(p []byte) (n int, all bool, err error) {
	d := &c.w
	d.op.Lock()
	defer d.op.Unlock()
	if !d.begin() {
		return 0, false, d.armLocked(c.Conn.SetWriteDeadline)
	}
	d.p = p
	werr := c.raw.Write(c.writeFn)
	n, errno, armErr := d.end()
	switch {
	case armErr != nil:
		return n, false, armErr
	case werr == nil && errno == 0:
		return n, true, nil
	}
	return n, false, d.armLocked(c.Conn.SetWriteDeadline)
}

// begin readies a first operation: it takes d.mu, which the operation
// lets go when it has to wait (or end does), and reports whether the
// try may go ahead: the deadline is still pending and has not passed.
func (d *dir) begin() bool {
	d.mu.Lock()
	if !d.pending.Load() || d.passed() {
		d.mu.Unlock()
		return false
	}
	d.locked, d.n, d.errno, d.armErr = true, 0, 0, nil
	return true
}

// end closes a first operation and returns its results.
func (d *dir) end() (n int, errno syscall.Errno, armErr error) {
	if d.locked {
		d.locked = false
		d.mu.Unlock()
	}
	n, errno, armErr = d.n, d.errno, d.armErr
	d.p, d.armErr = nil, nil
	return n, errno, armErr
}

// armLocked arms what is pending, under d.mu.
func (d *dir) armLocked(arm func(time.Time) error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.armPending(arm)
}

// sysRead and sysWrite are the first operations' system calls, made by
// the socket's RawConn: raw, as on a non-blocking socket they never
// block, with no hand-off of the scheduler around them. On EAGAIN they
// arm the pending deadline (the first time) and have RawConn wait.
func (c *Conn) sysRead(fd uintptr) bool {
	d := &c.r
	n, _, errno := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&d.p[0])), uintptr(len(d.p)))
	if errno != syscall.EAGAIN {
		d.n, d.errno = int(n), errno
		return true
	}
	return !d.toWait(c.Conn.SetReadDeadline)
}

func (c *Conn) sysWrite(fd uintptr) bool {
	d := &c.w
	for d.n < len(d.p) {
		n, _, errno := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&d.p[d.n])), uintptr(len(d.p)-d.n))
		if errno == syscall.EAGAIN {
			return !d.toWait(c.Conn.SetWriteDeadline)
		}
		if errno != 0 {
			d.errno = errno
			return true
		}
		d.n += int(n)
	}
	return true
}

// toWait arms the pending deadline and lets d.mu go before the
// operation waits the first time; false: arming failed, the operation
// ends with the error.
func (d *dir) toWait(arm func(time.Time) error) bool {
	if !d.locked {
		return true
	}
	d.locked = false
	d.armErr = d.armPending(arm)
	d.mu.Unlock()
	if d.armErr != nil {
		d.errno = syscall.EAGAIN
		return false
	}
	return true
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
