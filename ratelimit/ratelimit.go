// Package ratelimit limits requests per key (a client address, a route,
// a header value such as an API key) with a token bucket: Burst requests
// at once, then one per Per/Rate. It is computed as GCRA, the generic cell
// rate algorithm (ITU-T I.371), which keeps one timestamp per key, the
// bucket's "theoretical arrival time", instead of a count and a refill
// time. Nginx limit_req (rate, burst, nodelay) behaves the same way.
//
// Local keeps the timestamps in memory, in a bounded sharded map; Redis
// keeps them in Redis and evaluates GCRA there in one atomic script, so
// that several lb processes enforce one budget.
package ratelimit

import (
	"math"
	"time"
)

// Rate is a token bucket: Burst requests at once, refilled at Rate per
// Per. A zero Burst means Rate.
type Rate struct {
	Rate  int
	Per   time.Duration
	Burst int
}

// interval is the time one token takes to come back.
func (r Rate) interval() time.Duration {
	return max(r.Per/time.Duration(r.Rate), 1)
}

func (r Rate) burst() int {
	if r.Burst > 0 {
		return r.Burst
	}
	return r.Rate
}

// Result is a limiter's decision about one request.
type Result struct {
	Allowed bool
	// Limit is the bucket size (the burst); Remaining the requests that
	// may follow at once.
	Limit, Remaining int
	// RetryAfter is, when refused, how long until one request is allowed.
	RetryAfter time.Duration
	// Reset is how long until the bucket is full again.
	Reset time.Duration
}

// Limiter decides whether a request with the given key may pass. key is
// only read during the call. Implementations are safe for concurrent use.
type Limiter interface {
	Allow(key []byte) Result
}

// gcra applies one request at now to a bucket whose theoretical arrival
// time is tat (0: a new key). It returns the decision and the new tat,
// unchanged when refused. Times are nanoseconds.
func gcra(r Rate, tat, now int64) (Result, int64) {
	t := int64(r.interval())
	b := int64(r.burst())
	if tat < now {
		tat = now
	}
	newTAT := tat + t
	allowAt := newTAT - b*t
	res := Result{Limit: int(b)}
	if now < allowAt {
		res.RetryAfter = time.Duration(allowAt - now)
		res.Reset = time.Duration(tat - now)
		return res, tat
	}
	res.Allowed = true
	res.Remaining = int(min((now-allowAt)/t, b))
	res.Reset = time.Duration(newTAT - now)
	return res, newTAT
}

// Seconds rounds d up to whole seconds, as Retry-After and RateLimit-Reset
// carry them.
func Seconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64(math.Ceil(d.Seconds()))
}
