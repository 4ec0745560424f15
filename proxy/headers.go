package proxy

import (
	"bytes"

	"github.com/valyala/fasthttp"
)

// Header names are kept as received (normalising is off), so every lookup
// here folds case itself.
//
// Request headers are read with AllInOrder, which re-scans the header
// block as received: RequestHeader.All would first parse the Cookie
// fields into fasthttp's cookie list, re-serialising them (quotes dropped,
// fields merged). The handler scans once (state.scanRequest) and every
// later step reads that list, state.hdrs. Loops call the concrete types:
// an iterator called through an interface escapes and allocates.

// Header names lb reads or writes.
var (
	hConnection     = []byte("Connection")
	hHost           = []byte("Host")
	hXForwardedFor  = []byte("X-Forwarded-For")
	hXForwardedProt = []byte("X-Forwarded-Proto")
	hXForwardedHost = []byte("X-Forwarded-Host")
	hXRealIP        = []byte("X-Real-IP")
	hXRequestID     = []byte("X-Request-ID")
	hDate           = []byte("Date")
	hContentType    = []byte("Content-Type")
	hCookie         = []byte("Cookie")
	hRetryAfter     = []byte("Retry-After")
)

// hopByHop are the fields that describe one connection, never the
// message: RFC 9110 §7.6.1 and Go's httputil.ReverseProxy list. As in
// ReverseProxy, the Trailer field is dropped with them but the trailer
// names are announced again on the message lb sends (announceTrailers).
var hopByHop = [][]byte{
	[]byte("Connection"),
	[]byte("Keep-Alive"),
	[]byte("Proxy-Connection"),
	[]byte("Proxy-Authenticate"),
	[]byte("Proxy-Authorization"),
	[]byte("TE"),
	[]byte("Trailer"),
	[]byte("Transfer-Encoding"),
	[]byte("Upgrade"),
}

// managed are request fields lb writes itself: the framing (fasthttp
// frames the body it sends), the expectation lb has already met by
// reading the body (Nginx does not forward Expect either), and the
// forwarding fields.
var managed = [][]byte{
	[]byte("Content-Length"),
	[]byte("Expect"),
	hXForwardedFor,
	hXRealIP,
	hXForwardedProt,
	hXForwardedHost,
	hXRequestID,
}

// framing are fields a Connection token may name but that lb never
// removes on its account: removing them would change how the message is
// delimited or addressed.
var framing = [][]byte{
	[]byte("Host"),
	[]byte("Content-Length"),
	[]byte("Transfer-Encoding"),
}

// responseSpecial are the response fields fasthttp keeps outside its
// ordered field list; they are edited by their canonical names.
var responseSpecial = [][]byte{
	[]byte("Content-Length"),
	[]byte("Content-Type"),
	[]byte("Content-Encoding"),
	[]byte("Server"),
	[]byte("Set-Cookie"),
	[]byte("Trailer"),
	[]byte("Connection"),
}

// scratch holds a request's reusable buffers for header edits. It is
// owned by one request at a time.
type scratch struct {
	tokens [][]byte    // field names listed in Connection
	dels   [][]byte    // exact names to delete
	kept   [][2][]byte // fields to put back, in order
	// offload drops Accept-Encoding from the request sent upstream: lb
	// compresses the answer itself.
	offload bool
	buf     []byte // backing bytes for all of the above
}

func (s *scratch) reset() {
	s.tokens = s.tokens[:0]
	s.dels = s.dels[:0]
	s.kept = s.kept[:0]
	s.buf = s.buf[:0]
	s.offload = false
}

// keep copies b into the scratch buffer and returns the copy, which stays
// valid until reset even if the buffer grows.
func (s *scratch) keep(b []byte) []byte {
	n := len(s.buf)
	s.buf = append(s.buf, b...)
	return s.buf[n:len(s.buf):len(s.buf)]
}

// markDel records name for deletion, once per exact spelling.
func (s *scratch) markDel(name []byte) {
	for _, d := range s.dels {
		if bytes.Equal(d, name) {
			return
		}
	}
	s.dels = append(s.dels, s.keep(name))
}

// connectionTokens records the field names a Connection field lists.
func (s *scratch) connectionTokens(k, v []byte) {
	if !foldEqual(k, hConnection) {
		return
	}
	for len(v) > 0 {
		var tok []byte
		tok, v = nextToken(v)
		if len(tok) > 0 && !foldIn(tok, framing) {
			s.tokens = append(s.tokens, s.keep(tok))
		}
	}
}

// dropRequest reports whether a request field is not forwarded:
// hop-by-hop, named in Connection, managed by lb, or removed or set by the
// pool.
func (s *scratch) dropRequest(k []byte, ops *HeaderOps) bool {
	return foldIn(k, hopByHop) || foldIn(k, s.tokens) || foldIn(k, managed) ||
		foldIn(k, ops.Remove) || ops.sets(k) || (s.offload && foldEqual(k, hAcceptEncoding))
}

// dropResponse reports whether a response field is removed: hop-by-hop,
// named in Connection, the upstream Date (lb's own replaces it, as Nginx
// does; dropping every spelling avoids a second, lower-case one), or
// removed or replaced by the pool.
func (s *scratch) dropResponse(k []byte, ops *HeaderOps) bool {
	return foldIn(k, hopByHop) || foldIn(k, s.tokens) || foldEqual(k, hDate) ||
		foldIn(k, ops.Remove) || ops.sets(k)
}

