package edge

import (
	"crypto/tls"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"lb/tlsconf"
)

// Conn is a client connection whose request framing is checked by a
// Scanner before the bytes reach fasthttp. It is used by one reader at a
// time, as fasthttp's connection goroutine does.
//
// At the first refused request, Read returns the bytes before it (and, if
// it began in the same read, its first byte, so that fasthttp starts a
// request and answers the refusal instead of closing in silence), then
// the refusal as the error of every later Read. fasthttp's ErrorHandler
// receives it wrapped (see StatusOf) and the connection closes.
type Conn struct {
	net.Conn
	scan     Scanner
	held     []byte                 // bytes from the refused request on, kept for a switch
	err      error                  // the refusal, once returned
	switched bool                   // protocol switched: bytes pass unchecked
	release  atomic.Pointer[func()] // taken and called once by Close
	admit    func() *Error          // run at the first Read; nil: admitted
	closed   atomic.Bool
	client   netip.Addr // the client's address, once ClientAddr has read it
	clientOK bool
	// quiet: the client sent whole requests so far and none was refused,
	// or the connection is a tunnel now. False until a read. Atomic:
	// Close may come from another goroutine (a server's shutdown).
	quiet atomic.Bool
}

// ClientAddr returns the address of the connection's client (the one the
// PROXY protocol names, when the listener takes it), read once: asking
// the connection's wrappers for it at every request costs more than the
// rest of a request's address handling. It is called by the goroutine
// serving the connection, once a request has been read.
func (c *Conn) ClientAddr() netip.Addr {
	if !c.clientOK {
		c.client, c.clientOK = addrOf(c.RemoteAddr()), true
	}
	return c.client
}

// releaseSlot gives back the connection's place in its listener's
// per-address count, once.
func (c *Conn) releaseSlot() {
	if r := c.release.Swap(nil); r != nil {
		(*r)()
	}
}

// Close closes the connection and gives back its place in the
// listener's per-address count.
//
// A connection closed while its client may still be sending (its
// request refused, cut short by a limit, or never read at all, as when
// the server is over max_conns) lingers instead (Nginx lingering_close):
// closing over unread bytes would send a reset, which can destroy the
// answer just written before the client reads it, and makes a client
// still uploading fail its write instead of reading the answer. Its
// goroutine half-closes it, reads and drops what comes for lingerTime
// at most, and then closes it.
func (c *Conn) Close() error {
	if !c.closed.CompareAndSwap(false, true) {
		return c.Conn.Close()
	}
	c.releaseSlot()
	if !c.quiet.Load() {
		go linger(c.Conn)
		return nil
	}
	return c.Conn.Close()
}

// lingerTime bounds a lingering close.
const lingerTime = time.Second

