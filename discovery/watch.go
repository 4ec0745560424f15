package discovery

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Sets holds the last good answer of each source. A Sets handed out is
// never modified afterwards; its slices are shared and must not be
// changed.
type Sets map[Source][]Endpoint

// maxParallel bounds the lookups a Watcher runs at once.
const maxParallel = 8

// Watcher looks its sources up every interval. A source keeps its last
// good answer while lookups fail, whatever the failure (timeout,
// SERVFAIL, NXDOMAIN, an empty answer): DNS trouble never empties a pool
// (Nginx keeps the servers it has when the resolver fails; HAProxy's
// hold nx / hold timeout, held indefinitely). A failure is logged when it
// starts and when it ends, not at every interval.
//
// Its methods are safe for concurrent use. A Watcher must not be copied.
type Watcher struct {
	res      *Resolver
	interval time.Duration
	sources  []Source
	log      *zap.Logger

	mu      sync.Mutex      // guards sets and failing
	sets    Sets            // replaced, never modified, on a change
	failing map[Source]bool // sources whose last lookup failed
}

// NewWatcher returns a Watcher of sources that starts from the answers
// in seed (those of a Watcher it replaces; only its sources' are kept).
// log may be nil.
func NewWatcher(res *Resolver, interval time.Duration, sources []Source, seed Sets, log *zap.Logger) *Watcher {
	if log == nil {
		log = zap.NewNop()
	}
	w := &Watcher{res: res, interval: interval, sources: slices.Clone(sources), log: log, sets: Sets{}, failing: map[Source]bool{}}
	for _, s := range sources {
		if eps, ok := seed[s]; ok {
			w.sets[s] = eps
		}
	}
	return w
}

// Sources returns the sources the Watcher looks up.
func (w *Watcher) Sources() []Source { return slices.Clone(w.sources) }

// Sets returns the last good answer of each source; a source never
// answered has none.
func (w *Watcher) Sets() Sets {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.sets
}

// Refresh looks the sources up once, several at a time (with missing,
// only those without an answer yet), and reports whether any answer
// changed. It returns when every lookup has ended; ctx stops them.
func (w *Watcher) Refresh(ctx context.Context, missing bool) bool {
	var todo []Source
	have := w.Sets()
	for _, s := range w.sources {
		if _, ok := have[s]; !ok || !missing {
			todo = append(todo, s)
		}
	}
	type result struct {
		eps []Endpoint
		err error
	}
	results := make([]result, len(todo))
	var wg sync.WaitGroup
	sem := make(chan struct{}, maxParallel)
	for i, s := range todo {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			eps, err := w.res.Lookup(ctx, s)
			results[i] = result{eps, err}
		})
	}
	wg.Wait()

	w.mu.Lock()
	defer w.mu.Unlock()
	var next Sets
	for i, s := range todo {
		r := results[i]
		old, had := w.sets[s]
		if r.err != nil {
			if ctx.Err() != nil && errors.Is(r.err, ctx.Err()) {
				continue // stopped, not failed
			}
			if !w.failing[s] {
				w.failing[s] = true
				w.log.Warn("service discovery: lookup failed; keeping the last servers found",
					zap.Stringer("name", s), zap.Int("servers", len(old)), zap.Error(r.err))
			} else {
				w.log.Debug("service discovery: lookup failed again", zap.Stringer("name", s), zap.Error(r.err))
			}
			continue
		}
		if w.failing[s] {
			delete(w.failing, s)
			w.log.Info("service discovery: lookups answered again", zap.Stringer("name", s))
		}
		if had && slices.Equal(old, r.eps) {
			continue
		}
		if next == nil {
			next = maps.Clone(w.sets)
		}
		next[s] = r.eps
		w.log.Info("service discovery: servers changed", zap.Stringer("name", s),
			zap.Int("before", len(old)), zap.Int("after", len(r.eps)), zap.Strings("addresses", addrStrings(r.eps)))
	}
	if next == nil {
		return false
	}
	w.sets = next
	return true
}

// Run refreshes every interval until ctx is done, calling changed with
// the new answers after each refresh that changed any. changed runs on
// Run's goroutine; Run waits for it.
func (w *Watcher) Run(ctx context.Context, changed func(Sets)) {
	t := time.NewTimer(w.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if w.Refresh(ctx, false) && ctx.Err() == nil {
			changed(w.Sets())
		}
		t.Reset(w.interval)
	}
}

func addrStrings(eps []Endpoint) []string {
	s := make([]string, len(eps))
	for i, e := range eps {
		s[i] = e.Addr.String()
	}
	return s
}
