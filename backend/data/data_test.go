package data

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"lb/internal/loopback"
	"lb/internal/testsvc"
)

// newPG starts a primary+replica cluster and a store on it.
func newPG(t *testing.T) (*pg, *testsvc.PGCluster) {
	t.Helper()
	c := testsvc.Postgres(t)
	return openPG(t, c), c
}

// openPG opens a store on the cluster; mod, if given, adjusts the Config.
func openPG(t *testing.T, c *testsvc.PGCluster, mod ...func(*Config)) *pg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := Config{
		Primary:        c.PrimaryDSN(),
		Replicas:       []string{c.ReplicaDSN()},
		MaxConns:       4,
		HealthInterval: 200 * time.Millisecond,
	}
	for _, m := range mod {
		m(&cfg)
	}
	s, err := NewPostgres(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s.(*pg)
}

var stores = []struct {
	name string
	new  func(t *testing.T) Store
}{
	{"memory", func(*testing.T) Store { return NewMemory() }},
	{"postgres", func(t *testing.T) Store { s, _ := newPG(t); return s }},
}

func lsn(t *testing.T, p Position) uint64 {
	t.Helper()
	v, err := ParseLSN(string(p))
	if err != nil {
		t.Fatalf("Position %q: %v", p, err)
	}
	return v
}

func sameJSON(a, b json.RawMessage) bool {
	var x, y any
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return string(xa) == string(ya)
}

// TestCRUD runs the same script on both stores: the memory store must
// behave like PostgreSQL. Reads pass the last write's Position, so on
// PostgreSQL they may use the replica and still see the write.
func TestCRUD(t *testing.T) {
	for _, tc := range stores {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s := tc.new(t)
			if err := s.Ping(ctx); err != nil {
				t.Fatalf("Ping() = %v", err)
			}
			a, pa, err := s.Create(ctx, NewItem{Name: "a", Value: json.RawMessage(`{"x": 1, "y": [true, null]}`)})
			if err != nil {
				t.Fatal(err)
			}
			if a.ID <= 0 || a.Name != "a" || a.Version != 1 || a.Created.IsZero() || !a.Created.Equal(a.Updated) {
				t.Fatalf("Create() = %+v", a)
			}
			b, pb, err := s.Create(ctx, NewItem{Name: "b"})
			if err != nil {
				t.Fatal(err)
			}
			if lsn(t, pb) <= lsn(t, pa) || b.ID <= a.ID || b.Value != nil {
				t.Fatalf("second Create() = %+v at %s after %s", b, pb, pa)
			}
			if _, _, err := s.Create(ctx, NewItem{Name: "a"}); !errors.Is(err, ErrConflict) {
				t.Fatalf("Create(duplicate) = %v, want ErrConflict", err)
			}
			for _, bad := range []NewItem{{Name: ""}, {Name: "c", Value: json.RawMessage(`{`)}} {
				if _, _, err := s.Create(ctx, bad); !errors.Is(err, ErrInvalid) {
					t.Fatalf("Create(%+v) = %v, want ErrInvalid", bad, err)
				}
			}
			got, _, err := s.Get(ctx, a.ID, pb)
			if err != nil || got.Name != "a" || !sameJSON(got.Value, a.Value) || !sameJSON(got.Value, json.RawMessage(`{"x":1,"y":[true,null]}`)) ||
				got.Version != 1 || !got.Created.Equal(a.Created) {
				t.Fatalf("Get(a) = %+v, %v; want %+v", got, err, a)
			}
			if _, _, err := s.Get(ctx, 999999, pb); !errors.Is(err, ErrNotFound) {
				t.Fatalf("Get(missing) = %v, want ErrNotFound", err)
			}

			u, pu, err := s.Update(ctx, a.ID, NewItem{Name: "a2", Value: json.RawMessage(`2`)}, 1)
			if err != nil || u.Version != 2 || u.Name != "a2" || string(u.Value) != "2" || !u.Updated.After(a.Updated) || lsn(t, pu) <= lsn(t, pb) {
				t.Fatalf("Update(version 1) = %+v at %s, %v", u, pu, err)
			}
			if _, _, err := s.Update(ctx, a.ID, NewItem{Name: "a3"}, 1); !errors.Is(err, ErrConflict) {
				t.Fatalf("Update(stale version) = %v, want ErrConflict", err)
			}
			if _, _, err := s.Update(ctx, a.ID, NewItem{Name: "b"}, 0); !errors.Is(err, ErrConflict) {
				t.Fatalf("Update(name of another item) = %v, want ErrConflict", err)
			}
			u, pu, err = s.Update(ctx, a.ID, NewItem{Name: "a3"}, 0)
			if err != nil || u.Version != 3 || u.Value != nil {
				t.Fatalf("Update(unconditional) = %+v, %v", u, err)
			}
			for _, v := range []int64{0, 7} {
				if _, _, err := s.Update(ctx, 999999, NewItem{Name: "z"}, v); !errors.Is(err, ErrNotFound) {
					t.Fatalf("Update(missing, version %d) = %v, want ErrNotFound", v, err)
				}
			}
			if _, _, err := s.Update(ctx, a.ID, NewItem{Name: ""}, 0); !errors.Is(err, ErrInvalid) {
				t.Fatalf("Update(empty name) = %v, want ErrInvalid", err)
			}
			list, _, err := s.List(ctx, 10, pu)
			if err != nil || len(list) != 2 || list[0].ID != a.ID || list[0].Name != "a3" || list[1].ID != b.ID {
				t.Fatalf("List() = %+v, %v", list, err)
			}
			if list, _, _ := s.List(ctx, 1, pu); len(list) != 1 || list[0].ID != a.ID {
				t.Fatalf("List(1) = %+v", list)
			}

			pd, err := s.Delete(ctx, b.ID)
			if err != nil || lsn(t, pd) <= lsn(t, pu) {
				t.Fatalf("Delete() = %s, %v", pd, err)
			}
			if _, err := s.Delete(ctx, b.ID); !errors.Is(err, ErrNotFound) {
				t.Fatalf("Delete(again) = %v, want ErrNotFound", err)
			}
			if _, _, err := s.Get(ctx, b.ID, pd); !errors.Is(err, ErrNotFound) {
				t.Fatalf("Get(deleted) = %v, want ErrNotFound", err)
			}

			// A batch with a duplicate inside, or clashing with a stored
			// name, writes nothing.
			for _, batch := range [][]NewItem{
				{{Name: "n1"}, {Name: "n2"}, {Name: "n1"}},
				{{Name: "n1"}, {Name: "a3"}},
			} {
				if _, err := s.InsertBatch(ctx, batch); !errors.Is(err, ErrConflict) {
					t.Fatalf("InsertBatch(%v) = %v, want ErrConflict", batch, err)
				}
			}
			if _, err := s.InsertBatch(ctx, []NewItem{{Name: "n1"}, {Name: "n2", Value: json.RawMessage(`[1]`)}, {Name: ""}}); !errors.Is(err, ErrInvalid) {
				t.Fatalf("InsertBatch(empty name) = %v, want ErrInvalid", err)
			}
			if list, _, _ := s.List(ctx, 10, pd); len(list) != 1 {
				t.Fatalf("after rejected batches List() = %+v, want only a3", list)
			}
			pi, err := s.InsertBatch(ctx, []NewItem{{Name: "n1"}, {Name: "n2", Value: json.RawMessage(`[1]`)}})
			if err != nil || lsn(t, pi) <= lsn(t, pd) {
				t.Fatalf("InsertBatch() = %s, %v", pi, err)
			}
			list, _, _ = s.List(ctx, 0, pi)
			if len(list) != 3 || list[1].Name != "n1" || list[2].Name != "n2" || string(list[2].Value) != "[1]" || list[2].Version != 1 {
				t.Fatalf("after batch List() = %+v", list)
			}
		})
	}
}

