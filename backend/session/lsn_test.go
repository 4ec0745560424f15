package session

import "testing"

// FuzzLaterPos: the kept position is one of the two, and the later when
// both are LSNs.
func FuzzLaterPos(f *testing.F) {
	for _, s := range [][2]string{{"0/16B3748", "0/16B3747"}, {"1/0", "0/FFFFFFFF"}, {"", "0/1"}, {"x/1", "0/1"}, {"123456789/0", "0/0"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, cur, pos string) {
		got := laterPos(cur, pos)
		if got != cur && got != pos {
			t.Fatalf("laterPos(%q, %q) = %q, neither", cur, pos, got)
		}
		c, ok1 := parseLSN(cur)
		n, ok2 := parseLSN(pos)
		if ok1 && ok2 {
			if g, _ := parseLSN(got); g != max(c, n) {
				t.Fatalf("laterPos(%q, %q) = %q, want the later", cur, pos, got)
			}
		} else if got != pos {
			t.Fatalf("laterPos(%q, %q) = %q, want the new value", cur, pos, got)
		}
	})
}
