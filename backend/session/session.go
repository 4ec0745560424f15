// Package session keeps the backend's login sessions: in Redis, so every
// backend instance sees them, or in process memory for a single instance.
//
// A session has a random 128-bit ID (32 lowercase hex characters) and a
// sliding time to live: every Get pushes its expiry back by the TTL, so a
// session ends only after TTL of idleness.
package session

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Session is one logged-in user. It is a plain value, safe to copy.
type Session struct {
	ID      string    // 128-bit random, 32 hex chars
	User    string    // the user name given at login
	Created time.Time // when the session was created (UTC, second precision in Redis)
	// WritePos is the data.Position of this session's last write, "" if
	// none: a read made for this session passes it as `after`, so the
	// session reads its own writes whichever backend serves it.
	WritePos string
}

var (
	// ErrNotFound means the session is unknown or expired (HTTP 401).
	ErrNotFound = errors.New("session: not found")
	// ErrUnavailable means the store could not be asked (HTTP 503). The
	// cause is wrapped in the message: fmt.Errorf("%w: %v", ErrUnavailable, err).
	ErrUnavailable = errors.New("session: store unavailable")
)

// Store keeps sessions. Implementations are safe for concurrent use.
type Store interface {
	// Create starts a session for user with a new random ID.
	Create(ctx context.Context, user string) (Session, error)
	// Get returns the session and slides its TTL. An ID that is not 32
	// hex characters is ErrNotFound without asking the store.
	Get(ctx context.Context, id string) (Session, error)
	// SetWritePos records the position of the session's latest write and
	// slides the TTL; ErrNotFound if the session is gone. When the stored
	// and the given positions are both LSNs ("X/Y" in hex) the later one
	// is kept, so concurrent writes through different backends never
	// move it back; otherwise the given one replaces it.
	SetWritePos(ctx context.Context, id, pos string) error
	// Delete ends the session; deleting an unknown session is not an error.
	Delete(ctx context.Context, id string) error
	// Ping reports whether the store answers.
	Ping(ctx context.Context) error
	// Close releases the store's connections.
	Close() error
	// Shared reports whether sessions are visible to every instance
	// (true for Redis, false for the in-process store).
	Shared() bool
}

// newID returns 128 random bits as 32 hex characters.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}

// validID reports whether id has the shape newID produces, so garbage
// from a cookie never reaches the store.
func validID(id string) bool {
	if len(id) != 32 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// parseLSN reads PostgreSQL's "X/Y" (hex, up to 8 digits each).
func parseLSN(s string) (uint64, bool) {
	hi, lo, ok := strings.Cut(s, "/")
	if !ok || len(hi) == 0 || len(hi) > 8 || len(lo) == 0 || len(lo) > 8 {
		return 0, false
	}
	h, err1 := strconv.ParseUint(hi, 16, 32)
	l, err2 := strconv.ParseUint(lo, 16, 32)
	return h<<32 | l, err1 == nil && err2 == nil
}

// laterPos is the position SetWritePos keeps: the later of two LSNs,
// else the new value.
func laterPos(cur, pos string) string {
	c, ok1 := parseLSN(cur)
	n, ok2 := parseLSN(pos)
	if ok1 && ok2 && c > n {
		return cur
	}
	return pos
}
