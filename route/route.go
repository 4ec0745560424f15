// Package route matches requests to routes: the first rule whose host,
// path prefix, method and header conditions all hold wins (Nginx location,
// HAProxy use_backend with ACLs).
//
// A Table is immutable once built and safe for concurrent use. Match does
// not allocate.
package route

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// ErrInvalidRule is wrapped by New for a rule it cannot compile.
var ErrInvalidRule = errors.New("route: invalid rule")

// Rule is the source form of one route's conditions. Empty fields match
// everything.
type Rule struct {
	// Hosts are exact names or "*.suffix" wildcards, matched
	// case-insensitively against the Host header without its port.
	Hosts []string
	// PathPrefix is compared bytewise with the request target's path as
	// received (not decoded, not normalised).
	PathPrefix string
	// Methods are exact, case-sensitive method tokens (RFC 9110 §9.1).
	Methods []string
	// Headers must all be present with exactly these values; names are
	// compared case-insensitively.
	Headers []Header
}

// Header is one header condition.
type Header struct {
	Name, Value string
}

// Request is what Match reads of a request. Header returns the value of
// the first header whose name equals name case-insensitively, or nil.
type Request interface {
	Header(name []byte) []byte
}

// Table is a compiled, ordered list of rules.
type Table struct {
	rules []rule
}

type rule struct {
	exact    [][]byte // lower-case exact hosts
	suffixes [][]byte // lower-case ".example.com" for "*.example.com"
	anyHost  bool
	prefix   []byte
	methods  [][]byte
	headers  []header
}

type header struct {
	name, value []byte
}

// New compiles rules in order.
func New(rules []Rule) (*Table, error) {
	t := &Table{rules: make([]rule, len(rules))}
	for i, r := range rules {
		c := &t.rules[i]
		c.anyHost = len(r.Hosts) == 0
		for _, h := range r.Hosts {
			lower := lowerASCII(strings.TrimSuffix(h, "."))
			if msg := badHost(lower); msg != "" {
				return nil, fmt.Errorf("%w %d: host %q: %s", ErrInvalidRule, i, h, msg)
			}
			if bytes.HasPrefix(lower, []byte("*.")) {
				c.suffixes = append(c.suffixes, lower[1:])
			} else {
				c.exact = append(c.exact, lower)
			}
		}
		if r.PathPrefix != "" && r.PathPrefix[0] != '/' {
			return nil, fmt.Errorf("%w %d: path prefix %q does not start with /", ErrInvalidRule, i, r.PathPrefix)
		}
		c.prefix = []byte(r.PathPrefix)
		for _, m := range r.Methods {
			c.methods = append(c.methods, []byte(m))
		}
		for _, h := range r.Headers {
			c.headers = append(c.headers, header{name: []byte(h.Name), value: []byte(h.Value)})
		}
	}
	return t, nil
}

// badHost says what is wrong with a lower-cased rule host, or "". Match
// compares hosts without their port, so a rule host with a port could
// never match.
func badHost(h []byte) string {
	name := h
	if bytes.HasPrefix(name, []byte("*.")) {
		name = name[2:]
	}
	switch {
	case len(name) == 0:
		return "empty name"
	case bytes.IndexByte(name, '*') >= 0:
		return `"*" only as a leading "*." label`
	case name[len(name)-1] == '.':
		return "more than one trailing dot"
	case name[0] == '[':
		if name[len(name)-1] != ']' {
			return "unterminated IPv6 literal"
		}
	case bytes.IndexByte(name, ':') >= 0:
		return "has a port"
	}
	for _, c := range name {
		if c <= ' ' || c >= 0x7f {
			return "not printable ASCII"
		}
	}
	return ""
}

// lowerASCII returns s with ASCII letters in lower case; other bytes are
// kept as they are (Host headers are compared bytewise, not as Unicode).
func lowerASCII(s string) []byte {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return b
}

// Len returns the number of rules.
func (t *Table) Len() int { return len(t.rules) }

// Match returns the index of the first rule that matches, or -1. host is
// the Host header as received (port and a trailing dot are ignored), path
// the request target's path, method the request method.
func (t *Table) Match(host, path, method []byte, req Request) int {
	host = HostName(host)
	for i := range t.rules {
		if t.rules[i].match(host, path, method, req) {
			return i
		}
	}
	return -1
}

func (r *rule) match(host, path, method []byte, req Request) bool {
	if !r.anyHost && !r.matchHost(host) {
		return false
	}
	if !bytes.HasPrefix(path, r.prefix) {
		return false
	}
	if len(r.methods) > 0 {
		ok := false
		for _, m := range r.methods {
			if bytes.Equal(m, method) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	for _, h := range r.headers {
		if v := req.Header(h.name); v == nil || !bytes.Equal(v, h.value) {
			return false
		}
	}
	return true
}

func (r *rule) matchHost(host []byte) bool {
	for _, e := range r.exact {
		if equalFoldASCII(host, e) {
			return true
		}
	}
	for _, s := range r.suffixes {
		if len(host) > len(s) && equalFoldASCII(host[len(host)-len(s):], s) {
			return true
		}
	}
	return false
}

// HostName returns host without its port and without a trailing dot. An
// IPv6 literal keeps its brackets.
func HostName(host []byte) []byte {
	if len(host) > 0 && host[0] == '[' {
		if i := bytes.IndexByte(host, ']'); i > 0 {
			return host[:i+1]
		}
		return host
	}
	if i := bytes.LastIndexByte(host, ':'); i >= 0 {
		host = host[:i]
	}
	if len(host) > 0 && host[len(host)-1] == '.' {
		host = host[:len(host)-1]
	}
	return host
}

// equalFoldASCII compares a with the lower-case b, folding ASCII letters
// in a only.
func equalFoldASCII(a, lower []byte) bool {
	if len(a) != len(lower) {
		return false
	}
	for i := range a {
		c := a[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}
