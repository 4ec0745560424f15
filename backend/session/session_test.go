package session

import (
	"context"
	"errors"
	"testing"
	"time"

	"lb/internal/loopback"
	"lb/internal/testsvc"
)

// stores gives each store kind, built with the given TTL.
var stores = []struct {
	name string
	new  func(t *testing.T, ttl time.Duration) Store
}{
	{"memory", func(t *testing.T, ttl time.Duration) Store { return NewMemory(ttl) }},
	{"redis", func(t *testing.T, ttl time.Duration) Store {
		return newRedis(t, testsvc.Redis(t).URL(), ttl)
	}},
}

func newRedis(t *testing.T, url string, ttl time.Duration) Store {
	t.Helper()
	s, err := NewRedis(url, ttl, 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestStoreLifecycle(t *testing.T) {
	for _, tc := range stores {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s := tc.new(t, time.Minute)
			if err := s.Ping(ctx); err != nil {
				t.Fatalf("Ping() = %v", err)
			}
			a, err := s.Create(ctx, "alice")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := s.Create(ctx, "bob")
			if !validID(a.ID) || a.ID == b.ID {
				t.Fatalf("IDs %q, %q: want two distinct 32-hex IDs", a.ID, b.ID)
			}
			got, err := s.Get(ctx, a.ID)
			if err != nil || got.User != "alice" || got.ID != a.ID || !got.Created.Equal(a.Created) || got.WritePos != "" {
				t.Fatalf("Get() = %+v, %v; want %+v", got, err, a)
			}
			if err := s.SetWritePos(ctx, a.ID, "0/16B3748"); err != nil {
				t.Fatal(err)
			}
			if got, _ := s.Get(ctx, a.ID); got.WritePos != "0/16B3748" {
				t.Fatalf("WritePos = %q, want 0/16B3748", got.WritePos)
			}
			for _, step := range []struct{ set, want string }{
				{"0/16B3748", "0/16B3748"}, // equal: kept
				{"0/16B3747", "0/16B3748"}, // earlier: ignored
				{"0/FFFFFFFF", "0/FFFFFFFF"},
				{"1/0", "1/0"},
				{"0/20000000", "1/0"},
				{"A/1", "A/1"}, // hex, not decimal
				{"9/FFFFFFFF", "A/1"},
				{"not-an-lsn", "not-an-lsn"}, // anything else replaces
				{"0/1", "0/1"},
			} {
				if err := s.SetWritePos(ctx, a.ID, step.set); err != nil {
					t.Fatal(err)
				}
				if got, _ := s.Get(ctx, a.ID); got.WritePos != step.want {
					t.Fatalf("SetWritePos(%q): WritePos = %q, want %q", step.set, got.WritePos, step.want)
				}
			}
			if err := s.Delete(ctx, a.ID); err != nil {
				t.Fatal(err)
			}
			for _, id := range []string{a.ID, "0123456789abcdef0123456789abcdef", "short", "lb:sess:*", ""} {
				if _, err := s.Get(ctx, id); !errors.Is(err, ErrNotFound) {
					t.Errorf("Get(%q) = %v, want ErrNotFound", id, err)
				}
				if err := s.SetWritePos(ctx, id, "0/1"); !errors.Is(err, ErrNotFound) {
					t.Errorf("SetWritePos(%q) = %v, want ErrNotFound", id, err)
				}
			}
			if got, err := s.Get(ctx, b.ID); err != nil || got.User != "bob" {
				t.Fatalf("Get(bob) = %+v, %v", got, err)
			}
		})
	}
}

// TestSlidingTTL: a session touched more often than its TTL outlives the
// TTL; left idle, it expires. A miss counts as a bug only if less than
// the TTL surely passed since the previous touch: on a stalled machine
// the attempt is inconclusive and runs again (at most 3 times).
func TestSlidingTTL(t *testing.T) {
	const ttl = 2 * time.Second
	for _, tc := range stores {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s := tc.new(t, ttl)
			var id string
		attempts:
			for attempt := 1; ; attempt++ {
				a, err := s.Create(ctx, "alice")
				if err != nil {
					t.Fatal(err)
				}
				id = a.ID
				prev := time.Now()  // before the last refresh
				for i := range 16 { // 4 s in all, two TTLs
					time.Sleep(ttl / 8)
					start := time.Now()
					_, err := s.Get(ctx, a.ID)
					if err == nil {
						prev = start
						continue
					}
					if gap := time.Since(prev); gap < ttl {
						t.Fatalf("touch %d, %v after the previous one: Get() = %v, want the session", i, gap, err)
					}
					if attempt == 3 {
						t.Fatalf("touch %d: Get() = %v, and the machine stalled past the TTL in 3 attempts", i, err)
					}
					t.Logf("attempt %d inconclusive: %v between touches", attempt, time.Since(prev))
					continue attempts
				}
				break
			}
			time.Sleep(ttl + ttl/2)
			if _, err := s.Get(ctx, id); !errors.Is(err, ErrNotFound) {
				t.Fatalf("after %v idle: Get() = %v, want ErrNotFound", ttl+ttl/2, err)
			}
		})
	}
}

