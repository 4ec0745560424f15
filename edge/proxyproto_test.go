package edge_test

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/pires/go-proxyproto"
)

// TestProxyProtocol: on a proxy_protocol listener the client address is
// the PROXY header's source, v1 or v2 (X-Forwarded-For at the origin),
// max_conns_per_ip counts those addresses, and a connection without a
// header is closed unanswered.
func TestProxyProtocol(t *testing.T) {
	o := startRawOrigin(t)
	p := startLB(t, lbConfig("    proxy_protocol: true\n    max_conns_per_ip: 1\n", o.addr))
	addr := p.Addrs()[0].String()

	v1 := dial(t, addr)
	io.WriteString(v1, "PROXY TCP4 203.0.113.7 127.0.0.1 5555 80\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n")
	if resp := readResponse(t, v1, bufio.NewReader(v1)); resp.StatusCode() != 200 {
		t.Fatalf("v1: status %d", resp.StatusCode())
	}
	if got, _ := o.take(); !strings.Contains(got, "\r\nX-Forwarded-For: 203.0.113.7\r\n") {
		t.Fatalf("v1: origin received %q, want X-Forwarded-For: 203.0.113.7", got)
	}

	v2 := dial(t, addr)
	h := &proxyproto.Header{
		Version:           2,
		Command:           proxyproto.PROXY,
		TransportProtocol: proxyproto.TCPv6,
		SourceAddr:        &net.TCPAddr{IP: net.ParseIP("2001:db8::9"), Port: 4444},
		DestinationAddr:   &net.TCPAddr{IP: net.ParseIP("2001:db8::1"), Port: 443},
	}
	if _, err := h.WriteTo(v2); err != nil {
		t.Fatal(err)
	}
	io.WriteString(v2, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	if resp := readResponse(t, v2, bufio.NewReader(v2)); resp.StatusCode() != 200 {
		t.Fatalf("v2: status %d", resp.StatusCode())
	}
	if got, _ := o.take(); !strings.Contains(got, "\r\nX-Forwarded-For: 2001:db8::9\r\n") {
		t.Fatalf("v2: origin received %q, want X-Forwarded-For: 2001:db8::9", got)
	}

	// A second connection from 203.0.113.7 (v1 is still open) is over
	// max_conns_per_ip 1.
	again := dial(t, addr)
	io.WriteString(again, "PROXY TCP4 203.0.113.7 127.0.0.1 5556 80\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n")
	br := bufio.NewReader(again)
	if resp := readResponse(t, again, br); resp.StatusCode() != 429 {
		t.Fatalf("second connection of 203.0.113.7: status %d, want 429", resp.StatusCode())
	}
	if !closedWithin(again, br, 2*time.Second) {
		t.Fatal("connection over max_conns_per_ip left open")
	}

	// No header: closed, nothing forwarded.
	bare := dial(t, addr)
	io.WriteString(bare, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	bbr := bufio.NewReader(bare)
	if !closedWithin(bare, bbr, 5*time.Second) {
		t.Fatal("connection without a PROXY header left open")
	}
	if got, n := o.take(); n != 0 {
		t.Fatalf("origin received %q from a connection without a PROXY header", got)
	}
}
