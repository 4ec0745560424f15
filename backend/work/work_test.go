package work

import (
	"context"
	"crypto/sha256"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestFullQueueRefusesAtOnce fills 2 workers and a queue of 3, then
// checks the next job is refused with ErrFull without waiting, and that
// every accepted job runs once the workers are free.
func TestFullQueueRefusesAtOnce(t *testing.T) {
	p := New(2, 3)
	defer p.Close()
	release := make(chan struct{})
	var ran atomic.Int32
	var wg sync.WaitGroup
	started := make(chan struct{}, 2)
	for i := range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := p.Do(context.Background(), func(context.Context) {
				if i < 2 {
					started <- struct{}{}
				}
				<-release
				ran.Add(1)
			})
			if err != nil {
				t.Errorf("Do() = %v, want nil", err)
			}
		}()
		if i == 1 {
			<-started
			<-started
		}
	}
	for p.Queued() != 3 {
		time.Sleep(time.Millisecond)
	}
	begin := time.Now()
	if err := p.Do(context.Background(), func(context.Context) { t.Error("refused job ran") }); !errors.Is(err, ErrFull) {
		t.Fatalf("Do() on a full pool = %v, want ErrFull", err)
	}
	if d := time.Since(begin); d > time.Second {
		t.Fatalf("refusal took %v, want at once", d)
	}
	close(release)
	wg.Wait()
	if ran.Load() != 5 {
		t.Fatalf("%d jobs ran, want 5", ran.Load())
	}
}

// TestAbandonedJobNeverRuns: a caller whose context ends while its job
// waits gets ctx.Err(), and the job is skipped rather than run late.
func TestAbandonedJobNeverRuns(t *testing.T) {
	p := New(1, 1)
	defer p.Close()
	release := make(chan struct{})
	started := make(chan struct{})
	go func() { _ = p.Do(context.Background(), func(context.Context) { close(started); <-release }) }()
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	var ran atomic.Bool
	if err := p.Do(ctx, func(context.Context) { ran.Store(true) }); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Do() = %v, want DeadlineExceeded", err)
	}
	close(release)
	p.Close()
	if ran.Load() {
		t.Fatal("an abandoned job ran")
	}
	if err := p.Do(context.Background(), func(context.Context) {}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Do() after Close = %v, want ErrClosed", err)
	}
}

func TestHash(t *testing.T) {
	want := sha256.Sum256([]byte("x"))
	want = sha256.Sum256(want[:])
	got, err := Hash(context.Background(), []byte("x"), 1)
	if err != nil || got != want {
		t.Fatalf("Hash(x, 1) = %x, %v; want %x", got, err, want)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Hash(ctx, nil, MaxCost); !errors.Is(err, context.Canceled) {
		t.Fatalf("Hash on a cancelled context = %v, want Canceled", err)
	}
}
