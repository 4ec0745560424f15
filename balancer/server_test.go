package balancer

import (
	"sync"
	"sync/atomic"
	"testing"
)

// TestTryAcquireBound: concurrent TryAcquire calls never take a server past
// MaxConns, which Available-then-Acquire cannot promise.
func TestTryAcquireBound(t *testing.T) {
	tests := []struct {
		maxConns int64
		want     int64
	}{
		{5, 5},
		{1, 1},
		{0, 64}, // no bound
	}
	for _, tc := range tests {
		s := NewServer("a", 1, false, tc.maxConns)
		var ok atomic.Int64
		var wg sync.WaitGroup
		for range 64 {
			wg.Go(func() {
				if s.TryAcquire() {
					ok.Add(1)
				}
			})
		}
		wg.Wait()
		if got := ok.Load(); got != tc.want || s.InFlight() != tc.want || s.Requests() != uint64(tc.want) {
			t.Errorf("MaxConns %d: TryAcquire() succeeded %d times (in flight %d, requests %d), want %d",
				tc.maxConns, got, s.InFlight(), s.Requests(), tc.want)
		}
		if tc.maxConns > 0 {
			if s.Available() {
				t.Errorf("MaxConns %d: Available() = true when full, want false", tc.maxConns)
			}
			s.Release()
			if !s.TryAcquire() {
				t.Errorf("MaxConns %d: TryAcquire() after a Release = false, want true", tc.maxConns)
			}
		}
	}
}

func TestStateString(t *testing.T) {
	for st, want := range map[State]string{StateUp: "up", StateDown: "down", StateDraining: "draining", 7: "unknown"} {
		if got := st.String(); got != want {
			t.Errorf("State(%d).String() = %q, want %q", st, got, want)
		}
	}
}
