package balancer

import "testing"

func TestLeastConn(t *testing.T) {
	tests := []struct {
		name     string
		specs    []string
		inflight []int
		want     string
	}{
		{"least loaded", []string{"a", "b", "c"}, []int{3, 1, 2}, "b b b"},
		{"ties rotate", []string{"a", "b", "c"}, []int{0, 0, 0}, "a b c a b c"},
		// a: 2 in flight / weight 2 = 1 = b: 1 / 1; c: 2 / 1. The scan
		// starts one server further each time and the first of a and b
		// in that order wins.
		{"weights tie", []string{"a:2", "b:1", "c:1"}, []int{2, 1, 2}, "a b a a b a"},
		{"weight wins", []string{"a:3", "b:1"}, []int{2, 1}, "a a a"},
		{"weight loses", []string{"a:3", "b:1"}, []int{4, 1}, "b b b"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServers(t, tc.specs...)
			for i, n := range tc.inflight {
				for range n {
					srv[i].Acquire()
				}
			}
			p := mustNew(t, LeastConn, srv, Options{Rand: zeroRand})
			if got := picks(p, nil, len(splitWords(tc.want))); got != tc.want {
				t.Errorf("Pick() = %s, want %s", got, tc.want)
			}
		})
	}
}

// TestLeastConnFollowsLoad: each pick acquires, so the picks spread by
// weight as the counts grow.
func TestLeastConnFollowsLoad(t *testing.T) {
	srv := newServers(t, "a:2", "b:1", "c:1")
	p := mustNew(t, LeastConn, srv, Options{Rand: zeroRand})
	for range 40 {
		p.Pick(nil).Acquire()
	}
	if a, b, c := srv[0].InFlight(), srv[1].InFlight(), srv[2].InFlight(); a != 20 || b != 10 || c != 10 {
		t.Errorf("in flight after 40 picks = a %d, b %d, c %d, want 20, 10, 10", a, b, c)
	}
}
