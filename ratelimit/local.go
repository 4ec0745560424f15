package ratelimit

import (
	"hash/maphash"
	"sync"
	"time"
)

// shards splits the local map so that requests of different keys rarely
// wait on one mutex.
const shards = 64

// Local is an in-memory Limiter for one lb process. It holds at most
// MaxKeys keys: a shard that is full first drops the keys whose bucket
// is full again (they are the same as absent), and if none is, an
// arbitrary one, which then starts with a full bucket. It is safe for
// concurrent use and allocates only when it meets a new key.
type Local struct {
	rate     Rate
	perShard int
	now      func() time.Time
	seed     maphash.Seed
	shard    [shards]localShard
}

type localShard struct {
	mu  sync.Mutex
	tat map[string]int64 // theoretical arrival time by key; guarded by mu
	_   [40]byte         // keep shards on their own cache lines
}

// NewLocal returns a local limiter for rate holding at most maxKeys keys.
// now is the clock; nil means time.Now.
func NewLocal(rate Rate, maxKeys int, now func() time.Time) *Local {
	if now == nil {
		now = time.Now
	}
	l := &Local{rate: rate, perShard: max(maxKeys/shards, 1), now: now, seed: maphash.MakeSeed()}
	for i := range l.shard {
		l.shard[i].tat = make(map[string]int64)
	}
	return l
}

// Rate returns the limiter's rate.
func (l *Local) Rate() Rate { return l.rate }

// Allow takes one token from key's bucket if there is one.
func (l *Local) Allow(key []byte) Result {
	now := l.now().UnixNano()
	s := &l.shard[maphash.Bytes(l.seed, key)%shards]
	s.mu.Lock()
	defer s.mu.Unlock()
	tat, ok := s.tat[string(key)]
	res, newTAT := gcra(l.rate, tat, now)
	if !res.Allowed || newTAT == tat {
		return res
	}
	if !ok && len(s.tat) >= l.perShard {
		s.evict(now)
	}
	s.tat[string(key)] = newTAT
	return res
}

// evict makes room in a full shard: keys whose bucket is full again go;
// if none did, one arbitrary key goes.
func (s *localShard) evict(now int64) {
	freed := false
	for k, tat := range s.tat {
		if tat <= now {
			delete(s.tat, k)
			freed = true
		}
	}
	if !freed {
		for k := range s.tat {
			delete(s.tat, k)
			break
		}
	}
}

// Len returns the number of keys held.
func (l *Local) Len() int {
	n := 0
	for i := range l.shard {
		s := &l.shard[i]
		s.mu.Lock()
		n += len(s.tat)
		s.mu.Unlock()
	}
	return n
}
