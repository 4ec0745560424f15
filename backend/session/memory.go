package session

import (
	"context"
	"sync"
	"time"
)

// memory is the in-process Store: sessions live in this instance only.
type memory struct {
	ttl time.Duration
	now func() time.Time // injected clock seam; time.Now in production

	mu        sync.Mutex // guards m and lastSweep
	m         map[string]*memEntry
	lastSweep int // len(m) after the last sweep of expired entries
}

type memEntry struct {
	s       Session
	expires time.Time
}

var _ Store = (*memory)(nil)

// NewMemory returns an in-process store whose sessions expire after ttl
// of idleness. Sessions are not shared with other instances.
func NewMemory(ttl time.Duration) Store {
	return &memory{ttl: ttl, now: time.Now, m: make(map[string]*memEntry)}
}

func (m *memory) Create(_ context.Context, user string) (Session, error) {
	now := m.now()
	s := Session{ID: newID(), User: user, Created: now.UTC().Truncate(time.Second)}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sweepLocked(now)
	m.m[s.ID] = &memEntry{s: s, expires: now.Add(m.ttl)}
	return s, nil
}

// sweepLocked drops expired entries once the map has doubled since the
// last sweep, so the map stays bounded by the live sessions at an
// amortised O(1) cost per Create.
func (m *memory) sweepLocked(now time.Time) {
	if len(m.m) < 2*m.lastSweep+64 {
		return
	}
	for id, e := range m.m {
		if !now.Before(e.expires) {
			delete(m.m, id)
		}
	}
	m.lastSweep = len(m.m)
}

// liveLocked returns the live entry for id, sliding its expiry.
func (m *memory) liveLocked(id string) (*memEntry, bool) {
	e, ok := m.m[id]
	if !ok {
		return nil, false
	}
	now := m.now()
	if !now.Before(e.expires) {
		delete(m.m, id)
		return nil, false
	}
	e.expires = now.Add(m.ttl)
	return e, true
}

func (m *memory) Get(_ context.Context, id string) (Session, error) {
	if !validID(id) {
		return Session{}, ErrNotFound
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.liveLocked(id)
	if !ok {
		return Session{}, ErrNotFound
	}
	return e.s, nil
}

func (m *memory) SetWritePos(_ context.Context, id, pos string) error {
	if !validID(id) {
		return ErrNotFound
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.liveLocked(id)
	if !ok {
		return ErrNotFound
	}
	e.s.WritePos = laterPos(e.s.WritePos, pos)
	return nil
}

func (m *memory) Delete(_ context.Context, id string) error {
	m.mu.Lock()
	delete(m.m, id)
	m.mu.Unlock()
	return nil
}

func (m *memory) Ping(context.Context) error { return nil }
func (m *memory) Close() error               { return nil }
func (m *memory) Shared() bool               { return false }
