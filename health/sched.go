package health

import (
	"container/heap"
	"context"
	"time"

	"go.uber.org/zap"
)

// refreshEvery is how often the scheduler calls Pool.Refresh while a
// server of the pool is in slow start.
const refreshEvery = time.Second

// sched is the scheduler goroutine's state; only that goroutine touches it,
// so it needs no lock.
type sched struct {
	c         *Checker
	ctx       context.Context // cancelled by Stop; probes derive from it
	st        []serverState   // by index in c.targets
	queue     dueQueue        // every target, soonest due first
	inflight  int             // probes running, at most c.cfg.Concurrency
	refreshAt time.Time       // next Pool.Refresh; zero: no server ramping
	done      chan probeResult
}

// serverState is one server's schedule and consecutive-result count.
type serverState struct {
	next        time.Time // when its next probe is due
	launched    time.Time // when its last probe started
	running     bool      // a probe of it is in flight
	healthy     bool      // its health as last seen
	count       int       // consecutive results that disagree with healthy
	transitions uint64    // health changes this Checker made
}

// probeResult is what a probe goroutine sends back.
type probeResult struct {
	i      int
	ok     bool
	reason string
	at     time.Time
	dur    time.Duration
}

// newSched schedules the first check of each server at a random point
// within its first interval, so that checks never run in step.
func (c *Checker) newSched(ctx context.Context) *sched {
	now := c.now()
	s := &sched{
		c:    c,
		ctx:  ctx,
		st:   make([]serverState, len(c.targets)),
		done: make(chan probeResult, len(c.targets)), // one probe per server: sends never block
	}
	ramping := false
	for i, t := range c.targets {
		st := &s.st[i]
		st.healthy = t.srv.Healthy()
		st.next = now.Add(time.Duration(c.randN(int64(s.interval(st)))))
		ramping = ramping || t.srv.InSlowStart()
	}
	if ramping {
		s.refreshAt = now.Add(refreshEvery)
	}
	s.queue = newDueQueue(s.st)
	return s
}

// run schedules probes and applies their results until ctx is done.
func (s *sched) run() {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		now := s.c.now()
		if wake := s.step(now); wake.IsZero() {
			timer.Stop()
		} else {
			timer.Reset(wake.Sub(now))
		}
		select {
		case <-s.ctx.Done():
			return
		case r := <-s.done:
			s.finish(r)
		case <-timer.C:
		}
	}
}

// step refreshes the pool if due and launches the probes that are due, and
// returns when to wake next (zero: only a probe result can change
// anything).
func (s *sched) step(now time.Time) time.Time {
	if !s.refreshAt.IsZero() && !now.Before(s.refreshAt) {
		s.refreshAt = time.Time{}
		if s.c.pool.Refresh() {
			s.refreshAt = now.Add(refreshEvery)
		}
	}
	wake := s.launchDue(now)
	if wake.IsZero() || (!s.refreshAt.IsZero() && s.refreshAt.Before(wake)) {
		wake = s.refreshAt
	}
	return wake
}

// launchDue starts the probes due at now, soonest due first, and returns
// when the next one is due; zero when none is, or when every probe slot is
// taken (a result frees one).
func (s *sched) launchDue(now time.Time) time.Time {
	for len(s.queue.order) > 0 {
		i := s.queue.order[0]
		st := &s.st[i]
		if st.next.After(now) {
			return st.next
		}
		switch {
		case st.running:
			// Still probing from an earlier turn: skip this one.
			st.next = now.Add(s.jitter(s.interval(st)))
		case s.inflight >= s.c.cfg.Concurrency:
			return time.Time{}
		default:
			s.launch(i, now)
			st.next = now.Add(s.jitter(s.interval(st)))
		}
		heap.Fix(&s.queue, 0)
	}
	return time.Time{}
}

// launch starts a probe of the i-th target in a goroutine of its own.
func (s *sched) launch(i int, now time.Time) {
	st := &s.st[i]
	st.running, st.launched = true, now
	s.inflight++
	c, t := s.c, &s.c.targets[i]
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		start := c.now()
		ok, reason := c.probe(s.ctx, t)
		s.done <- probeResult{i: i, ok: ok, reason: reason, at: start, dur: c.now().Sub(start)}
	}()
}

