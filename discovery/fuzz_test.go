package discovery

import (
	"net"
	"net/netip"
	"testing"

	"github.com/miekg/dns"
)

// FuzzAnswer feeds DNS messages of any shape (as a hostile or broken DNS
// server could send) to the code that reads addresses and SRV records out
// of them: no panic, only valid addresses, only usable SRV records, and
// normalize leaves each address once, sorted.
func FuzzAnswer(f *testing.F) {
	seed := func(rrs ...dns.RR) {
		m := new(dns.Msg)
		m.SetQuestion("backend.test.", dns.TypeSRV)
		m.Answer = rrs
		m.Extra = rrs
		if b, err := m.Pack(); err == nil {
			f.Add(b)
		}
	}
	hdr := func(name string, t uint16) dns.RR_Header {
		return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: 5}
	}
	seed(&dns.A{Hdr: hdr("backend.test.", dns.TypeA), A: net.IPv4(127, 0, 0, 1)},
		&dns.AAAA{Hdr: hdr("backend.test.", dns.TypeAAAA), AAAA: net.ParseIP("::1")})
	seed(&dns.SRV{Hdr: hdr("_http._tcp.backend.test.", dns.TypeSRV), Target: "b1.test.", Port: 80, Weight: 5, Priority: 1},
		&dns.SRV{Hdr: hdr("_http._tcp.backend.test.", dns.TypeSRV), Target: ".", Port: 80},
		&dns.A{Hdr: hdr("b1.test.", dns.TypeA), A: net.IPv4(127, 0, 0, 2)},
		&dns.A{Hdr: hdr("b1.test.", dns.TypeA), A: net.IPv4(0, 0, 0, 0)})
	seed(&dns.CNAME{Hdr: hdr("backend.test.", dns.TypeCNAME), Target: "real.test."},
		&dns.A{Hdr: hdr("real.test.", dns.TypeA), A: net.IPv4(10, 0, 0, 1)})
	f.Fuzz(func(t *testing.T, wire []byte) {
		m := new(dns.Msg)
		if m.Unpack(wire) != nil {
			return
		}
		var eps []Endpoint
		for _, ip := range addrs(m.Answer, "") {
			if !ip.IsValid() || ip.IsUnspecified() || ip.Is4In6() {
				t.Fatalf("addrs returned %v", ip)
			}
			eps = append(eps, Endpoint{Addr: netip.AddrPortFrom(ip, 80)})
		}
		for _, srv := range srvRecords(m.Answer) {
			if srv.Port == 0 || srv.Target == "." || srv.Target == "" {
				t.Fatalf("srvRecords returned %v", srv)
			}
			for _, ip := range addrs(m.Extra, srv.Target) {
				eps = append(eps, Endpoint{Addr: netip.AddrPortFrom(ip, srv.Port), Weight: srv.Weight, Priority: srv.Priority})
			}
		}
		eps = normalize(eps)
		for i := 1; i < len(eps); i++ {
			if eps[i-1].Addr.Compare(eps[i].Addr) >= 0 {
				t.Fatalf("normalize: %v before %v", eps[i-1], eps[i])
			}
		}
	})
}
