package snapshot

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"syscall"
	"testing"
	"time"

	"lb/deadline"
	"lb/metrics"
)

// loopbackDial returns a dial function for serverConn to a loopback
// listener, and the server side of each connection it makes, in order.
func loopbackDial(t testing.TB) (func() (net.Conn, syscall.RawConn, error), <-chan net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		for {
			select {
			case c := <-accepted:
				c.Close()
			default:
				return
			}
		}
	})
	return func() (net.Conn, syscall.RawConn, error) {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			return nil, nil, err
		}
		rc, err := c.(*net.TCPConn).SyscallConn()
		if err != nil {
			return nil, nil, err
		}
		return deadline.New(c), rc, nil
	}, accepted
}

// tlsLoopbackDial is loopbackDial under TLS (1.3, whose server sends
// session tickets after the handshake); the server side of each
// connection is a *tls.Conn, its handshake done.
func tlsLoopbackDial(t *testing.T) (func() (net.Conn, syscall.RawConn, error), <-chan net.Conn) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "server"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	srvCfg := &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	plain, accepted := loopbackDial(t)
	tlsAccepted := make(chan net.Conn, 16)
	go func() {
		for c := range accepted {
			tc := tls.Server(c, srvCfg)
			if tc.Handshake() == nil {
				tlsAccepted <- tc
			}
		}
	}()
	return func() (net.Conn, syscall.RawConn, error) {
		nc, raw, err := plain()
		if err != nil {
			return nil, nil, err
		}
		tc := tls.Client(nc, &tls.Config{InsecureSkipVerify: true})
		if err := tc.Handshake(); err != nil {
			return nil, nil, err
		}
		return tc, raw, nil
	}, tlsAccepted
}

func exchange(t *testing.T, c *serverConn, srv net.Conn, req, resp string) {
	t.Helper()
	if _, err := c.Write([]byte(req)); err != nil {
		t.Fatalf("write: %v", err)
	}
	got := make([]byte, len(req))
	if _, err := io.ReadFull(srv, got); err != nil || string(got) != req {
		t.Fatalf("server read %q, %v", got, err)
	}
	if _, err := srv.Write([]byte(resp)); err != nil {
		t.Fatal(err)
	}
	got = make([]byte, len(resp))
	if _, err := io.ReadFull(c, got); err != nil || string(got) != resp {
		t.Fatalf("read %q, %v; want %q", got, err, resp)
	}
}

func next(t *testing.T, accepted <-chan net.Conn) net.Conn {
	t.Helper()
	select {
	case c := <-accepted:
		t.Cleanup(func() { c.Close() })
		return c
	case <-time.After(5 * time.Second):
		t.Fatal("no connection")
		return nil
	}
}

func TestServerConnKeepsACleanConnection(t *testing.T) {
	dial, accepted := loopbackDial(t)
	var stats metrics.ServerStats
	c, err := newServerConn(dial, time.Minute, &stats)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	srv := next(t, accepted)
	for range 3 {
		exchange(t, c, srv, "request", "answer")
	}
	select {
	case <-accepted:
		t.Fatal("a clean connection was replaced")
	case <-time.After(50 * time.Millisecond):
	}
	if n := stats.Discarded[metrics.DiscardUnsolicited].Load() + stats.Discarded[metrics.DiscardClosed].Load(); n != 0 {
		t.Fatalf("%d discarded", n)
	}
}

func TestServerConnReplacesAMisusedConnection(t *testing.T) {
	for _, tc := range []struct {
		name   string
		misuse func(net.Conn)
		reason int
	}{
		{"unsolicited bytes", func(c net.Conn) { _, _ = c.Write([]byte("HTTP/1.1 200 OK\r\n")) }, metrics.DiscardUnsolicited},
		{"closed", func(c net.Conn) { c.Close() }, metrics.DiscardClosed},
		{"reset", func(c net.Conn) { _ = c.(*net.TCPConn).SetLinger(0); c.Close() }, metrics.DiscardClosed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dial, accepted := loopbackDial(t)
			var stats metrics.ServerStats
			c, err := newServerConn(dial, time.Minute, &stats)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			first := next(t, accepted)
			exchange(t, c, first, "one", "answer one")
			tc.misuse(first)
			time.Sleep(50 * time.Millisecond) // the bytes or the FIN arrive
			before := c.LocalAddr().String()
			if _, err := c.Write([]byte("two")); err != nil {
				t.Fatalf("write on the replaced connection: %v", err)
			}
			second := next(t, accepted)
			got := make([]byte, 3)
			if _, err := io.ReadFull(second, got); err != nil || string(got) != "two" {
				t.Fatalf("fresh connection got %q, %v", got, err)
			}
			if c.LocalAddr().String() == before {
				t.Fatal("addresses not those of the fresh connection")
			}
			if _, err := second.Write([]byte("answer two")); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 10)
			if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "answer two" {
				t.Fatalf("read %q, %v", buf, err)
			}
			if n := stats.Discarded[tc.reason].Load(); n != 1 {
				t.Fatalf("discarded for %s: %d, want 1", metrics.DiscardNames[tc.reason], n)
			}
		})
	}
}

