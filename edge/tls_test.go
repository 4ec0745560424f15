package edge_test

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"lb/process"
)

// testCA issues certificates for tests, made at run time.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
	pool *x509.CertPool
}

func newCA(t *testing.T) *testCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "lb test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pool: pool}
}

var serial int64 = 100

// issue writes a certificate for names (its CN the first) and its key
// into dir as NAME.crt and NAME.key, and returns their paths.
func (ca *testCA) issue(t *testing.T, dir, file string, names ...string) (certPath, keyPath string) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: names[0]},
		DNSNames:     names,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	certPath, keyPath = filepath.Join(dir, file+".crt"), filepath.Join(dir, file+".key")
	// Written next to the final paths and renamed, as certificate tools
	// do, so that a reload never reads half a file.
	for _, f := range []struct {
		path string
		data []byte
	}{
		{keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})},
		{certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})},
	} {
		if err := os.WriteFile(f.path+".tmp", f.data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(f.path+".tmp", f.path); err != nil {
			t.Fatal(err)
		}
	}
	return certPath, keyPath
}

// tlsSetup is an lb with one TLS listener (three certificates: default,
// exact and wildcard) and one plain listener redirecting to it.
type tlsSetup struct {
	p        *process.Process
	ca       *testCA
	dir      string
	addr     string // the TLS listener
	redirect string // the plain listener
	origin   *rawOrigin
}

func startTLS(t *testing.T, watch string) *tlsSetup {
	t.Helper()
	ca := newCA(t)
	dir := t.TempDir()
	dc, dk := ca.issue(t, dir, "default", "default.test")
	ec, ek := ca.issue(t, dir, "exact", "a.example.com")
	wc, wk := ca.issue(t, dir, "wild", "*.example.com")
	o := startRawOrigin(t)
	p := startLB(t, fmt.Sprintf(`listeners:
  - address: 127.0.0.1:0
    tls:
      certificates:
        - {cert: %s, key: %s}
        - {cert: %s, key: %s}
        - {cert: %s, key: %s}
      hsts: "max-age=63072000"
      watch_interval: %s
  - address: 127.0.0.2:0 # not 127.0.0.1:0: upgrade.Set shares sockets by address
    redirect_https: true
    https_port: 8443
log: {level: error, access: {enabled: false}}
routes: [{pool: web}]
pools:
  web:
    servers: [{address: %s}]
`, dc, dk, ec, ek, wc, wk, watch, o.addr))
	return &tlsSetup{p: p, ca: ca, dir: dir, addr: p.Addrs()[0].String(), redirect: p.Addrs()[1].String(), origin: o}
}

func (s *tlsSetup) dial(t *testing.T, cfg *tls.Config) (*tls.Conn, error) {
	t.Helper()
	if cfg.RootCAs == nil {
		cfg.RootCAs = s.ca.pool
	}
	d := &net.Dialer{Timeout: 5 * time.Second}
	return tls.DialWithDialer(d, "tcp", s.addr, cfg)
}

