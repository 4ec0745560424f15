package config

import (
	"net"
	"net/netip"
	"strings"
)

// Service discovery by DNS: the resolver block and server entries written
// with resolve (Nginx server ... resolve / service=, HAProxy
// server-template with resolvers).

// resolver checks the resolver block. Its durations are positive: the
// decoder refuses others.
func (v *validator) resolver(r *Resolver) {
	seen := firstSeen{}
	for i, a := range r.Addresses {
		p := index("resolver.addresses", i)
		host, port, err := net.SplitHostPort(a)
		ip, ipErr := netip.ParseAddr(host)
		switch {
		case err != nil || !validPort(port):
			v.errorf(p, "bad address %s: want IP:port, e.g. \"10.96.0.10:53\"", quote(a))
		case ipErr != nil || ip.Zone() != "":
			v.errorf(p, "bad address %s: the host must be an IP address, e.g. \"10.96.0.10:53\"", quote(a))
		default:
			if first, dup := seen.dup(netip.AddrPortFrom(ip.Unmap(), 0).String()+port, v.pos.line(p)); dup {
				v.errorf(p, "duplicate address %s (first at line %d)", quote(a), first)
			}
		}
	}
}

// resolvedServer checks the server entry at path that has resolve or
// service; seen holds the entries of its pool, by address and service.
func (v *validator) resolvedServer(path string, s *Server, seen firstSeen) {
	ap, sp := path+".address", path+".service"
	if !s.Resolve {
		v.errorf(sp, "service needs resolve: true")
		return
	}
	if v.pos.set[path+".id"] || s.ID != "" {
		v.errorf(path+".id", "a resolved entry cannot have an id: it becomes one server per address, each named by a hash of its address")
	}
	var msg string
	if s.Service == "" {
		msg = checkHostPort(s.Address, true, "backend.internal:8080")
		if host, _, err := net.SplitHostPort(s.Address); msg == "" && err == nil && !isHostname(host) {
			msg = "bad address " + quote(s.Address) + ": resolve needs a host name, not an IP address"
		}
	} else {
		if v.pos.set[path+".weight"] {
			v.errorf(path+".weight", "the weight of a server found by service comes from its SRV record; remove this key")
		}
		goodService := validHostname(s.Service) && !strings.HasSuffix(s.Service, ".")
		if !goodService {
			v.errorf(sp, "bad service %s: want a name such as \"http\" or \"_http._tcp\"", quote(s.Service))
		}
		switch _, _, err := net.SplitHostPort(s.Address); {
		case err == nil:
			msg = "bad address " + quote(s.Address) + ": with service the port comes from the SRV records; write the host name alone, e.g. \"backend.default.svc.cluster.local\""
		case !isHostname(s.Address):
			msg = "bad address " + quote(s.Address) + ": want a host name, e.g. \"backend.default.svc.cluster.local\""
		case goodService && !validHostname(SRVName(s.Address, s.Service)):
			msg = "bad address " + quote(s.Address) + ": the SRV name " + quote(SRVName(s.Address, s.Service)) + " is too long"
		}
	}
	switch {
	case s.Address == "":
		v.errorf(ap, "required (a host name to look up, e.g. \"backend.internal:8080\")")
	case msg != "":
		v.errorf(ap, "%s", msg)
	default:
		key := s.Address + " service " + s.Service
		if first, dup := seen.dup(key, v.pos.line(ap)); dup {
			v.errorf(ap, "duplicate server %s (first at line %d)", quote(s.Address), first)
		}
	}
}

// isHostname reports whether s is a DNS name and not an IP address.
func isHostname(s string) bool {
	_, err := netip.ParseAddr(s)
	return err != nil && validHostname(s)
}

// SRVName returns the SRV name that a server entry with service looks up
// (Nginx service=): "_SERVICE._tcp.HOST", or "SERVICE.HOST" when service
// holds a dot.
func SRVName(host, service string) string {
	if strings.Contains(service, ".") {
		return service + "." + host
	}
	return "_" + service + "._tcp." + host
}