// TestServerConnUnderTLS: TLS's own messages (session tickets) waiting
// on a pooled connection leave it in use; data the server sent unasked,
// or its close_notify, replace it.
func TestServerConnUnderTLS(t *testing.T) {
	for _, tc := range []struct {
		name     string
		misuse   func(net.Conn)
		replaced bool
		reason   int
	}{
		{"clean", func(net.Conn) {}, false, 0},
		{"unsolicited data", func(c net.Conn) { _, _ = c.Write([]byte("HTTP/1.1 200 OK\r\n")) }, true, metrics.DiscardUnsolicited},
		{"close_notify", func(c net.Conn) { c.Close() }, true, metrics.DiscardClosed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dial, accepted := tlsLoopbackDial(t)
			var stats metrics.ServerStats
			c, err := newServerConn(dial, time.Minute, &stats)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if !c.tls {
				t.Fatal("not seen as TLS")
			}
			first := next(t, accepted)
			for range 2 {
				exchange(t, c, first, "request", "answer")
			}
			tc.misuse(first)
			time.Sleep(50 * time.Millisecond)
			srv := first
			if tc.replaced {
				if _, err := c.Write([]byte("again")); err != nil {
					t.Fatalf("write: %v", err)
				}
				srv = next(t, accepted)
				got := make([]byte, 5)
				if _, err := io.ReadFull(srv, got); err != nil || string(got) != "again" {
					t.Fatalf("fresh connection got %q, %v", got, err)
				}
				if _, err := srv.Write([]byte("fresh")); err != nil {
					t.Fatal(err)
				}
				buf := make([]byte, 5)
				if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "fresh" {
					t.Fatalf("read %q, %v", buf, err)
				}
				if n := stats.Discarded[tc.reason].Load(); n != 1 {
					t.Fatalf("discarded for %s: %d, want 1", metrics.DiscardNames[tc.reason], n)
				}
				return
			}
			// The TLS read finds nothing within its grace (what it
			// does when only TLS's own messages waited) and the
			// connection goes on: the deadline it set is the next
			// read's to move.
			if _, fit := c.readTLS(); !fit {
				t.Fatal("a quiet TLS connection read as unfit")
			}
			exchange(t, c, srv, "request", "answer")
			select {
			case <-accepted:
				t.Fatal("a fit TLS connection was replaced")
			case <-time.After(50 * time.Millisecond):
			}
		})
	}
}

// TestServerConnChecksOnlyBetweenExchanges: bytes that arrive while a
// request is still being written (an early answer, before the body is
// all sent) are not checked for: only the first write after an answer
// was read begins a new exchange; nor on a tunnel, at any time.
func TestServerConnChecksOnlyBetweenExchanges(t *testing.T) {
	dial, accepted := loopbackDial(t)
	var stats metrics.ServerStats
	c, err := newServerConn(dial, time.Minute, &stats)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	srv := next(t, accepted)
	if _, err := c.Write([]byte("head")); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Write([]byte("early answer")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if _, err := c.Write([]byte("body")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 12)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "early answer" {
		t.Fatalf("read %q, %v", buf, err)
	}

	c.Tunnel()
	if _, err := srv.Write([]byte("server first")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if _, err := c.Write([]byte("client")); err != nil {
		t.Fatal(err)
	}
	buf = make([]byte, 12)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "server first" {
		t.Fatalf("tunnel read %q, %v", buf, err)
	}
	select {
	case <-accepted:
		t.Fatal("the connection was replaced")
	case <-time.After(50 * time.Millisecond):
	}
}

// BenchmarkIdleCheck is the check's cost on every reuse of a pooled
// connection: one non-blocking MSG_PEEK receive.
func BenchmarkIdleCheck(b *testing.B) {
	dial, _ := loopbackDial(b)
	var stats metrics.ServerStats
	c, err := newServerConn(dial, time.Minute, &stats)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	b.ReportAllocs()
	for b.Loop() {
		if err := c.checkIdle(); err != nil {
			b.Fatal(err)
		}
	}
}