// TestTLSPicksCertificateBySNI: the exact name wins, then the wildcard,
// then the first certificate; ALPN settles on http/1.1; TLS 1.1 is
// refused; requests arrive with X-Forwarded-Proto: https and answers
// carry HSTS.
func TestTLSPicksCertificateBySNI(t *testing.T) {
	s := startTLS(t, "100ms")
	for _, tc := range []struct{ sni, wantCN string }{
		{"a.example.com", "a.example.com"},
		{"b.example.com", "*.example.com"},
		{"A.Example.COM", "a.example.com"},
		{"other.test", "default.test"},
		{"", "default.test"},
	} {
		c, err := s.dial(t, &tls.Config{ServerName: tc.sni, InsecureSkipVerify: true, NextProtos: []string{"h2", "http/1.1"}})
		if err != nil {
			t.Fatalf("SNI %q: %v", tc.sni, err)
		}
		st := c.ConnectionState()
		if cn := st.PeerCertificates[0].Subject.CommonName; cn != tc.wantCN {
			t.Errorf("SNI %q: certificate %q, want %q", tc.sni, cn, tc.wantCN)
		}
		if st.NegotiatedProtocol != "http/1.1" {
			t.Errorf("SNI %q: ALPN %q, want http/1.1", tc.sni, st.NegotiatedProtocol)
		}
		if st.Version < tls.VersionTLS12 {
			t.Errorf("SNI %q: version %x", tc.sni, st.Version)
		}
		c.Close()
	}

	// TLS 1.1 is refused.
	if c, err := s.dial(t, &tls.Config{ServerName: "a.example.com", MaxVersion: tls.VersionTLS11}); err == nil {
		c.Close()
		t.Fatal("TLS 1.1 handshake succeeded, want refused")
	}
	// TLS 1.2 with a CBC-only suite list is refused: AEAD suites only.
	if c, err := s.dial(t, &tls.Config{ServerName: "a.example.com", MaxVersion: tls.VersionTLS12,
		CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}}); err == nil {
		c.Close()
		t.Fatal("CBC suite accepted, want refused")
	}

	// A request over TLS: verified chain, X-Forwarded-Proto https, HSTS.
	c, err := s.dial(t, &tls.Config{ServerName: "a.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET /x HTTP/1.1\r\nHost: a.example.com\r\n\r\n")
	resp := readResponse(t, c, bufio.NewReader(c))
	if resp.StatusCode() != 200 {
		t.Fatalf("status %d", resp.StatusCode())
	}
	if got := string(resp.Header.Peek("Strict-Transport-Security")); got != "max-age=63072000" {
		t.Errorf("Strict-Transport-Security %q, want max-age=63072000", got)
	}
	got, _ := s.origin.take()
	if !strings.Contains(got, "\r\nX-Forwarded-Proto: https\r\n") {
		t.Errorf("origin received %q, want X-Forwarded-Proto: https", got)
	}
}

// TestTLSWithCurl: curl --resolve, verifying against the test CA, gets
// the certificate of each name.
func TestTLSWithCurl(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("curl not installed")
		}
		t.Skip("curl not installed")
	}
	s := startTLS(t, "100ms")
	caFile := filepath.Join(s.dir, "ca.pem")
	os.WriteFile(caFile, s.ca.pem, 0o644)
	_, port, _ := net.SplitHostPort(s.addr)
	for _, name := range []string{"a.example.com", "b.example.com", "default.test"} {
		out, err := exec.Command(curl, "-sS", "-v", "--cacert", caFile, "--resolve", name+":"+port+":127.0.0.1",
			"https://"+name+":"+port+"/").CombinedOutput()
		if err != nil {
			t.Fatalf("curl %s: %v\n%s", name, err, out)
		}
		wantCN := name
		if name == "b.example.com" {
			wantCN = "*.example.com"
		}
		if !strings.Contains(string(out), "subject: CN="+wantCN) || !strings.Contains(string(out), "< HTTP/1.1 200") {
			t.Errorf("curl %s: want CN=%s and 200 in\n%s", name, wantCN, out)
		}
	}
}

