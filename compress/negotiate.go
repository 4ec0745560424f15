package compress

// Negotiate picks the content coding for a response from the request's
// Accept-Encoding field value, following RFC 9110 §12.5.3, among the codings
// the server offers in prefer (its preference order; Identity entries and
// unknown values in prefer are ignored).
//
// Parsing: members are separated by commas with optional whitespace (SP,
// HTAB) around ',' and ';'; tokens and the "q" parameter name are
// case-insensitive; "x-gzip" is an alias for "gzip" (RFC 9110 §8.4.1.3).
// A qvalue must follow the RFC grammar ("0", "0.5", "0.001", "1", "1.000");
// a member with a malformed qvalue ("q=1.5", "q=abc", "q=0.0001") or a
// malformed token is ignored as if absent. Parameters other than q are
// ignored. When a coding is listed more than once, the first listing counts
// (as in Nginx). Unknown codings (e.g. "zstd", "deflate") are ignored.
//
// Selection: each offered coding gets its listed q, or the q of "*" when not
// listed, or 0 (not acceptable). The highest q > 0 wins; ties go to the
// earlier entry of prefer. Identity has its listed q, or the q of "*", and
// is otherwise acceptable with the lowest preference; a client that ranks
// identity strictly above every offered coding ("gzip;q=0.5, identity") gets
// identity.
//
// Results:
//   - (coding, true): compress with coding.
//   - (Identity, true): do not compress; identity is acceptable. This
//     includes an empty or absent Accept-Encoding: RFC 9110 lets a server
//     use any coding when the field is absent, but, like Nginx and HAProxy,
//     lb compresses only for clients that ask.
//   - (Identity, false): nothing offered is acceptable and identity was
//     excluded ("identity;q=0", or "*;q=0" without identity listed). RFC
//     9110 §12.5.3 and §12.1 allow either disregarding the field or
//     answering 406. The proxy should send the response uncompressed (what
//     Nginx, HAProxy and most servers do): a 406 for a compression
//     preference breaks clients and caches, and the body is still correct.
//
// Negotiate does not allocate and is safe for concurrent use.
func Negotiate(acceptEncoding []byte, prefer []Algorithm) (Algorithm, bool) {
	// q per slot in thousandths; -1 = not listed. Slots: algorithms and star.
	var q [numAlgorithms + 1]int16
	for i := range q {
		q[i] = -1
	}
	rest := acceptEncoding
	for len(rest) > 0 {
		var member []byte
		member, rest = nextPlainMember(rest)
		if len(member) == 0 {
			continue
		}
		tok, params := splitParams(member)
		a, ok := lookupToken(tok)
		if !ok || q[a] >= 0 {
			continue
		}
		w, ok := parseWeight(params)
		if !ok {
			continue
		}
		q[a] = w
	}

	starQ := q[star]
	best, bestQ := Identity, int16(0)
	for _, a := range prefer {
		if a == Identity || a >= numAlgorithms {
			continue
		}
		qa := q[a]
		if qa < 0 {
			qa = max(starQ, 0)
		}
		if qa > bestQ {
			best, bestQ = a, qa
		}
	}
	idQ := q[Identity]
	if idQ < 0 {
		idQ = starQ // still -1 when neither is listed: acceptable, lowest rank
	}
	if bestQ > 0 && bestQ >= idQ {
		return best, true
	}
	if idQ != 0 {
		return Identity, true
	}
	return Identity, false
}

// nextPlainMember splits a comma-separated list without quoted-string
// handling (Accept-Encoding and Vary have no quoted strings), trimming OWS.
func nextPlainMember(b []byte) (member, rest []byte) {
	for i := 0; i < len(b); i++ {
		if b[i] == ',' {
			return trimOWS(b[:i]), b[i+1:]
		}
	}
	return trimOWS(b), nil
}

// splitParams splits "token ; params" at the first ';', trimming OWS from
// the token. params excludes the ';'.
func splitParams(member []byte) (tok, params []byte) {
	for i := 0; i < len(member); i++ {
		if member[i] == ';' {
			return trimOWS(member[:i]), member[i+1:]
		}
	}
	return trimOWS(member), nil
}

// parseWeight finds the q parameter among ';'-separated parameters and
// returns it in thousandths (1000 when absent). Whitespace around '=' is
// tolerated. ok is false when a q parameter is malformed (including "q"
// without a value); the first q parameter counts.
func parseWeight(params []byte) (int16, bool) {
	for len(params) > 0 {
		var p []byte
		p, params = splitParams(params)
		name, value, hasValue := cutByte(p, '=')
		if !equalFold(trimOWS(name), "q") {
			continue
		}
		if !hasValue {
			return 0, false
		}
		return parseQValue(trimOWS(value))
	}
	return 1000, true
}

// cutByte slices b around the first c.
func cutByte(b []byte, c byte) (before, after []byte, found bool) {
	for i := 0; i < len(b); i++ {
		if b[i] == c {
			return b[:i], b[i+1:], true
		}
	}
	return b, nil, false
}

// parseQValue parses qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
// (RFC 9110 §12.4.2) into thousandths.
func parseQValue(v []byte) (int16, bool) {
	if len(v) == 0 || len(v) > 5 || (v[0] != '0' && v[0] != '1') {
		return 0, false
	}
	whole := v[0] == '1'
	if len(v) == 1 {
		if whole {
			return 1000, true
		}
		return 0, true
	}
	if v[1] != '.' {
		return 0, false
	}
	n, scale := int16(0), int16(100)
	for _, c := range v[2:] {
		if c < '0' || c > '9' || (whole && c != '0') {
			return 0, false
		}
		n += int16(c-'0') * scale
		scale /= 10
	}
	if whole {
		return 1000, true
	}
	return n, true
}
