// Package discovery finds a pool's servers in DNS, again and again: the
// A and AAAA records of a host name, or the SRV records of a service
// (Nginx server ... resolve and service=, HAProxy server-template with
// resolvers). This is how a pool follows a Kubernetes headless Service.
//
// A Resolver asks DNS servers with github.com/miekg/dns, so that A, AAAA
// and SRV lookups, and the choice of DNS servers, are one code path. A
// Watcher looks its sources up every interval and keeps the last good
// answer of each when a lookup fails. Expand turns a configuration whose
// server entries say resolve into one that lists the servers found; the
// process compiles that into a snapshot as it does any configuration.
package discovery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"

	"lb/config"
)

// Errors of a lookup. A failed lookup never changes a Watcher's servers.
var (
	// ErrNotFound: the name does not exist (NXDOMAIN).
	ErrNotFound = errors.New("discovery: no such name")
	// ErrNoRecords: the name exists but has no usable records.
	ErrNoRecords = errors.New("discovery: no records")
	// ErrNoServers: the Resolver has no DNS server to ask.
	ErrNoServers = errors.New("discovery: no DNS servers")
)

// ResolvConf is where the DNS servers are read from when the
// configuration names none.
const ResolvConf = "/etc/resolv.conf"

// Source is one name to look up. It is comparable and names its answer
// in Sets.
type Source struct {
	// Name is a fully qualified, lower-case name with the final dot:
	// the host of A and AAAA lookups, or the SRV name.
	Name string
	// Port is given to every address of an A/AAAA lookup; 0 for SRV.
	Port uint16
	// SRV looks up SRV records (and then their targets' addresses).
	SRV bool
}

// String returns the source as logs show it: "name:port" or "SRV name".
func (s Source) String() string {
	if s.SRV {
		return "SRV " + s.Name
	}
	return net.JoinHostPort(s.Name, strconv.Itoa(int(s.Port)))
}

// Endpoint is one address found.
type Endpoint struct {
	Addr netip.AddrPort
	// Weight and Priority are the SRV record's; 0 for A and AAAA.
	Weight, Priority uint16
}

// Resolver sends queries to DNS servers: each in turn until one answers,
// over UDP, again over TCP when the answer is truncated. Its fields must
// not change once it is in use; it is then safe for concurrent use.
type Resolver struct {
	// Servers are "IP:port", asked in order.
	Servers []string
	// Timeout bounds one query to one server.
	Timeout time.Duration
}

// NewResolver returns the resolver rc configures: its addresses, or the
// nameservers of ResolvConf when it names none.
func NewResolver(rc config.Resolver) (*Resolver, error) { return newResolver(rc, ResolvConf) }

func newResolver(rc config.Resolver, resolvConf string) (*Resolver, error) {
	servers := slices.Clone(rc.Addresses)
	if len(servers) == 0 {
		cc, err := dns.ClientConfigFromFile(resolvConf)
		if err != nil {
			return nil, fmt.Errorf("discovery: no resolver.addresses, and %w", err)
		}
		for _, s := range cc.Servers {
			servers = append(servers, net.JoinHostPort(s, cc.Port))
		}
		if len(servers) == 0 {
			return nil, fmt.Errorf("%w: none in resolver.addresses or %s", ErrNoServers, resolvConf)
		}
	}
	return &Resolver{Servers: servers, Timeout: rc.Timeout}, nil
}

// Lookup returns the endpoints of src, sorted and without duplicates.
// An answer without any usable address is ErrNoRecords; a name that does
// not exist is ErrNotFound.
func (r *Resolver) Lookup(ctx context.Context, src Source) ([]Endpoint, error) {
	var eps []Endpoint
	if src.SRV {
		var err error
		if eps, err = r.lookupSRV(ctx, src.Name); err != nil {
			return nil, err
		}
	} else {
		ips, err := r.lookupIP(ctx, src.Name)
		if err != nil {
			return nil, err
		}
		for _, ip := range ips {
			eps = append(eps, Endpoint{Addr: netip.AddrPortFrom(ip, src.Port)})
		}
	}
	eps = normalize(eps)
	if len(eps) == 0 {
		return nil, fmt.Errorf("%w for %s", ErrNoRecords, src)
	}
	return eps, nil
}