// TestReadYourWritesAcrossInstances: a write through one store instance
// (one backend) and an immediate read through another, given the
// write's Position, always sees the write, replica or not.
func TestReadYourWritesAcrossInstances(t *testing.T) {
	w, c := newPG(t)
	r := openPG(t, c)
	ctx := context.Background()
	waitReplica(t, r)
	sources := map[Source]int{}
	for i := range 200 {
		name := "ryw-" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + time.Now().Format("150405.000000000")
		it, pos, err := w.Create(ctx, NewItem{Name: name, Value: json.RawMessage(`{"i":1}`)})
		if err != nil {
			t.Fatal(err)
		}
		got, src, err := r.Get(ctx, it.ID, pos)
		if err != nil || got.Name != name {
			t.Fatalf("%d: Get(%d, %s) from %s = %+v, %v; want %q", i, it.ID, pos, src, got, err, name)
		}
		sources[src]++
		u, pos, err := w.Update(ctx, it.ID, NewItem{Name: name, Value: json.RawMessage(`{"i":2}`)}, it.Version)
		if err != nil {
			t.Fatal(err)
		}
		got, src, err = r.Get(ctx, it.ID, pos)
		if err != nil || got.Version != u.Version || !sameJSON(got.Value, u.Value) {
			t.Fatalf("%d: Get after Update from %s = %+v, %v; want version %d", i, src, got, err, u.Version)
		}
		sources[src]++
	}
	t.Logf("400 reads right after writes served by %v", sources)
}