// linger half-closes c, drains what its client still sends for
// lingerTime at most, and closes it.
func linger(c net.Conn) {
	defer c.Close()
	cw, ok := c.(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil {
		return
	}
	if c.SetReadDeadline(time.Now().Add(lingerTime)) != nil {
		return
	}
	var buf [4096]byte // Nginx's lingering buffer
	for {
		if _, err := c.Read(buf[:]); err != nil {
			return
		}
	}
}

// NewConn wraps c, checking its requests within limits.
func NewConn(c net.Conn, limits Limits) *Conn {
	return &Conn{Conn: c, scan: Scanner{Limits: limits}}
}

// Read reads from the connection, stopping at the first refused request.
func (c *Conn) Read(p []byte) (int, error) {
	if c.switched {
		if len(c.held) > 0 {
			n := copy(p, c.held)
			c.held = c.held[n:]
			return n, nil
		}
		return c.Conn.Read(p)
	}
	if c.err != nil {
		return 0, c.err
	}
	if c.admit != nil {
		admit := c.admit
		c.admit = nil
		if e := admit(); e != nil {
			c.err = e
			return 0, e
		}
	}
	n, err := c.Conn.Read(p)
	m, serr := c.scan.Scan(p[:n])
	if serr == nil {
		if idle := c.scan.Idle(); idle != c.quiet.Load() {
			c.quiet.Store(idle)
		}
		return n, err
	}
	c.quiet.Store(false)
	c.err = serr
	if c.scan.RefusedHere() && m < n {
		m++ // the refused request's first byte: fasthttp then answers it
	}
	c.held = append([]byte(nil), p[m:n]...)
	if m > 0 {
		return m, nil
	}
	return 0, serr
}

// NetConn returns the wrapped connection (as tls.Conn.NetConn does), so
// that a binary upgrade can find and hand over the socket between two
// requests, when no bytes are held here.
func (c *Conn) NetConn() net.Conn { return c.Conn }

// SwitchProtocols turns the checks off for the rest of the connection:
// after a 101 the bytes are a tunnel's, not HTTP requests. Bytes held
// back at a refusal (a client may send tunnel bytes right after its
// Upgrade request) are delivered first. It must be called by the
// connection's reader goroutine or before another goroutine takes over
// reading (fasthttp's Hijack).
func (c *Conn) SwitchProtocols() {
	c.switched, c.err = true, nil
	c.quiet.Store(true) // a tunnel's close needs no lingering
}

// Listener wraps accepted connections in Conn and bounds the open
// connections of each client address. Its methods are safe for
// concurrent use.
type Listener struct {
	net.Listener
	Limits Limits
	// MaxConnsPerIP bounds the open connections of one client address;
	// 0 means no limit. One over it is answered 429 and closed (Nginx
	// limit_conn, HAProxy src_conn_cur). fasthttp's own MaxConnsPerIP
	// would hide Conn behind a wrapper of its own.
	MaxConnsPerIP int

	mu    sync.Mutex
	perIP map[netip.Addr]int // open connections by client address; guarded by mu

	// TLS, when tls is not nil (set by Wrap).
	tls       *tls.Config
	certs     *tlsconf.Certs
	stop      chan struct{} // closed by Close: ends certificate watching and ticket rotation
	closeOnce sync.Once
	// lazyAddr: connections' client addresses come with their first read
	// (PROXY protocol), not at Accept.
	lazyAddr bool
}

// Accept waits for the next connection within the limits and wraps it.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		var release func()
		if l.MaxConnsPerIP > 0 && !l.lazyAddr {
			ip := addrOf(c.RemoteAddr())
			if !l.acquire(ip) {
				go l.refuse(c, tooManyConns)
				continue
			}
			release = func() { l.releaseIP(ip) }
		}
		var ec *Conn
		var tc *tls.Conn
		if l.tls == nil {
			ec = NewConn(c, l.Limits)
		} else {
			// The handshake runs on the connection's first read, under the
			// server's header timeout.
			tc = tls.Server(c, l.tls)
			ec = NewConn(tc, l.Limits)
		}
		if release != nil {
			ec.release.Store(&release)
		}
		if l.MaxConnsPerIP > 0 && l.lazyAddr {
			// The client's address is known only once the PROXY header
			// is read: counted at the first read, refused with a 429
			// answer there.
			ec.admit = func() *Error {
				ip := addrOf(c.RemoteAddr())
				if !l.acquire(ip) {
					return ErrTooManyConns
				}
				release := func() { l.releaseIP(ip) }
				ec.release.Store(&release)
				if ec.closed.Load() {
					ec.releaseSlot() // closed meanwhile: Close may have missed it
				}
				return nil
			}
		}
		if tc != nil {
			return &tlsConn{Conn: ec, tc: tc}, nil
		}
		return ec, nil
	}
}

func (l *Listener) acquire(ip netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.perIP == nil {
		l.perIP = map[netip.Addr]int{}
	}
	if l.perIP[ip] >= l.MaxConnsPerIP {
		return false
	}
	l.perIP[ip]++
	return true
}

func (l *Listener) releaseIP(ip netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.perIP[ip] <= 1 {
		delete(l.perIP, ip)
	} else {
		l.perIP[ip]--
	}
}

// ConnsOf returns the open connections of ip (for tests and status).
func (l *Listener) ConnsOf(ip netip.Addr) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.perIP[ip]
}

var tooManyConns = []byte("HTTP/1.1 429 Too Many Requests\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 18\r\n\r\nToo Many Requests\n")

// refuse answers a connection that is over a limit and closes it,
// lingering: its request has usually arrived (the listener accepts a
// connection at its first bytes) and stays unread. On a TLS listener the
// answer goes over TLS, after the handshake, as Nginx's limit_conn
// answers after it too.
func (l *Listener) refuse(c net.Conn, answer []byte) {
	_ = c.SetDeadline(time.Now().Add(time.Second)) // the handshake and the answer
	if l.tls != nil {
		tc := tls.Server(c, l.tls)
		if tc.Handshake() != nil {
			_ = c.Close()
			return
		}
		c = tc
	}
	if _, err := c.Write(answer); err != nil {
		_ = c.Close()
		return
	}
	linger(c)
}

func addrOf(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(ta.IP)
		return ip.Unmap()
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}
