package compress

import "strings"

// Response is what Eligible needs to know about a response and its request.
// Byte slices may alias fasthttp's header buffers; Eligible does not retain
// them. Absent fields are nil or empty.
type Response struct {
	Status int
	// Head is true when the request method is HEAD.
	Head bool
	// Path is the request path (a query, if present, is ignored).
	Path []byte
	// ContentType, ContentEncoding and ContentRange are the response's
	// field values.
	ContentType, ContentEncoding, ContentRange []byte
	// CacheControl holds every Cache-Control field of the response.
	CacheControl [][]byte
	// Length is the body length, or -1 when unknown (chunked, streamed).
	Length int
}

// Reasons returned by Eligible.
const (
	ReasonStatus          = "status without compressible body"
	ReasonHead            = "HEAD request"
	ReasonEncoded         = "already content-encoded"
	ReasonContentRange    = "has Content-Range"
	ReasonNoTransform     = "Cache-Control: no-transform"
	ReasonEmpty           = "empty body"
	ReasonShort           = "shorter than min_length"
	ReasonExcludedPath    = "excluded path"
	ReasonNoContentType   = "no Content-Type"
	ReasonCompressedType  = "already-compressed content type"
	ReasonTypeNotIncluded = "content type not in types"
)

// Eligible reports whether the response may be compressed under p, and if
// not, a short constant reason (one of the Reason* constants) for tests and
// logs. The rules, each checked separately:
//
//   - status 1xx, 204, 205, 206 or 304, or a HEAD request: no body to
//     compress, or (206) a byte range of the identity representation;
//   - a Content-Encoding other than "identity": already encoded (and codings
//     must not be stacked by a proxy behind the client's back);
//   - a Content-Range: a partial representation;
//   - a "no-transform" directive in any Cache-Control field (RFC 9111
//     §5.2.2.6), case-insensitive, quoted strings respected;
//   - a known Length of 0, or below MinLength (Length -1, unknown, passes);
//   - a path under one of ExcludePaths;
//   - a missing Content-Type, an already-compressed type (image/* except
//     SVG, icons and BMP, video/*, audio/*, archives, application/pdf,
//     application/octet-stream, font/woff, font/woff2) whatever Types says,
//     or a type not matched by Types. Parameters (";charset=utf-8") are
//     ignored; matching is case-insensitive.
//
// A Content-Encoding of "identity" counts as not encoded; the proxy then
// replaces that field rather than adding a second one.
//
// Eligible does not allocate and is safe for concurrent use.
func (p *Policy) Eligible(r *Response) (bool, string) {
	switch {
	case r.Status < 200 || r.Status == 204 || r.Status == 205 || r.Status == 206 || r.Status == 304:
		return false, ReasonStatus
	case r.Head:
		return false, ReasonHead
	case isEncoded(r.ContentEncoding):
		return false, ReasonEncoded
	case len(trimOWS(r.ContentRange)) > 0:
		return false, ReasonContentRange
	case HasNoTransform(r.CacheControl):
		return false, ReasonNoTransform
	case r.Length == 0:
		return false, ReasonEmpty
	case r.Length > 0 && r.Length < p.MinLength:
		return false, ReasonShort
	case p.excludedPath(r.Path):
		return false, ReasonExcludedPath
	}
	mt := mediaType(r.ContentType)
	switch {
	case len(mt) == 0:
		return false, ReasonNoContentType
	case alreadyCompressedType(mt):
		return false, ReasonCompressedType
	case !matchAny(p.typePatterns(), mt):
		return false, ReasonTypeNotIncluded
	}
	return true, ""
}

func isEncoded(ce []byte) bool {
	ce = trimOWS(ce)
	return len(ce) > 0 && !equalFold(ce, "identity")
}

// HasNoTransform reports whether any of the Cache-Control field values
// carries the no-transform directive. It does not allocate.
func HasNoTransform(fields [][]byte) bool {
	for _, f := range fields {
		for len(f) > 0 {
			var m []byte
			m, f = nextListMember(f)
			name, _, _ := cutByte(m, '=')
			if equalFold(trimOWS(name), "no-transform") {
				return true
			}
		}
	}
	return false
}

// mediaType returns the type/subtype of a Content-Type value without
// parameters or surrounding whitespace.
func mediaType(ct []byte) []byte {
	mt, _, _ := cutByte(ct, ';')
	return trimOWS(mt)
}

func alreadyCompressedType(mt []byte) bool {
	return matchAny(alwaysExcluded, mt) && !matchAny(compressibleImages, mt)
}

func (p *Policy) typePatterns() []string {
	if len(p.Types) == 0 {
		return defaultTypes
	}
	return p.Types
}

func matchAny(patterns []string, mt []byte) bool {
	for _, pat := range patterns {
		if matchType(pat, mt) {
			return true
		}
	}
	return false
}

// matchType matches a media type against a pattern with at most one '*'
// (which matches any run of bytes, including none), ignoring ASCII case.
func matchType(pattern string, mt []byte) bool {
	i := strings.IndexByte(pattern, '*')
	if i < 0 {
		return equalFoldBoth(mt, pattern)
	}
	prefix, suffix := pattern[:i], pattern[i+1:]
	if len(mt) < len(prefix)+len(suffix) {
		return false
	}
	return equalFoldBoth(mt[:len(prefix)], prefix) && equalFoldBoth(mt[len(mt)-len(suffix):], suffix)
}

// excludedPath reports whether path (its query ignored) is under one of
// ExcludePaths, on a segment boundary. Matching is case-sensitive.
func (p *Policy) excludedPath(path []byte) bool {
	path, _, _ = cutByte(path, '?')
	for _, pre := range p.ExcludePaths {
		if len(pre) == 0 || len(path) < len(pre) || string(path[:len(pre)]) != pre {
			continue
		}
		if len(path) == len(pre) || pre[len(pre)-1] == '/' || path[len(pre)] == '/' {
			return true
		}
	}
	return false
}
