package compress

// Allocation-free ASCII helpers shared by the header parsers.

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// equalFold reports whether b equals the lower-case ASCII string s, ignoring
// ASCII case in b.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		if lower(b[i]) != s[i] {
			return false
		}
	}
	return true
}

// equalFoldBoth compares two byte strings ignoring ASCII case.
func equalFoldBoth(a []byte, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if lower(a[i]) != lower(b[i]) {
			return false
		}
	}
	return true
}

func isOWS(c byte) bool { return c == ' ' || c == '\t' }

// trimOWS removes optional whitespace (SP, HTAB) from both ends.
func trimOWS(b []byte) []byte {
	for len(b) > 0 && isOWS(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isOWS(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

// nextListMember splits the first member off a comma-separated field value
// (RFC 9110 §5.6.1), honouring quoted strings so that a comma inside quotes
// does not split. It returns the member with OWS trimmed and the rest after
// the comma.
func nextListMember(b []byte) (member, rest []byte) {
	inQuote := false
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case inQuote && c == '\\':
			i++ // quoted-pair: skip the escaped byte
		case c == '"':
			inQuote = !inQuote
		case c == ',' && !inQuote:
			return trimOWS(b[:i]), b[i+1:]
		}
	}
	return trimOWS(b), nil
}
