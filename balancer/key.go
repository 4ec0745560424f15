package balancer

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/valyala/fasthttp"
)

// KeyKind says which part of a request the hash policy hashes.
type KeyKind int

// The key kinds. The zero value is KeyClientIP.
const (
	// KeyClientIP hashes the client's IP address (HAProxy `balance source`,
	// Nginx `ip_hash` / `hash $remote_addr`).
	KeyClientIP KeyKind = iota
	// KeyPath hashes the request target's path, without the query (HAProxy
	// `balance uri path-only`, Nginx `hash $uri`).
	KeyPath
	// KeyHeader hashes the first value of a request header (HAProxy
	// `balance hdr(name)`, Nginx `hash $http_name`).
	KeyHeader
	// KeyCookie hashes the value of a request cookie (Nginx
	// `hash $cookie_name`).
	KeyCookie
)

// String returns the kind as written in configuration.
func (k KeyKind) String() string {
	switch k {
	case KeyClientIP:
		return "client_ip"
	case KeyPath:
		return "path"
	case KeyHeader:
		return "header"
	case KeyCookie:
		return "cookie"
	}
	return fmt.Sprintf("KeyKind(%d)", int(k))
}

// HashKey is what the hash policy hashes. The zero value hashes the client
// IP. It is a plain value, safe to copy.
type HashKey struct {
	Kind KeyKind
	// Name is the header or cookie name for KeyHeader and KeyCookie, empty
	// otherwise. Header names match case-insensitively, cookie names
	// exactly.
	Name string
}

// String returns the key as written in configuration; ParseHashKey reads
// it back.
func (k HashKey) String() string {
	if k.Kind == KeyHeader || k.Kind == KeyCookie {
		return k.Kind.String() + ":" + k.Name
	}
	return k.Kind.String()
}

// ParseHashKey reads a hash key as written in configuration: "client_ip",
// "path", "header:NAME" or "cookie:NAME", where NAME is an RFC 9110 token
// (the syntax of both header and cookie names). Anything else is an error
// wrapping ErrInvalidHashKey; nothing is trimmed or repaired.
func ParseHashKey(s string) (HashKey, error) {
	switch s {
	case "client_ip":
		return HashKey{Kind: KeyClientIP}, nil
	case "path":
		return HashKey{Kind: KeyPath}, nil
	}
	kind, name, ok := strings.Cut(s, ":")
	if !ok {
		return HashKey{}, fmt.Errorf("%w %q: want client_ip, path, header:NAME or cookie:NAME", ErrInvalidHashKey, s)
	}
	k := HashKey{Name: name}
	switch kind {
	case "header":
		k.Kind = KeyHeader
	case "cookie":
		k.Kind = KeyCookie
	default:
		return HashKey{}, fmt.Errorf("%w %q: unknown kind %q, want header or cookie", ErrInvalidHashKey, s, kind)
	}
	if err := k.validate(); err != nil {
		return HashKey{}, err
	}
	return k, nil
}

// validate reports whether the key is one ParseHashKey could return.
func (k HashKey) validate() error {
	switch k.Kind {
	case KeyClientIP, KeyPath:
		if k.Name != "" {
			return fmt.Errorf("%w: %s takes no name, got %q", ErrInvalidHashKey, k.Kind, k.Name)
		}
		return nil
	case KeyHeader, KeyCookie:
		if k.Name == "" {
			return fmt.Errorf("%w %q: empty %s name", ErrInvalidHashKey, k.String(), k.Kind)
		}
		for i := 0; i < len(k.Name); i++ {
			if !isTokenChar(k.Name[i]) {
				return fmt.Errorf("%w %q: %s name has %q at byte %d, want a token", ErrInvalidHashKey, k.String(), k.Kind, k.Name[i], i)
			}
		}
		return nil
	}
	return fmt.Errorf("%w: unknown kind %s", ErrInvalidHashKey, k.Kind)
}

