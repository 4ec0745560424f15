package edge_test

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// tlsOrigin is a fasthttp server over TLS that records the SNI of each
// request's connection.
type tlsOrigin struct {
	addr string
	mu   sync.Mutex
	snis []string
}

func startTLSOrigin(t *testing.T, certFile, keyFile string) *tlsOrigin {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := &tlsOrigin{addr: ln.Addr().String()}
	srv := &fasthttp.Server{Logger: quiet{}, Handler: func(ctx *fasthttp.RequestCtx) {
		o.mu.Lock()
		o.snis = append(o.snis, ctx.TLSConnectionState().ServerName)
		o.mu.Unlock()
		ctx.WriteString("over tls")
	}}
	go srv.Serve(tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}})) //nolint:errcheck
	t.Cleanup(func() { _ = srv.Shutdown() })
	return o
}

func (o *tlsOrigin) lastSNI() (string, int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.snis) == 0 {
		return "", 0
	}
	return o.snis[len(o.snis)-1], len(o.snis)
}

// TestUpstreamTLS: a pool with a tls block reaches its servers over TLS,
// verifying them against its CA and sending the configured name as SNI
// (or none for an IP address, verified as one); health checks probe over
// TLS too; a server whose certificate the CA did not sign gets no request
// (502).
func TestUpstreamTLS(t *testing.T) {
	ca := newCA(t)
	dir := t.TempDir()
	certFile, keyFile := ca.issue(t, dir, "backend", "backend.internal")
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, ca.pem, 0o644); err != nil {
		t.Fatal(err)
	}
	o := startTLSOrigin(t, certFile, keyFile)  // probed by health checks
	o2 := startTLSOrigin(t, certFile, keyFile) // not probed
	other := newCA(t)
	otherCA := filepath.Join(dir, "other.pem")
	os.WriteFile(otherCA, other.pem, 0o644)

	p := startLB(t, fmt.Sprintf(`listeners: [{address: 127.0.0.1:0}]
log: {level: error, access: {enabled: false}}
admin: {address: 127.0.0.1:0}
routes:
  - {match: {path_prefix: /named/}, pool: named}
  - {match: {path_prefix: /ip/}, pool: ip}
  - {match: {path_prefix: /wrong/}, pool: wrong}
pools:
  named:
    tls: {ca: %s, server_name: backend.internal}
    health_check: {interval: 1s, timeout: 1s, rise: 1, fall: 1}
    servers: [{address: %s}]
  ip:
    tls: {ca: %s}
    servers: [{address: %s}]
  wrong:
    tls: {ca: %s}
    retries: {attempts: 1}
    passive: {max_fails: 0}
    servers: [{address: %s}]
`, caFile, o.addr, caFile, o2.addr, otherCA, o2.addr))
	addr := p.Addrs()[0].String()

	// With fall 1, a failing probe would take the server down (503): the
	// first check (within an interval) must pass, and requests after it
	// show the server still up. The timeout is generous: a slow TLS
	// handshake in a -race binary must not count as a failed probe.
	waitTLSCheck(t, p.AdminAddr().String(), "named", o.addr)
	for _, tc := range []struct {
		path    string
		origin  *tlsOrigin
		status  int
		wantSNI string
	}{
		{"/named/x", o, 200, "backend.internal"},
		{"/ip/x", o2, 200, ""},
		{"/wrong/x", o2, 502, ""},
	} {
		_, before := tc.origin.lastSNI()
		statuses, _ := exchangeN(t, addr, []string{"GET " + tc.path + " HTTP/1.1\r\nHost: a\r\n\r\n"}, nil, 1, false, 100*time.Millisecond)
		if len(statuses) != 1 || statuses[0] != tc.status {
			t.Fatalf("GET %s: statuses %v, want [%d]", tc.path, statuses, tc.status)
		}
		sni, n := tc.origin.lastSNI()
		if tc.status != 200 {
			continue
		}
		if n == before {
			t.Fatalf("GET %s: the origin saw no request", tc.path)
		}
		if sni != tc.wantSNI {
			t.Errorf("GET %s: SNI %q, want %q", tc.path, sni, tc.wantSNI)
		}
	}
}

// waitTLSCheck waits, up to 10 s, for the first health check of server
// addr of pool to finish, and fails unless it passed.
func waitTLSCheck(t *testing.T, admin, pool, addr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, body, err := fasthttp.GetTimeout(nil, "http://"+admin+"/api/status", 5*time.Second)
		if err != nil || code != 200 {
			t.Fatalf("GET /api/status: %d, %v", code, err)
		}
		var st struct {
			Pools []struct {
				Name    string `json:"name"`
				Servers []struct {
					Address   string `json:"address"`
					LastCheck *struct {
						OK     bool   `json:"ok"`
						Reason string `json:"reason"`
					} `json:"last_check"`
				} `json:"servers"`
			} `json:"pools"`
		}
		if err := json.Unmarshal(body, &st); err != nil {
			t.Fatalf("GET /api/status: %v in %s", err, body)
		}
		for _, p := range st.Pools {
			for _, s := range p.Servers {
				if p.Name != pool || s.Address != addr || s.LastCheck == nil {
					continue
				}
				if !s.LastCheck.OK {
					t.Fatalf("health check of %s over TLS failed: %s", addr, s.LastCheck.Reason)
				}
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no health check of %s within 10s: %s", addr, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
