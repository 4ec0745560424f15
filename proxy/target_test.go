package proxy

import (
	"bytes"
	"testing"
)

func TestSplitTarget(t *testing.T) {
	const nilPath = "\x00nil" // marks a want of path == nil
	tests := []struct {
		name      string
		target    string
		host      string
		ok        bool
		pathQuery string
		path      string
	}{
		// Origin form is forwarded exactly as received.
		{name: "origin form", target: "/a/b?x=1", host: "good.example", ok: true, pathQuery: "/a/b?x=1", path: "/a/b"},
		{name: "origin root", target: "/", host: "good.example", ok: true, pathQuery: "/", path: "/"},
		{name: "origin without query", target: "/a/b", host: "good.example", ok: true, pathQuery: "/a/b", path: "/a/b"},
		{name: "origin empty query", target: "/a?", host: "good.example", ok: true, pathQuery: "/a?", path: "/a"},
		{name: "origin fragment", target: "/a#f?x", host: "good.example", ok: true, pathQuery: "/a#f?x", path: "/a"},
		{name: "origin not decoded", target: "/a%2Fb/../c?x=%20", host: "good.example", ok: true, pathQuery: "/a%2Fb/../c?x=%20", path: "/a%2Fb/../c"},
		{
			name: "origin double slash is not an authority", target: "//evil.example/x?u=http://y", host: "good.example",
			ok: true, pathQuery: "//evil.example/x?u=http://y", path: "//evil.example/x",
		},
		{name: "origin ignores host", target: "/p", host: "", ok: true, pathQuery: "/p", path: "/p"},

		// Absolute form is accepted only for the Host header's authority.
		{name: "absolute form", target: "http://good.example/p?q", host: "good.example", ok: true, pathQuery: "/p?q", path: "/p"},
		{name: "absolute form host case", target: "http://good.example/p?q", host: "GOOD.example", ok: true, pathQuery: "/p?q", path: "/p"},
		{name: "absolute form authority case", target: "http://Good.EXAMPLE/p", host: "good.example", ok: true, pathQuery: "/p", path: "/p"},
		{name: "absolute form scheme case", target: "HTTP://good.example/p", host: "good.example", ok: true, pathQuery: "/p", path: "/p"},
		{name: "absolute form https mixed case", target: "hTtPs://good.example/p", host: "good.example", ok: true, pathQuery: "/p", path: "/p"},
		{name: "absolute form with port", target: "https://good.example:443/p", host: "good.example:443", ok: true, pathQuery: "/p", path: "/p"},
		{name: "absolute form IPv6", target: "http://[::1]:8080/p", host: "[::1]:8080", ok: true, pathQuery: "/p", path: "/p"},
		{name: "absolute form no path", target: "http://good.example", host: "good.example", ok: true, pathQuery: "", path: nilPath},
		{name: "absolute form query only", target: "http://good.example?x", host: "good.example", ok: true, pathQuery: "?x", path: nilPath},
		{name: "absolute form fragment only", target: "http://good.example#f", host: "good.example", ok: true, pathQuery: "#f", path: nilPath},
		{name: "absolute form root", target: "http://good.example/", host: "good.example", ok: true, pathQuery: "/", path: "/"},
		{name: "absolute form query has URL", target: "http://good.example/r?to=http://evil.example/", host: "good.example", ok: true, pathQuery: "/r?to=http://evil.example/", path: "/r"},
		{name: "absolute form path has double slash", target: "http://good.example//evil.example/", host: "good.example", ok: true, pathQuery: "//evil.example/", path: "//evil.example/"},

		// Refused.
		{name: "absolute form other host", target: "http://evil.example/p", host: "good.example", ok: false},
		{name: "absolute form host suffix", target: "http://good.example.evil/p", host: "good.example", ok: false},
		{name: "absolute form host prefix", target: "http://good.exam/p", host: "good.example", ok: false},
		{name: "absolute form port mismatch", target: "http://good.example:8080/p", host: "good.example", ok: false},
		{name: "absolute form port missing", target: "http://good.example/p", host: "good.example:80", ok: false},
		{name: "absolute form userinfo", target: "http://user@good.example/", host: "good.example", ok: false},
		{name: "absolute form userinfo matching host", target: "http://good.example@evil.example/", host: "good.example", ok: false},
		{name: "absolute form empty authority", target: "http:///p", host: "", ok: false},
		{name: "absolute form empty authority with host", target: "http:///p", host: "good.example", ok: false},
		{name: "absolute form scheme only", target: "http://", host: "", ok: false},
		{name: "other scheme", target: "ftp://good.example/p", host: "good.example", ok: false},
		{name: "scheme with one slash", target: "http:/good.example/p", host: "good.example", ok: false},
		{name: "scheme without slashes", target: "http:good.example/p", host: "good.example", ok: false},
		{name: "scheme prefix", target: "httpx://good.example/p", host: "good.example", ok: false},
		{name: "asterisk form", target: "*", host: "good.example", ok: false},
		{name: "authority form", target: "example.com:443", host: "example.com:443", ok: false},
		{name: "empty", target: "", host: "good.example", ok: false},
		{name: "relative path", target: "p?q", host: "good.example", ok: false},
		{name: "query only", target: "?q", host: "good.example", ok: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			target := []byte(tc.target)
			pathQuery, path, ok := splitTarget(target, []byte(tc.host))
			if ok != tc.ok {
				t.Fatalf("splitTarget(%q, %q) ok = %v, want %v", tc.target, tc.host, ok, tc.ok)
			}
			if !ok {
				if pathQuery != nil || path != nil {
					t.Errorf("splitTarget(%q, %q) = %q, %q, false; want nil, nil, false", tc.target, tc.host, pathQuery, path)
				}
				return
			}
			if string(pathQuery) != tc.pathQuery {
				t.Errorf("splitTarget(%q, %q) pathQuery = %q, want %q", tc.target, tc.host, pathQuery, tc.pathQuery)
			}
			if tc.path == nilPath {
				if path != nil {
					t.Errorf("splitTarget(%q, %q) path = %q, want nil", tc.target, tc.host, path)
				}
			} else if path == nil || string(path) != tc.path {
				t.Errorf("splitTarget(%q, %q) path = %q (nil: %v), want %q", tc.target, tc.host, path, path == nil, tc.path)
			}
			if len(pathQuery) > 0 && &pathQuery[0] != &target[len(target)-len(pathQuery)] {
				t.Errorf("splitTarget(%q, %q) pathQuery does not alias the end of target", tc.target, tc.host)
			}
		})
	}
}

