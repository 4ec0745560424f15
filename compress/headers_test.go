package compress

import "testing"

func TestMergeVary(t *testing.T) {
	tests := []struct {
		name     string
		existing []string
		want     string
		changed  bool
	}{
		{"none", nil, "Accept-Encoding", true},
		{"empty field", []string{""}, "Accept-Encoding", true},
		{"Cookie", []string{"Cookie"}, "Cookie, Accept-Encoding", true},
		{"already listed lower case", []string{"cookie, accept-encoding"}, "cookie, accept-encoding", false},
		{"star stays star", []string{"*"}, "*", false},
		{"star among others", []string{"Cookie, *"}, "*", true},
		{"two fields with AE", []string{"Origin", "Accept-Encoding"}, "Origin, Accept-Encoding", false},
		{"two fields without AE", []string{"Origin", "Cookie"}, "Origin, Cookie, Accept-Encoding", true},
		{"duplicate AE removed", []string{"Accept-Encoding", "accept-encoding, Origin"}, "Accept-Encoding, Origin", true},
		{"whitespace and empty members", []string{" ,Origin ,\t, "}, "Origin, Accept-Encoding", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var fields [][]byte
			for _, f := range tc.existing {
				fields = append(fields, []byte(f))
			}
			got, changed := MergeVary(fields)
			if string(got) != tc.want || changed != tc.changed {
				t.Errorf("MergeVary(%q) = (%q, %v), want (%q, %v)", tc.existing, got, changed, tc.want, tc.changed)
			}
		})
	}
}

func TestAppendMergedVaryAllocs(t *testing.T) {
	fields := [][]byte{[]byte("Origin"), []byte("Cookie")}
	buf := make([]byte, 0, 64)
	if a := testing.AllocsPerRun(100, func() { AppendMergedVary(buf[:0], fields) }); a != 0 {
		t.Errorf("AppendMergedVary allocs = %v, want 0", a)
	}
}

func TestWeakenETag(t *testing.T) {
	tests := []struct {
		name, etag string
		want       []byte
	}{
		{"strong", `"abc"`, []byte(`W/"abc"`)},
		{"strong empty tag", `""`, []byte(`W/""`)},
		{"strong with whitespace", ` "abc" `, []byte(`W/"abc"`)},
		{"weak unchanged", `W/"abc"`, []byte(`W/"abc"`)},
		{"empty unchanged", ``, []byte(``)},
		{"unquoted dropped", `abc`, nil},
		{"lone quote dropped", `"`, nil},
		{"lower-case w/ is not weak, dropped", `w/"abc"`, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := WeakenETag([]byte(tc.etag))
			if string(got) != string(tc.want) || (got == nil) != (tc.want == nil) {
				t.Errorf("WeakenETag(%q) = %q (nil=%v), want %q (nil=%v)", tc.etag, got, got == nil, tc.want, tc.want == nil)
			}
		})
	}
}