// lookupIP returns the A and AAAA addresses of name. Both queries must
// be answered: a failure of either is the lookup's failure, so that a
// lost AAAA answer does not take servers away.
func (r *Resolver) lookupIP(ctx context.Context, name string) ([]netip.Addr, error) {
	var ips []netip.Addr
	for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA} {
		m, err := r.query(ctx, name, qt)
		if err != nil {
			return nil, err
		}
		ips = append(ips, addrs(m.Answer, "")...)
	}
	return ips, nil
}

// lookupSRV returns the endpoints of the SRV records of name. A target's
// addresses come from the answer's additional section when it has them
// (CoreDNS sends them for a headless Service), otherwise from A and AAAA
// lookups of the target.
func (r *Resolver) lookupSRV(ctx context.Context, name string) ([]Endpoint, error) {
	m, err := r.query(ctx, name, dns.TypeSRV)
	if err != nil {
		return nil, err
	}
	var eps []Endpoint
	for _, srv := range srvRecords(m.Answer) {
		ips := addrs(m.Extra, srv.Target)
		if len(ips) == 0 {
			if ips, err = r.lookupIP(ctx, srv.Target); err != nil {
				return nil, fmt.Errorf("SRV target %s: %w", srv.Target, err)
			}
		}
		for _, ip := range ips {
			eps = append(eps, Endpoint{Addr: netip.AddrPortFrom(ip, srv.Port), Weight: srv.Weight, Priority: srv.Priority})
		}
	}
	return eps, nil
}

// query asks the servers in turn for name's records of type qt until one
// answers with NOERROR or NXDOMAIN (which ends the lookup: the name does
// not exist); other answers (SERVFAIL, REFUSED) and network errors move
// on to the next server.
func (r *Resolver) query(ctx context.Context, name string, qt uint16) (*dns.Msg, error) {
	if len(r.Servers) == 0 {
		return nil, ErrNoServers
	}
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(name), qt)
	q.SetEdns0(dns.DefaultMsgSize, false)
	var errs []error
	for _, server := range r.Servers {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		c := &dns.Client{Net: "udp", Timeout: r.Timeout, UDPSize: dns.DefaultMsgSize}
		in, _, err := c.ExchangeContext(ctx, q, server)
		if err == nil && in.Truncated {
			c.Net = "tcp"
			in, _, err = c.ExchangeContext(ctx, q, server)
		}
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("%s: %w", server, err))
		case in.Rcode == dns.RcodeSuccess:
			return in, nil
		case in.Rcode == dns.RcodeNameError:
			return nil, fmt.Errorf("%w: %s %s (from %s)", ErrNotFound, dns.TypeToString[qt], name, server)
		default:
			errs = append(errs, fmt.Errorf("%s: %s %s: %s", server, dns.TypeToString[qt], name, dns.RcodeToString[in.Rcode]))
		}
	}
	return nil, errors.Join(errs...)
}

// addrs returns the addresses of the A and AAAA records in rrs; with
// owner, only those of that name. The unspecified address is skipped.
func addrs(rrs []dns.RR, owner string) []netip.Addr {
	var ips []netip.Addr
	for _, rr := range rrs {
		if owner != "" && !strings.EqualFold(rr.Header().Name, owner) {
			continue
		}
		var ip netip.Addr
		switch rr := rr.(type) {
		case *dns.A:
			ip, _ = netip.AddrFromSlice(rr.A.To4())
		case *dns.AAAA:
			ip, _ = netip.AddrFromSlice(rr.AAAA.To16())
		default:
			continue
		}
		if ip = ip.Unmap(); ip.IsValid() && !ip.IsUnspecified() {
			ips = append(ips, ip)
		}
	}
	return ips
}

// srvRecords returns the usable SRV records in rrs: a target of "."
// (the service is not offered) and port 0 are skipped.
func srvRecords(rrs []dns.RR) []*dns.SRV {
	var srvs []*dns.SRV
	for _, rr := range rrs {
		if srv, ok := rr.(*dns.SRV); ok && srv.Target != "." && srv.Target != "" && srv.Port != 0 {
			srvs = append(srvs, srv)
		}
	}
	return srvs
}

// normalize sorts eps by address and drops repeated addresses (the first
// in sort order, the best priority, wins).
func normalize(eps []Endpoint) []Endpoint {
	slices.SortFunc(eps, func(a, b Endpoint) int {
		if c := a.Addr.Compare(b.Addr); c != 0 {
			return c
		}
		if a.Priority != b.Priority {
			return int(a.Priority) - int(b.Priority)
		}
		return int(b.Weight) - int(a.Weight)
	})
	return slices.CompactFunc(eps, func(a, b Endpoint) bool { return a.Addr == b.Addr })
}