func TestCutScheme(t *testing.T) {
	tests := []struct {
		in, rest string
		ok       bool
	}{
		{"http://h/p", "h/p", true},
		{"https://h/p", "h/p", true},
		{"HTTPS://h", "h", true},
		{"Http://", "", true},
		{"http:/h", "", false},
		{"https:/", "", false},
		{"ftp://h", "", false},
		{"/http://h", "", false},
		{"", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			rest, ok := cutScheme([]byte(tc.in))
			if ok != tc.ok || string(rest) != tc.rest {
				t.Errorf("cutScheme(%q) = %q, %v, want %q, %v", tc.in, rest, ok, tc.rest, tc.ok)
			}
		})
	}
}

// asciiFoldEqual reports whether a and b are equal with ASCII letters
// folded. Unlike bytes.EqualFold it does not fold Unicode ("K" and the
// Kelvin sign differ).
func asciiFoldEqual(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
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

// absoluteAuthority returns the authority of an http or https absolute
// target (between "://" and the next '/', '?' or '#'), and the rest.
func absoluteAuthority(target []byte) (authority, rest []byte, isAbs bool) {
	i := bytes.Index(target, []byte("://"))
	if i < 0 {
		return nil, nil, false
	}
	scheme := target[:i]
	if !asciiFoldEqual(scheme, []byte("http")) && !asciiFoldEqual(scheme, []byte("https")) {
		return nil, nil, false
	}
	after := target[i+len("://"):]
	end := len(after)
	if j := bytes.IndexAny(after, "/?#"); j >= 0 {
		end = j
	}
	return after[:end], after[end:], true
}

func FuzzSplitTarget(f *testing.F) {
	f.Add([]byte("/a/b?x=1"), []byte("good.example"))
	f.Add([]byte("http://good.example/p?q"), []byte("GOOD.example"))
	f.Fuzz(func(t *testing.T, target, host []byte) {
		t0, h0 := bytes.Clone(target), bytes.Clone(host)
		pathQuery, path, ok := splitTarget(target, host)
		if !bytes.Equal(target, t0) || !bytes.Equal(host, h0) {
			t.Fatalf("splitTarget(%q, %q) modified its arguments", t0, h0)
		}
		authority, rest, isAbs := absoluteAuthority(target)
		startsSlash := len(target) > 0 && target[0] == '/'

		// Completeness: origin form, and absolute form naming the Host,
		// are always accepted.
		wantOK := startsSlash || (isAbs && len(authority) > 0 && asciiFoldEqual(authority, host))
		if ok != wantOK {
			t.Fatalf("splitTarget(%q, %q) ok = %v, want %v", target, host, ok, wantOK)
		}
		if !ok {
			if pathQuery != nil || path != nil {
				t.Fatalf("splitTarget(%q, %q) = %q, %q, false; want nil, nil, false", target, host, pathQuery, path)
			}
			return
		}

		// pathQuery is a suffix of target, sharing its memory.
		if !bytes.HasSuffix(target, pathQuery) {
			t.Fatalf("splitTarget(%q, %q) pathQuery %q is not a suffix of target", target, host, pathQuery)
		}
		if len(pathQuery) > 0 && &pathQuery[0] != &target[len(target)-len(pathQuery)] {
			t.Fatalf("splitTarget(%q, %q) pathQuery does not alias the end of target", target, host)
		}
		// path is nil or a prefix of pathQuery that stops at '?' or '#'.
		if path != nil {
			if !bytes.HasPrefix(pathQuery, path) {
				t.Fatalf("splitTarget(%q, %q) path %q is not a prefix of pathQuery %q", target, host, path, pathQuery)
			}
			if bytes.ContainsAny(path, "?#") {
				t.Fatalf("splitTarget(%q, %q) path %q contains '?' or '#'", target, host, path)
			}
			if tail := pathQuery[len(path):]; len(tail) > 0 && tail[0] != '?' && tail[0] != '#' {
				t.Fatalf("splitTarget(%q, %q) path %q stops early in %q", target, host, path, pathQuery)
			}
			if len(path) == 0 || path[0] != '/' {
				t.Fatalf("splitTarget(%q, %q) path %q does not start with '/'", target, host, path)
			}
		} else if len(pathQuery) > 0 && pathQuery[0] == '/' {
			t.Fatalf("splitTarget(%q, %q) path = nil for pathQuery %q", target, host, pathQuery)
		}

		if startsSlash {
			if !bytes.Equal(pathQuery, target) {
				t.Fatalf("splitTarget(%q, %q) pathQuery = %q, want target unchanged", target, host, pathQuery)
			}
			return
		}
		// Absolute form: the authority is the Host header and pathQuery
		// is everything after it.
		if !isAbs || !asciiFoldEqual(authority, host) {
			t.Fatalf("splitTarget(%q, %q) accepted authority %q (absolute: %v), want Host %q", target, host, authority, isAbs, host)
		}
		if !bytes.Equal(pathQuery, rest) {
			t.Fatalf("splitTarget(%q, %q) pathQuery = %q, want %q", target, host, pathQuery, rest)
		}
	})
}

func TestAppendTarget(t *testing.T) {
	for in, want := range map[string]string{
		"/a?b=1":     "/a?b=1",
		"/a?b=1#c":   "/a?b=1",
		"/a#c?d":     "/a",
		"/a?":        "/a",
		"/a??":       "/a??",
		"/a?b?":      "/a?b?",
		"?q":         "/?q",
		"":           "/",
		"//x/%2e%2E": "//x/%2e%2E",
	} {
		if got := string(appendTarget([]byte("GET "), []byte(in))); got != "GET "+want {
			t.Errorf("appendTarget(%q) = %q, want %q", in, got, "GET "+want)
		}
	}
}

// TestHeadBufKeepsFieldsOnOneLine: a CR or LF in a field, which the edge
// checks and config validation keep out, is found by one count over the
// head (clean), and the head built again in careful mode, where it
// becomes a space: no field can start a new field line.
func TestHeadBufKeepsFieldsOnOneLine(t *testing.T) {
	add := func(h *headBuf) {
		h.AddBytesKV([]byte("X-A"), []byte("1"))
		h.AddBytesKV([]byte("X-B"), []byte("2\r\nX-Evil: 1"))
		h.AddBytesKV([]byte("X-C\n"), []byte("3"))
		h.endLine()
	}
	var h headBuf
	add(&h)
	if h.clean() {
		t.Fatalf("head %q taken for clean", h.b)
	}
	h = headBuf{careful: true}
	add(&h)
	if got, want := string(h.b), "X-A: 1\r\nX-B: 2  X-Evil: 1\r\nX-C : 3\r\n\r\n"; got != want || !h.clean() {
		t.Fatalf("careful head %q (clean %v), want %q", got, h.clean(), want)
	}
	h = headBuf{}
	h.AddBytesKV([]byte("X-A"), []byte("1"))
	h.endLine()
	if !h.clean() {
		t.Fatalf("head %q not taken for clean", h.b)
	}
}