// waitReplica waits until a read without `after` is served by the replica.
func waitReplica(t *testing.T, s *pg) Source {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, src, err := s.List(context.Background(), 1, "")
		if err == nil && strings.HasPrefix(string(src), "replica:") {
			return src
		}
		if time.Now().After(deadline) {
			t.Fatalf("reads still served by %q, %v; want the replica", src, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestReplicaServesReadsAndFallsBack: fresh-enough reads go to the
// replica; with the replica stopped they go to the primary without a
// single failed read; the replica is used again once it is back.
func TestReplicaServesReadsAndFallsBack(t *testing.T) {
	c := testsvc.Postgres(t)
	var mu sync.Mutex
	var events []string
	s := openPG(t, c, func(cfg *Config) {
		cfg.OnHealth = func(src Source, healthy bool) {
			mu.Lock()
			events = append(events, fmt.Sprintf("%s %v", src, healthy))
			mu.Unlock()
		}
	})
	ctx := context.Background()
	it, _, err := s.Create(ctx, NewItem{Name: "r"})
	if err != nil {
		t.Fatal(err)
	}
	if src, want := waitReplica(t, s), Source("replica:"+c.ReplicaAddr()); src != want {
		t.Fatalf("Source = %q, want %q", src, want)
	}
	// The connection used really is a replica, and statement_timeout is set.
	var inRecovery bool
	var timeout string
	if err := s.replicas[0].pool.QueryRow(ctx, `SELECT pg_is_in_recovery(), current_setting('statement_timeout')`).Scan(&inRecovery, &timeout); err != nil || !inRecovery || timeout != "5s" {
		t.Fatalf("replica pool: in recovery %v, statement_timeout %q, %v; want true, 5s", inRecovery, timeout, err)
	}
	if _, src, err := s.Get(ctx, it.ID, ""); err != nil || !strings.HasPrefix(string(src), "replica:") {
		t.Fatalf("Get() = %s, %v; want served by the replica", src, err)
	}

	c.StopReplica()
	for i := range 20 {
		got, src, err := s.Get(ctx, it.ID, "")
		if err != nil || got.Name != "r" || src != SourcePrimary {
			t.Fatalf("read %d with the replica down = %+v from %q, %v; want it from the primary", i, got, src, err)
		}
	}
	if s.replicas[0].healthy.Load() {
		t.Fatal("replica still marked healthy after failing")
	}
	c.StartReplica()
	waitReplica(t, s)
	mu.Lock()
	defer mu.Unlock()
	rep := "replica:" + c.ReplicaAddr()
	if want := []string{rep + " true", rep + " false", rep + " true"}; !slices.Equal(events, want) {
		t.Fatalf("OnHealth events = %q, want %q", events, want)
	}
}

// TestPrimaryStopped: with the primary down, writes and Ping fail fast
// with ErrUnavailable while the replica keeps serving reads, including
// reads that must see the last write; after the restart all recovers,
// and Close leaves no goroutine behind.
func TestPrimaryStopped(t *testing.T) {
	c := testsvc.Postgres(t)
	base := runtime.NumGoroutine()
	s := openPG(t, c)
	ctx := context.Background()
	it, pos, err := s.Create(ctx, NewItem{Name: "p"})
	if err != nil {
		t.Fatal(err)
	}
	waitReplica(t, s)
	c.StopPrimary()
	for _, call := range []struct {
		name string
		do   func() error
	}{
		{"Ping", func() error { return s.Ping(ctx) }},
		{"Create", func() error { _, _, err := s.Create(ctx, NewItem{Name: "q"}); return err }},
		{"Update", func() error { _, _, err := s.Update(ctx, it.ID, NewItem{Name: "q"}, 0); return err }},
		{"Delete", func() error { _, err := s.Delete(ctx, it.ID); return err }},
		{"InsertBatch", func() error { _, err := s.InsertBatch(ctx, []NewItem{{Name: "q"}}); return err }},
	} {
		start := time.Now()
		err := call.do()
		if el := time.Since(start); !errors.Is(err, ErrUnavailable) || el > 3*time.Second {
			t.Errorf("%s with the primary down = %v after %v, want ErrUnavailable within 3s", call.name, err, el)
		}
	}
	if got, src, err := s.Get(ctx, it.ID, pos); err != nil || got.Name != "p" || !strings.HasPrefix(string(src), "replica:") {
		t.Fatalf("Get(after the last write) with the primary down = %+v from %q, %v; want it from the replica", got, src, err)
	}
	c.StartPrimary()
	deadline := time.Now().Add(10 * time.Second)
	for s.Ping(ctx) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("Ping() after the primary restarted = %v", s.Ping(ctx))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, _, err := s.Create(ctx, NewItem{Name: "q"}); err != nil {
		t.Fatalf("Create() after the primary restarted = %v", err)
	}

	s.Close()
	deadline = time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines after Close, %d before Open:\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSchemaSetupConcurrent: backends starting together all set up the
// schema without tripping over each other.
func TestSchemaSetupConcurrent(t *testing.T) {
	c := testsvc.Postgres(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			s, err := NewPostgres(context.Background(), Config{Primary: c.PrimaryDSN(), MaxConns: 1})
			if err == nil {
				s.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("NewPostgres #%d = %v", i, err)
		}
	}
}

// TestPrimaryDown: no store without a primary, and the error says so fast.
func TestPrimaryDown(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	_, err := NewPostgres(ctx, Config{Primary: "postgres://postgres@" + loopback.Refusing(t) + "/postgres?sslmode=disable"})
	if !errors.Is(err, ErrUnavailable) || time.Since(start) > 3*time.Second {
		t.Fatalf("NewPostgres(refusing primary) = %v after %v, want ErrUnavailable", err, time.Since(start))
	}
	if _, err := NewPostgres(ctx, Config{Primary: "::bad dsn"}); err == nil || errors.Is(err, ErrUnavailable) {
		t.Fatalf("NewPostgres(bad DSN) = %v, want a DSN error", err)
	}
}
