package snapshot

import (
	"fmt"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"lb/config"
	"lb/proxy"
	"lb/ratelimit"
)

// Option changes how Build compiles.
type Option func(*options)

type options struct {
	log *zap.Logger // lb's error log; nil: none
}

// WithLog gives Build the error log, where shared rate limits report
// that Redis is unavailable.
func WithLog(l *zap.Logger) Option { return func(o *options) { o.log = l } }

// rateLimits builds the routes' rate limiters. A route whose settings
// are unchanged since prev keeps its limiter and so its buckets; shared
// limiters of one Build use one Redis client.
type rateLimits struct {
	cfg   *config.Config
	prev  map[string]*proxy.RateLimit // by route name
	redis *redis.Client
	log   *zap.Logger
}

func newRateLimits(cfg *config.Config, prev *proxy.Snapshot, o options) *rateLimits {
	b := &rateLimits{cfg: cfg, prev: map[string]*proxy.RateLimit{}, log: o.log}
	if prev != nil {
		for _, r := range prev.Routes() {
			if r.RateLimit != nil {
				b.prev[r.Name] = r.RateLimit
			}
		}
	}
	return b
}

func (b *rateLimits) build(r *config.Route) *proxy.RateLimit {
	c := r.RateLimit
	if !c.Present {
		return nil
	}
	spec := fmt.Sprintf("%+v", c)
	if c.Shared {
		spec += fmt.Sprintf(" redis %+v", b.cfg.RateLimitRedis)
	}
	if old := b.prev[r.Name]; old != nil && old.Spec == spec {
		return old
	}
	rl := &proxy.RateLimit{Spec: spec}
	switch {
	case c.Key == "route":
		rl.Key = proxy.LimitRoute
	case len(c.Key) > len("header:") && c.Key[:len("header:")] == "header:":
		rl.Key, rl.Header = proxy.LimitHeader, []byte(c.Key[len("header:"):])
	default:
		rl.Key = proxy.LimitClientIP
	}
	rate := ratelimit.Rate{Rate: c.Rate, Per: c.Per, Burst: c.Burst}
	if !c.Shared {
		rl.Limiter = ratelimit.NewLocal(rate, c.MaxKeys, nil)
		return rl
	}
	rc := b.cfg.RateLimitRedis
	if b.redis == nil {
		b.redis = redis.NewClient(&redis.Options{
			Addr:                  rc.Address,
			DB:                    rc.DB,
			DialTimeout:           rc.Timeout,
			ReadTimeout:           rc.Timeout,
			WriteTimeout:          rc.Timeout,
			ContextTimeoutEnabled: true,
			MaxRetries:            -1, // fail open at once rather than retry
		})
	}
	rl.Limiter = ratelimit.NewRedis(b.redis, rc.Prefix+r.Name+":", rate, rc.Timeout, b.log)
	return rl
}
