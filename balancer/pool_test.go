package balancer

import (
	"slices"
	"testing"
)

func TestPoolBackups(t *testing.T) {
	for _, policy := range allPolicies {
		t.Run(string(policy), func(t *testing.T) {
			srv := newServers(t, "a", "x", "b", "y")
			srv[1].Backup = true
			srv[3].Backup = true
			pool := mustPool(t, policy, srv, Options{Rand: zeroRand})
			ctx := requestCtx("10.0.0.1", "/", "alice")
			if got := pool.Servers(); !slices.Equal(got, srv) {
				t.Fatalf("Servers() = %v, want the configuration order", got)
			}
			onlyIn := func(what string, want ...*Server) {
				t.Helper()
				for range 20 {
					got := pool.Pick(ctx)
					if !slices.Contains(want, got) {
						t.Fatalf("%s: Pick() = %s, want one of %v", what, name(got), names(want))
					}
				}
			}
			onlyIn("all up", srv[0], srv[2])
			pool.SetServerState(srv[0], StateDown)
			onlyIn("a down", srv[2])
			srv[2].MaxConns = 1
			srv[2].Acquire() // b full: no primary available
			onlyIn("a down, b full", srv[1], srv[3])
			pool.SetServerState(srv[1], StateDraining)
			onlyIn("a down, b full, x draining", srv[3])
			pool.SetServerState(srv[3], StateDown)
			onlyIn("nothing available", nil)
			pool.SetServerState(srv[0], StateUp)
			onlyIn("a back", srv[0])
			srv[2].Release()
			onlyIn("b has room", srv[0], srv[2])
		})
	}
}

func names(srv []*Server) []string {
	out := make([]string, len(srv))
	for i, s := range srv {
		out[i] = name(s)
	}
	return out
}

func TestPoolSetServerState(t *testing.T) {
	srv := newServers(t, "a", "b")
	srv[1].Backup = true
	pool := mustPool(t, WeightedRoundRobin, srv, Options{})
	tests := []struct {
		s    *Server
		st   State
		want bool
	}{
		{srv[0], StateUp, false},
		{srv[0], StateDown, true},
		{srv[0], StateDown, false},
		{srv[1], StateDraining, true},
		{srv[0], StateUp, true},
	}
	for _, tc := range tests {
		if got := pool.SetServerState(tc.s, tc.st); got != tc.want {
			t.Errorf("SetServerState(%s, %s) = %v, want %v", tc.s.Addr, tc.st, got, tc.want)
		}
		if got := tc.s.State(); got != tc.st {
			t.Errorf("%s.State() = %s, want %s", tc.s.Addr, got, tc.st)
		}
	}
}

func TestPoolOnlyBackups(t *testing.T) {
	srv := newServers(t, "x")
	srv[0].Backup = true
	pool := mustPool(t, RoundRobin, srv, Options{})
	if got := pool.Pick(nil); got != srv[0] {
		t.Errorf("Pick() = %s, want x (no primaries)", name(got))
	}
}
