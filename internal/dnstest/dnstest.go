// Package dnstest runs a small authoritative DNS server for tests, on
// 127.0.0.1 over UDP and TCP on one port, with records a test sets and
// changes while it runs (github.com/miekg/dns).
package dnstest

import (
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// SRV is one SRV record to serve.
type SRV struct {
	Target           string // a host name, e.g. "b1.backend.test."
	Port             uint16
	Weight, Priority uint16
}

// Server is a DNS server answering from records held in memory. Its
// methods are safe for concurrent use.
type Server struct {
	// Addr is "127.0.0.1:PORT", the same port for UDP and TCP.
	Addr string

	mu       sync.Mutex
	addrs    map[string][]netip.Addr // A and AAAA by name
	srvs     map[string][]SRV        // SRV by name
	glue     map[string]bool         // SRV names answered with their targets' addresses
	rcode    map[string]int          // a forced answer code by name
	silent   bool                    // drop every query (a dead server)
	truncate bool                    // truncate UDP answers to 512 bytes

	queries atomic.Int64
	udp     *dns.Server
	tcp     *dns.Server
}

// Start starts a server and stops it when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{addrs: map[string][]netip.Addr{}, srvs: map[string][]SRV{}, glue: map[string]bool{}, rcode: map[string]int{}}
	var pc net.PacketConn
	var ln net.Listener
	for attempt := 0; ; attempt++ {
		var err error
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		if ln, err = net.Listen("tcp", pc.LocalAddr().String()); err == nil {
			break
		}
		pc.Close()
		if attempt == 20 {
			t.Fatalf("dnstest: no port free for both UDP and TCP: %v", err)
		}
	}
	s.Addr = pc.LocalAddr().String()
	h := dns.HandlerFunc(s.serve)
	udpUp, tcpUp := make(chan struct{}), make(chan struct{})
	s.udp = &dns.Server{PacketConn: pc, Handler: h, NotifyStartedFunc: func() { close(udpUp) }}
	s.tcp = &dns.Server{Listener: ln, Handler: h, NotifyStartedFunc: func() { close(tcpUp) }}
	go s.udp.ActivateAndServe() //nolint:errcheck // ends at Shutdown
	go s.tcp.ActivateAndServe() //nolint:errcheck
	for _, up := range []chan struct{}{udpUp, tcpUp} {
		select {
		case <-up:
		case <-time.After(10 * time.Second):
			t.Fatal("dnstest: server did not start")
		}
	}
	t.Cleanup(func() {
		_ = s.udp.Shutdown()
		_ = s.tcp.Shutdown()
	})
	return s
}

// SetAddrs makes name's A and AAAA records ips (none: the name no longer
// exists, unless it has SRV records).
func (s *Server) SetAddrs(name string, ips ...string) {
	var as []netip.Addr
	for _, ip := range ips {
		as = append(as, netip.MustParseAddr(ip))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addrs[dns.CanonicalName(name)] = as
}

// SetSRV makes name's SRV records srvs; with glue, answers carry their
// targets' addresses in the additional section, as CoreDNS does.
func (s *Server) SetSRV(name string, glue bool, srvs ...SRV) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.srvs[dns.CanonicalName(name)] = srvs
	s.glue[dns.CanonicalName(name)] = glue
}

// SetRcode makes every answer about name carry rcode, e.g.
// dns.RcodeServerFailure; dns.RcodeSuccess answers from the records again.
func (s *Server) SetRcode(name string, rcode int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rcode[dns.CanonicalName(name)] = rcode
}

// SetSilent makes the server drop every query (true) or answer again.
func (s *Server) SetSilent(silent bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.silent = silent
}

// SetTruncate makes UDP answers over 512 bytes arrive truncated, so that
// clients must ask again over TCP.
func (s *Server) SetTruncate(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.truncate = on
}

// Queries returns how many queries the server received.
func (s *Server) Queries() int64 { return s.queries.Load() }

func (s *Server) serve(w dns.ResponseWriter, q *dns.Msg) {
	s.queries.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.silent || len(q.Question) != 1 {
		return
	}
	m := new(dns.Msg)
	m.SetReply(q)
	m.Authoritative = true
	question := q.Question[0]
	name := strings.ToLower(question.Name)
	ips, srvs := s.addrs[name], s.srvs[name]
	switch rc, forced := s.rcode[name]; {
	case forced && rc != dns.RcodeSuccess:
		m.Rcode = rc
	case len(ips) == 0 && len(srvs) == 0:
		m.Rcode = dns.RcodeNameError
	default:
		switch question.Qtype {
		case dns.TypeA, dns.TypeAAAA:
			m.Answer = s.addrRRs(name, question.Qtype)
		case dns.TypeSRV:
			for _, r := range srvs {
				m.Answer = append(m.Answer, &dns.SRV{
					Hdr:    dns.RR_Header{Name: name, Rrtype: dns.TypeSRV, Class: dns.ClassINET, Ttl: 5},
					Target: dns.CanonicalName(r.Target), Port: r.Port, Weight: r.Weight, Priority: r.Priority,
				})
				if s.glue[name] {
					t := dns.CanonicalName(r.Target)
					m.Extra = append(m.Extra, s.addrRRs(t, dns.TypeA)...)
					m.Extra = append(m.Extra, s.addrRRs(t, dns.TypeAAAA)...)
				}
			}
		}
	}
	if _, udp := w.RemoteAddr().(*net.UDPAddr); udp && s.truncate {
		m.Truncate(dns.MinMsgSize)
	}
	_ = w.WriteMsg(m)
}

// addrRRs returns name's records of type qt (A or AAAA); s.mu is held.
func (s *Server) addrRRs(name string, qt uint16) []dns.RR {
	var rrs []dns.RR
	for _, ip := range s.addrs[name] {
		hdr := dns.RR_Header{Name: name, Rrtype: qt, Class: dns.ClassINET, Ttl: 5}
		switch {
		case qt == dns.TypeA && ip.Is4():
			rrs = append(rrs, &dns.A{Hdr: hdr, A: ip.AsSlice()})
		case qt == dns.TypeAAAA && ip.Is6():
			rrs = append(rrs, &dns.AAAA{Hdr: hdr, AAAA: ip.AsSlice()})
		}
	}
	return rrs
}
