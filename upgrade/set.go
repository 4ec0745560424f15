package upgrade

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"lb/deadline"
)

// Set holds the listening sockets of one process by key, and the
// client connections accepted on them. Its methods are safe for
// concurrent use.
type Set struct {
	mu sync.Mutex
	// inherited are the listeners the old process passed, by key, not
	// yet taken.
	inherited map[string]*net.TCPListener
	socks     map[string]*Socket
	conns     map[*Conn]struct{}
	// parent is the channel to the old process when this one was started
	// by an upgrade; nil otherwise.
	parent *net.UnixConn

	// next is the channel to the new process while connections are
	// handed to it.
	next atomic.Pointer[net.UnixConn]
	// sendErr is the first failure to hand a connection over.
	sendErr atomic.Pointer[error]

	// Parking idle connections (ParkIdle): epoch counts sweeps.
	parking       atomic.Bool
	closingParked atomic.Bool
	epoch         atomic.Int64
	stopPark      chan struct{}
	parker        atomic.Pointer[parker]
	parkWG        sync.WaitGroup
}

// NewSet returns an empty set: every Listen opens a new socket.
func NewSet() *Set {
	return &Set{
		inherited: map[string]*net.TCPListener{},
		socks:     map[string]*Socket{},
		conns:     map[*Conn]struct{}{},
	}
}

// Inherit returns the set the old process passed when this process was
// started by an upgrade, and an empty set otherwise.
func Inherit() (*Set, error) {
	s := NewSet()
	if os.Getenv(envChannel) == "" {
		return s, nil
	}
	addrs := splitAddrs(os.Getenv(envListeners))
	os.Unsetenv(envChannel)
	os.Unsetenv(envListeners)
	ch, err := fileUnixConn(os.NewFile(fdChannel, "upgrade-channel"))
	if err != nil {
		return nil, err
	}
	s.parent = ch
	for i, addr := range addrs {
		f := os.NewFile(uintptr(fdListeners+i), "listener "+addr)
		ln, err := net.FileListener(f)
		f.Close()
		if err != nil {
			s.closeInherited()
			return nil, fmt.Errorf("inherited listener %s: %w", addr, err)
		}
		tl, ok := ln.(*net.TCPListener)
		if !ok {
			ln.Close()
			s.closeInherited()
			return nil, fmt.Errorf("inherited listener %s: not TCP", addr)
		}
		s.inherited[addr] = tl
	}
	return s, nil
}

// Upgraded reports whether this process was started by an upgrade.
func (s *Set) Upgraded() bool { return s.parent != nil }

// Listen returns a new view of the socket named key, listening on addr:
// the one inherited from the old process under that key, the one already
// open, or a new one. Keys name sockets across processes; a key is
// usually the configured address, with a prefix per kind of listener.
// The socket closes when its last view closes.
func (s *Set) Listen(key, addr string) (*View, error) {
	if strings.ContainsRune(key, ',') {
		return nil, fmt.Errorf("listener key %q: no commas", key)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sock := s.socks[key]
	if sock == nil {
		ln := s.inherited[key]
		delete(s.inherited, key)
		if ln == nil {
			// No TCP keep-alive probes on client connections, as Nginx
			// (so_keepalive off) and HAProxy (no option clitcpka): idle
			// clients are bounded by idle_timeout, and Go's default costs
			// four setsockopt calls per accepted connection. A listener
			// inherited in an upgrade keeps Go's default (15 s probes): a
			// listener made from a descriptor cannot be told otherwise.
			lc := net.ListenConfig{KeepAlive: -1}
			l, err := lc.Listen(context.Background(), "tcp", addr)
			if err != nil {
				return nil, err
			}
			ln = l.(*net.TCPListener)
		}
		if err := deferAccept(ln); err != nil {
			ln.Close()
			return nil, fmt.Errorf("listener %s: %w", addr, err)
		}
		sock = newSocket(s, key, ln)
		s.socks[key] = sock
	}
	sock.views++
	return &View{sock: sock, closed: make(chan struct{})}, nil
}

// Ready tells the old process, if any, that this one serves: it stops
// accepting and hands its idle connections over, which this process
// then serves. Inherited listeners that no Listen took are closed.
func (s *Set) Ready() error {
	s.closeInherited()
	if s.parent == nil {
		return nil
	}
	if _, err := s.parent.Write([]byte(msgReady)); err != nil {
		return fmt.Errorf("telling the old process: %w", err)
	}
	go s.receive()
	return nil
}

// Failed tells the old process, if any, why this one cannot serve.
func (s *Set) Failed(err error) {
	s.closeInherited()
	if s.parent != nil {
		msg := msgFailed + err.Error()
		_, _ = s.parent.Write([]byte(msg[:min(len(msg), maxMessage)]))
	}
}

// receive serves the connections the old process hands over, on the
// listener they were accepted on, until the old process closes the
// channel (it has exited).
func (s *Set) receive() {
	buf := make([]byte, maxMessage)
	oob := make([]byte, 64)
	for {
		m, err := receive(s.parent, buf, oob)
		if m.conn != nil {
			s.mu.Lock()
			sock := s.socks[m.text]
			s.mu.Unlock()
			if sock == nil || !sock.inject(m.conn) {
				m.conn.Close() // its listener is gone from the new configuration
			}
		}
		if err != nil {
			s.parent.Close()
			return
		}
	}
}

func (s *Set) closeInherited() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for addr, ln := range s.inherited {
		ln.Close()
		delete(s.inherited, addr)
	}
}

