package proxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"lb/balancer"
)

// tunnels is the registry of a Handler's open tunnels, so that shutdown
// can wait for them and close them (fasthttp neither counts nor waits for
// hijacked connections). Its zero value is empty and open; it must not be
// copied.
type tunnels struct {
	mu      sync.Mutex
	open    map[*tunnel]struct{} // guarded by mu
	closed  bool                 // guarded by mu: CloseTunnels ran, no new tunnels
	drained chan struct{}        // guarded by mu: closed when open empties, made by a waiter
	n       atomic.Int64         // len(open), read without the lock
	bufs    sync.Pool            // *[tunnelBufSize]byte copy buffers
}

// add registers t and reports whether it may run: false once CloseTunnels
// has run.
func (r *tunnels) add(t *tunnel) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	if r.open == nil {
		r.open = make(map[*tunnel]struct{})
	}
	r.open[t] = struct{}{}
	t.added = true
	r.n.Add(1)
	return true
}

// remove unregisters t, waking CloseTunnels when it was the last.
func (r *tunnels) remove(t *tunnel) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.open, t)
	r.n.Add(-1)
	if len(r.open) == 0 && r.drained != nil {
		close(r.drained)
		r.drained = nil
	}
}

func (r *tunnels) isClosed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

// OpenTunnels returns the number of open Upgrade tunnels: switched, or
// waiting for fasthttp to hand over the client's connection.
func (h *Handler) OpenTunnels() int64 { return h.tun.n.Load() }

// CloseTunnels is for shutdown, after the listeners have stopped:
// fasthttp's Shutdown does not wait for hijacked connections. It refuses
// new tunnels (their requests get 503), waits for the open ones to end
// until ctx is done, then closes both sides of those that remain and
// waits for their copies to finish. It returns ctx.Err() when it had to
// close tunnels, else nil.
func (h *Handler) CloseTunnels(ctx context.Context) error {
	r := &h.tun
	r.mu.Lock()
	r.closed = true
	if len(r.open) == 0 {
		r.mu.Unlock()
		return nil
	}
	if r.drained == nil {
		r.drained = make(chan struct{})
	}
	drained := r.drained
	r.mu.Unlock()

	select {
	case <-drained:
		return nil
	case <-ctx.Done():
	}
	var abandoned []*tunnel
	r.mu.Lock()
	for t := range r.open {
		switch {
		case t.client != nil:
			t.shut() // its copies end, then it unregisters
		case !t.ended:
			t.ended = true
			t.watchdog.Stop()
			abandoned = append(abandoned, t)
		}
	}
	r.mu.Unlock()
	for _, t := range abandoned {
		t.finish()
	}
	<-drained
	return ctx.Err()
}

// tunnel is one switched connection pair. It is created with the 101 and
// ends exactly once, by finish: from run once fasthttp has handed over the
// client's connection, or, if it never does, from abandon or
// CloseTunnels. finish releases the server slot taken for the request.
type tunnel struct {
	reg      *tunnels
	srv      *balancer.Server
	up       net.Conn      // the server's connection
	upr      *bufio.Reader // reads up; may hold bytes sent after the 101
	head     []byte        // the 101 head for the client
	idle     time.Duration // closed after this long without a byte either way; 0: never
	start    time.Time
	last     atomic.Int64 // time since start of the last byte copied either way
	watchdog *time.Timer  // abandon unless run starts first; set before add

	// Guarded by reg.mu. client is set once by run before the copies
	// start, which read it without the lock.
	added  bool
	ended  bool     // finished before run started: run must not start
	client net.Conn // the client's connection, hijacked
}

// run is the hijack handler: it relays the 101 and copies both ways. The
// client's connection gives first the bytes fasthttp read past the
// request, and fasthttp closes it when run returns.
func (t *tunnel) run(c net.Conn) {
	t.reg.mu.Lock()
	if t.ended {
		t.reg.mu.Unlock()
		return
	}
	t.client = c
	t.reg.mu.Unlock()
	t.watchdog.Stop()
	defer t.finish()

	t.touch()
	if t.idle > 0 {
		if err := c.SetWriteDeadline(time.Now().Add(t.idle)); err != nil {
			return
		}
	}
	if _, err := c.Write(t.head); err != nil {
		return
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		t.pipe(c, t.up, t.upr) // server to client, bytes sent after the 101 first
	}()
	t.pipe(t.up, c, c) // client to server
	<-done
}

// abandon ends a tunnel whose client connection fasthttp never handed
// over (see tunnelStartTimeout).
func (t *tunnel) abandon() {
	t.reg.mu.Lock()
	if !t.added || t.ended || t.client != nil {
		t.reg.mu.Unlock()
		return
	}
	t.ended = true
	t.reg.mu.Unlock()
	t.finish()
}

// finish closes both connections, releases the server slot and
// unregisters the tunnel. It runs once per tunnel.
func (t *tunnel) finish() {
	t.shut()
	t.srv.Release()
	t.reg.remove(t)
}

// shut closes both connections, which ends both copies. It may be called
// any number of times, concurrently. The client's connection is closed
// underneath fasthttp's hijacked wrapper, whose Close does nothing.
func (t *tunnel) shut() {
	_ = t.up.Close()
	if c := t.client; c != nil {
		if u, ok := c.(interface{ UnsafeConn() net.Conn }); ok {
			c = u.UnsafeConn()
		}
		_ = c.Close()
	}
}

// pipe copies from src, read through srcConn, to dst until either fails,
// then shuts the tunnel so that the other direction ends too. A read
// waits until idle has passed since the last byte copied either way, so a
// stream flowing one way keeps the tunnel open.
func (t *tunnel) pipe(dst, srcConn net.Conn, src io.Reader) {
	defer t.shut()
	bp, _ := t.reg.bufs.Get().(*[tunnelBufSize]byte)
	if bp == nil {
		bp = new([tunnelBufSize]byte)
	}
	defer t.reg.bufs.Put(bp)
	for {
		if t.idle > 0 {
			if err := srcConn.SetReadDeadline(t.lastActive().Add(t.idle)); err != nil {
				return
			}
		}
		n, err := src.Read(bp[:])
		if n > 0 {
			t.touch()
			if t.idle > 0 {
				if werr := dst.SetWriteDeadline(time.Now().Add(t.idle)); werr != nil {
					return
				}
			}
			if _, werr := dst.Write(bp[:n]); werr != nil {
				return
			}
			t.touch()
		}
		if err != nil {
			if isTimeout(err) && time.Since(t.lastActive()) < t.idle {
				continue // the other direction was active
			}
			return
		}
	}
}

// touch records activity now.
func (t *tunnel) touch() { t.last.Store(int64(time.Since(t.start))) }

// lastActive returns when a byte was last copied either way.
func (t *tunnel) lastActive() time.Time {
	return t.start.Add(time.Duration(t.last.Load()))
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
