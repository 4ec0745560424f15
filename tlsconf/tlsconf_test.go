package tlsconf

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"lb/config"
)

// selfSigned writes a self-signed certificate for names into dir.
func selfSigned(t *testing.T, dir, file string, names ...string) config.TLSCertificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: names[0]},
		DNSNames:     names,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	c := config.TLSCertificate{Cert: filepath.Join(dir, file+".crt"), Key: filepath.Join(dir, file+".key")}
	os.WriteFile(c.Cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(c.Key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	return c
}

func TestGetCertificate(t *testing.T) {
	dir := t.TempDir()
	certs, err := Load([]config.TLSCertificate{
		selfSigned(t, dir, "default", "default.test"),
		selfSigned(t, dir, "wild", "*.example.com", "example.com"),
		selfSigned(t, dir, "exact", "a.example.com"),
		selfSigned(t, dir, "shadowed", "a.example.com"),
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ sni, want string }{
		{"a.example.com", "a.example.com"},
		{"a.example.com.", "a.example.com"},
		{"B.example.com", "*.example.com"},
		{"example.com", "*.example.com"},
		{"x.y.example.com", "default.test"}, // a wildcard covers one label
		{"", "default.test"},
		{"unknown", "default.test"},
	} {
		c, _ := certs.GetCertificate(&tls.ClientHelloInfo{ServerName: tc.sni})
		if got := c.Leaf.Subject.CommonName; got != tc.want {
			t.Errorf("GetCertificate(%q) = %q, want %q", tc.sni, got, tc.want)
		}
	}
}

func TestReloadKeepsCertificatesOnError(t *testing.T) {
	dir := t.TempDir()
	c := selfSigned(t, dir, "a", "a.test")
	certs, err := Load([]config.TLSCertificate{c}, nil)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(c.Key, []byte("not a key"), 0o600)
	if err := certs.Reload(); err == nil {
		t.Fatal("Reload with a broken key succeeded")
	}
	if got, _ := certs.GetCertificate(&tls.ClientHelloInfo{ServerName: "a.test"}); got == nil || got.Leaf.Subject.CommonName != "a.test" {
		t.Fatal("certificate lost after a failed reload")
	}
}

func TestRotateTickets(t *testing.T) {
	cfg := &tls.Config{}
	stop := make(chan struct{})
	defer close(stop)
	RotateTickets(cfg, 10*time.Millisecond, stop)
	time.Sleep(50 * time.Millisecond) // rotates several times; -race checks the lock use
}
