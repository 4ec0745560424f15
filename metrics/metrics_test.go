package metrics_test

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"lb/metrics"
)

func TestClassOf(t *testing.T) {
	for _, tc := range []struct{ status, want int }{
		{0, metrics.ClassError}, {99, metrics.ClassError}, {100, metrics.Class1xx},
		{200, metrics.Class2xx}, {304, metrics.Class3xx}, {499, metrics.Class4xx},
		{502, metrics.Class5xx}, {599, metrics.Class5xx}, {600, metrics.ClassError},
	} {
		if got := metrics.ClassOf(tc.status); got != tc.want {
			t.Errorf("ClassOf(%d) = %d, want %d", tc.status, got, tc.want)
		}
	}
}

// TestCauseOfNamesEveryReason pins the mapping of the proxy's error
// reasons: a reason missing here would be counted as "other".
func TestCauseOfNamesEveryReason(t *testing.T) {
	for reason, want := range map[string]string{
		"connect failed": "connect_failed", "connect timeout": "connect_timeout",
		"upstream timeout": "upstream_timeout", "upstream error": "upstream_error",
		"server connection limit": "server_conn_limit", "no available server": "no_server",
		"queue full": "queue_full", "queue timeout": "queue_timeout",
		"body too large": "body_too_large", "something new": "other",
	} {
		if got := metrics.Causes[metrics.CauseOf(reason)].Name; got != want {
			t.Errorf("CauseOf(%q) = %s, want %s", reason, got, want)
		}
	}
}

func TestHistogramBucketsAndQuantiles(t *testing.T) {
	var h metrics.Histogram
	s := h.Snapshot()
	if q := s.Quantile(0.5); q != -1 {
		t.Fatalf("Quantile of nothing = %v, want -1", q)
	}
	// 90 observations at 3ms (bucket 2.5-5ms), 10 at 40ms (25-50ms).
	for range 90 {
		h.Observe(3 * time.Millisecond)
	}
	for range 10 {
		h.Observe(40 * time.Millisecond)
	}
	h.Observe(2 * time.Minute) // +Inf
	s = h.Snapshot()
	if n := s.Count(); n != 101 {
		t.Fatalf("Count() = %d, want 101", n)
	}
	if want := 90*3*time.Millisecond + 10*40*time.Millisecond + 2*time.Minute; s.Sum != want {
		t.Fatalf("Sum = %v, want %v", s.Sum, want)
	}
	b := s.Buckets()
	for le, want := range map[float64]uint64{0.001: 0, 0.0025: 0, 0.005: 90, 0.025: 90, 0.05: 100, 60: 100} {
		if b[le] != want {
			t.Errorf("bucket le=%v = %d, want %d", le, b[le], want)
		}
	}
	if p50 := s.Quantile(0.5); p50 <= 2500*time.Microsecond || p50 > 5*time.Millisecond {
		t.Errorf("p50 = %v, want within (2.5ms, 5ms]", p50)
	}
	if p99 := s.Quantile(0.99); p99 <= 25*time.Millisecond || p99 > 50*time.Millisecond {
		t.Errorf("p99 = %v, want within (25ms, 50ms]", p99)
	}
	old := s
	h.Observe(time.Millisecond)
	s = h.Snapshot()
	d := s.Sub(&old)
	if d.Count() != 1 || d.Counts[0] != 1 {
		t.Errorf("Sub: %v, want one observation in the first bucket", d.Counts)
	}
}

func TestRecordDoesNotAllocate(t *testing.T) {
	var s metrics.ServerStats
	var p metrics.PoolStats
	allocs := testing.AllocsPerRun(1000, func() {
		s.Attempt(200, 3*time.Millisecond)
		p.Duration.Observe(4 * time.Millisecond)
		p.Errors[metrics.CauseOf("connect failed")].Add(1)
	})
	if allocs != 0 {
		t.Fatalf("recording allocates %.1f times, want 0", allocs)
	}
}

// BenchmarkRecord compares recording one request's metrics (a counter by
// pool, server and class, and a latency histogram) with lb's atomics and
// with client_golang's vectors, which resolve their labels per update.
func BenchmarkRecord(b *testing.B) {
	b.Run("atomics", func(b *testing.B) {
		var s metrics.ServerStats
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				s.Attempt(200, 3*time.Millisecond)
			}
		})
	})
	b.Run("client_golang", func(b *testing.B) {
		reqs := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "r"}, []string{"pool", "server", "class"})
		lat := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "l", Buckets: prometheus.DefBuckets}, []string{"pool", "server"})
		pool, server := "web", "10.0.0.1:8080"
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				reqs.WithLabelValues(pool, server, "2xx").Inc()
				lat.WithLabelValues(pool, server).Observe(0.003)
			}
		})
	})
}
