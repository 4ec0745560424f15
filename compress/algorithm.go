// Package compress is lb's response-compression layer: Accept-Encoding
// negotiation (RFC 9110 §12.5.3), the rules deciding whether a response may
// be compressed, the header rewrites a compressed response needs (Vary,
// ETag), and pooled streaming gzip and brotli encoders.
//
// It is a library of pure functions and pooled writers with no fasthttp
// dependency; the proxy applies the results to its requests and responses.
// It exists because fasthttp's built-in compression handler keeps strong
// ETags, compresses 206 and no-transform responses, ignores q-values and can
// duplicate Vary values.
package compress

// Algorithm is a content coding lb can produce. The zero value is Identity
// (no coding).
type Algorithm uint8

// Content codings.
const (
	Identity Algorithm = iota
	Gzip
	Brotli

	numAlgorithms = iota
)

// Token returns the content-coding token used in Accept-Encoding and
// Content-Encoding: "gzip", "br", or "" for Identity (and for unknown
// values), since identity is never sent in Content-Encoding.
func (a Algorithm) Token() string {
	switch a {
	case Gzip:
		return "gzip"
	case Brotli:
		return "br"
	}
	return ""
}

// String returns the token, or "identity" for Identity, for logs.
func (a Algorithm) String() string {
	switch a {
	case Identity:
		return "identity"
	case Gzip, Brotli:
		return a.Token()
	}
	return "unknown"
}

// Valid reports whether a is one of the defined algorithms.
func (a Algorithm) Valid() bool { return a < numAlgorithms }

// ParseAlgorithm maps a configuration or Content-Encoding token to an
// Algorithm, case-insensitively: "gzip" and its alias "x-gzip" (RFC 9110
// §8.4.1.3), "br", "identity". ok is false for anything else.
func ParseAlgorithm(token string) (a Algorithm, ok bool) {
	a, ok = lookupToken([]byte(token))
	return a, ok && a != star
}

// star is an internal pseudo-algorithm for "*" in Accept-Encoding.
const star Algorithm = numAlgorithms

// lookupToken maps a coding token to its slot without allocating.
func lookupToken(tok []byte) (Algorithm, bool) {
	switch len(tok) {
	case 1:
		if tok[0] == '*' {
			return star, true
		}
	case 2:
		if equalFold(tok, "br") {
			return Brotli, true
		}
	case 4:
		if equalFold(tok, "gzip") {
			return Gzip, true
		}
	case 6:
		if equalFold(tok, "x-gzip") {
			return Gzip, true
		}
	case 8:
		if equalFold(tok, "identity") {
			return Identity, true
		}
	}
	return 0, false
}
