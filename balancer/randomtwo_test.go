package balancer

import "testing"

func TestRandomTwo(t *testing.T) {
	tests := []struct {
		name     string
		specs    []string
		inflight []int
		down     []int
		rand     []int // the scripted draws for one pick
		want     string
	}{
		{"second less loaded", []string{"a", "b", "c"}, []int{2, 0, 1}, nil, []int{0, 1}, "c"}, // a, then c (1 of [b c])
		{"first less loaded", []string{"a", "b", "c"}, []int{2, 0, 1}, nil, []int{1, 0}, "b"},  // b, then a
		{"tie keeps first", []string{"a", "b", "c"}, []int{0, 0, 0}, nil, []int{2, 1}, "c"},    // c, then b
		{"by weight", []string{"a:3", "b:1"}, []int{2, 1}, nil, []int{1, 0}, "a"},              // 2/3 < 1/1
		{"redraws unavailable", []string{"a", "b", "c"}, []int{2, 0, 1}, []int{1}, []int{1, 0, 1}, "c"},
		{"scan after draws", []string{"a", "b", "c", "d"}, nil, []int{0, 1, 2}, []int{0, 1, 2, 0, 1, 2}, "d"},
		{"one server", []string{"a"}, nil, nil, []int{0}, "a"},
		{"none available", []string{"a", "b"}, nil, []int{0, 1}, []int{0, 1, 0}, "-"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServers(t, tc.specs...)
			for i, n := range tc.inflight {
				for range n {
					srv[i].Acquire()
				}
			}
			for _, i := range tc.down {
				srv[i].SetState(StateDown)
			}
			p := mustNew(t, RandomTwo, srv, Options{Rand: scriptRand(t, tc.rand...)})
			if got := name(p.Pick(nil)); got != tc.want {
				t.Errorf("Pick() = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestRandomTwoNeverPicksUnavailable(t *testing.T) {
	srv := newServers(t, "a", "b", "c", "d", "e")
	srv[0].SetState(StateDown)
	srv[2].SetState(StateDraining)
	srv[4].MaxConns = 1
	srv[4].Acquire()
	p := mustNew(t, RandomTwo, srv, Options{})
	counts := map[string]int{}
	for range 2000 {
		s := p.Pick(nil)
		counts[name(s)]++
	}
	if len(counts) != 2 || counts["b"] < 800 || counts["d"] < 800 {
		t.Errorf("picks = %v, want only b and d, about 1000 each", counts)
	}
}