// editResponse removes the response fields dropResponse names and applies
// the pool's edits. fasthttp deletes a field by moving the last one into
// its place, which would reorder fields of the same name (RFC 9110 §5.3:
// their order is significant); so when anything is removed, the ordered
// field list is rebuilt from the fields that stay.
func (s *scratch) editResponse(h *fasthttp.ResponseHeader, ops *HeaderOps) {
	s.tokens = s.tokens[:0]
	drop := false
	for k, v := range h.All() {
		s.connectionTokens(k, v)
	}
	for k := range h.All() {
		// fasthttp writes its own Date and leaves out a field spelled
		// exactly "Date" (ResponseHeader.AppendBytes): that one needs no
		// rebuild of the list, which the servers' Date would otherwise
		// cost every response.
		if s.dropResponse(k, ops) && !bytes.Equal(k, hDate) {
			drop = true
			break
		}
	}
	if drop {
		s.kept = s.kept[:0]
		for k, v := range h.All() {
			dropped := s.dropResponse(k, ops)
			switch {
			case foldIn(k, responseSpecial):
				if dropped {
					s.markDel(canonical(k, responseSpecial))
				}
			default:
				s.markDel(k)
				if !dropped {
					s.kept = append(s.kept, [2][]byte{s.keep(k), s.keep(v)})
				}
			}
		}
		for _, d := range s.dels {
			h.DelBytes(d)
		}
		s.dels = s.dels[:0]
		for _, kv := range s.kept {
			h.AddBytesKV(kv[0], kv[1])
		}
	}
	for _, kv := range ops.Set {
		h.SetCanonical(kv.Name, kv.Value)
	}
	for _, kv := range ops.Add {
		h.AddBytesKV(kv.Name, kv.Value)
	}
}

// canonical returns the member of set that name folds to.
func canonical(name []byte, set [][]byte) []byte {
	for _, c := range set {
		if foldEqual(name, c) {
			return c
		}
	}
	return name
}

// sets reports whether ops sets (replaces) the field k.
func (ops *HeaderOps) sets(k []byte) bool {
	for _, kv := range ops.Set {
		if foldEqual(k, kv.Name) {
			return true
		}
	}
	return false
}

// dropTrailer reports whether a response trailer field is not relayed:
// hop-by-hop, or removed or set by the pool.
func (ops *HeaderOps) dropTrailer(k []byte) bool {
	return foldIn(k, hopByHop) || foldIn(k, ops.Remove) || ops.sets(k)
}

// Trailers (RFC 9110 §6.5, RFC 9112 §7.1.2). fasthttp keeps a header's
// announced trailer names as a set (the Trailer field it writes in the
// head) and the trailer fields in a section of their own, written after a
// chunked body; reading a chunked body to its end fills that section,
// adding the names of unannounced fields to the set. Announcing a name
// moves the fields of that name already in the head to the trailer
// section, unless the head has been written.

// trailerHeader is a request or response header, for trailer relaying.
type trailerHeader interface {
	AddTrailerBytes(names []byte) error
	AddBytesKV(k, v []byte)
	PeekBytes(k []byte) []byte
	PeekTrailerKeys() [][]byte
}

// announceTrailers announces names on dst, but those drop reports, those
// fasthttp forbids as trailers (framing, routing, authentication and
// such: RFC 9110 §6.5.1), and those dst already has a field of, which
// announcing would move after the body. A field of a name left out still
// follows the body if the message was streamed (copyTrailers).
func announceTrailers(dst trailerHeader, names [][]byte, drop func([]byte) bool) {
	for _, name := range names {
		if drop(name) || dst.PeekBytes(name) != nil {
			continue
		}
		_ = dst.AddTrailerBytes(name) // a forbidden name is refused
	}
}

// copyTrailers adds to dst's trailer section the fields of a trailer
// section as fasthttp serialises it (TrailerHeader: "Name: value" lines),
// but those drop reports and those fasthttp forbids. written says dst's
// head is out, so that a name can still be announced without moving a
// field of the head; if not, only fields of names already announced on
// dst are added.
func copyTrailers(dst trailerHeader, section []byte, written bool, drop func([]byte) bool) {
	for len(section) > 0 {
		var line []byte
		line, section, _ = bytes.Cut(section, crlf)
		k, v, ok := bytes.Cut(line, colonSpace)
		if !ok || drop(k) {
			continue
		}
		if written {
			if dst.AddTrailerBytes(k) != nil {
				continue // forbidden
			}
		} else if !exactIn(k, dst.PeekTrailerKeys()) {
			continue
		}
		dst.AddBytesKV(k, v)
	}
}

var (
	crlf       = []byte("\r\n")
	colonSpace = []byte(": ")
)

// exactIn reports whether set holds name byte for byte, as fasthttp
// matches trailer names when header names are not normalised.
func exactIn(name []byte, set [][]byte) bool {
	for _, s := range set {
		if bytes.Equal(name, s) {
			return true
		}
	}
	return false
}

// fields are a request's header fields as received, in order (name,
// value); the slices point into the request.
type fields [][2][]byte

// Header returns the value of the first field named name in any
// spelling, as received, or nil. It makes fields a route.Request.
func (f *fields) Header(name []byte) []byte {
	for _, kv := range *f {
		if foldEqual(kv[0], name) {
			return kv[1]
		}
	}
	return nil
}

// nextToken splits the first element off a comma-separated list and trims
// optional whitespace around it.
func nextToken(v []byte) (tok, rest []byte) {
	if i := bytes.IndexByte(v, ','); i >= 0 {
		tok, rest = v[:i], v[i+1:]
	} else {
		tok = v
	}
	return bytes.Trim(tok, " \t"), rest
}

func foldIn(name []byte, set [][]byte) bool {
	for _, s := range set {
		if foldEqual(name, s) {
			return true
		}
	}
	return false
}

// foldEqual reports whether a and b are equal ignoring ASCII case.
func foldEqual(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x == y {
			continue
		}
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
