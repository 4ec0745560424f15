package session

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// keyPrefix namespaces session keys in the Redis database.
const keyPrefix = "lb:sess:"

// Each session is one hash {u: user, c: created unix seconds, w: write
// position} whose key expires after the TTL. Get and SetWritePos are Lua
// scripts so the read (or existence check) and the TTL slide are atomic:
// an expired session is never resurrected as a half-filled hash.
// go-redis runs them with EVALSHA and falls back to EVAL after a Redis
// restart emptied the script cache.
var (
	getScript = redis.NewScript(`
local v = redis.call('HMGET', KEYS[1], 'u', 'c', 'w')
if not v[1] then return false end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return v`)
	// setPosScript keeps the later of two LSNs, like laterPos.
	setPosScript = redis.NewScript(`
local function lsn(s)
  local h, l = string.match(s or '', '^(%x+)/(%x+)$')
  if not h or #h > 8 or #l > 8 then return nil end
  return tonumber(h, 16), tonumber(l, 16)
end
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local ch, cl = lsn(redis.call('HGET', KEYS[1], 'w'))
local nh, nl = lsn(ARGV[1])
if not (ch and nh and (ch > nh or (ch == nh and cl > nl))) then
  redis.call('HSET', KEYS[1], 'w', ARGV[1])
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1`)
)

// redisStore is the shared Store. Safe for concurrent use.
type redisStore struct {
	c     *redis.Client
	ttlMS int64
}

var _ Store = (*redisStore)(nil)

// NewRedis returns a store on the Redis at url (redis://[:pass@]host:port/db).
// It does not connect: a Redis that is down at start makes calls fail
// with ErrUnavailable until it answers. poolSize bounds the connections
// (default 10 when <= 0). Timeouts are short so a dead Redis turns into
// a quick 503 rather than a hung request.
func NewRedis(url string, ttl time.Duration, poolSize int) (Store, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("session: redis url: %w", err)
	}
	if poolSize <= 0 {
		poolSize = 10
	}
	if ttl < time.Millisecond {
		return nil, fmt.Errorf("session: ttl %v too short", ttl)
	}
	opt.PoolSize = poolSize
	opt.MinIdleConns = min(2, poolSize)
	opt.DialTimeout = 500 * time.Millisecond
	opt.ReadTimeout = 500 * time.Millisecond
	opt.WriteTimeout = 500 * time.Millisecond
	opt.PoolTimeout = time.Second
	opt.MaxRetries = 1
	// One dial per attempt, not go-redis's 5 spaced 100 ms apart: a dead
	// Redis should cost a request milliseconds. After PoolSize failed
	// dials go-redis answers from its last dial error and probes once a
	// second, so recovery after Redis returns takes up to about 1 s.
	opt.DialerRetries = 1
	opt.DisableIdentity = true // no CLIENT SETINFO: Debian 12's Redis 7.0 lacks it
	return &redisStore{c: redis.NewClient(opt), ttlMS: ttl.Milliseconds()}, nil
}

func unavailable(err error) error {
	return fmt.Errorf("%w: %v", ErrUnavailable, err)
}

func (r *redisStore) Create(ctx context.Context, user string) (Session, error) {
	s := Session{ID: newID(), User: user, Created: time.Now().UTC().Truncate(time.Second)}
	k := keyPrefix + s.ID
	_, err := r.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, k, "u", user, "c", s.Created.Unix(), "w", "")
		p.PExpire(ctx, k, time.Duration(r.ttlMS)*time.Millisecond)
		return nil
	})
	if err != nil {
		return Session{}, unavailable(err)
	}
	return s, nil
}

func (r *redisStore) Get(ctx context.Context, id string) (Session, error) {
	if !validID(id) {
		return Session{}, ErrNotFound
	}
	v, err := getScript.Run(ctx, r.c, []string{keyPrefix + id}, r.ttlMS).StringSlice()
	if errors.Is(err, redis.Nil) {
		return Session{}, ErrNotFound
	}
	if err != nil {
		return Session{}, unavailable(err)
	}
	if len(v) != 3 {
		return Session{}, unavailable(fmt.Errorf("unexpected reply %q", v))
	}
	c, _ := strconv.ParseInt(v[1], 10, 64)
	return Session{ID: id, User: v[0], Created: time.Unix(c, 0).UTC(), WritePos: v[2]}, nil
}

func (r *redisStore) SetWritePos(ctx context.Context, id, pos string) error {
	if !validID(id) {
		return ErrNotFound
	}
	n, err := setPosScript.Run(ctx, r.c, []string{keyPrefix + id}, pos, r.ttlMS).Int()
	if err != nil {
		return unavailable(err)
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

func (r *redisStore) Delete(ctx context.Context, id string) error {
	if !validID(id) {
		return nil
	}
	if err := r.c.Del(ctx, keyPrefix+id).Err(); err != nil {
		return unavailable(err)
	}
	return nil
}

func (r *redisStore) Ping(ctx context.Context) error {
	if err := r.c.Ping(ctx).Err(); err != nil {
		return unavailable(err)
	}
	return nil
}

func (r *redisStore) Close() error { return r.c.Close() }
func (r *redisStore) Shared() bool { return true }
