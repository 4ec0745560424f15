package data

import "testing"

func TestParseLSN(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"0/0", 0, true},
		{"0/16B3748", 0x16B3748, true},
		{"1/0", 1 << 32, true},
		{"FFFFFFFF/FFFFFFFF", ^uint64(0), true},
		{"a/b", 0xa<<32 | 0xb, true},
		{"", 0, false},
		{"0", 0, false},
		{"/1", 0, false},
		{"1/", 0, false},
		{"1/2/3", 0, false},
		{"100000000/0", 0, false},
		{"-1/0", 0, false},
		{"+1/0", 0, false},
		{"0x1/0", 0, false},
		{"g/0", 0, false},
	} {
		got, err := ParseLSN(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseLSN(%q) = %#x, %v; want %#x, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
	if got := FormatLSN(0x16B3748); got != "0/16B3748" {
		t.Errorf("FormatLSN = %q, want 0/16B3748", got)
	}
}

func FuzzParseLSN(f *testing.F) {
	for _, s := range []string{"0/16B3748", "FFFFFFFF/FFFFFFFF", "1/", "+1/0", "0/0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseLSN(s)
		if err != nil {
			return
		}
		if w, err := ParseLSN(FormatLSN(v)); err != nil || w != v {
			t.Fatalf("ParseLSN(FormatLSN(%#x)) = %#x, %v", v, w, err)
		}
	})
}
