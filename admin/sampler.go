package admin

import (
	"sync"
	"time"

	"lb/balancer"
	"lb/metrics"
)

// The stats page's rates come from samples of the servers' counters that
// the admin server takes every sampleEvery, keeping the last historyLen
// (5 minutes); rates and latencies are over the last rateWindow samples.
const (
	sampleEvery = 2 * time.Second
	historyLen  = 150
	rateWindow  = 5
)

// sample is one server's counters at one time.
type sample struct {
	at       time.Time
	requests uint64 // attempts, all classes
	errors   uint64 // 5xx answers and no answers
	latency  metrics.HistogramSnapshot
}

// series is a ring of a server's samples, oldest first once full.
type series struct {
	ring [historyLen]sample
	n    int // samples taken, ever
	seen bool
}

func (s *series) add(x sample) {
	s.ring[s.n%historyLen] = x
	s.n++
}

// at returns the i-th newest sample (0: the newest); i < min(n, historyLen).
func (s *series) at(i int) *sample { return &s.ring[(s.n-1-i)%historyLen] }

func (s *series) len() int { return min(s.n, historyLen) }

// sampler keeps the samples of the served servers. It is safe for
// concurrent use.
type sampler struct {
	mu     sync.Mutex
	series map[*balancer.Server]*series // guarded by mu
}

func takeSample(srv *balancer.Server, now time.Time) sample {
	st := &srv.Stats
	x := sample{at: now, latency: st.Latency.Snapshot()}
	for i := range st.Responses {
		n := st.Responses[i].Load()
		x.requests += n
		if i == metrics.ClassError || i == metrics.Class5xx {
			x.errors += n
		}
	}
	return x
}

// run samples pools() every interval until done is closed.
func (sp *sampler) run(pools func() []*balancer.Pool, interval time.Duration, done <-chan struct{}) {
	t := time.NewTicker(interval)
	defer t.Stop()
	sp.tick(pools(), time.Now())
	for {
		select {
		case <-done:
			return
		case now := <-t.C:
			sp.tick(pools(), now)
		}
	}
}

// tick samples every server of pools; servers no longer served are
// forgotten.
func (sp *sampler) tick(pools []*balancer.Pool, now time.Time) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.series == nil {
		sp.series = map[*balancer.Server]*series{}
	}
	for _, s := range sp.series {
		s.seen = false
	}
	for _, p := range pools {
		for _, srv := range p.Servers() {
			s := sp.series[srv]
			if s == nil {
				s = new(series)
				sp.series[srv] = s
			}
			s.add(takeSample(srv, now))
			s.seen = true
		}
	}
	for srv, s := range sp.series {
		if !s.seen {
			delete(sp.series, srv)
		}
	}
}

// rates is what the stats page shows of a server's recent traffic.
type rates struct {
	RPS       float64   `json:"rps"`
	ErrorRate float64   `json:"error_rate"`
	P50ms     *float64  `json:"p50_ms"` // null: no request in the window
	P99ms     *float64  `json:"p99_ms"`
	History   []float64 `json:"rps_history"` // requests/s per sample interval, oldest first
}

// rates returns srv's rates: over the window from its newest samples to
// now (the live counters) and its history.
func (sp *sampler) rates(srv *balancer.Server, now time.Time) rates {
	r := rates{History: []float64{}}
	sp.mu.Lock()
	defer sp.mu.Unlock()
	s := sp.series[srv]
	if s == nil || s.len() == 0 {
		return r
	}
	cur := takeSample(srv, now)
	old := s.at(min(rateWindow, s.len()) - 1)
	if dt := cur.at.Sub(old.at).Seconds(); dt > 0 {
		n := cur.requests - old.requests
		r.RPS = float64(n) / dt
		if n > 0 {
			r.ErrorRate = float64(cur.errors-old.errors) / float64(n)
		}
	}
	lat := cur.latency.Sub(&old.latency)
	if q := lat.Quantile(0.5); q >= 0 {
		p50, p99 := ms(q), ms(lat.Quantile(0.99))
		r.P50ms, r.P99ms = &p50, &p99
	}
	for i := s.len() - 1; i > 0; i-- {
		a, b := s.at(i), s.at(i-1)
		if dt := b.at.Sub(a.at).Seconds(); dt > 0 {
			r.History = append(r.History, float64(b.requests-a.requests)/dt)
		}
	}
	return r
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
