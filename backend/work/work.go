// Package work runs CPU-heavy jobs off the request path: a fixed number
// of worker goroutines and a bounded queue in front of them. A job that
// finds the queue full is refused at once (the caller answers 503 with
// Retry-After) instead of piling up and stalling every other request.
package work

import (
	"context"
	"crypto/sha256"
	"errors"
	"sync"
	"sync/atomic"
)

// Errors returned by Pool.Do.
var (
	ErrFull   = errors.New("work: queue full")
	ErrClosed = errors.New("work: pool closed")
)

// Job states: a worker takes a queued job by moving it to running; a
// caller that gives up first moves it to abandoned, and the worker skips it.
const (
	queued int32 = iota
	running
	abandoned
)

// job is one queued call; done is closed when fn has returned.
type job struct {
	ctx   context.Context
	fn    func(context.Context)
	state atomic.Int32
	done  chan struct{}
}

// Pool is a fixed set of workers fed by a bounded queue. Safe for
// concurrent use; create it with New and stop it with Close.
type Pool struct {
	jobs    chan *job
	wg      sync.WaitGroup
	mu      sync.RWMutex // guards closed against a send on a closed jobs
	closed  bool
	workers int
}

// New starts workers goroutines (at least 1) that take jobs from a queue
// holding at most queue jobs waiting for a worker (at least 1).
func New(workers, queue int) *Pool {
	workers = max(workers, 1)
	p := &Pool{jobs: make(chan *job, max(queue, 1)), workers: workers}
	p.wg.Add(workers)
	for range workers {
		go p.worker()
	}
	return p
}

// Workers returns the number of worker goroutines.
func (p *Pool) Workers() int { return p.workers }

// Queued returns the number of jobs waiting for a worker.
func (p *Pool) Queued() int { return len(p.jobs) }

func (p *Pool) worker() {
	defer p.wg.Done()
	for j := range p.jobs {
		if j.state.CompareAndSwap(queued, running) { // else its caller gave up
			j.fn(j.ctx)
			close(j.done)
		}
	}
}

// Do queues fn and waits until a worker has run it. It returns ErrFull
// at once when the queue is full, ErrClosed after Close, and ctx.Err()
// when ctx ends while fn still waits in the queue (fn is then never
// run). Once fn has started, Do waits for it: fn receives ctx and should
// return early when ctx ends.
func (p *Pool) Do(ctx context.Context, fn func(context.Context)) error {
	j := &job{ctx: ctx, fn: fn, done: make(chan struct{})}
	p.mu.RLock()
	if p.closed {
		p.mu.RUnlock()
		return ErrClosed
	}
	select {
	case p.jobs <- j:
		p.mu.RUnlock()
	default:
		p.mu.RUnlock()
		return ErrFull
	}
	select {
	case <-j.done:
		return nil
	case <-ctx.Done():
		if j.state.CompareAndSwap(queued, abandoned) {
			return ctx.Err()
		}
		<-j.done // already running: fn sees ctx end and returns
		return nil
	}
}

// Close refuses new jobs, lets the queued ones run (or be skipped when
// their context has ended) and waits for the workers to exit.
func (p *Pool) Close() {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		close(p.jobs)
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// MaxCost bounds Hash's iterations (about a second of one core).
const MaxCost = 5_000_000

// Hash chains n rounds of SHA-256 over seed (n is clamped to
// 0..MaxCost) and returns the last digest; the CPU-heavy job of GET
// /work. It stops early, returning ctx.Err(), when ctx ends.
func Hash(ctx context.Context, seed []byte, n int) ([sha256.Size]byte, error) {
	n = min(max(n, 0), MaxCost)
	sum := sha256.Sum256(seed)
	for i := range n {
		if i&0xffff == 0xffff && ctx.Err() != nil {
			return sum, ctx.Err()
		}
		sum = sha256.Sum256(sum[:])
	}
	return sum, nil
}
