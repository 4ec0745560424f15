// Package data stores the backend's items: in PostgreSQL (writes on the
// primary, reads on healthy streaming replicas with read-your-writes by
// WAL position) or in process memory for a single instance.
package data

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// Item is one stored row. A plain value, safe to copy.
type Item struct {
	ID      int64           `json:"id"`
	Name    string          `json:"name"`
	Value   json.RawMessage `json:"value,omitempty"`
	Version int64           `json:"version"`
	Created time.Time       `json:"created"`
	Updated time.Time       `json:"updated"`
}

// NewItem is what a client writes: a unique non-empty name and an
// optional JSON value.
type NewItem struct {
	Name  string          `json:"name"`
	Value json.RawMessage `json:"value,omitempty"`
}

// Position is the WAL LSN of a write on the primary ("0/16B3748"); ""
// means none. Pass a write's Position as `after` to read that write.
type Position string

// Source names who answered a read: "primary", "replica:HOST:PORT" or
// "memory".
type Source string

// Sources other than replicas.
const (
	SourcePrimary Source = "primary"
	SourceMemory  Source = "memory"
)

var (
	// ErrNotFound: no item with that ID (HTTP 404).
	ErrNotFound = errors.New("data: not found")
	// ErrConflict: duplicate name, or an optimistic version mismatch (HTTP 409).
	ErrConflict = errors.New("data: conflict")
	// ErrUnavailable: the database could not be asked (HTTP 503). The
	// cause is wrapped in the message.
	ErrUnavailable = errors.New("data: unavailable")
	// ErrInvalid: an empty name or a value that is not valid JSON (HTTP
	// 400). An addition to the agreed interface; callers that do not know
	// it may treat it as any other error.
	ErrInvalid = errors.New("data: invalid item")
)

// Store keeps items. Implementations are safe for concurrent use.
type Store interface {
	// Create inserts it; ErrConflict on a duplicate name.
	Create(ctx context.Context, it NewItem) (Item, Position, error)
	// Get reads one item, from a source that has replayed `after`.
	Get(ctx context.Context, id int64, after Position) (Item, Source, error)
	// List reads up to limit items by ascending ID (limit <= 0 means
	// DefaultLimit; capped at MaxLimit).
	List(ctx context.Context, limit int, after Position) ([]Item, Source, error)
	// Update replaces name and value and bumps the version. version > 0
	// is optimistic: a mismatch is ErrConflict; 0 is unconditional.
	Update(ctx context.Context, id int64, it NewItem, version int64) (Item, Position, error)
	// Delete removes an item; ErrNotFound if there is none.
	Delete(ctx context.Context, id int64) (Position, error)
	// InsertBatch inserts all items in one transaction: all or nothing
	// (ErrConflict on any duplicate name, inside the batch or not).
	InsertBatch(ctx context.Context, items []NewItem) (Position, error)
	// Ping reports whether the store can serve: the primary answers.
	Ping(ctx context.Context) error
	// Close releases connections and stops background work.
	Close()
}

// List limits.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

func clampLimit(n int) int {
	if n <= 0 {
		return DefaultLimit
	}
	return min(n, MaxLimit)
}

// validate checks what both stores reject with ErrInvalid.
func validate(it NewItem) error {
	if it.Name == "" {
		return ErrInvalid
	}
	if len(it.Value) > 0 && !json.Valid(it.Value) {
		return ErrInvalid
	}
	return nil
}