// HandOver starts passing connections to the new process behind ch:
// each connection idle between requests, now or later, goes over;
// connections in the middle of a request go once it is answered. The
// sockets stop accepting here (the new process accepts on them now).
func (s *Set) HandOver(ch *net.UnixConn) {
	s.next.Store(ch)
	s.mu.Lock()
	socks := make([]*Socket, 0, len(s.socks))
	for _, sock := range s.socks {
		socks = append(socks, sock)
	}
	conns := make([]*Conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, sock := range socks {
		sock.ln.Close() // the new process holds the socket open
		sock.close()
	}
	for _, c := range conns {
		c.wake()
	}
	if pk := s.parker.Load(); pk != nil {
		pk.each(func(c *Conn) {
			c.handOver()
			c.closeParked()
		})
	}
}

// HandOverErr returns the first failure to hand a connection over, after
// which the remaining ones were served here.
func (s *Set) HandOverErr() error {
	if p := s.sendErr.Load(); p != nil {
		return *p
	}
	return nil
}

// Conns returns how many accepted connections are open.
func (s *Set) Conns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// WaitConns waits until no accepted connection is open or ctx is done.
func (s *Set) WaitConns(ctx context.Context) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for s.Conns() > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

// When at least releaseConns connections were parked since the last time,
// and releaseEvery has passed, the memory they held is returned to the
// system at once.
const (
	releaseConns = 1000
	releaseEvery = time.Second
)

// ParkIdle parks connections that have waited between requests for at
// least after (and less than twice that): the server lets them go, with
// its goroutine and buffers, and one epoll instance watches them all
// until their next request arrives. Call it once; StopParking ends it.
// Without epoll it does nothing.
func (s *Set) ParkIdle(after time.Duration) {
	if after <= 0 || !s.parking.CompareAndSwap(false, true) {
		return
	}
	pk, err := newParker(s)
	if err != nil {
		s.parking.Store(false)
		return
	}
	stop := make(chan struct{})
	s.mu.Lock()
	s.stopPark = stop
	s.mu.Unlock()
	s.parker.Store(pk)
	s.parkWG.Add(2)
	go func() {
		defer s.parkWG.Done()
		pk.run()
	}()
	go func() {
		defer s.parkWG.Done()
		s.sweep(pk, after, stop)
	}()
}

// sweep asks the servers to let go of connections idle for two sweeps,
// and closes parked ones past their idle deadline.
func (s *Set) sweep(pk *parker, after time.Duration, stop <-chan struct{}) {
	t := time.NewTicker(after / 2)
	defer t.Stop()
	var idle []*Conn
	var sinceRelease int
	var lastRelease time.Time
	for {
		select {
		case <-t.C:
		case <-stop:
			return
		}
		pk.expire(time.Now())
		e := s.epoch.Add(1)
		idle = idle[:0]
		s.mu.Lock()
		for c := range s.conns {
			if c.tcp != nil && c.between() && !c.parked.Load() && !c.park.Load() && e-c.idleSince.Load() >= 2 {
				idle = append(idle, c)
			}
		}
		s.mu.Unlock()
		for _, c := range idle {
			c.park.Store(true)
			c.wake()
		}
		// The buffers and stacks of many connections let go at once
		// return to the runtime, which gives them back to the system only
		// slowly while the process is idle: give them back now, at most
		// every releaseEvery.
		sinceRelease += len(idle)
		if sinceRelease >= releaseConns && time.Since(lastRelease) >= releaseEvery {
			sinceRelease, lastRelease = 0, time.Now()
			go func() {
				time.Sleep(after / 2) // until the servers have let them go
				// Two collections: the first moves pooled buffers (sync.Pool)
				// to the victim cache, the second frees them; then the
				// memory goes back to the system.
				runtime.GC()
				debug.FreeOSMemory()
			}()
		}
		clear(idle)
	}
}

// StopParking stops parking and closes the parked connections, as a
// server stopping closes its idle ones.
func (s *Set) StopParking() {
	if !s.parking.CompareAndSwap(true, false) {
		return
	}
	s.closingParked.Store(true)
	s.mu.Lock()
	close(s.stopPark)
	s.mu.Unlock()
	if pk := s.parker.Load(); pk != nil {
		pk.close()
		s.parkWG.Wait()
		pk.each((*Conn).closeParked)
	}
}

// Parked returns how many connections are parked.
func (s *Set) Parked() int {
	if pk := s.parker.Load(); pk != nil {
		return pk.len()
	}
	return 0
}

func (s *Set) track(c *Conn) {
	s.mu.Lock()
	s.conns[c] = struct{}{}
	s.mu.Unlock()
}

func (s *Set) untrack(c *Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// listenerFiles returns the open sockets' keys and descriptors
// (duplicates, for a new process), sorted by key.
func (s *Set) listenerFiles() ([]string, []*os.File, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	addrs := make([]string, 0, len(s.socks))
	for a := range s.socks {
		addrs = append(addrs, a)
	}
	sort.Strings(addrs)
	files := make([]*os.File, 0, len(addrs))
	for _, a := range addrs {
		f, err := s.socks[a].ln.File()
		if err != nil {
			for _, f := range files {
				f.Close()
			}
			return nil, nil, fmt.Errorf("listener %s: %w", a, err)
		}
		files = append(files, f)
	}
	return addrs, files, nil
}

// Socket is one listening socket. Its accepted connections go to
// whichever of its views accepts first.
//
// A view accepts from the kernel itself, in the server's own Accept call:
// no goroutine sits between the kernel and the server, which saved one
// goroutine hand-off per new connection (CPU per new connection −5%). One
// view at a time holds the turn to call the listener's Accept; the others
// wait for it. Connections that come from elsewhere (handed over by the
// old process, or back from parking) are queued, and the listener's
// deadline is moved into the past to wake the view blocked in Accept,
// which then takes them from the queue.
type Socket struct {
	set  *Set
	key  string
	ln   *net.TCPListener
	turn chan struct{} // holds one token: its holder may call ln.Accept
	done chan struct{} // closed when the socket stops accepting
	stop sync.Once

	mu      sync.Mutex
	queue   []*Conn // connections to serve that the kernel did not hand over
	stopped bool    // done is closed: nothing more is queued

	views int // guarded by set.mu
}

func newSocket(s *Set, key string, ln *net.TCPListener) *Socket {
	sock := &Socket{set: s, key: key, ln: ln, turn: make(chan struct{}, 1), done: make(chan struct{})}
	sock.turn <- struct{}{}
	return sock
}

// accept waits for the next connection for v: from the queue, or from the
// kernel while v holds the turn. It returns nil when v closed or the
// socket stopped.
func (sock *Socket) accept(v *View) *Conn {
	for {
		// First without waiting: a select picks among ready cases at
		// random, and a closed view must not take the turn and wait in
		// Accept for nothing.
		select {
		case <-v.closed:
			return nil
		case <-sock.done:
			return nil
		default:
		}
		select {
		case <-v.closed:
			return nil
		case <-sock.done:
			return nil
		case <-sock.turn:
		}
		// The queue is read after the turn is taken and the listener's
		// deadline cleared: a connection queued later moves the deadline
		// into the past again, and Accept returns at once.
		if c := sock.pop(); c != nil {
			sock.turn <- struct{}{}
			return c
		}
		nc, err := sock.ln.Accept()
		woken := isTimeout(err)
		if woken {
			_ = sock.ln.SetDeadline(time.Time{}) // see the queue
		}
		sock.turn <- struct{}{}
		switch {
		case err == nil:
			c := sock.wrap(nc)
			select {
			case <-v.closed: // closed meanwhile: another view serves it
				sock.deliver(c)
				return nil
			default:
				return c
			}
		case errors.Is(err, net.ErrClosed):
			sock.close()
		case !woken:
			// Out of descriptors or a connection reset before it was
			// accepted: try again shortly rather than stop listening.
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// wake makes a view blocked in the listener's Accept look at the queue
// and its own state.
func (sock *Socket) wake() { _ = sock.ln.SetDeadline(aLongTimeAgo) }

func (sock *Socket) pop() *Conn {
	sock.mu.Lock()
	defer sock.mu.Unlock()
	if len(sock.queue) == 0 {
		return nil
	}
	c := sock.queue[0]
	sock.queue[0] = nil
	sock.queue = sock.queue[1:]
	if len(sock.queue) == 0 {
		sock.queue = nil
	}
	return c
}

// close stops the socket accepting (its listener is closed): the views
// return, and queued connections are closed, which hands them over
// during a hand-over.
func (sock *Socket) close() {
	sock.stop.Do(func() {
		sock.mu.Lock()
		sock.stopped = true
		queued := sock.queue
		sock.queue = nil
		sock.mu.Unlock()
		close(sock.done)
		for _, c := range queued {
			c.Close()
		}
	})
}

// inject serves c, handed over by the old process, as if accepted here.
func (sock *Socket) inject(c net.Conn) bool {
	select {
	case <-sock.done:
		return false
	default:
	}
	return sock.deliver(sock.wrap(c))
}

// deliver queues c for the socket's views, or closes it if the socket
// stopped.
func (sock *Socket) deliver(c *Conn) bool {
	sock.mu.Lock()
	if sock.stopped {
		sock.mu.Unlock()
		c.Close()
		return false
	}
	sock.queue = append(sock.queue, c)
	sock.mu.Unlock()
	sock.wake()
	return true
}

func (sock *Socket) wrap(c net.Conn) *Conn {
	w := &Conn{Conn: c, sock: sock}
	if tc, ok := c.(*net.TCPConn); ok {
		// The server moves the deadlines at every request; armed lazily,
		// most moves cost nothing (package deadline).
		w.tcp, w.Conn = tc, deadline.New(tc)
	}
	w.state.Store(stateUnknown)
	w.idleSince.Store(sock.set.epoch.Load())
	sock.set.track(w)
	return w
}

// View is a net.Listener on a Socket. Closing it stops it accepting;
// the socket closes with its last view.
type View struct {
	sock   *Socket
	once   sync.Once
	closed chan struct{}
}

// Accept waits for the socket's next connection.
func (v *View) Accept() (net.Conn, error) {
	if c := v.sock.accept(v); c != nil {
		return c, nil
	}
	select {
	case <-v.closed:
	case <-v.sock.done:
		// Stopped by HandOver: the server goes on serving what it has
		// until it closes this view itself.
		<-v.closed
	}
	return nil, net.ErrClosed
}

// Close stops this view; the socket closes with its last view.
func (v *View) Close() error {
	v.once.Do(func() {
		close(v.closed)
		s := v.sock.set
		s.mu.Lock()
		v.sock.views--
		last := v.sock.views == 0
		if last && s.socks[v.sock.key] == v.sock {
			delete(s.socks, v.sock.key)
		}
		s.mu.Unlock()
		if last {
			v.sock.ln.Close()
			v.sock.close()
		} else {
			v.sock.wake() // if this view waits in Accept, it returns
		}
	})
	return nil
}

// Addr returns the socket's bound address.
func (v *View) Addr() net.Addr { return v.sock.ln.Addr() }

// deferAccept makes the kernel hand ln a connection only once its first
// bytes have arrived (TCP_DEFER_ACCEPT; Nginx listen ... deferred,
// HAProxy bind ... defer-accept). Every protocol lb serves has the
// client speak first (HTTP, TLS's hello, the PROXY header), so the first
// read of an accepted connection finds its request instead of failing
// with EAGAIN and parking in the poller: a system call and a scheduler
// round trip less per new connection, and a client that connects and
// stays silent costs nothing here until, after about a second, the
// kernel hands it over anyway (it then meets the listener's timeouts).
// Set after listen, also on an inherited socket.
func deferAccept(ln *net.TCPListener) error {
	rc, err := ln.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_DEFER_ACCEPT, deferSeconds)
	}); err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("TCP_DEFER_ACCEPT: %w", serr)
	}
	return nil
}

// deferSeconds is how long the kernel may hold a silent connection
// before handing it over; the kernel rounds it to SYN-ACK retransmits.
const deferSeconds = 1
