package balancer

import (
	"errors"
	"net"
	"testing"

	"github.com/valyala/fasthttp"
)

func TestParseHashKey(t *testing.T) {
	tests := []struct {
		in      string
		want    HashKey
		wantErr bool
	}{
		{"client_ip", HashKey{Kind: KeyClientIP}, false},
		{"path", HashKey{Kind: KeyPath}, false},
		{"header:X-User", HashKey{Kind: KeyHeader, Name: "X-User"}, false},
		{"cookie:sid", HashKey{Kind: KeyCookie, Name: "sid"}, false},
		{"cookie:__Host-sid", HashKey{Kind: KeyCookie, Name: "__Host-sid"}, false},
		{"", HashKey{}, true},
		{"uri", HashKey{}, true},
		{"Client_IP", HashKey{}, true},
		{" path", HashKey{}, true},
		{"header:", HashKey{}, true},
		{"header", HashKey{}, true},
		{"header:X User", HashKey{}, true},
		{"header:X-User ", HashKey{}, true},
		{"cookie:a=b", HashKey{}, true},
		{"cookie:a:b", HashKey{}, true},
		{"param:id", HashKey{}, true},
		{"path:x", HashKey{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseHashKey(tc.in)
			if tc.wantErr {
				if !errors.Is(err, ErrInvalidHashKey) {
					t.Errorf("ParseHashKey(%q) = %v, %v; want ErrInvalidHashKey", tc.in, got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("ParseHashKey(%q) = %#v, %v; want %#v", tc.in, got, err, tc.want)
			}
			if s := got.String(); s != tc.in {
				t.Errorf("ParseHashKey(%q).String() = %q, want %q", tc.in, s, tc.in)
			}
		})
	}
}

// FuzzParseHashKey: a key that parses prints back to the same text, and
// hashing a request with it neither panics nor allocates unboundedly.
func FuzzParseHashKey(f *testing.F) {
	for _, s := range []string{"client_ip", "path", "header:X-User", "cookie:sid", "header:", "cookie:a b", "x:y"} {
		f.Add(s)
	}
	ctx := rawCtx("10.0.0.1", "/a?b", "X-User", "u", "Cookie", "sid=1")
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParseHashKey(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidHashKey) {
				t.Fatalf("ParseHashKey(%q) error %v does not wrap ErrInvalidHashKey", s, err)
			}
			return
		}
		if got := k.String(); got != s {
			t.Fatalf("ParseHashKey(%q).String() = %q, want the input", s, got)
		}
		if err := k.validate(); err != nil {
			t.Fatalf("ParseHashKey(%q) = %#v, which does not validate: %v", s, k, err)
		}
		requestKey(ctx, k)
	})
}

func TestRequestKey(t *testing.T) {
	build := rawCtx
	cookie := func(name string) HashKey { return HashKey{Kind: KeyCookie, Name: name} }
	tests := []struct {
		name string
		ctx  *fasthttp.RequestCtx
		key  HashKey
		want string
	}{
		{"ipv4", build("192.0.2.10", "/"), HashKey{Kind: KeyClientIP}, "\xc0\x00\x02\x0a"},
		{"ipv4 in ipv6", build("::ffff:192.0.2.10", "/"), HashKey{Kind: KeyClientIP}, "\xc0\x00\x02\x0a"},
		{"ipv6", build("2001:db8::1", "/"), HashKey{Kind: KeyClientIP}, string(net.ParseIP("2001:db8::1"))},
		{"path", build("10.0.0.1", "/a/b?x=1&y=2"), HashKey{Kind: KeyPath}, "/a/b"},
		{"path unnormalized", build("10.0.0.1", "/a/../b//c?x"), HashKey{Kind: KeyPath}, "/a/../b//c"},
		{"path no query", build("10.0.0.1", "/a/b"), HashKey{Kind: KeyPath}, "/a/b"},
		{"path absolute form", build("10.0.0.1", "http://example.com/a/b?x"), HashKey{Kind: KeyPath}, "/a/b"},
		{"path absolute form root", build("10.0.0.1", "http://example.com?x"), HashKey{Kind: KeyPath}, "/"},
		{"header", build("10.0.0.1", "/", "X-User", "alice"), HashKey{Kind: KeyHeader, Name: "x-user"}, "alice"},
		{"header first value", build("10.0.0.1", "/", "X-User", "alice", "X-User", "bob"), HashKey{Kind: KeyHeader, Name: "X-User"}, "alice"},
		{"header absent", build("10.0.0.1", "/"), HashKey{Kind: KeyHeader, Name: "X-User"}, ""},
		{"cookie", build("10.0.0.1", "/", "Cookie", "a=1; sid=xyz; b=2"), cookie("sid"), "xyz"},
		{"cookie first", build("10.0.0.1", "/", "Cookie", "sid=first;sid=second"), cookie("sid"), "first"},
		{"cookie quoted", build("10.0.0.1", "/", "Cookie", `sid="q v"`), cookie("sid"), "q v"},
		{"cookie case sensitive", build("10.0.0.1", "/", "Cookie", "SID=1"), cookie("sid"), ""},
		{"cookie prefix name", build("10.0.0.1", "/", "Cookie", "sidx=1; xsid=2"), cookie("sid"), ""},
		{"cookie second header", build("10.0.0.1", "/", "Cookie", "a=1", "Cookie", "sid=2"), cookie("sid"), "2"},
		{"cookie absent", build("10.0.0.1", "/", "Cookie", "a=1"), cookie("sid"), ""},
		{"no cookie header", build("10.0.0.1", "/"), cookie("sid"), ""},
		{"nil ctx", nil, HashKey{Kind: KeyPath}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(requestKey(tc.ctx, tc.key)); got != tc.want {
				t.Errorf("requestKey(%s) = %q, want %q", tc.key, got, tc.want)
			}
		})
	}
}

// TestHashPickLeavesRequestUntouched: hashing by path or cookie must not
// change what is forwarded. ctx.URI() would normalise the path, and
// Header.Cookie re-serialises the Cookie header and drops quoted values.
func TestHashPickLeavesRequestUntouched(t *testing.T) {
	for _, key := range []HashKey{{Kind: KeyClientIP}, {Kind: KeyPath}, {Kind: KeyHeader, Name: "X-User"}, {Kind: KeyCookie, Name: "sid"}} {
		t.Run(key.String(), func(t *testing.T) {
			ctx := parsedCtx(t, "10.0.0.1", "GET /a/../b//c?x=1 HTTP/1.1\r\nHost: example.com\r\n"+
				"X-User: alice\r\nCookie: theme=\"dark mode\"; sid=abc\r\nCookie: lang=en\r\n\r\n")
			before := ctx.Request.Header.String()
			p := mustNew(t, Hash, newServers(t, "a", "b", "c"), Options{HashKey: key})
			if p.Pick(ctx) == nil {
				t.Fatal("Pick() = nil, want a server")
			}
			if after := ctx.Request.Header.String(); after != before {
				t.Errorf("request header after Pick() =\n%s\nwant\n%s", after, before)
			}
		})
	}
}
