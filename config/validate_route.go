package config

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

func (v *validator) routes(routes []Route, pools []Pool) {
	if len(routes) == 0 {
		v.errorf("routes", "at least one route is required")
	}
	defined := make([]string, len(pools))
	for i := range pools {
		defined[i] = pools[i].Name
	}
	names := firstSeen{}
	for i := range routes {
		r := &routes[i]
		p := index("routes", i)

		np := p + ".name"
		if msg := checkName(r.Name); msg != "" {
			v.errorf(np, "%s", msg)
		} else if first, dup := names.dup(r.Name, v.pos.line(np)); dup {
			if v.pos.set[np] {
				v.errorf(np, "duplicate route name %s (first at line %d)", quote(r.Name), first)
			} else {
				v.errorf(np, "this route's default name %s is taken (first at line %d); give it a name", quote(r.Name), first)
			}
		}

		pp := p + ".pool"
		switch {
		case r.Pool == "":
			v.errorf(pp, "required (the name of a pool)")
		case len(defined) == 0:
			// Reported once: at least one pool is required.
		case !slices.Contains(defined, r.Pool):
			v.errorf(pp, "unknown pool %s (defined pools: %s)", quote(r.Pool), strings.Join(defined, ", "))
		}

		v.match(p+".match", &r.Match)
		v.compression(p+".compression", &r.Compression)
		v.routeAccessLog(p+".access_log", &r.AccessLog)
	}
}

func (v *validator) match(path string, m *Match) {
	hp := path + ".host"
	hosts := firstSeen{}
	for i, h := range m.Hosts {
		key := v.itemKey(hp, i)
		if msg := checkRouteHost(h); msg != "" {
			v.errorf(key, "%s", msg)
		} else if first, dup := hosts.dup(strings.ToLower(h), v.pos.line(key)); dup {
			v.errorf(key, "duplicate host %s (first at line %d)", quote(h), first)
		}
	}

	pp := path + ".path_prefix"
	switch pfx := m.PathPrefix; {
	case v.pos.set[pp] && pfx == "":
		v.errorf(pp, "must not be empty (leave path_prefix out to match every path)")
	case pfx == "":
	case !strings.HasPrefix(pfx, "/"):
		v.errorf(pp, "must start with \"/\", got %s", quote(pfx))
	case hasSpaceOrControl(pfx):
		v.errorf(pp, "bad path_prefix %s: contains spaces or control characters", quote(pfx))
	case strings.ContainsAny(pfx, "?#"):
		v.errorf(pp, "bad path_prefix %s: a path never contains '?' or '#'", quote(pfx))
	}

	mp := path + ".methods"
	methods := firstSeen{}
	for i, method := range m.Methods {
		key := index(mp, i)
		switch {
		case !isToken(method):
			v.errorf(key, "bad method %s: not an HTTP token", quote(method))
		case strings.ToUpper(method) != method:
			v.errorf(key, "method %s must be upper-case (did you mean %q?)", quote(method), strings.ToUpper(method))
		default:
			if first, dup := methods.dup(method, v.pos.line(key)); dup {
				v.errorf(key, "duplicate method %s (first at line %d)", quote(method), first)
			}
		}
	}

	// Matching needs a value: an empty one cannot be told from an absent
	// header, so it is refused rather than given a surprising meaning.
	v.headerMap(path+".headers", m.Headers, func(name, value string) string {
		if value == "" {
			return fmt.Sprintf("empty value for header %s (a route matches a header's exact, non-empty value)", quote(name))
		}
		return ""
	})
}

// headerMap checks a map of header names to values, in file order: names
// must be tokens and unique regardless of case; check adds its own
// verdict on each entry ("" when fine).
func (v *validator) headerMap(path string, headers map[string]string, check func(name, value string) string) {
	seen := firstSeen{}
	for _, name := range fileOrder(v.pos, path, headers) {
		key := join(path, name)
		if !isToken(name) {
			v.errorf(key, "bad header name %s: not an HTTP token", quote(name))
			continue
		}
		if first, dup := seen.dup(strings.ToLower(name), v.pos.line(key)); dup {
			v.errorf(key, "duplicate header %s (first at line %d; header names ignore case)", quote(name), first)
			continue
		}
		if msg := check(name, headers[name]); msg != "" {
			v.errorf(key, "%s", msg)
		}
	}
}

// fileOrder returns the keys of a map decoded from path in the order the
// file gives them, so that problems are reported deterministically.
func fileOrder[V any](pos *positions, path string, m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		return cmp.Or(cmp.Compare(pos.line(join(path, a)), pos.line(join(path, b))), cmp.Compare(a, b))
	})
	return keys
}
