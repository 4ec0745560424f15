package upgrade

import (
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// parker holds the parked connections of a Set: no goroutine and no
// buffer each, one epoll instance for all, watched by one goroutine. When
// a parked connection has bytes (or a close) to read, it goes back to its
// socket as a new connection.
type parker struct {
	set  *Set
	epfd int
	// ep is epfd in Go's poller: an epoll instance is readable when it has
	// events, so waiting for it takes no thread.
	ep   *os.File
	mu   sync.Mutex
	byFD map[int32]*Conn
}

func newParker(s *Set) (*parker, error) {
	fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return nil, err
	}
	return &parker{set: s, epfd: fd, ep: os.NewFile(uintptr(fd), "parked-connections"), byFD: map[int32]*Conn{}}, nil
}

// add parks c, whose server has let it go. Level-triggered and one-shot:
// bytes that arrived before it was added wake it at once.
func (p *parker) add(c *Conn) {
	fd := connFD(c)
	if fd < 0 {
		c.closeParked()
		return
	}
	p.mu.Lock()
	p.byFD[int32(fd)] = c
	p.mu.Unlock()
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT, Fd: int32(fd)}
	if err := syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		p.mu.Lock()
		delete(p.byFD, int32(fd))
		p.mu.Unlock()
		c.closeParked()
	}
}

// take removes the parked connection on fd, if it is still parked.
func (p *parker) take(fd int32) *Conn {
	p.mu.Lock()
	c := p.byFD[fd]
	delete(p.byFD, fd)
	p.mu.Unlock()
	if c != nil {
		_ = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, int(fd), nil)
	}
	return c
}

// run serves the parked connections that become readable until close.
func (p *parker) run() {
	rc, err := p.ep.SyscallConn()
	if err != nil {
		return
	}
	events := make([]syscall.EpollEvent, 128)
	_ = rc.Read(func(uintptr) bool {
		for {
			n, err := syscall.EpollWait(p.epfd, events, 0)
			if err == syscall.EINTR {
				continue
			}
			if err != nil || n <= 0 {
				return false // wait until the instance is readable again
			}
			for i := range n {
				if c := p.take(events[i].Fd); c != nil {
					go c.unpark()
				}
			}
		}
	})
}

// each removes every parked connection and passes it to f.
func (p *parker) each(f func(*Conn)) {
	p.mu.Lock()
	all := make([]int32, 0, len(p.byFD))
	for fd := range p.byFD {
		all = append(all, fd)
	}
	p.mu.Unlock()
	for _, fd := range all {
		if c := p.take(fd); c != nil {
			f(c)
		}
	}
}

// expire closes the parked connections whose server's idle deadline has
// passed, as the server would have.
func (p *parker) expire(now time.Time) {
	var old []int32
	p.mu.Lock()
	for fd, c := range p.byFD {
		if d := c.parkDeadline; !d.IsZero() && now.After(d) {
			old = append(old, fd)
		}
	}
	p.mu.Unlock()
	for _, fd := range old {
		if c := p.take(fd); c != nil {
			c.closeParked()
		}
	}
}

func (p *parker) len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.byFD)
}

// close ends run.
func (p *parker) close() { _ = p.ep.Close() }

// connFD returns c's descriptor (valid while c is open), or -1.
func connFD(c *Conn) int {
	rc, err := c.tcp.SyscallConn()
	if err != nil {
		return -1
	}
	fd := -1
	if rc.Control(func(u uintptr) { fd = int(u) }) != nil {
		return -1
	}
	return fd
}

// unpark serves a parked connection that has bytes to read: handed to
// the new process during a hand-over, else given back to its socket as a
// new connection.
func (c *Conn) unpark() {
	if c.handOver() {
		c.closeParked()
		return
	}
	_ = c.tcp.SetReadDeadline(time.Time{}) // the wake's, long past
	fresh := c.sock.wrap(c.tcp)
	// Nothing of its request has been read: if its socket no longer
	// accepts (a hand-over began), closing it hands it over.
	fresh.state.Store(int32(fasthttp.StateNew))
	c.sock.set.untrack(c)
	c.sock.deliver(fresh)
}

// closeParked closes a parked connection for good.
func (c *Conn) closeParked() {
	_ = c.Conn.Close()
	c.sock.set.untrack(c)
}
