package snapshot

import (
	"bytes"
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

// exchange writes req on c, checks the server side reads it, answers
// resp and checks c reads that. srv is the server side, or nil for the
// next connection accepted (one that replaced the first).
func exchange(t *testing.T, c *serverConn, srv net.Conn, accepted <-chan net.Conn, req, resp string) {
	t.Helper()
	if _, err := c.Write([]byte(req)); err != nil {
		t.Fatalf("write: %v", err)
	}
	if srv == nil {
		srv = next(t, accepted)
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

// open dials a serverConn and its server side.
func open(t *testing.T, dial func() (net.Conn, syscall.RawConn, error), accepted <-chan net.Conn) (*serverConn, net.Conn, *metrics.ServerStats) {
	t.Helper()
	stats := new(metrics.ServerStats)
	c, err := newServerConn(dial, time.Minute, stats)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, next(t, accepted), stats
}

// waitWaiting waits until bytes, a FIN or a reset the server sent have
// reached c's socket: what the idle check looks for.
func waitWaiting(t *testing.T, c *serverConn) {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(time.Millisecond) {
		if err := c.raw.Control(c.peekFn); err != nil {
			t.Fatal(err)
		}
		if c.peekN > 0 || c.peekErr != syscall.EAGAIN {
			return
		}
	}
	t.Fatal("nothing from the server reached the connection")
}

// expectReplaced: the next exchange on c goes over a fresh connection,
// and the old one was counted as discarded for reason.
func expectReplaced(t *testing.T, c *serverConn, accepted <-chan net.Conn, stats *metrics.ServerStats, reason int) {
	t.Helper()
	before := c.LocalAddr().String()
	exchange(t, c, nil, accepted, "again", "fresh answer")
	if c.LocalAddr().String() == before {
		t.Fatal("addresses not those of the fresh connection")
	}
	if n := stats.Discarded[reason].Load(); n != 1 {
		t.Fatalf("discarded for %s: %d, want 1", metrics.DiscardNames[reason], n)
	}
}

// expectKept: no connection was opened in place of the first.
func expectKept(t *testing.T, accepted <-chan net.Conn, stats *metrics.ServerStats) {
	t.Helper()
	select {
	case <-accepted:
		t.Fatal("the connection was replaced")
	case <-time.After(50 * time.Millisecond):
	}
	if n := stats.Discarded[metrics.DiscardUnsolicited].Load() + stats.Discarded[metrics.DiscardClosed].Load(); n != 0 {
		t.Fatalf("%d discarded", n)
	}
}

func TestServerConnKeepsACleanConnection(t *testing.T) {
	dial, accepted := loopbackDial(t)
	c, srv, stats := open(t, dial, accepted)
	for range 3 {
		exchange(t, c, srv, nil, "request", "answer")
	}
	expectKept(t, accepted, stats)
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
			c, first, stats := open(t, dial, accepted)
			exchange(t, c, first, nil, "one", "answer one")
			tc.misuse(first)
			waitWaiting(t, c)
			expectReplaced(t, c, accepted, stats, tc.reason)
		})
	}
}

// TestServerConnUnderTLS: data the server sent unasked, or its
// close_notify, replace a TLS connection; a TLS read that finds nothing
// within its grace (what it does when only TLS's own messages, such as
// session tickets, waited) leaves it in use.
func TestServerConnUnderTLS(t *testing.T) {
	for _, tc := range []struct {
		name   string
		misuse func(net.Conn)
		reason int
	}{
		{"unsolicited data", func(c net.Conn) { _, _ = c.Write([]byte("HTTP/1.1 200 OK\r\n")) }, metrics.DiscardUnsolicited},
		{"close_notify", func(c net.Conn) { c.Close() }, metrics.DiscardClosed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dial, accepted := tlsLoopbackDial(t)
			c, first, stats := open(t, dial, accepted)
			if !c.tls {
				t.Fatal("not seen as TLS")
			}
			exchange(t, c, first, nil, "request", "answer")
			tc.misuse(first)
			waitWaiting(t, c)
			expectReplaced(t, c, accepted, stats, tc.reason)
		})
	}
	// A read whose deadline passed before it looked (a stalled goroutine)
	// takes nothing in: what waits must still replace the connection.
	t.Run("unsolicited data after a stall", func(t *testing.T) {
		grace := tlsGrace
		tlsGrace = -time.Second
		t.Cleanup(func() { tlsGrace = grace })
		dial, accepted := tlsLoopbackDial(t)
		c, first, stats := open(t, dial, accepted)
		exchange(t, c, first, nil, "request", "answer")
		_, _ = first.Write([]byte("HTTP/1.1 200 OK\r\n"))
		waitWaiting(t, c)
		expectReplaced(t, c, accepted, stats, metrics.DiscardUnsolicited)
	})
	t.Run("quiet", func(t *testing.T) {
		dial, accepted := tlsLoopbackDial(t)
		c, srv, stats := open(t, dial, accepted)
		exchange(t, c, srv, nil, "request", "answer")
		if _, fit := c.readTLS(); !fit {
			t.Fatal("a quiet TLS connection read as unfit")
		}
		// The deadline readTLS set is the next read's to move.
		exchange(t, c, srv, nil, "request", "answer")
		expectKept(t, accepted, stats)
	})
}

