package balancer

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
)

func TestWRRSequence(t *testing.T) {
	tests := []struct {
		name  string
		specs []string
		setup func(srv []*Server) // before the policy is built
		want  string
	}{
		{"nginx 5 1 1", []string{"a:5", "b:1", "c:1"}, nil, "a a b a c a a a a b a c a a"},
		{"reduced by gcd", []string{"a:10", "b:2", "c:2"}, nil, "a a b a c a a a a b a c a a"},
		{"equal weights", []string{"a:3", "b:3", "c:3"}, nil, "a b c a b c"},
		{"2 1", []string{"a:2", "b:1"}, nil, "a b a a b a"},
		{"down at build", []string{"a:5", "b:1", "c:1"}, func(srv []*Server) { srv[0].SetState(StateDown) }, "b c b c"},
		{"all down", []string{"a:5", "b:1"}, func(srv []*Server) {
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
			p := mustNew(t, WeightedRoundRobin, srv, Options{Rand: zeroRand})
			if got := picks(p, nil, len(splitWords(tc.want))); got != tc.want {
				t.Errorf("Pick() = %s, want %s", got, tc.want)
			}
		})
	}
}

// TestWRRSetServerState: a transition through the pool rebuilds the
// schedule over the up servers, which is again smooth.
func TestWRRSetServerState(t *testing.T) {
	srv := newServers(t, "a:5", "b:1", "c:1")
	pool := mustPool(t, WeightedRoundRobin, srv, Options{Rand: zeroRand})
	steps := []struct {
		server  int
		state   State
		changed bool
		want    string
	}{
		// a, b with weights 5, 1: Nginx gives a a a b a a.
		{2, StateDown, true, "a a a b a a a a a b a a"},
		{2, StateDown, false, "a a a b a a"},
		{0, StateDraining, true, "b b b"},
		{1, StateDown, true, "- - -"},
		{2, StateUp, true, "c c c"},
		{0, StateUp, true, "a a a c a a"},
		{1, StateUp, true, "a a b a c a a"},
	}
	for _, st := range steps {
		if got := pool.SetServerState(srv[st.server], st.state); got != st.changed {
			t.Errorf("SetServerState(%s, %s) = %v, want %v", srv[st.server].Addr, st.state, got, st.changed)
		}
		if got := picks(pool, nil, len(splitWords(st.want))); got != st.want {
			t.Errorf("after %s %s: Pick() = %s, want %s", srv[st.server].Addr, st.state, got, st.want)
		}
	}
}

// TestWRRFullServerTurnsSpread: a full server's turns go to the others in
// schedule order, so they keep their relative weights.
func TestWRRFullServerTurnsSpread(t *testing.T) {
	srv := newServers(t, "a:5", "b:2", "c:1")
	srv[0].MaxConns = 1
	srv[0].Acquire()
	p := mustNew(t, WeightedRoundRobin, srv, Options{Rand: zeroRand})
	counts := map[string]int{}
	for range 300 {
		counts[name(p.Pick(nil))]++
	}
	if counts["a"] != 0 || counts["-"] != 0 {
		t.Fatalf("picks = %v, want none to a (full) and none nil", counts)
	}
	if b, c := counts["b"], counts["c"]; b < 180 || c < 80 {
		t.Errorf("picks = %v, want about b 200, c 100", counts)
	}
}

func TestWRRPeriodIsWeights(t *testing.T) {
	srv := newServers(t, "a:7", "b:3", "c:1", "d:3")
	p := mustNew(t, WeightedRoundRobin, srv, Options{Rand: zeroRand})
	counts := map[string]int{}
	for range 14 * 3 {
		counts[name(p.Pick(nil))]++
	}
	want := map[string]int{"a": 21, "b": 9, "c": 3, "d": 9}
	for k, v := range want {
		if counts[k] != v {
			t.Errorf("picks over 3 periods = %v, want %v", counts, want)
			break
		}
	}
}

// TestWRRScheduleBounded: large pools with coprime weights keep the schedule
// at most about maxPeriod long and the shares near the weights.
func TestWRRScheduleBounded(t *testing.T) {
	var specs []string
	var sum int64
	for i := range 300 {
		w := 1000 - 3*i // 1000, 997, ...: gcd 1, sum far above maxPeriod
		specs = append(specs, fmt.Sprintf("s%d:%d", i, w))
		sum += int64(w)
	}
	srv := newServers(t, specs...)
	p := mustNew(t, WeightedRoundRobin, srv, Options{Rand: zeroRand}).(*wrr)
	order := p.sched.Load().order
	if len(order) > maxPeriod+len(srv) {
		t.Fatalf("schedule length = %d, want at most %d", len(order), maxPeriod+len(srv))
	}
	counts := make([]int, len(srv))
	for _, i := range order {
		counts[i]++
	}
	for i, s := range srv {
		want := float64(s.Weight) / float64(sum) * float64(len(order))
		if d := float64(counts[i]) - want; d > 1 || d < -1 {
			t.Errorf("%s has %d entries, want %.1f±1", s.Addr, counts[i], want)
		}
	}
}

func TestReduceWeights(t *testing.T) {
	tests := []struct {
		in, want []int64
	}{
		{[]int64{5, 1, 1}, []int64{5, 1, 1}},
		{[]int64{10, 20, 30}, []int64{1, 2, 3}},
		{[]int64{7}, []int64{1}},
		{nil, nil},
		{[]int64{maxPeriod, maxPeriod, 1}, []int64{maxPeriod / 2, maxPeriod / 2, 1}},
	}
	for _, tc := range tests {
		w := slices.Clone(tc.in)
		reduceWeights(w)
		if !slices.Equal(w, tc.want) {
			t.Errorf("reduceWeights(%v) = %v, want %v", tc.in, w, tc.want)
		}
	}
}

// TestWRRConcurrentRebuild: transitions from many goroutines while others
// pick leave a schedule that matches the final states (run with -race).
func TestWRRConcurrentRebuild(t *testing.T) {
	srv := newServers(t, "a:5", "b:3", "c:2", "d:1")
	pool := mustPool(t, WeightedRoundRobin, srv, Options{})
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
					pool.Pick(nil)
				}
			}
		})
	}
	var flips sync.WaitGroup
	for i, s := range srv {
		flips.Go(func() {
			for j := range 200 {
				pool.SetServerState(s, State((i+j)%2))
			}
			pool.SetServerState(s, State(i%2)) // a, c up; b, d down
		})
	}
	flips.Wait()
	close(stop)
	wg.Wait()
	p := pool.primary.(*wrr)
	var got []string
	for _, i := range p.sched.Load().order {
		got = append(got, srv[i].Addr)
	}
	slices.Sort(got)
	if want := "a a a a a c c"; strings.Join(got, " ") != want {
		t.Errorf("schedule after the flips = %v, want entries %s", got, want)
	}
}
