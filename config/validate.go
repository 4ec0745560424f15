package config

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// validator checks a decoded, defaulted Config. It rejects; it never
// repairs (the one thing it fills in is Config.TrustedPrefixes, parsed from
// TrustedProxies).
type validator struct {
	*errorList
	pos *positions
	// bad holds key paths whose value could not be decoded: problems at or
	// under them follow from that one and are not reported again.
	bad map[string]bool
}

// validate checks c and records every problem in errs.
func validate(c *Config, pos *positions, bad map[string]bool, errs *errorList) {
	v := &validator{errorList: errs, pos: pos, bad: bad}
	v.listeners(c.Listeners)
	v.listenerLimits(c.Listeners)
	v.rateLimits(c)
	v.upstreamTLS(c.Pools)
	c.TrustedPrefixes = v.trustedProxies(c.TrustedProxies)
	v.log(&c.Log)
	v.admin(&c.Admin, c.Listeners)
	v.compression("compression", &c.Compression)
	v.routes(c.Routes, c.Pools)
	v.pools(c.Pools)
	v.resolver(&c.Resolver)
}

// errorf records a problem about key, citing the line of key or of its
// nearest ancestor written in the file.
func (v *validator) errorf(key, format string, args ...any) {
	v.errorAt(v.pos.line(key), key, format, args...)
}

// errorAt records a problem about key at the given line, unless key or an
// ancestor of it could not be decoded.
func (v *validator) errorAt(line int, key, format string, args ...any) {
	if !v.undecoded(key) {
		v.add(line, key, format, args...)
	}
}

// undecoded reports whether key or an ancestor of it could not be decoded.
// Checks that compare two values use it to stay quiet when either is
// missing for that reason.
func (v *validator) undecoded(key string) bool {
	for p := key; ; p = parent(p) {
		if v.bad[p] {
			return true
		}
		if p == "" {
			return false
		}
	}
}

// defaulted returns " (the default)" when key was not written in the file,
// to explain a value the reader cannot find there.
func (v *validator) defaulted(key string) string {
	if v.pos.set[key] {
		return ""
	}
	return " (the default)"
}

// itemKey returns the key path of item i of the list at path when the list
// was written as a list, or path itself when it was one scalar.
func (v *validator) itemKey(path string, i int) string {
	if p := index(path, i); v.pos.has(p) {
		return p
	}
	return path
}

// firstSeen remembers the line where each value of a set was first seen,
// to report duplicates.
type firstSeen map[string]int

// dup reports whether s was seen before and where; otherwise it records s
// as seen at line.
func (f firstSeen) dup(s string, line int) (int, bool) {
	if first, ok := f[s]; ok {
		return first, true
	}
	f[s] = line
	return 0, false
}

func (v *validator) listeners(ls []Listener) {
	if len(ls) == 0 {
		v.errorf("listeners", "at least one listener is required")
	}
	addrs := firstSeen{}
	type nameSeen struct {
		line     int
		explicit bool
	}
	names := map[string]nameSeen{}
	for i := range ls {
		l := &ls[i]
		p := index("listeners", i)
		ap := p + ".address"
		switch {
		case l.Address == "":
			v.errorf(ap, "required (host:port, e.g. \":8080\")")
		case checkHostPort(l.Address, false, ":8080") != "":
			v.errorf(ap, "%s", checkHostPort(l.Address, false, ":8080"))
		case strings.HasSuffix(l.Address, ":0"):
			// Each listener on port 0 gets a port of its own.
		default:
			if first, dup := addrs.dup(l.Address, v.pos.line(ap)); dup {
				v.errorf(ap, "duplicate address %s (first at line %d)", quote(l.Address), first)
			}
		}

		// A name defaulted from the address is checked with the address.
		np := p + ".name"
		explicit := v.pos.set[np]
		if explicit {
			if msg := checkName(l.Name); msg != "" {
				v.errorf(np, "%s", msg)
				continue
			}
		}
		if l.Name == "" {
			continue
		}
		first, seen := names[l.Name]
		switch {
		case !seen:
			names[l.Name] = nameSeen{v.pos.line(np), explicit}
		case explicit || first.explicit:
			// Two names defaulted from one address are the duplicate
			// address reported above.
			v.errorf(np, "duplicate listener name %s (first at line %d)", quote(l.Name), first.line)
		}
	}
}

