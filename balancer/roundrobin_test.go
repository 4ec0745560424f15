package balancer

import "testing"

func TestRoundRobinSequence(t *testing.T) {
	tests := []struct {
		name  string
		specs []string
		rand  func(int) int
		setup func(srv []*Server)
		want  string
	}{
		{"in turn", []string{"a", "b", "c"}, zeroRand, nil, "a b c a b c"},
		{"weights ignored", []string{"a:5", "b", "c"}, zeroRand, nil, "a b c a b c"},
		{"random start", []string{"a", "b", "c"}, func(int) int { return 1 }, nil, "b c a b c a"},
		// b went down behind the pool's back: its turns are skipped one by
		// one, which still alternates a and c.
		{"skips down", []string{"a", "b", "c"}, zeroRand, func(srv []*Server) { srv[1].SetState(StateDown) }, "a c a c a c"},
		{"down at build", []string{"a", "b", "c", "d"}, zeroRand, nil, "a b c d a b c d"},
		{"all down", []string{"a", "b"}, zeroRand, func(srv []*Server) {
			srv[0].SetState(StateDown)
			srv[1].SetState(StateDraining)
		}, "- - -"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServers(t, tc.specs...)
			if tc.setup != nil {
				tc.setup(srv)
			}
			p := mustNew(t, RoundRobin, srv, Options{Rand: tc.rand})
			if got := picks(p, nil, len(splitWords(tc.want))); got != tc.want {
				t.Errorf("Pick() = %s, want %s", got, tc.want)
			}
		})
	}
}

// TestRoundRobinDownServerSharesTurns: a server downed through the pool
// leaves the schedule, so its turns are shared evenly by the others rather
// than all going to its neighbour.
func TestRoundRobinDownServerSharesTurns(t *testing.T) {
	srv := newServers(t, "a", "b", "c", "d")
	pool := mustPool(t, RoundRobin, srv, Options{Rand: zeroRand})
	if !pool.SetServerState(srv[1], StateDown) {
		t.Fatal("SetServerState(b, down) = false, want true")
	}
	if got, want := picks(pool, nil, 6), "a c d a c d"; got != want {
		t.Errorf("Pick() = %s, want %s", got, want)
	}
	pool.SetServerState(srv[1], StateUp)
	if got, want := picks(pool, nil, 5), "a b c d a"; got != want {
		t.Errorf("Pick() after b returned = %s, want %s", got, want)
	}
}
