package snapshot

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"

	"lb/config"
)

// upstreamTLS returns the client TLS configuration of a pool whose
// servers speak TLS, or nil. ServerName is left empty when the pool does
// not name one: each connection then uses its server's host.
func upstreamTLS(pc *config.Pool) (*tls.Config, error) {
	t := &pc.TLS
	if !t.Present {
		return nil, nil
	}
	cfg := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         t.ServerName,
		InsecureSkipVerify: t.InsecureSkipVerify,
		NextProtos:         []string{"http/1.1"},
		ClientSessionCache: tls.NewLRUClientSessionCache(256),
	}
	if t.CA != "" {
		pem, err := os.ReadFile(t.CA)
		if err != nil {
			return nil, fmt.Errorf("snapshot: pool %q: tls.ca: %w", pc.Name, err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("snapshot: pool %q: tls.ca: no PEM certificate in %s", pc.Name, t.CA)
		}
	}
	return cfg, nil
}

// clientTLSFor returns cfg for a connection to addr: with the pool's
// server name, or else the address's host (sent as SNI unless it is an
// IP address, and verified either way).
func clientTLSFor(cfg *tls.Config, addr string) *tls.Config {
	if cfg.ServerName != "" {
		return cfg
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	c := cfg.Clone()
	c.ServerName = host
	return c
}

// tlsDial wraps a connection to addr in TLS and completes the handshake
// within the dial's deadline.
func tlsDial(ctx context.Context, c net.Conn, cfg *tls.Config) (net.Conn, error) {
	tc := tls.Client(c, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return tc, nil
}

// sameTLS reports whether two pool TLS configurations connect alike.
func sameTLS(a, b *tls.Config) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.ServerName == b.ServerName && a.InsecureSkipVerify == b.InsecureSkipVerify &&
		(a.RootCAs == nil) == (b.RootCAs == nil) && (a.RootCAs == nil || a.RootCAs.Equal(b.RootCAs))
}