// trustedProxies parses the trusted_proxies entries into prefixes.
func (v *validator) trustedProxies(list []string) []netip.Prefix {
	var prefixes []netip.Prefix
	seen := firstSeen{}
	for i, s := range list {
		p := index("trusted_proxies", i)
		prefix, msg := parseTrusted(s)
		if msg != "" {
			v.errorf(p, "%s", msg)
			continue
		}
		if first, dup := seen.dup(prefix.String(), v.pos.line(p)); dup {
			v.errorf(p, "duplicate entry %s (first at line %d)", quote(s), first)
			continue
		}
		prefixes = append(prefixes, prefix)
	}
	return prefixes
}

// parseTrusted parses an IP address (as a one-address prefix) or a CIDR
// prefix, returning a message when s is neither or is written in a way that
// would not match what its author meant.
func parseTrusted(s string) (netip.Prefix, string) {
	if strings.Contains(s, "/") {
		prefix, err := netip.ParsePrefix(s)
		switch {
		case err != nil:
			return netip.Prefix{}, fmt.Sprintf("bad prefix %s: want an IP address or a CIDR prefix, e.g. \"10.0.0.0/8\"", quote(s))
		case prefix.Addr().Is4In6():
			return netip.Prefix{}, fmt.Sprintf("bad prefix %s: write IPv4 prefixes in IPv4 form", quote(s))
		case prefix.Masked() != prefix:
			return netip.Prefix{}, fmt.Sprintf("bad prefix %s: host bits are set (did you mean %q?)", quote(s), prefix.Masked().String())
		}
		return prefix, ""
	}
	addr, err := netip.ParseAddr(s)
	switch {
	case err != nil:
		return netip.Prefix{}, fmt.Sprintf("bad address %s: want an IP address or a CIDR prefix, e.g. \"10.0.0.0/8\"", quote(s))
	case addr.Zone() != "":
		return netip.Prefix{}, fmt.Sprintf("bad address %s: zones are not allowed", quote(s))
	case addr.Is4In6():
		return netip.Prefix{}, fmt.Sprintf("bad address %s: write %q instead", quote(s), addr.Unmap().String())
	}
	return netip.PrefixFrom(addr, addr.BitLen()), ""
}

func (v *validator) log(l *Log) {
	if l.Level != "debug" && l.Level != "info" && l.Level != "warn" && l.Level != "error" {
		v.errorf("log.level", "unknown level %s (want debug, info, warn or error)", quote(l.Level))
	}
	v.logFormat("log.format", l.Format)
	v.logOutput("log.output", l.Output)
	v.accessLog(&l.Access)
	v.logOutput("log.access.output", l.Access.Output)
}

func (v *validator) logFormat(key, f string) {
	if f != "json" && f != "console" {
		v.errorf(key, "unknown format %s (want json or console)", quote(f))
	}
}

func (v *validator) logOutput(key, o string) {
	if strings.TrimSpace(o) == "" {
		v.errorf(key, "must not be empty (want stdout, stderr or a file path)")
	}
}

// minAdminToken is the shortest admin token accepted.
const minAdminToken = 16

func (v *validator) admin(a *Admin, ls []Listener) {
	if !a.Enabled {
		return
	}
	const ap = "admin.address"
	switch msg := checkHostPort(a.Address, false, defaultAdminAddress); {
	case a.Address == "":
		v.errorf(ap, "required (host:port, e.g. %q)", defaultAdminAddress)
	case msg != "":
		v.errorf(ap, "%s", msg)
	default:
		if !strings.HasSuffix(a.Address, ":0") {
			for i, l := range ls {
				if l.Address == a.Address {
					v.errorf(ap, "same address as %s (line %d)", index("listeners", i), v.pos.line(index("listeners", i)+".address"))
					break
				}
			}
		}
		if a.Token == "" && !loopbackAddress(a.Address) {
			v.errorf(ap, "a token is required to bind the admin API beyond loopback")
		}
	}
	// The token is a secret: messages never quote it.
	switch t := a.Token; {
	case t == "":
	case strings.IndexFunc(t, func(r rune) bool { return r <= ' ' || r > '~' }) >= 0:
		v.errorf("admin.token", "bad token: want printable ASCII characters without spaces")
	case len(t) < minAdminToken:
		v.errorf("admin.token", "token too short: %d characters, want at least %d", len(t), minAdminToken)
	}
}

// loopbackAddress reports whether host:port addr binds loopback only:
// 127.0.0.0/8, ::1 or localhost.
func loopbackAddress(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Zone() == "" && ip.Unmap().IsLoopback()
}
