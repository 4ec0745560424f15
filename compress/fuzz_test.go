package compress

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// FuzzNegotiate checks Negotiate against refNegotiate, a slow, independent
// string-based reading of RFC 9110 §12.5.3, for both preference orders, and
// the properties: no panic, the result is Identity or offered, and a chosen
// coding has q > 0 in the header.
func FuzzNegotiate(f *testing.F) {
	for _, s := range []string{"", "gzip", "br;q=0.9, gzip", "*;q=0", "identity;q=0, *;q=0", "GZIP;Q=0.5"} {
		f.Add([]byte(s))
	}
	orders := [][]Algorithm{{Brotli, Gzip}, {Gzip, Brotli}, {Gzip}}
	f.Fuzz(func(t *testing.T, ae []byte) {
		for _, prefer := range orders {
			got, ok := Negotiate(ae, prefer)
			want, wantOK, q := refNegotiate(string(ae), prefer)
			if got != want || ok != wantOK {
				t.Fatalf("Negotiate(%q, %v) = (%v, %v), want (%v, %v)", ae, prefer, got, ok, want, wantOK)
			}
			if got == Identity {
				continue
			}
			offered := false
			for _, a := range prefer {
				offered = offered || a == got
			}
			if !offered {
				t.Fatalf("Negotiate(%q, %v) = %v, not offered", ae, prefer, got)
			}
			if !ok || q[got.Token()] <= 0 && !(q[got.Token()] < 0 && q["*"] > 0) {
				t.Fatalf("Negotiate(%q, %v) = %v, but its q is not > 0 (%v)", ae, prefer, got, q)
			}
		}
	})
}

var qvalueRE = regexp.MustCompile(`^(0(\.[0-9]{0,3})?|1(\.0{0,3})?)$`)

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		b[i] = lower(c)
	}
	return string(b)
}

// refNegotiate is the reference for FuzzNegotiate. q maps each listed token
// ("gzip", "br", "identity", "*") to its q in thousandths; unlisted is -1.
func refNegotiate(ae string, prefer []Algorithm) (Algorithm, bool, map[string]int) {
	q := map[string]int{"gzip": -1, "br": -1, "identity": -1, "*": -1}
	listed := map[string]bool{}
	for _, m := range strings.Split(ae, ",") {
		parts := strings.Split(m, ";")
		tok := asciiLower(strings.Trim(parts[0], " \t"))
		if tok == "x-gzip" {
			tok = "gzip"
		}
		if _, known := q[tok]; !known || listed[tok] {
			continue
		}
		w, bad := 1000, false
		for _, p := range parts[1:] {
			name, val, has := strings.Cut(p, "=")
			if asciiLower(strings.Trim(name, " \t")) != "q" {
				continue
			}
			val = strings.Trim(val, " \t")
			if !has || !qvalueRE.MatchString(val) {
				bad = true
				break
			}
			fv, _ := strconv.ParseFloat(val, 64)
			w = int(fv*1000 + 0.5)
			break
		}
		if bad {
			continue
		}
		listed[tok] = true
		q[tok] = w
	}
	best, bestQ := Identity, 0
	for _, a := range prefer {
		qa := q[a.Token()]
		if qa < 0 {
			qa = max(q["*"], 0)
		}
		if qa > bestQ {
			best, bestQ = a, qa
		}
	}
	idQ := q["identity"]
	if idQ < 0 {
		idQ = q["*"]
	}
	switch {
	case bestQ > 0 && bestQ >= idQ:
		return best, true, q
	case idQ != 0:
		return Identity, true, q
	}
	return Identity, false, q
}

// FuzzHeaders exercises the other header parsers for panics and basic
// properties.
func FuzzHeaders(f *testing.F) {
	f.Add([]byte("no-cache, no-transform"), []byte("Cookie, accept-encoding"), []byte(`"abc"`))
	f.Add([]byte(`private="a, no-transform"`), []byte("*"), []byte(`W/"x"`))
	f.Fuzz(func(t *testing.T, cc, vary, etag []byte) {
		HasNoTransform([][]byte{cc})
		v, _ := MergeVary([][]byte{vary, vary})
		if n := strings.Count(strings.ToLower(string(v)), "accept-encoding"); string(v) != "*" && n < 1 {
			t.Fatalf("MergeVary(%q) = %q, lacks Accept-Encoding", vary, v)
		}
		w := WeakenETag(etag)
		if w != nil && len(trimOWS(w)) > 0 && !strings.HasPrefix(string(trimOWS(w)), "W/") {
			t.Fatalf("WeakenETag(%q) = %q, not weak", etag, w)
		}
	})
}
