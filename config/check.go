package config

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Syntax checks on single values. Each returns "" when the value is fine,
// or a message naming the value and what is wrong with it.

// isToken reports whether s is an HTTP token (RFC 9110 section 5.6.2), the
// syntax of header names and methods.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// validFieldValue reports whether s may be an HTTP field value (RFC 9110
// §5.5): visible characters, spaces, tabs and obs-text; no CR, LF, NUL
// or other control character, which could end the field early.
func validFieldValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// hasSpaceOrControl reports whether s contains white space, a control
// character or invalid UTF-8.
func hasSpaceOrControl(s string) bool {
	return !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r)
	})
}

// validHostname reports whether s is a DNS name: dot-separated labels of
// letters, digits, '-' and '_' (not starting or ending with '-'), each
// 1..63 bytes, 253 bytes in all, with an optional trailing dot.
func validHostname(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// validHost reports whether s is an IP address or a DNS name.
func validHost(s string) bool {
	_, err := netip.ParseAddr(s)
	return err == nil || validHostname(s)
}

// validPort reports whether s is a decimal port number 1..65535.
func validPort(s string) bool {
	if s == "" || len(s) > 5 || strings.Trim(s, "0123456789") != "" {
		return false
	}
	n, err := strconv.Atoi(s)
	return err == nil && n >= 1 && n <= 65535
}

// checkHostPort checks a host:port address. For a listener (needHost
// false) the host may be empty, meaning all interfaces, and the port may be
// 0, meaning any free port (for tests and ephemeral use); a server needs a
// host and a port from 1 to 65535. example shows the right form.
func checkHostPort(addr string, needHost bool, example string) string {
	host, port, err := net.SplitHostPort(addr)
	switch {
	case err != nil:
		return fmt.Sprintf("bad address %s: want host:port, e.g. %q", quote(addr), example)
	case !validPort(port) && (needHost || port != "0"):
		return fmt.Sprintf("bad address %s: port must be a number from 1 to 65535", quote(addr))
	case host == "" && needHost:
		return fmt.Sprintf("bad address %s: missing host, e.g. %q", quote(addr), example)
	case host != "" && !validHost(host):
		return fmt.Sprintf("bad address %s: bad host %s", quote(addr), quote(host))
	}
	return ""
}

// checkRouteHost checks a host a route matches: a name, an IP address
// (IPv6 in brackets) or a wildcard "*.example.com"; never with a port.
func checkRouteHost(h string) string {
	switch {
	case h == "":
		return "empty host"
	case hasSpaceOrControl(h):
		return fmt.Sprintf("bad host %s: contains spaces or control characters", quote(h))
	case strings.HasPrefix(h, "["):
		a, err := netip.ParseAddr(strings.TrimSuffix(h[1:], "]"))
		if err != nil || !strings.HasSuffix(h, "]") || !a.Is6() || a.Zone() != "" {
			return fmt.Sprintf("bad host %s: not an IPv6 address in brackets", quote(h))
		}
		return ""
	case strings.Contains(h, ":"):
		return fmt.Sprintf("bad host %s: must not include a port (routes match the host without its port)", quote(h))
	}
	name := strings.TrimPrefix(h, "*.")
	if strings.Contains(name, "*") || name == "" {
		return fmt.Sprintf("bad host %s: a wildcard is allowed only as a leading \"*.\" followed by a domain, e.g. \"*.example.com\"", quote(h))
	}
	if !validHostname(name) {
		return fmt.Sprintf("bad host %s: not a valid host name", quote(h))
	}
	return ""
}

// checkHostHeader checks the Host header value a pool sends: a host name
// or IP address (IPv6 in brackets), with an optional port.
func checkHostHeader(h string) string {
	bad := fmt.Sprintf("bad host %s: want a host name with an optional port, e.g. \"api.internal\" or \"api.internal:8443\"", quote(h))
	host := h
	if strings.HasSuffix(h, "]") && strings.HasPrefix(h, "[") {
		a, err := netip.ParseAddr(h[1 : len(h)-1])
		if err != nil || !a.Is6() || a.Zone() != "" {
			return bad
		}
		return ""
	}
	if strings.Contains(h, ":") {
		var port string
		var err error
		host, port, err = net.SplitHostPort(h)
		if err != nil || !validPort(port) {
			return bad
		}
		if strings.Contains(host, ":") { // [IPv6]:port
			a, err := netip.ParseAddr(host)
			if err != nil || a.Zone() != "" {
				return bad
			}
			return ""
		}
	}
	if !validHostname(host) {
		return bad
	}
	return ""
}

// checkName checks a listener or route name: not empty, no white space or
// control characters (names appear in logs and metrics labels).
func checkName(s string) string {
	switch {
	case s == "":
		return "must not be empty"
	case hasSpaceOrControl(s):
		return fmt.Sprintf("bad name %s: must not contain spaces or control characters", quote(s))
	}
	return ""
}

// checkPoolName checks a pool name: letters, digits, '.', '_' and '-'
// only, since it appears in metrics labels and admin API paths.
func checkPoolName(s string) string {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Sprintf("bad pool name %s: use only letters, digits, '.', '_' and '-'", quote(s))
		}
	}
	return ""
}

