package data

import (
	"bytes"
	"context"
	"encoding/json"
	"sort"
	"sync"
	"time"
)

// memory is the in-process Store with the PostgreSQL store's semantics.
// Every write advances a counter that serves as its Position, so callers
// can treat both stores alike.
type memory struct {
	mu     sync.RWMutex // guards all fields below
	items  map[int64]Item
	byName map[string]int64
	nextID int64
	lsn    uint64
}

var _ Store = (*memory)(nil)

// NewMemory returns an empty in-process store (Source "memory").
func NewMemory() Store {
	return &memory{items: make(map[int64]Item), byName: make(map[string]int64), nextID: 1}
}

// now is microsecond-truncated UTC, as timestamptz stores it.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// compact stores a value the way jsonb gives it back: no insignificant
// whitespace (key order and duplicates aside).
func compact(v json.RawMessage) json.RawMessage {
	if len(v) == 0 {
		return nil
	}
	var b bytes.Buffer
	if err := json.Compact(&b, v); err != nil {
		return append(json.RawMessage(nil), v...)
	}
	return b.Bytes()
}

// bumpLocked records one write and returns its Position.
func (m *memory) bumpLocked() Position {
	m.lsn++
	return Position(FormatLSN(m.lsn))
}

func (m *memory) Create(_ context.Context, it NewItem) (Item, Position, error) {
	if err := validate(it); err != nil {
		return Item{}, "", err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, dup := m.byName[it.Name]; dup {
		return Item{}, "", ErrConflict
	}
	t := now()
	row := Item{ID: m.nextID, Name: it.Name, Value: compact(it.Value), Version: 1, Created: t, Updated: t}
	m.nextID++
	m.items[row.ID] = row
	m.byName[row.Name] = row.ID
	return row, m.bumpLocked(), nil
}

func (m *memory) Get(_ context.Context, id int64, _ Position) (Item, Source, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	row, ok := m.items[id]
	if !ok {
		return Item{}, SourceMemory, ErrNotFound
	}
	return row, SourceMemory, nil
}

func (m *memory) List(_ context.Context, limit int, _ Position) ([]Item, Source, error) {
	limit = clampLimit(limit)
	m.mu.RLock()
	ids := make([]int64, 0, len(m.items))
	for id := range m.items {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	if len(ids) > limit {
		ids = ids[:limit]
	}
	out := make([]Item, len(ids))
	for i, id := range ids {
		out[i] = m.items[id]
	}
	m.mu.RUnlock()
	return out, SourceMemory, nil
}

func (m *memory) Update(_ context.Context, id int64, it NewItem, version int64) (Item, Position, error) {
	if err := validate(it); err != nil {
		return Item{}, "", err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	row, ok := m.items[id]
	if !ok {
		return Item{}, "", ErrNotFound
	}
	if version > 0 && row.Version != version {
		return Item{}, "", ErrConflict
	}
	if other, dup := m.byName[it.Name]; dup && other != id {
		return Item{}, "", ErrConflict
	}
	delete(m.byName, row.Name)
	row.Name, row.Value = it.Name, compact(it.Value)
	row.Version++
	row.Updated = now()
	m.items[id] = row
	m.byName[row.Name] = id
	return row, m.bumpLocked(), nil
}

func (m *memory) Delete(_ context.Context, id int64) (Position, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	row, ok := m.items[id]
	if !ok {
		return "", ErrNotFound
	}
	delete(m.items, id)
	delete(m.byName, row.Name)
	return m.bumpLocked(), nil
}

func (m *memory) InsertBatch(_ context.Context, items []NewItem) (Position, error) {
	for _, it := range items {
		if err := validate(it); err != nil {
			return "", err
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	seen := make(map[string]struct{}, len(items))
	for _, it := range items {
		if _, dup := m.byName[it.Name]; dup {
			return "", ErrConflict
		}
		if _, dup := seen[it.Name]; dup {
			return "", ErrConflict
		}
		seen[it.Name] = struct{}{}
	}
	t := now()
	for _, it := range items {
		row := Item{ID: m.nextID, Name: it.Name, Value: compact(it.Value), Version: 1, Created: t, Updated: t}
		m.nextID++
		m.items[row.ID] = row
		m.byName[row.Name] = row.ID
	}
	if len(items) == 0 {
		return "", nil
	}
	return m.bumpLocked(), nil
}

func (m *memory) Ping(context.Context) error { return nil }
func (m *memory) Close()                     {}
