package edge

import (
	"crypto/tls"
	"net"

	"github.com/pires/go-proxyproto"
	"go.uber.org/zap"

	"lb/config"
	"lb/tlsconf"
)

// Option changes what Wrap builds.
type Option func(*wrapOptions)

type wrapOptions struct{ log *zap.Logger }

// WithLog gives the listener lb's error log (certificate reloads).
func WithLog(l *zap.Logger) Option { return func(o *wrapOptions) { o.log = l } }

// Wrap returns the listener lb serves for lc: TLS terminated when lc has a
// tls block (certificates watched for changes until the listener
// closes), connections per client address bounded, and every request's
// framing checked within lc's limits. On error ln is closed.
func Wrap(ln net.Listener, lc config.Listener, opts ...Option) (net.Listener, error) {
	var o wrapOptions
	for _, opt := range opts {
		opt(&o)
	}
	if lc.ProxyProtocol {
		// The header is read on the connection's first read, not in
		// Accept, within header_timeout; a connection without one fails.
		ln = &proxyproto.Listener{
			Listener:          ln,
			ReadHeaderTimeout: lc.HeaderTimeout,
			ConnPolicy:        func(proxyproto.ConnPolicyOptions) (proxyproto.Policy, error) { return proxyproto.REQUIRE, nil },
		}
	}
	l := &Listener{Listener: ln, Limits: LimitsOf(lc), MaxConnsPerIP: lc.MaxConnsPerIP, lazyAddr: lc.ProxyProtocol}
	if lc.TLS.Present {
		certs, err := tlsconf.Load(lc.TLS.Certificates, o.log)
		if err != nil {
			ln.Close()
			return nil, err
		}
		l.certs = certs
		l.tls = tlsconf.Config(lc.TLS, certs)
		l.stop = make(chan struct{})
		tlsconf.RotateTickets(l.tls, lc.TLS.SessionTicketRotation, l.stop)
		go certs.Watch(lc.TLS.WatchInterval, l.stop)
	}
	return l, nil
}

// LimitsOf returns the Scanner limits of a listener.
func LimitsOf(lc config.Listener) Limits {
	return Limits{MaxHeaderBytes: int(lc.MaxHeaderBytes), MaxURIBytes: int(lc.MaxURIBytes)}
}

// tlsConn is a checked connection over TLS. fasthttp recognises TLS by
// these two methods (ctx.IsTLS, so X-Forwarded-Proto: https).
type tlsConn struct {
	*Conn
	tc *tls.Conn
}

func (c *tlsConn) Handshake() error                     { return c.tc.Handshake() }
func (c *tlsConn) ConnectionState() tls.ConnectionState { return c.tc.ConnectionState() }

// ReloadCertificates reads a TLS listener's certificate files again (on
// SIGHUP); connections keep the certificate they began with. It does
// nothing on a plain listener.
func (l *Listener) ReloadCertificates() error {
	if l.certs == nil {
		return nil
	}
	return l.certs.Reload()
}

// Close stops accepting and the listener's timers.
func (l *Listener) Close() error {
	l.closeOnce.Do(func() {
		if l.stop != nil {
			close(l.stop)
		}
	})
	return l.Listener.Close()
}