// isTokenChar reports whether c is an RFC 9110 tchar.
func isTokenChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// requestKey returns the bytes of ctx that k names, or nil when the request
// has none (absent header or cookie, nil ctx). The result aliases ctx's
// buffers: it is valid until ctx is changed and must not be kept.
//
// It does not allocate in the steady state and does not change how the
// request is forwarded: it never parses the URI (ctx.URI, ctx.Path) nor
// collects cookies (Header.Cookie), both of which make fasthttp rewrite the
// request line or the Cookie header it sends upstream.
func requestKey(ctx *fasthttp.RequestCtx, k HashKey) []byte {
	if ctx == nil {
		return nil
	}
	switch k.Kind {
	case KeyClientIP:
		ip := ctx.RemoteIP()
		if ip4 := ip.To4(); ip4 != nil {
			return ip4 // one form for 1.2.3.4 and ::ffff:1.2.3.4
		}
		return ip
	case KeyPath:
		return requestPath(ctx.Request.Header.RequestURI())
	case KeyHeader:
		return requestHeader(&ctx.Request.Header, k.Name)
	case KeyCookie:
		return RequestCookie(&ctx.Request.Header, k.Name)
	}
	return nil
}

// requestPath returns the path of a raw request target: the bytes before
// the first '?' (or '#'), without the scheme and authority of an
// absolute-form target ("http://host/p?q" gives "/p"), so that both forms
// of the same request hash alike.
func requestPath(target []byte) []byte {
	if len(target) > 0 && target[0] != '/' {
		if i := bytes.Index(target, []byte("://")); i >= 0 {
			rest := target[i+3:]
			if j := bytes.IndexAny(rest, "/?#"); j >= 0 && rest[j] == '/' {
				target = rest[j:]
			} else {
				// No path: it is "/", the last byte of "://" (no allocation).
				return target[i+2 : i+3]
			}
		}
	}
	if i := bytes.IndexAny(target, "?#"); i >= 0 {
		target = target[:i]
	}
	return target
}

// RequestCookie returns the value of the first cookie called name in the
// request's Cookie header(s), with one pair of surrounding double quotes
// removed (as net/http does), or nil.
//
// It scans the raw header (RFC 6265 section 4.2.1: name=value pairs
// separated by ";") instead of calling Header.Cookie, because that moves
// the cookies into fasthttp's parsed form and the request is then
// forwarded with one re-serialized Cookie header: several Cookie headers
// are merged, the quotes of a quoted value (allowed by RFC 6265) are
// removed, and values holding ';' or '\' are dropped. A request parsed by
// the server keeps its cookies raw, and this scan allocates nothing; if
// the fields are read as received (AllInOrder), in any spelling of the
// name, since lb keeps header names as the client wrote them.
func RequestCookie(h *fasthttp.RequestHeader, name string) []byte {
	for key, line := range h.AllInOrder() {
		if !foldEqual(key, fasthttp.HeaderCookie) {
			continue
		}
		for len(line) > 0 {
			var pair []byte
			if i := bytes.IndexByte(line, ';'); i >= 0 {
				pair, line = line[:i], line[i+1:]
			} else {
				pair, line = line, nil
			}
			pair = bytes.Trim(pair, " \t")
			k, v, ok := bytes.Cut(pair, []byte("="))
			if !ok || string(bytes.TrimRight(k, " \t")) != name {
				continue
			}
			v = bytes.Trim(v, " \t")
			if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
				v = v[1 : len(v)-1]
			}
			return v
		}
	}
	return nil
}

// requestHeader returns the value of the first header field called name in
// any spelling, as received, or nil. lb keeps header names as the client
// wrote them, so Header.Peek, which compares exact bytes, would miss
// "x-user" for a key "header:X-User".
func requestHeader(h *fasthttp.RequestHeader, name string) []byte {
	for k, v := range h.AllInOrder() {
		if foldEqual(k, name) {
			return v
		}
	}
	return nil
}

// foldEqual reports whether a equals b ignoring ASCII case.
func foldEqual(a []byte, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range len(a) {
		x, y := a[i], b[i]
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
