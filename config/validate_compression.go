package config

import (
	"fmt"
	"slices"
	"strings"
)

// Checks of a compression block, global or a route's.

// compressionAlgorithms lists the known algorithms, in the order error
// messages give them.
var compressionAlgorithms = []string{"br", "gzip"}

// compression checks the compression block at key path cp. An absent
// block is zero and has nothing to check; a present one is checked whether
// or not it is enabled, since its values are refused, never repaired.
func (v *validator) compression(cp string, c *Compression) {
	if !c.Present {
		return
	}
	v.compressionAlgorithms(cp+".algorithms", c.Algorithms)
	v.compressionLevels(cp, c)
	// min_length is positive, as every size: the decoder refuses 0.

	tp := cp + ".types"
	if len(c.Types) == 0 {
		v.errorf(tp, "must not be empty (set enabled: false to turn compression off)")
	}
	types := firstSeen{}
	for i, t := range c.Types {
		key := index(tp, i)
		if msg := checkMediaRange(t); msg != "" {
			v.errorf(key, "%s", msg)
		} else if first, dup := types.dup(t, v.pos.line(key)); dup {
			v.errorf(key, "duplicate type %s (first at line %d)", quote(t), first)
		}
	}

	ep := cp + ".exclude_paths"
	paths := firstSeen{}
	for i, p := range c.ExcludePaths {
		key := index(ep, i)
		if msg := checkPathPrefix(p); msg != "" {
			v.errorf(key, "%s", msg)
		} else if first, dup := paths.dup(p, v.pos.line(key)); dup {
			v.errorf(key, "duplicate path %s (first at line %d)", quote(p), first)
		}
	}
}

// compressionAlgorithms checks the algorithms list at key path ap.
func (v *validator) compressionAlgorithms(ap string, algs []string) {
	if len(algs) == 0 {
		v.errorf(ap, "must not be empty (set enabled: false to turn compression off)")
		return
	}
	seen := firstSeen{}
	for i, alg := range algs {
		key := index(ap, i)
		if msg := checkAlgorithm(alg); msg != "" {
			v.errorf(key, "%s", msg)
		} else if first, dup := seen.dup(alg, v.pos.line(key)); dup {
			v.errorf(key, "duplicate algorithm %s (first at line %d)", quote(alg), first)
		}
	}
}

// compressionLevels checks the levels of the compression block at key
// path cp: each names a listed algorithm and is in that algorithm's range.
func (v *validator) compressionLevels(cp string, c *Compression) {
	lp := cp + ".levels"
	for _, alg := range fileOrder(v.pos, lp, c.Levels) {
		key := join(lp, alg)
		level := c.Levels[alg]
		r, known := compressionLevels[alg]
		switch {
		case !known:
			v.errorf(key, "%s", checkAlgorithm(alg))
		case !slices.Contains(c.Algorithms, alg):
			v.errorf(key, "level for %s, which algorithms does not list (listed: %s); list it there or drop this level",
				quote(alg), listed(c.Algorithms))
		case level < r.min || level > r.max:
			v.errorf(key, "%s level must be from %d to %d, got %d", alg, r.min, r.max, level)
		}
	}
}

// listed joins the names in list for a message, "none" when it is empty.
func listed(list []string) string {
	if len(list) == 0 {
		return "none"
	}
	return strings.Join(list, ", ")
}

// checkAlgorithm checks a compression algorithm name: br or gzip, in
// lower case.
func checkAlgorithm(alg string) string {
	if _, known := compressionLevels[alg]; known {
		return ""
	}
	if lower := strings.ToLower(alg); compressionLevels[lower].max > 0 {
		return fmt.Sprintf("algorithm %s must be lower-case (did you mean %q?)", quote(alg), lower)
	}
	return fmt.Sprintf("unknown algorithm %s (want %s)", quote(alg), strings.Join(compressionAlgorithms, " or "))
}

// checkMediaRange checks an entry of compression.types: "type/subtype" in
// lower case, both RFC 6838 names (here: HTTP tokens without '*'), the
// subtype maybe "*" or "*+SUFFIX". Parameters are refused: lb matches the
// type alone.
func checkMediaRange(t string) string {
	typ, sub, found := strings.Cut(t, "/")
	bad := func(why string) string {
		return fmt.Sprintf("bad type %s: %s (want \"type/subtype\", e.g. \"text/html\", \"text/*\" or \"application/*+json\")", quote(t), why)
	}
	name := func(s string) bool { return isToken(s) && !strings.Contains(s, "*") }
	switch {
	case t == "":
		return "empty type"
	case strings.Contains(t, ";"):
		return bad("parameters are not allowed (lb matches the type without them)")
	case hasSpaceOrControl(t):
		return bad("contains spaces or control characters")
	case !found || typ == "" || sub == "":
		return bad("not a media type")
	case typ == "*":
		return bad("the type cannot be a wildcard (most binary types are compressed already)")
	case !name(typ):
		return bad("not a valid type name")
	case sub == "*":
	case strings.HasPrefix(sub, "*+"):
		if !name(sub[2:]) {
			return bad("not a valid suffix after \"*+\"")
		}
	case strings.Contains(sub, "*"):
		return bad("a wildcard is allowed only as the whole subtype (\"text/*\") or before a suffix (\"application/*+json\")")
	case !name(sub):
		return bad("not a valid subtype name")
	}
	if lower := strings.ToLower(t); lower != t {
		return fmt.Sprintf("type %s must be lower-case (did you mean %q?)", quote(t), lower)
	}
	return ""
}

// checkPathPrefix checks a path prefix such as an exclude_paths entry.
func checkPathPrefix(p string) string {
	switch {
	case p == "":
		return "empty path (want a path prefix starting with \"/\")"
	case !strings.HasPrefix(p, "/"):
		return fmt.Sprintf("must start with \"/\", got %s", quote(p))
	case hasSpaceOrControl(p):
		return fmt.Sprintf("bad path %s: contains spaces or control characters", quote(p))
	case strings.ContainsAny(p, "?#"):
		return fmt.Sprintf("bad path %s: a path never contains '?' or '#'", quote(p))
	}
	return ""
}
