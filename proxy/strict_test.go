package proxy

import (
	"bytes"
	"strings"
	"testing"
)

func TestHasDotSegment(t *testing.T) {
	for _, tc := range []struct {
		path string
		want bool
	}{
		{"/", false},
		{"/a/b", false},
		{"/a/../b", true},
		{"/a/./b", true},
		{"/..", true},
		{"/a/..", true},
		{"..", true},
		{"/a/%2e%2E/b", true},
		{"/a/.%2e/b", true},
		{"/a/%2e/b", true},
		{"/..;/admin", true},
		{"/.;x/admin", true},
		{"/a/..b", false},
		{"/a/b..", false},
		{"/a/.../b", false},
		{"/a.b/c", false},
		{"/a/%2e%2e%2e/b", false},
		{"/a/%2f../b", false}, // one segment "%2f.." (reject_encoded_slashes catches it)
		{"/a/;../b", false},
		{"/a/%2", false},
		{"/a/%2e", true},
	} {
		if got := hasDotSegment([]byte(tc.path)); got != tc.want {
			t.Errorf("hasDotSegment(%q) = %v, want %v", tc.path, got, tc.want)
		}
	}
}

func TestHasEncodedSlash(t *testing.T) {
	for _, tc := range []struct {
		path string
		want bool
	}{
		{"/a/b", false},
		{"/a%2fb", true},
		{"/a%2Fb", true},
		{"/a%5cb", true},
		{"/a%5Cb", true},
		{"/a%25%32%66b", false}, // %2f encoded twice: the server decodes once
		{"/a%2", false},
		{"%2F", true},
	} {
		if got := hasEncodedSlash([]byte(tc.path)); got != tc.want {
			t.Errorf("hasEncodedSlash(%q) = %v, want %v", tc.path, got, tc.want)
		}
	}
}

// dotSegmentRef is hasDotSegment written plainly: decode %2e, cut each
// segment at ';', look for "." or "..".
func dotSegmentRef(path string) bool {
	for _, seg := range strings.Split(path, "/") {
		if i := strings.IndexByte(seg, ';'); i >= 0 {
			seg = seg[:i]
		}
		var b bytes.Buffer
		for i := 0; i < len(seg); i++ {
			if seg[i] == '%' && i+2 < len(seg) && seg[i+1] == '2' && seg[i+2]|0x20 == 'e' {
				b.WriteByte('.')
				i += 2
				continue
			}
			b.WriteByte(seg[i])
		}
		if s := b.String(); s == "." || s == ".." {
			return true
		}
	}
	return false
}

func FuzzHasDotSegment(f *testing.F) {
	for _, s := range []string{"/a/../b", "/%2e%2E/", "/..;/x", "/a/.b", "/a/%2", "..", "/.%2e;/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		if got, want := hasDotSegment([]byte(path)), dotSegmentRef(path); got != want {
			t.Fatalf("hasDotSegment(%q) = %v, reference says %v", path, got, want)
		}
	})
}
