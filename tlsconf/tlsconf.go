// Package tlsconf builds the TLS side of a listener: certificates chosen
// by SNI (exact name, then wildcard, then the first as default), reloaded
// without dropping connections, TLS 1.2 or newer with forward-secret AEAD
// suites only, ALPN http/1.1, and session ticket keys rotated on a timer.
package tlsconf

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"lb/config"
)

// suites are the TLS 1.2 cipher suites offered: ECDHE key exchange with
// AES-GCM or ChaCha20-Poly1305 (Mozilla's "intermediate" list; TLS 1.3
// suites are not configurable and all modern).
var suites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// certSet is one loaded generation of a listener's certificates.
type certSet struct {
	exact    map[string]*tls.Certificate // lower-case DNS name
	wildcard map[string]*tls.Certificate // "example.com" for "*.example.com"
	def      *tls.Certificate
	stamp    string // file sizes and times when read
}

// Certs holds a listener's certificates and serves them by SNI. A reload
// swaps the whole set with one atomic store: handshakes in progress and
// open connections keep what they had. Safe for concurrent use.
type Certs struct {
	files []config.TLSCertificate
	set   atomic.Pointer[certSet]
	log   *zap.Logger
	mu    sync.Mutex // serialises Reload
}

// Load reads files (the first is the default certificate).
func Load(files []config.TLSCertificate, log *zap.Logger) (*Certs, error) {
	if log == nil {
		log = zap.NewNop()
	}
	c := &Certs{files: files, log: log}
	if err := c.Reload(); err != nil {
		return nil, err
	}
	return c, nil
}

// Reload reads the files again. On error the certificates in use stay.
func (c *Certs) Reload() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, err := load(c.files)
	if err != nil {
		return err
	}
	c.set.Store(s)
	return nil
}

// load reads every pair and indexes it by the leaf's DNS names.
func load(files []config.TLSCertificate) (*certSet, error) {
	if len(files) == 0 {
		return nil, errors.New("tlsconf: no certificate")
	}
	s := &certSet{exact: map[string]*tls.Certificate{}, wildcard: map[string]*tls.Certificate{}, stamp: stamp(files)}
	for _, f := range files {
		pair, err := tls.LoadX509KeyPair(f.Cert, f.Key)
		if err != nil {
			return nil, fmt.Errorf("tlsconf: %s: %w", f.Cert, err)
		}
		leaf, err := x509.ParseCertificate(pair.Certificate[0])
		if err != nil {
			return nil, fmt.Errorf("tlsconf: %s: %w", f.Cert, err)
		}
		pair.Leaf = leaf
		cert := &pair
		if s.def == nil {
			s.def = cert
		}
		names := leaf.DNSNames
		if len(names) == 0 && leaf.Subject.CommonName != "" {
			names = []string{leaf.Subject.CommonName}
		}
		for _, n := range names {
			n = strings.ToLower(n)
			if rest, ok := strings.CutPrefix(n, "*."); ok {
				if s.wildcard[rest] == nil {
					s.wildcard[rest] = cert
				}
			} else if s.exact[n] == nil {
				s.exact[n] = cert // the first file naming it wins
			}
		}
	}
	return s, nil
}

// stamp describes the files' sizes and modification times.
func stamp(files []config.TLSCertificate) string {
	var b bytes.Buffer
	for _, f := range files {
		for _, p := range []string{f.Cert, f.Key} {
			if fi, err := os.Stat(p); err == nil {
				fmt.Fprintf(&b, "%s %d %d;", p, fi.Size(), fi.ModTime().UnixNano())
			} else {
				fmt.Fprintf(&b, "%s missing;", p)
			}
		}
	}
	return b.String()
}

// GetCertificate picks the certificate for a handshake: the exact SNI
// name, else a wildcard one label up, else the default.
func (c *Certs) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	s := c.set.Load()
	name := strings.ToLower(strings.TrimSuffix(hello.ServerName, "."))
	if cert := s.exact[name]; cert != nil {
		return cert, nil
	}
	if _, rest, ok := strings.Cut(name, "."); ok {
		if cert := s.wildcard[rest]; cert != nil {
			return cert, nil
		}
	}
	return s.def, nil
}

// Watch reloads the certificates whenever their files change, checking
// every interval until stop is closed. A change that does not load (a
// key written after its certificate, say) is tried again next time.
func (c *Certs) Watch(interval time.Duration, stop <-chan struct{}) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		if stamp(c.files) == c.set.Load().stamp {
			continue
		}
		if err := c.Reload(); err != nil {
			c.log.Warn("TLS certificates changed but do not load; still serving the previous ones", zap.Error(err))
			continue
		}
		c.log.Info("TLS certificates reloaded", zap.String("cert", c.files[0].Cert))
	}
}

// Config returns the server TLS configuration of a listener serving
// certs: minimum version, AEAD suites, ALPN http/1.1 and certificates by
// SNI. Session tickets are on; RotateTickets replaces their keys.
func Config(tc config.TLS, certs *Certs) *tls.Config {
	minVersion := uint16(tls.VersionTLS12)
	if tc.MinVersion == "1.3" {
		minVersion = tls.VersionTLS13
	}
	return &tls.Config{
		MinVersion:     minVersion,
		CipherSuites:   suites,
		NextProtos:     []string{"http/1.1"},
		GetCertificate: certs.GetCertificate,
	}
}

// ticketKeys is how many session ticket keys are kept: the newest
// encrypts, all of them decrypt.
const ticketKeys = 3

// RotateTickets gives cfg a fresh session ticket key now and every
// interval until stop is closed, keeping the previous ones for resumption
// (a ticket lives at most ticketKeys intervals).
func RotateTickets(cfg *tls.Config, interval time.Duration, stop <-chan struct{}) {
	var keys [][32]byte
	rotate := func() {
		var k [32]byte
		if _, err := rand.Read(k[:]); err != nil {
			return // crypto/rand does not fail on Linux; keep the old keys
		}
		keys = append([][32]byte{k}, keys...)
		if len(keys) > ticketKeys {
			keys = keys[:ticketKeys]
		}
		cfg.SetSessionTicketKeys(keys)
	}
	rotate()
	go func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				rotate()
			}
		}
	}()
}