// checkHashKey checks a hash policy key: client_ip, path, header:NAME or
// cookie:NAME, NAME being a token.
func checkHashKey(k string) string {
	switch k {
	case "client_ip", "path":
		return ""
	}
	kind, name, found := strings.Cut(k, ":")
	if !found || kind != "header" && kind != "cookie" {
		return fmt.Sprintf("bad hash_key %s (want client_ip, path, header:NAME or cookie:NAME)", quote(k))
	}
	if !isToken(name) {
		return fmt.Sprintf("bad hash_key %s: %s name missing or not a valid token", quote(k), kind)
	}
	return ""
}

// isStatusCode reports whether s is written as a three-digit status code,
// returning its value (which may still be out of range).
func isStatusCode(s string) (int, bool) {
	if len(s) != 3 || strings.Trim(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
}

// checkExpectStatus checks an expect_status entry of a health check: a
// code "200" or a range "200-399", codes from 100 to 599, the first of a
// range not above the second.
func checkExpectStatus(s string) string {
	lo, hi, isRange := strings.Cut(s, "-")
	if !isRange {
		hi = lo
	}
	from, ok1 := isStatusCode(lo)
	to, ok2 := isStatusCode(hi)
	switch {
	case !ok1 || !ok2:
		return fmt.Sprintf("bad status %s (want a code like \"200\" or a range like \"200-399\")", quote(s))
	case from < 100 || from > 599 || to < 100 || to > 599:
		return fmt.Sprintf("bad status %s: status codes are from 100 to 599", quote(s))
	case from > to:
		return fmt.Sprintf("bad status range %s: %d is above %d", quote(s), from, to)
	}
	return ""
}

// checkCondition checks an entry of passive.failures or retries.on:
// connect, timeout, error, or one status code from 500 to 599.
func checkCondition(s string) string {
	switch s {
	case "connect", "timeout", "error":
		return ""
	}
	if n, ok := isStatusCode(s); ok {
		if n < 500 || n > 599 {
			return fmt.Sprintf("bad status %s: only codes from 500 to 599 may be listed", quote(s))
		}
		return ""
	}
	if lo, hi, ok := strings.Cut(s, "-"); ok {
		if _, ok1 := isStatusCode(lo); ok1 {
			if _, ok2 := isStatusCode(hi); ok2 {
				return fmt.Sprintf("bad entry %s: list single status codes, not ranges", quote(s))
			}
		}
	}
	return fmt.Sprintf("bad entry %s (want connect, timeout, error or a status code from 500 to 599, e.g. \"502\")", quote(s))
}

// checkCookieName checks a cookie name: an RFC 6265 token, that is an
// HTTP token (no white space, control characters, '=' or separators).
func checkCookieName(s string) string {
	switch {
	case s == "":
		return "must not be empty"
	case !isToken(s):
		return fmt.Sprintf("bad cookie name %s: not an RFC 6265 token (no spaces, control characters, '=' or separators such as ';', ',', '\"' and '/')", quote(s))
	}
	return ""
}

// Server ids are at most maxServerID bytes long.
const maxServerID = 64

// checkServerID checks a server id: 1 to 64 letters, digits, '.', '_'
// and '-', so that it can be a cookie value and a metrics label as is.
func checkServerID(s string) string {
	switch {
	case s == "":
		return "must not be empty (leave id out for the default, a hash of the pool name and address)"
	case len(s) > maxServerID:
		return fmt.Sprintf("bad id %s: %d characters long, at most %d allowed", quote(s), len(s), maxServerID)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Sprintf("bad id %s: use only letters, digits, '.', '_' and '-'", quote(s))
		}
	}
	return ""
}