// TestServerConnChecksOnlyBetweenExchanges: bytes that arrive while a
// request is still being written (an early answer, before the body is
// all sent) are not checked for: only the first write after an answer
// was read begins a new exchange; nor on a tunnel, at any time.
func TestServerConnChecksOnlyBetweenExchanges(t *testing.T) {
	dial, accepted := loopbackDial(t)
	c, srv, stats := open(t, dial, accepted)
	write := func(w io.Writer, b string) {
		t.Helper()
		if _, err := w.Write([]byte(b)); err != nil {
			t.Fatal(err)
		}
	}
	read := func(want string) {
		t.Helper()
		buf := make([]byte, len(want))
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != want {
			t.Fatalf("read %q, %v; want %q", buf, err, want)
		}
	}
	write(c, "head")
	write(srv, "early answer")
	waitWaiting(t, c)
	write(c, "body")
	read("early answer")

	c.Tunnel()
	write(srv, "server first")
	waitWaiting(t, c)
	write(c, "client")
	read("server first")
	expectKept(t, accepted, stats)
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

// TestScanHead: the head of an answer is followed to its empty line
// however the reads cut it, interim heads (1xx but 101) to the final
// one's, and a line ended by a bare LF is refused wherever it is.
func TestScanHead(t *testing.T) {
	for _, tc := range []struct {
		in      string
		err     bool
		inHead  bool // still in a head after in
		comment string
	}{
		{"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok\n\n", false, false, "the body is not scanned"},
		{"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n", false, true, "head not ended"},
		{"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nA: b\r\n\r\nbody\n", false, false, "interim, then final"},
		{"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n", false, true, "interim: the final head is due"},
		{"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n\n\n", false, false, "101 ends the heads"},
		{"HTTP/1.1 200 OK\nContent-Length: 2\n\nok", true, false, "bare LF in the status line"},
		{"HTTP/1.1 200 OK\r\nContent-Length: 2\n\r\n", true, false, "bare LF after a field"},
		{"HTTP/1.1 200 OK\r\nA: b\r\n\n", true, false, "bare LF as the empty line"},
		{"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\n\n", true, false, "bare LF in the final head"},
	} {
		for cut := 0; cut <= len(tc.in); cut++ {
			var c serverConn
			c.beginHead()
			err := c.scanHead([]byte(tc.in[:cut]))
			if err == nil && c.inHead {
				err = c.scanHead([]byte(tc.in[cut:]))
			}
			if (err != nil) != tc.err || (err == nil && c.inHead != tc.inHead) {
				t.Fatalf("%s, cut at %d: err %v, in head %v; want error %v, in head %v", tc.comment, cut, err, c.inHead, tc.err, tc.inHead)
			}
		}
	}
}

// FuzzScanHead: the head scan's verdict (a bare LF or not, the head over
// or not) does not depend on how the answer is cut into reads, and a
// head is refused exactly when a line of it ends in a bare LF.
func FuzzScanHead(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
		"HTTP/1.1 101 Switching Protocols\r\n\r\n\n",
		"HTTP/1.1 200 OK\nA: b\n\n",
		"HTTP/1.1 103 Early Hints\r\n\r\r\n\n",
		"\r\n\r\n",
	} {
		f.Add([]byte(s), uint16(5))
	}
	f.Fuzz(func(t *testing.T, in []byte, cut uint16) {
		var whole serverConn
		whole.beginHead()
		errWhole := whole.scanHead(in)
		var split serverConn
		split.beginHead()
		k := int(cut) % (len(in) + 1)
		errSplit := split.scanHead(in[:k])
		if errSplit == nil && split.inHead {
			errSplit = split.scanHead(in[k:])
		}
		if errWhole != errSplit || (errWhole == nil && whole.inHead != split.inHead) {
			t.Fatalf("whole: %v (in head %v); cut at %d: %v (in head %v)", errWhole, whole.inHead, k, errSplit, split.inHead)
		}
		bareLF, inHead := scanHeadReference(in)
		if (errWhole != nil) != bareLF || (errWhole == nil && whole.inHead != inHead) {
			t.Fatalf("%q: error %v, in head %v; reference: bare LF %v, in head %v", in, errWhole, whole.inHead, bareLF, inHead)
		}
	})
}

// scanHeadReference is scanHead written plainly, line by line over the
// whole input.
func scanHeadReference(in []byte) (bareLF, inHead bool) {
	head := 0 // where the current head begins
	for pos := 0; ; {
		j := bytes.IndexByte(in[pos:], '\n')
		if j < 0 {
			return false, true
		}
		end := pos + j
		if end == 0 || in[end-1] != '\r' {
			return true, false
		}
		empty := end-pos == 1
		pos = end + 1
		if !empty {
			continue
		}
		var status [3]byte
		copy(status[:], in[min(head+9, end):min(head+12, end)])
		if status[0] != '1' || string(status[:]) == "101" {
			return false, false
		}
		head = pos
	}
}

// BenchmarkAnswerHeadScan: the bare-LF check on a typical answer read in
// one piece, head and body.
func BenchmarkAnswerHeadScan(b *testing.B) {
	answer := []byte("HTTP/1.1 200 OK\r\nServer: origin\r\nDate: Thu, 26 Nov 2026 03:43:27 GMT\r\n" +
		"Content-Type: application/json\r\nContent-Length: 81\r\n\r\n" +
		`{"id":1,"name":"small","tags":["a","b","c"],"ok":true,"n":12345,"s":"0123456789"}`)
	var c serverConn
	b.ReportAllocs()
	for b.Loop() {
		c.beginHead()
		if err := c.scanHead(answer); err != nil || c.inHead {
			b.Fatal(err, c.inHead)
		}
	}
}
