package discovery

import (
	"net"
	"net/netip"
	"strconv"

	"github.com/miekg/dns"

	"lb/config"
)

// SourceOf returns what the server entry s looks up; false when it is a
// plain address (no resolve). s must have passed validation.
func SourceOf(s *config.Server) (Source, bool) {
	if !s.Resolve {
		return Source{}, false
	}
	if s.Service != "" {
		return Source{Name: dns.CanonicalName(config.SRVName(s.Address, s.Service)), SRV: true}, true
	}
	host, port, err := net.SplitHostPort(s.Address)
	if err != nil {
		return Source{}, false
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return Source{}, false
	}
	return Source{Name: dns.CanonicalName(host), Port: uint16(p)}, true
}

// Sources returns the distinct sources of cfg's server entries, in file
// order; none when no entry says resolve.
func Sources(cfg *config.Config) []Source {
	var srcs []Source
	seen := map[Source]bool{}
	for i := range cfg.Pools {
		for j := range cfg.Pools[i].Servers {
			if s, ok := SourceOf(&cfg.Pools[i].Servers[j]); ok && !seen[s] {
				seen[s] = true
				srcs = append(srcs, s)
			}
		}
	}
	return srcs
}

// Expand returns cfg with each entry that says resolve replaced by the
// servers sets holds for its source (none while it has no answer). cfg
// itself is returned when no entry says resolve; otherwise a copy whose
// pools are new and cfg is left as it was.
//
// A found server takes its entry's settings (backup, down, drain; weight
// for A/AAAA) with its own address. For SRV, the weight is the record's,
// clamped to 1..1000; the records of the lowest priority are primaries
// and the others backups, or, for an entry marked backup, the lowest are
// backups and the others are left out (Nginx service= semantics). A pool
// lists an address once: an entry written as an address, then the first
// entry that found it, wins.
func Expand(cfg *config.Config, sets Sets) *config.Config {
	if len(Sources(cfg)) == 0 {
		return cfg
	}
	out := *cfg
	out.Pools = make([]config.Pool, len(cfg.Pools))
	for i := range cfg.Pools {
		out.Pools[i] = cfg.Pools[i]
		out.Pools[i].Servers = expandServers(cfg.Pools[i].Servers, sets)
	}
	return &out
}

// maxWeight is the largest weight of a server (config's bound).
const maxWeight = 1000

func expandServers(entries []config.Server, sets Sets) []config.Server {
	servers := make([]config.Server, 0, len(entries))
	seen := map[string]bool{}
	add := func(s config.Server) {
		if !seen[s.Address] {
			seen[s.Address] = true
			servers = append(servers, s)
		}
	}
	for _, e := range entries {
		if !e.Resolve {
			add(e)
		}
	}
	for _, e := range entries {
		src, ok := SourceOf(&e)
		if !ok {
			continue
		}
		eps := sets[src]
		var lowest uint16
		for i, ep := range eps {
			if i == 0 || ep.Priority < lowest {
				lowest = ep.Priority
			}
		}
		for _, ep := range eps {
			s := e
			s.Resolve, s.Service = false, ""
			s.Address = addrString(ep.Addr)
			if src.SRV {
				s.Weight = min(max(int(ep.Weight), 1), maxWeight)
				switch {
				case ep.Priority == lowest:
				case e.Backup:
					continue
				default:
					s.Backup = true
				}
			}
			add(s)
		}
	}
	return servers
}

// addrString writes an address as configurations do: "10.0.0.1:8080",
// "[2001:db8::1]:8080".
func addrString(a netip.AddrPort) string {
	return net.JoinHostPort(a.Addr().String(), strconv.Itoa(int(a.Port())))
}