// finish applies a probe's result: counts it, changes the server's health
// when a threshold is reached, reschedules the server and records its
// status.
func (s *sched) finish(r probeResult) {
	s.inflight--
	st := &s.st[r.i]
	st.running = false
	srv := s.c.targets[r.i].srv
	if h := srv.Healthy(); h != st.healthy {
		st.healthy, st.count = h, 0 // changed elsewhere (another Checker)
	}
	srv.Stats.Check(r.ok)
	if r.ok == st.healthy {
		st.count = 0
	} else {
		st.count++
		threshold := s.c.cfg.Rise
		if st.healthy {
			threshold = s.c.cfg.Fall
		}
		if st.count >= threshold {
			s.transition(r, st)
		}
	}
	if ce := s.c.log.Check(zap.DebugLevel, "health check"); ce != nil {
		ce.Write(zap.String("pool", s.c.pool.Name), zap.String("server", srv.Addr),
			zap.Bool("ok", r.ok), zap.String("reason", r.reason), zap.Duration("duration", r.dur))
	}
	// The interval may have changed with the count (fastinter, downinter).
	// A probe that outlasted it waits a whole one more, as a skipped turn
	// would.
	ival := s.jitter(s.interval(st))
	st.next = st.launched.Add(ival)
	if now := s.c.now(); !st.next.After(now) {
		st.next = now.Add(ival)
	}
	heap.Fix(&s.queue, s.queue.pos[r.i])
	s.c.setStatus(r.i, Result{
		OK: r.ok, At: r.at, Duration: r.dur, Reason: r.reason,
		Healthy: srv.Healthy(), Transitions: st.transitions,
	})
}

// transition turns the server of r to the health its results agree on,
// and logs and counts it only when that is a change.
func (s *sched) transition(r probeResult, st *serverState) {
	st.count = 0
	st.healthy = !st.healthy
	srv := s.c.targets[r.i].srv
	if !s.c.pool.SetServerHealth(srv, st.healthy) {
		return
	}
	st.transitions++
	fields := []zap.Field{
		zap.String("pool", s.c.pool.Name), zap.String("server", srv.Addr),
		zap.String("reason", r.reason),
	}
	if !st.healthy {
		s.c.log.Warn("health: server down", fields...)
		return
	}
	s.c.log.Info("health: server up", fields...)
	if srv.InSlowStart() && s.refreshAt.IsZero() {
		s.refreshAt = s.c.now().Add(refreshEvery)
	}
}

// interval is the time between checks of a server in state st: HAProxy's
// fastinter while its results disagree with its state, downinter while it
// is down, inter otherwise.
func (s *sched) interval(st *serverState) time.Duration {
	switch {
	case st.count > 0:
		return s.c.cfg.FastInterval
	case !st.healthy:
		return s.c.cfg.DownInterval
	}
	return s.c.cfg.Interval
}

// jitter returns d plus or minus up to 10%, at random.
func (s *sched) jitter(d time.Duration) time.Duration {
	j := d / 10
	if j <= 0 {
		return d
	}
	return d - j + time.Duration(s.c.randN(int64(2*j)+1))
}

// dueQueue is a min-heap of target indices by next due time, with each
// index's position so that any entry can be fixed after its time changes.
type dueQueue struct {
	st    []serverState
	order []int // heap of indices into st
	pos   []int // pos[i]: where i is in order
}

// newDueQueue returns a heap over every index of st.
func newDueQueue(st []serverState) dueQueue {
	q := dueQueue{st: st, order: make([]int, len(st)), pos: make([]int, len(st))}
	for i := range st {
		q.order[i], q.pos[i] = i, i
	}
	heap.Init(&q)
	return q
}

func (q *dueQueue) Len() int { return len(q.order) }

func (q *dueQueue) Less(a, b int) bool {
	return q.st[q.order[a]].next.Before(q.st[q.order[b]].next)
}

func (q *dueQueue) Swap(a, b int) {
	q.order[a], q.order[b] = q.order[b], q.order[a]
	q.pos[q.order[a]], q.pos[q.order[b]] = a, b
}

// Push and Pop complete heap.Interface; the queue always holds every
// target, so they are never called.
func (q *dueQueue) Push(any) { panic("health: dueQueue.Push") }
func (q *dueQueue) Pop() any { panic("health: dueQueue.Pop") }