// TestTLSCertificateReload: a certificate replaced on disk is served to
// new connections (file watch, then SIGHUP's path, Reload), while a
// connection opened before keeps working with the certificate it got.
func TestTLSCertificateReload(t *testing.T) {
	s := startTLS(t, "100ms")
	old, err := s.dial(t, &tls.Config{ServerName: "a.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	oldBR := bufio.NewReader(old)
	io.WriteString(old, "GET / HTTP/1.1\r\nHost: a.example.com\r\n\r\n")
	if resp := readResponse(t, old, oldBR); resp.StatusCode() != 200 {
		t.Fatalf("status %d", resp.StatusCode())
	}
	oldSerial := old.ConnectionState().PeerCertificates[0].SerialNumber

	s.ca.issue(t, s.dir, "exact", "a.example.com", "new.example.com")
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := s.dial(t, &tls.Config{ServerName: "a.example.com"})
		if err != nil {
			t.Fatal(err)
		}
		serial := c.ConnectionState().PeerCertificates[0].SerialNumber
		c.Close()
		if serial.Cmp(oldSerial) != 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("new connections still get the old certificate 5s after the swap")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The new certificate's extra name is served exactly now.
	c, err := s.dial(t, &tls.Config{ServerName: "new.example.com"})
	if err != nil {
		t.Fatalf("new name: %v", err)
	}
	c.Close()

	// The old connection is still open and still on its certificate.
	io.WriteString(old, "GET /again HTTP/1.1\r\nHost: a.example.com\r\n\r\n")
	if resp := readResponse(t, old, oldBR); resp.StatusCode() != 200 {
		t.Fatalf("old connection after reload: status %d", resp.StatusCode())
	}
	if old.ConnectionState().PeerCertificates[0].SerialNumber.Cmp(oldSerial) != 0 {
		t.Fatal("old connection's certificate changed")
	}
}

// TestTLSSessionResumption: a second connection resumes the session with
// a ticket from the first.
func TestTLSSessionResumption(t *testing.T) {
	s := startTLS(t, "100ms")
	cache := tls.NewLRUClientSessionCache(4)
	for i, wantResumed := range []bool{false, true} {
		c, err := s.dial(t, &tls.Config{ServerName: "a.example.com", ClientSessionCache: cache})
		if err != nil {
			t.Fatal(err)
		}
		// TLS 1.3 tickets arrive after the handshake: read a response.
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: a.example.com\r\n\r\n")
		readResponse(t, c, bufio.NewReader(c))
		if got := c.ConnectionState().DidResume; got != wantResumed {
			t.Errorf("connection %d: resumed %v, want %v", i+1, got, wantResumed)
		}
		c.Close()
	}
}

// TestRedirectHTTPS: the plain listener answers 308 to the same path and
// query on https, with the configured port; nothing reaches the origin.
func TestRedirectHTTPS(t *testing.T) {
	s := startTLS(t, "100ms")
	c := dial(t, s.redirect)
	io.WriteString(c, "POST /a/b?q=1 HTTP/1.1\r\nHost: shop.example.com:8080\r\nContent-Length: 0\r\n\r\n")
	resp := readResponse(t, c, bufio.NewReader(c))
	if resp.StatusCode() != fasthttp.StatusPermanentRedirect {
		t.Fatalf("status %d, want 308", resp.StatusCode())
	}
	if loc := string(resp.Header.Peek("Location")); loc != "https://shop.example.com:8443/a/b?q=1" {
		t.Fatalf("Location %q", loc)
	}
	if _, n := s.origin.take(); n != 0 {
		t.Fatalf("origin read %d requests", n)
	}
}

// TestTLSCertificateReloadOnSIGHUP: with file watching too slow to
// matter, a reload (what SIGHUP runs) serves the new certificate.
func TestTLSCertificateReloadOnSIGHUP(t *testing.T) {
	s := startTLS(t, "1h")
	serial := func() *big.Int {
		c, err := s.dial(t, &tls.Config{ServerName: "a.example.com"})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].SerialNumber
	}
	before := serial()
	s.ca.issue(t, s.dir, "exact", "a.example.com")
	if serial().Cmp(before) != 0 {
		t.Fatal("certificate changed before the reload")
	}
	if err := s.p.Reload(); err != nil {
		t.Fatal(err)
	}
	if serial().Cmp(before) == 0 {
		t.Fatal("old certificate served after the reload")
	}
}

// TestTLSMaxConnsPerIP: over max_conns_per_ip on a TLS listener, the
// refused connection completes its handshake and reads its 429 over TLS
// (Nginx limit_conn answers after the handshake too), then a clean close.
func TestTLSMaxConnsPerIP(t *testing.T) {
	ca := newCA(t)
	dir := t.TempDir()
	cert, key := ca.issue(t, dir, "a", "a.test")
	o := startRawOrigin(t)
	p := startLB(t, fmt.Sprintf(`listeners:
  - address: 127.0.0.1:0
    max_conns_per_ip: 1
    tls:
      certificates: [{cert: %s, key: %s}]
log: {level: error, access: {enabled: false}}
routes: [{pool: web}]
pools:
  web:
    servers: [{address: %s}]
`, cert, key, o.addr))
	dial := func() (*tls.Conn, *bufio.Reader) {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", p.Addrs()[0].String(),
			&tls.Config{RootCAs: ca.pool, ServerName: "a.test"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: a.test\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		return c, bufio.NewReader(c)
	}
	status := func(br *bufio.Reader) int {
		var resp fasthttp.Response
		if err := resp.Read(br); err != nil {
			t.Fatalf("reading the answer: %v", err)
		}
		return resp.StatusCode()
	}
	_, br1 := dial()
	if s := status(br1); s != 200 {
		t.Fatalf("first connection: status %d, want 200", s)
	}
	_, br2 := dial()
	if s := status(br2); s != 429 {
		t.Fatalf("second connection: status %d, want 429", s)
	}
	if _, err := br2.ReadByte(); err != io.EOF {
		t.Fatalf("second connection after the answer: %v, want EOF", err)
	}
}
