package edge

import (
	"net"
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
	held     []byte // bytes from the refused request on, kept for a switch
	err      error  // the refusal, once returned
	switched bool   // protocol switched: bytes pass unchecked
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
	n, err := c.Conn.Read(p)
	m, serr := c.scan.Scan(p[:n])
	if serr == nil {
		return n, err
	}
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

// SwitchProtocols turns the checks off for the rest of the connection:
// after a 101 the bytes are a tunnel's, not HTTP requests. Bytes held
// back at a refusal (a client may send tunnel bytes right after its
// Upgrade request) are delivered first. It must be called by the
// connection's reader goroutine or before another goroutine takes over
// reading (fasthttp's Hijack).
func (c *Conn) SwitchProtocols() {
	c.switched, c.err = true, nil
}

// Listener wraps accepted connections in Conn.
type Listener struct {
	net.Listener
	Limits Limits
}

// Accept waits for the next connection and wraps it.
func (l *Listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return NewConn(c, l.Limits), nil
}
