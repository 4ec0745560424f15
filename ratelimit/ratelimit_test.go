package ratelimit

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"lb/internal/testsvc"
)

// clock is a manual clock for exact tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestLocalBurstThenRate: rate 10/s with burst 5 allows exactly 5
// requests at once, then one per 100ms; Remaining counts down and
// RetryAfter says when the next token comes.
func TestLocalBurstThenRate(t *testing.T) {
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	l := NewLocal(Rate{Rate: 10, Per: time.Second, Burst: 5}, 1000, clk.now)
	key := []byte("10.0.0.1")
	for i := 0; i < 5; i++ {
		r := l.Allow(key)
		if !r.Allowed || r.Remaining != 4-i || r.Limit != 5 {
			t.Fatalf("request %d: %+v, want allowed with %d remaining", i+1, r, 4-i)
		}
	}
	r := l.Allow(key)
	if r.Allowed || r.RetryAfter != 100*time.Millisecond || r.Remaining != 0 {
		t.Fatalf("6th request: %+v, want refused, retry after 100ms", r)
	}
	clk.add(99 * time.Millisecond)
	if r := l.Allow(key); r.Allowed || r.RetryAfter != time.Millisecond {
		t.Fatalf("after 99ms: %+v, want refused, retry after 1ms", r)
	}
	clk.add(time.Millisecond)
	if r := l.Allow(key); !r.Allowed || r.Remaining != 0 {
		t.Fatalf("after 100ms: %+v, want allowed, 0 remaining", r)
	}
	if r := l.Allow(key); r.Allowed {
		t.Fatalf("then: %+v, want refused", r)
	}
	// A full second later the bucket is full again: a whole burst passes.
	clk.add(time.Second)
	allowed := 0
	for i := 0; i < 20; i++ {
		if l.Allow(key).Allowed {
			allowed++
		}
	}
	if allowed != 5 {
		t.Fatalf("after 1s: %d of 20 allowed, want 5", allowed)
	}
	// Other keys have buckets of their own.
	if r := l.Allow([]byte("10.0.0.2")); !r.Allowed || r.Remaining != 4 {
		t.Fatalf("other key: %+v, want allowed, 4 remaining", r)
	}
}

// TestLocalSteadyRate: over 10 simulated seconds at 1000 requests per
// second (t = 0 to 9.999s), a 10/s limit with burst 5 lets through
// exactly the burst at 0 and one token every 100ms from 0.1s to 9.9s:
// 5 + 99.
func TestLocalSteadyRate(t *testing.T) {
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	l := NewLocal(Rate{Rate: 10, Per: time.Second, Burst: 5}, 1000, clk.now)
	allowed := 0
	for i := 0; i < 10_000; i++ {
		if l.Allow([]byte("k")).Allowed {
			allowed++
		}
		clk.add(time.Millisecond)
	}
	if allowed != 104 {
		t.Fatalf("allowed %d, want 104", allowed)
	}
}

// TestLocalMemoryBounded: a flood of distinct keys (a client spoofing
// header values) never holds more than max_keys.
func TestLocalMemoryBounded(t *testing.T) {
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	l := NewLocal(Rate{Rate: 1, Per: time.Hour, Burst: 1}, 640, clk.now)
	for i := 0; i < 50_000; i++ {
		if !l.Allow(fmt.Appendf(nil, "key-%d", i)).Allowed {
			t.Fatalf("new key %d refused", i)
		}
	}
	if n := l.Len(); n > 640 {
		t.Fatalf("holds %d keys, want at most 640", n)
	}
}

func TestLocalAllowAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates; the non-race pass (make norace) runs this")
	}
	l := NewLocal(Rate{Rate: 1000, Per: time.Second, Burst: 1000}, 1000, nil)
	key := []byte("203.0.113.9")
	l.Allow(key)
	if n := testing.AllocsPerRun(1000, func() { l.Allow(key) }); n != 0 {
		t.Fatalf("Allow allocates %v times for a known key, want 0", n)
	}
}

// newRedisLimiter's timeouts are generous: a slow dial or EVALSHA on a
// loaded machine (a -race binary) would fail open and skew the counts. A
// stopped Redis still fails at once (the port refuses connections).
func newRedisLimiter(t *testing.T, addr string, rate Rate, log *zap.Logger) *Redis {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: 3 * time.Second})
	t.Cleanup(func() { c.Close() })
	return NewRedis(c, "lb:rl:test:", rate, 3*time.Second, log)
}

// TestRedisSharedBudget: two limiters with clients of their own (two lb
// processes) share one bucket through Redis: of 30 requests alternating
// between them, exactly the burst of 10 pass.
func TestRedisSharedBudget(t *testing.T) {
	rs := testsvc.Redis(t)
	rate := Rate{Rate: 1, Per: time.Hour, Burst: 10}
	a := newRedisLimiter(t, rs.Addr(), rate, nil)
	b := newRedisLimiter(t, rs.Addr(), rate, nil)
	allowed := map[string]int{}
	for i := 0; i < 30; i++ {
		l, name := a, "a"
		if i%2 == 1 {
			l, name = b, "b"
		}
		r := l.Allow([]byte("api-key-1"))
		if r.Allowed {
			allowed[name]++
		} else if r.RetryAfter < time.Hour-time.Minute || r.RetryAfter > time.Hour {
			t.Fatalf("refused with RetryAfter %v, want just under the refill time of one token (1h)", r.RetryAfter)
		}
	}
	if allowed["a"]+allowed["b"] != 10 || allowed["a"] != 5 {
		t.Fatalf("allowed a=%d b=%d, want 5 and 5 (one budget of 10)", allowed["a"], allowed["b"])
	}
	if a.Failures()+b.Failures() != 0 {
		t.Fatalf("%d decisions failed open", a.Failures()+b.Failures())
	}
	// Another key has its own budget.
	if r := b.Allow([]byte("api-key-2")); !r.Allowed || r.Remaining != 9 {
		t.Fatalf("other key: %+v, want allowed, 9 remaining", r)
	}
}

// TestRedisDownFailsOpen: with Redis stopped every request is allowed and
// one warning is logged; once Redis is back, limiting resumes.
func TestRedisDownFailsOpen(t *testing.T) {
	rs := testsvc.Redis(t)
	core, logs := observer.New(zap.WarnLevel)
	l := newRedisLimiter(t, rs.Addr(), Rate{Rate: 1, Per: time.Hour, Burst: 2}, zap.New(core))
	for i := 0; i < 2; i++ {
		if !l.Allow([]byte("k")).Allowed {
			t.Fatalf("request %d refused", i+1)
		}
	}
	if l.Allow([]byte("k")).Allowed {
		t.Fatal("3rd request allowed, want refused")
	}
	rs.Stop()
	for i := 0; i < 20; i++ {
		if !l.Allow([]byte("k")).Allowed {
			t.Fatalf("request %d with Redis down refused, want allowed (fail open)", i+1)
		}
	}
	if n := logs.FilterMessageSnippet("fail open").Len(); n != 1 {
		t.Fatalf("%d warnings logged, want 1", n)
	}
	if l.Failures() != 20 {
		t.Fatalf("Failures() = %d, want 20", l.Failures())
	}
	rs.Start()
	time.Sleep(redisRetryAfter + 100*time.Millisecond)
	// Redis kept the bucket (saved at Stop), so the key is still spent.
	deadline := time.Now().Add(5 * time.Second)
	for l.Allow([]byte("k")).Allowed {
		if time.Now().After(deadline) {
			t.Fatal("limiting did not resume after Redis came back")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
