package compress

// The header rewrites a response lb compresses needs, besides setting
// Content-Encoding and dropping Content-Length when the compressed length is
// not known up front (both done by the proxy with fasthttp).

const acceptEncoding = "Accept-Encoding"

// MergeVary returns the Vary value to send with a compressed response: the
// members of all existing Vary fields (comma lists, OWS trimmed, empty
// members dropped) with Accept-Encoding exactly once, appended last when
// missing; duplicate Accept-Encoding members (any case) are removed. If any
// member is "*", the value is "*" (the response varies on everything already).
//
// changed is false when the existing fields already say that (they list
// Accept-Encoding exactly once, or are a single "*"), so the proxy leaves
// Vary untouched; otherwise it replaces all Vary fields with the single
// value. value is always the normalized merged value, in a new slice.
func MergeVary(existing [][]byte) (value []byte, changed bool) {
	return AppendMergedVary(nil, existing)
}

// AppendMergedVary is MergeVary appending the value to dst, so a caller
// with a reusable buffer does not allocate.
func AppendMergedVary(dst []byte, existing [][]byte) (value []byte, changed bool) {
	var members, ae int
	wildcard, badWildcard := false, false
	for _, f := range existing {
		for len(f) > 0 {
			var m []byte
			m, f = nextPlainMember(f)
			switch {
			case len(m) == 0:
				continue
			case len(m) == 1 && m[0] == '*':
				wildcard = true
			case equalFold(m, "accept-encoding"):
				ae++
			}
			members++
		}
	}
	if wildcard {
		// Valid only as the sole member of a single field.
		badWildcard = members != 1 || len(existing) != 1 || len(trimOWS(existing[0])) != 1
		return append(dst, '*'), badWildcard
	}
	start := len(dst)
	seenAE := false
	for _, f := range existing {
		for len(f) > 0 {
			var m []byte
			m, f = nextPlainMember(f)
			if len(m) == 0 {
				continue
			}
			if equalFold(m, "accept-encoding") {
				if seenAE {
					continue
				}
				seenAE = true
			}
			if len(dst) > start {
				dst = append(dst, ", "...)
			}
			dst = append(dst, m...)
		}
	}
	if ae == 1 {
		return dst, false
	}
	if ae == 0 {
		if len(dst) > start {
			dst = append(dst, ", "...)
		}
		dst = append(dst, acceptEncoding...)
	}
	return dst, true
}

// WeakenETag returns the ETag to send with a compressed response: a strong
// entity tag "x" becomes W/"x" (the compressed bytes differ from the
// identity ones, so a strong validator shared by both would be wrong, RFC
// 9110 §8.8.1); a weak one ("W/" prefix, case-sensitive) and an empty value
// are returned unchanged. A malformed value (not a quoted string, e.g. an
// unquoted abc) yields nil: the proxy deletes the ETag field, as Nginx does,
// since it cannot be weakened. Surrounding whitespace is trimmed.
func WeakenETag(etag []byte) []byte {
	t := trimOWS(etag)
	switch {
	case len(t) == 0:
		return etag
	case len(t) >= 2 && t[0] == 'W' && t[1] == '/':
		return etag
	case len(t) < 2 || t[0] != '"' || t[len(t)-1] != '"':
		return nil
	}
	return AppendWeakETag(make([]byte, 0, len(t)+2), t)
}

// AppendWeakETag appends W/ and the strong entity tag etag to dst. It does
// not check etag; use WeakenETag's rules to decide first.
func AppendWeakETag(dst, etag []byte) []byte {
	dst = append(dst, 'W', '/')
	return append(dst, etag...)
}
