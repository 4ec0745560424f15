package ratelimit

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// gcraScript applies GCRA to one key atomically in Redis, on Redis's own
// clock (TIME), so that every lb process sharing the key agrees on time.
// The key holds the theoretical arrival time in microseconds and expires
// when its bucket is full again. KEYS[1] is the key; ARGV[1] the
// interval of one token in microseconds, ARGV[2] the burst. It returns
// {allowed, remaining, retry_after_us, reset_us}.
var gcraScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]))
if not tat or tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - burst * interval
if now < allow_at then
  return {0, 0, allow_at - now, tat - now}
end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1)
return {1, math.floor((now - allow_at) / interval), 0, new_tat - now}
`)

// Redis is a Limiter whose buckets live in Redis, shared by every lb
// process that uses the same Redis and prefix. Each decision is one
// EVALSHA round trip bounded by a timeout. When Redis fails or is slow,
// requests are allowed (fail open) and a warning is logged at most every
// 10 seconds; Redis is then left alone for a second before it is tried
// again, so that a dead Redis costs no latency. It is safe for
// concurrent use; unlike Local it allocates per request (go-redis).
type Redis struct {
	client  redis.Scripter
	prefix  string
	rate    Rate
	timeout time.Duration
	log     *zap.Logger

	downUntil atomic.Int64 // unix ns: fail open without asking until then
	lastWarn  atomic.Int64 // unix ns of the last warning
	failures  atomic.Int64 // decisions that failed open
}

// redisRetryAfter is how long Redis is left alone after a failure.
const redisRetryAfter = time.Second

// redisWarnEvery bounds the failure warnings.
const redisWarnEvery = 10 * time.Second

// NewRedis returns a limiter for rate keeping its buckets in client under
// prefix (e.g. "lb:rl:route:"). Every call waits at most timeout.
func NewRedis(client redis.Scripter, prefix string, rate Rate, timeout time.Duration, log *zap.Logger) *Redis {
	if log == nil {
		log = zap.NewNop()
	}
	return &Redis{client: client, prefix: prefix, rate: rate, timeout: timeout, log: log}
}

// Rate returns the limiter's rate.
func (r *Redis) Rate() Rate { return r.rate }

// Failures returns how many decisions failed open so far.
func (r *Redis) Failures() int64 { return r.failures.Load() }

// Allow takes one token from key's bucket in Redis, or allows the
// request when Redis cannot answer in time.
func (r *Redis) Allow(key []byte) Result {
	now := time.Now().UnixNano()
	if now < r.downUntil.Load() {
		return r.failOpen(nil, now)
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
	defer cancel()
	interval := max(r.rate.interval().Microseconds(), 1)
	vals, err := gcraScript.Run(ctx, r.client, []string{r.prefix + string(key)}, interval, r.rate.burst()).Int64Slice()
	if err != nil || len(vals) != 4 {
		return r.failOpen(err, now)
	}
	return Result{
		Allowed:    vals[0] == 1,
		Limit:      r.rate.burst(),
		Remaining:  int(vals[1]),
		RetryAfter: time.Duration(vals[2]) * time.Microsecond,
		Reset:      time.Duration(vals[3]) * time.Microsecond,
	}
}

// failOpen allows a request Redis could not decide on. err is nil while
// Redis is being left alone after a failure.
func (r *Redis) failOpen(err error, now int64) Result {
	r.failures.Add(1)
	if err != nil {
		r.downUntil.Store(now + int64(redisRetryAfter))
		if last := r.lastWarn.Load(); now-last >= int64(redisWarnEvery) && r.lastWarn.CompareAndSwap(last, now) {
			r.log.Warn("rate limit: Redis unavailable, allowing requests (fail open)",
				zap.String("prefix", r.prefix), zap.Error(err))
		}
	}
	b := r.rate.burst()
	return Result{Allowed: true, Limit: b, Remaining: b}
}
