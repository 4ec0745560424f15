package compress

import "testing"

var brGzip = []Algorithm{Brotli, Gzip}

func TestNegotiate(t *testing.T) {
	tests := []struct {
		name   string
		ae     string
		prefer []Algorithm
		want   Algorithm
		ok     bool
	}{
		{"empty", "", brGzip, Identity, true},
		{"only whitespace and commas", " ,\t, ", brGzip, Identity, true},
		{"gzip", "gzip", brGzip, Gzip, true},
		{"br", "br", brGzip, Brotli, true},
		{"br q0.9 gzip q1", "br;q=0.9, gzip", brGzip, Gzip, true},
		{"gzip refused", "gzip;q=0, br", brGzip, Brotli, true},
		{"star", "*", brGzip, Brotli, true},
		{"star prefer gzip first", "*", []Algorithm{Gzip, Brotli}, Gzip, true},
		{"star q0", "*;q=0", brGzip, Identity, false},
		{"identity q0 alone", "identity;q=0", brGzip, Identity, false},
		{"identity q0 with gzip", "identity;q=0, gzip", brGzip, Gzip, true},
		{"identity and star q0", "identity;q=0, *;q=0", brGzip, Identity, false},
		{"star q0 but identity listed", "*;q=0, identity", brGzip, Identity, true},
		{"star q0 gzip listed", "*;q=0, gzip;q=0.5", brGzip, Gzip, true},
		{"upper case", "GZIP;Q=0.5", brGzip, Gzip, true},
		{"tie at q1 broken by prefer", "gzip;q=1, br;q=1.0", brGzip, Brotli, true},
		{"tie broken by prefer gzip first", "br;q=1.0, gzip;q=1", []Algorithm{Gzip, Brotli}, Gzip, true},
		{"tie at lower q", "gzip;q=0.5, br;q=0.5", brGzip, Brotli, true},
		{"tiny q still acceptable", "gzip;q=0.001", brGzip, Gzip, true},
		{"three decimals pick higher", "br;q=0.125, gzip;q=0.126", brGzip, Gzip, true},
		{"q above 1 malformed", "gzip;q=1.5", brGzip, Identity, true},
		{"q not a number malformed", "gzip;q=abc", brGzip, Identity, true},
		{"four decimals malformed", "gzip;q=0.0001", brGzip, Identity, true},
		{"q 1.001 malformed", "br;q=1.001, gzip;q=0.1", brGzip, Gzip, true},
		{"q without value malformed", "br;q, gzip;q=0.2", brGzip, Gzip, true},
		{"malformed member does not poison others", "br;q=2, gzip", brGzip, Gzip, true},
		{"malformed then star", "br;q=x, *;q=0.3", brGzip, Brotli, true},
		{"spaces and tabs", " \tbr \t; \tq=0.4 \t,\tgzip ; q=0.6\t", brGzip, Gzip, true},
		{"whitespace around equals", "gzip; q = 0.7, br;q=0.6", brGzip, Gzip, true},
		{"duplicate first wins", "gzip;q=0, gzip;q=1, br;q=0.1", brGzip, Brotli, true},
		{"duplicate first wins accept", "br, br;q=0", brGzip, Brotli, true},
		{"x-gzip alias", "x-gzip", brGzip, Gzip, true},
		{"X-GZIP alias upper", "X-GZIP;q=0.8, br;q=0.2", brGzip, Gzip, true},
		{"unknown codings ignored", "deflate, zstd, compress", brGzip, Identity, true},
		{"unknown params ignored", "br;level=5;q=0.9, gzip;q=0.8", brGzip, Brotli, true},
		{"identity preferred over coding", "gzip;q=0.5, identity", brGzip, Identity, true},
		{"identity tie goes to coding", "gzip, identity", brGzip, Gzip, true},
		{"star sets identity q", "gzip;q=0.4, *;q=0.5", []Algorithm{Gzip}, Identity, true},
		{"not offered", "br", []Algorithm{Gzip}, Identity, true},
		{"not offered and identity refused", "br, identity;q=0", []Algorithm{Gzip}, Identity, false},
		{"empty prefer", "gzip, br", nil, Identity, true},
		{"identity in prefer ignored", "gzip", []Algorithm{Identity, Gzip}, Gzip, true},
		{"one point zero zero zero", "gzip;q=1.000, br;q=0.999", brGzip, Gzip, true},
		{"q zero point", "gzip;q=0., br;q=1.", brGzip, Brotli, true},
		{"empty members", ",,gzip,,", brGzip, Gzip, true},
		{"token with space malformed", "g zip", brGzip, Identity, true},
		{"browser header", "gzip, deflate, br, zstd", brGzip, Brotli, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := Negotiate([]byte(tc.ae), tc.prefer)
			if got != tc.want || ok != tc.ok {
				t.Errorf("Negotiate(%q, %v) = (%v, %v), want (%v, %v)", tc.ae, tc.prefer, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestNegotiateAllocs(t *testing.T) {
	headers := [][]byte{
		[]byte("gzip, deflate, br, zstd"),
		[]byte("br;q=0.9, gzip;q=0.8, identity;q=0.1, *;q=0"),
		[]byte(" GZIP ; Q = 0.5 ,\tx-gzip;q=abc"),
	}
	for _, h := range headers {
		allocs := testing.AllocsPerRun(100, func() { Negotiate(h, brGzip) })
		if allocs != 0 {
			t.Errorf("Negotiate(%q) allocs = %v, want 0", h, allocs)
		}
	}
}

func BenchmarkNegotiate(b *testing.B) {
	h := []byte("gzip, deflate, br, zstd")
	b.ReportAllocs()
	for b.Loop() {
		Negotiate(h, brGzip)
	}
}