// TestRedisSharedAcrossInstances: two store instances (two backends'
// views) see each other's sessions; two memory stores do not.
func TestRedisSharedAcrossInstances(t *testing.T) {
	ctx := context.Background()
	url := testsvc.Redis(t).URL()
	a, b := newRedis(t, url, time.Minute), newRedis(t, url, time.Minute)
	if !a.Shared() {
		t.Fatal("redis Shared() = false")
	}
	s, err := a.Create(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.SetWritePos(ctx, s.ID, "0/3000000"); err != nil {
		t.Fatal(err)
	}
	if got, err := a.Get(ctx, s.ID); err != nil || got.User != "alice" || got.WritePos != "0/3000000" {
		t.Fatalf("Get() on first instance = %+v, %v", got, err)
	}
	if got, err := b.Get(ctx, s.ID); err != nil || got.User != "alice" {
		t.Fatalf("Get() on second instance = %+v, %v", got, err)
	}
	if err := b.Delete(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Get(ctx, s.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get() after Delete on the other instance = %v, want ErrNotFound", err)
	}

	m1, m2 := NewMemory(time.Minute), NewMemory(time.Minute)
	if m1.Shared() {
		t.Fatal("memory Shared() = true")
	}
	ms, _ := m1.Create(ctx, "alice")
	if _, err := m2.Get(ctx, ms.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("memory: Get() on another instance = %v, want ErrNotFound", err)
	}
}

// TestRedisDownIsUnavailableThenRecovers: with Redis stopped every call
// fails fast with ErrUnavailable (a 503, never a logout); after restart
// the session is back with its data.
func TestRedisDownIsUnavailableThenRecovers(t *testing.T) {
	ctx := context.Background()
	r := testsvc.Redis(t)
	s := newRedis(t, r.URL(), time.Minute)
	sess, err := s.Create(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetWritePos(ctx, sess.ID, "0/42"); err != nil {
		t.Fatal(err)
	}
	r.Stop()
	calls := []struct {
		name string
		do   func() error
	}{
		{"Get", func() error { _, err := s.Get(ctx, sess.ID); return err }},
		{"Create", func() error { _, err := s.Create(ctx, "bob"); return err }},
		{"SetWritePos", func() error { return s.SetWritePos(ctx, sess.ID, "0/43") }},
		{"Delete", func() error { return s.Delete(ctx, sess.ID) }},
		{"Ping", func() error { return s.Ping(ctx) }},
	}
	for _, c := range calls {
		start := time.Now()
		err := c.do()
		if el := time.Since(start); !errors.Is(err, ErrUnavailable) || el > 2*time.Second {
			t.Errorf("%s with Redis down = %v after %v, want ErrUnavailable within 2s", c.name, err, el)
		}
	}
	r.Start()
	// go-redis probes a failed pool once a second; allow a few.
	start := time.Now()
	got, err := s.Get(ctx, sess.ID)
	for errors.Is(err, ErrUnavailable) && time.Since(start) < 10*time.Second {
		time.Sleep(50 * time.Millisecond)
		got, err = s.Get(ctx, sess.ID)
	}
	t.Logf("recovered %v after Redis restarted", time.Since(start).Round(time.Millisecond))
	if err != nil || got.User != "alice" || got.WritePos != "0/42" {
		t.Fatalf("Get() after restart = %+v, %v; want alice at 0/42", got, err)
	}
}

// TestRedisDownAtStart: NewRedis does not need Redis up; calls fail fast.
func TestRedisDownAtStart(t *testing.T) {
	s := newRedis(t, "redis://"+loopback.Refusing(t)+"/0", time.Minute)
	start := time.Now()
	if _, err := s.Create(context.Background(), "alice"); !errors.Is(err, ErrUnavailable) || time.Since(start) > 2*time.Second {
		t.Fatalf("Create() = %v after %v, want ErrUnavailable within 2s", err, time.Since(start))
	}
	if _, err := NewRedis("http://nope", time.Minute, 1); err == nil {
		t.Fatal("NewRedis(http://nope) = nil error")
	}
}

// TestMemorySweep: expired sessions do not pile up in the memory store.
func TestMemorySweep(t *testing.T) {
	m := NewMemory(time.Minute).(*memory)
	now := time.Unix(1_700_000_000, 0)
	m.now = func() time.Time { return now }
	for range 1000 {
		_, _ = m.Create(context.Background(), "u")
	}
	now = now.Add(2 * time.Minute)
	for range 1000 {
		_, _ = m.Create(context.Background(), "u")
	}
	if n := len(m.m); n > 1100 {
		t.Fatalf("len = %d after 1000 expired and 1000 live, want about 1000", n)
	}
}
