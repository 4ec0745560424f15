package config

import (
	"fmt"
	"path/filepath"
	"time"
)

// Defaults, as documented on the fields of Config.
const (
	defaultShutdownTimeout   = 30 * time.Second
	defaultReadTimeout       = 60 * time.Second
	defaultWriteTimeout      = 60 * time.Second
	defaultIdleTimeout       = 75 * time.Second
	defaultMaxHeaderBytes    = 16 << 10
	defaultMaxBodyBytes      = 8 << 20
	defaultMaxURIBytes       = 8 << 10
	defaultHeaderTimeout     = 10 * time.Second
	defaultLogLevel          = "info"
	defaultLogFormat         = "json"
	defaultLogOutput         = "stderr"
	defaultAccessOutput      = "stdout"
	defaultPolicy            = RoundRobin
	defaultConnectTimeout    = 5 * time.Second
	defaultResponseTimeout   = 60 * time.Second
	defaultPoolIdleTimeout   = 30 * time.Second
	defaultMaxConnsPerServer = 1024
	defaultWeight            = 1

	defaultCheckType       = "http"
	defaultCheckMethod     = "GET"
	defaultCheckPath       = "/"
	defaultCheckStatus     = "200-399"
	defaultCheckInterval   = 2 * time.Second
	defaultCheckTimeoutCap = time.Second // the default timeout is min(interval, this)
	defaultRise            = 2
	defaultFall            = 3

	defaultMaxFails    = 1
	defaultFailTimeout = 10 * time.Second

	defaultBaseEjectionTime   = 30 * time.Second
	defaultMaxEjectionTime    = 300 * time.Second
	defaultMaxEjectionPercent = 50

	defaultMaxQueue          = 1024
	defaultRetryAttempts     = 3
	defaultRetryMaxBodyBytes = 1 << 20
	defaultStickyCookie      = "lb"

	defaultCompressionMinLength = 256

	defaultAdminAddress = "127.0.0.1:9090"

	defaultResolverInterval = 5 * time.Second
	defaultResolverTimeout  = 2 * time.Second
)

// Compression levels: the range each algorithm accepts and the default.
// Brotli's 4 and gzip's 6 are the usual trade-offs for compressing on the
// fly (Nginx brotli_comp_level is 6 but costs far more CPU per byte).
var compressionLevels = map[string]struct{ min, max, def int }{
	"br":   {0, 11, 4},
	"gzip": {1, 9, 6},
}

// The default lists are functions so that every pool gets slices of its
// own: a Config shares no backing array with another.
func defaultFailures() StringList { return StringList{"connect", "timeout", "error"} }
func defaultRetryOn() StringList  { return StringList{"connect", "error"} }

// defaultCompressionAlgorithms is the default compression.algorithms.
func defaultCompressionAlgorithms() []string { return []string{"br", "gzip"} }

// defaultCompressionTypes is the default compression.types: text, and the
// structured text formats that are not compressed already.
func defaultCompressionTypes() []string {
	return []string{
		"text/*",
		"application/json",
		"application/javascript",
		"application/xml",
		"application/*+json",
		"application/*+xml",
		"image/svg+xml",
		"application/wasm",
	}
}

// setDefaults fills every field whose key was left out of the file (or
// written as null). A key written with a zero value ("weight: 0",
// `level: ""`) keeps it, for validation to reject rather than repair.
// A pool's health_check and sticky, and the compression blocks (global
// and per route), are the exception that proves the rule: their presence,
// even as null, is what turns them on, and only then are their fields
// defaulted.
func setDefaults(c *Config, pos *positions) {
	unset := func(format string, args ...any) bool {
		return !pos.set[fmt.Sprintf(format, args...)]
	}
	if unset("shutdown_timeout") {
		c.ShutdownTimeout = defaultShutdownTimeout
	}
	for i := range c.Listeners {
		l := &c.Listeners[i]
		if unset("listeners[%d].name", i) {
			l.Name = l.Address
		}
		if unset("listeners[%d].read_timeout", i) {
			l.ReadTimeout = defaultReadTimeout
		}
		if unset("listeners[%d].write_timeout", i) {
			l.WriteTimeout = defaultWriteTimeout
		}
		if unset("listeners[%d].idle_timeout", i) {
			l.IdleTimeout = defaultIdleTimeout
		}
		if unset("listeners[%d].max_header_bytes", i) {
			l.MaxHeaderBytes = defaultMaxHeaderBytes
		}
		if unset("listeners[%d].max_body_bytes", i) {
			l.MaxBodyBytes = defaultMaxBodyBytes
		}
		if unset("listeners[%d].max_uri_bytes", i) {
			l.MaxURIBytes = min(defaultMaxURIBytes, l.MaxHeaderBytes)
		}
		if unset("listeners[%d].header_timeout", i) {
			l.HeaderTimeout = min(defaultHeaderTimeout, l.ReadTimeout)
		}
		if unset("listeners[%d].https_port", i) {
			l.HTTPSPort = 443
		}
		if pos.has(fmt.Sprintf("listeners[%d].tls", i)) {
			l.TLS.Present = true
			if unset("listeners[%d].tls.min_version", i) {
				l.TLS.MinVersion = "1.2"
			}
			if unset("listeners[%d].tls.session_ticket_rotation", i) {
				l.TLS.SessionTicketRotation = time.Hour
			}
			if unset("listeners[%d].tls.watch_interval", i) {
				l.TLS.WatchInterval = 2 * time.Second
			}
			// Relative certificate paths are relative to the configuration
			// file's folder (as Nginx resolves them against its prefix).
			for j := range l.TLS.Certificates {
				cert := &l.TLS.Certificates[j]
				cert.Cert, cert.Key = besideFile(c.File, cert.Cert), besideFile(c.File, cert.Key)
			}
		}
	}

	if unset("log.level") {
		c.Log.Level = defaultLogLevel
	}
	if unset("log.format") {
		c.Log.Format = defaultLogFormat
	}
	if unset("log.output") {
		c.Log.Output = defaultLogOutput
	}
	if c.Log.Access.Enabled == nil && unset("log.access.enabled") {
		enabled := true
		c.Log.Access.Enabled = &enabled
	}
	if unset("log.access.output") {
		c.Log.Access.Output = defaultAccessOutput
	}
	if unset("log.access.format") {
		c.Log.Access.Format = c.Log.Format
	}

	// Written at all, even as null or {}, the admin block turns the admin
	// listener on.
	if pos.has("admin") {
		c.Admin.Enabled = true
		if unset("admin.address") {
			c.Admin.Address = defaultAdminAddress
		}
	}

	// Like compression below, rate_limit_redis and a route's rate_limit
	// are present when written at all.
	if pos.has("rate_limit_redis") {
		rateLimitRedisDefaults(&c.RateLimitRedis, func(key string) bool { return unset("rate_limit_redis.%s", key) })
	}

	// Written at all, even as null or {}, a compression block is present;
	// a route's block is defaulted on its own, not from the global one.
	if pos.has("compression") {
		compressionDefaults(&c.Compression, func(key string) bool { return unset("compression.%s", key) })
	}
	for i := range c.Routes {
		if unset("routes[%d].name", i) {
			c.Routes[i].Name = fmt.Sprintf("route-%d", i+1)
		}
		if pos.has(fmt.Sprintf("routes[%d].rate_limit", i)) {
			rateLimitDefaults(&c.Routes[i].RateLimit, func(key string) bool { return unset("routes[%d].rate_limit.%s", i, key) })
		}
		if pos.has(fmt.Sprintf("routes[%d].compression", i)) {
			compressionDefaults(&c.Routes[i].Compression, func(key string) bool { return unset("routes[%d].compression.%s", i, key) })
		}
	}

	for i := range c.Pools {
		poolDefaults(&c.Pools[i], pos)
		if pos.has(fmt.Sprintf("pools.%s.tls", c.Pools[i].Name)) {
			t := &c.Pools[i].TLS
			t.Present = true
			t.CA = besideFile(c.File, t.CA)
		}
	}

	if unset("resolver.interval") {
		c.Resolver.Interval = defaultResolverInterval
	}
	if unset("resolver.timeout") {
		c.Resolver.Timeout = defaultResolverTimeout
	}
}

// poolDefaults fills the keys left out of one pool, as setDefaults does.
// Defaults that follow another value (queue_timeout follows
// timeouts.connect, say) are taken after that value got its own default.
func poolDefaults(p *Pool, pos *positions) {
	path := "pools." + p.Name
	unset := func(key string) bool { return !pos.set[path+"."+key] }
	if unset("policy") {
		p.Policy = defaultPolicy
	}
	if unset("timeouts.connect") {
		p.Timeouts.Connect = defaultConnectTimeout
	}
	if unset("timeouts.response") {
		p.Timeouts.Response = defaultResponseTimeout
	}
	if unset("timeouts.idle") {
		p.Timeouts.Idle = defaultPoolIdleTimeout
	}
	if unset("max_conns_per_server") {
		p.MaxConnsPerServer = defaultMaxConnsPerServer
	}
	for j := range p.Servers {
		if unset(fmt.Sprintf("servers[%d].weight", j)) {
			p.Servers[j].Weight = defaultWeight
		}
	}

	// Written at all, even as null or {}, health_check turns checks on.
	if pos.has(path + ".health_check") {
		healthCheckDefaults(&p.HealthCheck, func(key string) bool { return unset("health_check." + key) })
	}

	if unset("passive.max_fails") {
		p.Passive.MaxFails = defaultMaxFails
	}
	if unset("passive.fail_timeout") {
		p.Passive.FailTimeout = defaultFailTimeout
	}
	if unset("passive.failures") {
		p.Passive.Failures = defaultFailures()
	}

	if unset("outlier.base_ejection_time") {
		p.Outlier.BaseEjectionTime = defaultBaseEjectionTime
	}
	if unset("outlier.max_ejection_time") {
		p.Outlier.MaxEjectionTime = defaultMaxEjectionTime
	}
	if unset("outlier.max_ejection_percent") {
		p.Outlier.MaxEjectionPercent = defaultMaxEjectionPercent
	}

	if unset("max_queue") {
		p.MaxQueue = defaultMaxQueue
	}
	if unset("queue_timeout") {
		p.QueueTimeout = p.Timeouts.Connect
	}

	if unset("retries.attempts") {
		p.Retries.Attempts = defaultRetryAttempts
	}
	if unset("retries.on") {
		p.Retries.On = defaultRetryOn()
	}
	if unset("retries.timeout") {
		p.Retries.Timeout = p.Timeouts.Response
	}
	if unset("retries.max_body_bytes") {
		p.Retries.MaxBodyBytes = defaultRetryMaxBodyBytes
	}

	// Like health_check, sticky is on as soon as it is written.
	if pos.has(path + ".sticky") {
		p.Sticky.Enabled = true
		if unset("sticky.cookie") {
			p.Sticky.Cookie = defaultStickyCookie
		}
	}
}

// healthCheckDefaults turns h on and fills the keys left out of it. The
// HTTP probe's method, path and expected statuses are filled for http
// checks only: a tcp check leaves them empty, as it does not use them.
func healthCheckDefaults(h *HealthCheck, unset func(key string) bool) {
	h.Enabled = true
	if unset("type") {
		h.Type = defaultCheckType
	}
	if h.Type == "http" {
		if unset("method") {
			h.Method = defaultCheckMethod
		}
		if unset("path") {
			h.Path = defaultCheckPath
		}
		if unset("expect_status") {
			h.ExpectStatus = StringList{defaultCheckStatus}
		}
	}
	if unset("interval") {
		h.Interval = defaultCheckInterval
	}
	if unset("fast_interval") {
		h.FastInterval = h.Interval
	}
	if unset("down_interval") {
		h.DownInterval = h.Interval
	}
	if unset("timeout") {
		h.Timeout = min(h.Interval, defaultCheckTimeoutCap)
	}
	if unset("rise") {
		h.Rise = defaultRise
	}
	if unset("fall") {
		h.Fall = defaultFall
	}
}

// compressionDefaults marks a written compression block present and fills
// the keys left out of it. Levels are filled for the listed algorithms
// that have none (unknown algorithms are left for validation to report).
func compressionDefaults(c *Compression, unset func(key string) bool) {
	c.Present = true
	if c.Enabled == nil && unset("enabled") {
		c.Enabled = ptrTo(true)
	}
	if unset("algorithms") {
		c.Algorithms = defaultCompressionAlgorithms()
	}
	for _, alg := range c.Algorithms {
		level, known := compressionLevels[alg]
		if _, set := c.Levels[alg]; !known || set {
			continue
		}
		if c.Levels == nil {
			c.Levels = map[string]int{}
		}
		c.Levels[alg] = level.def
	}
	if unset("min_length") {
		c.MinLength = defaultCompressionMinLength
	}
	if unset("types") {
		c.Types = defaultCompressionTypes()
	}
	if c.Offload == nil && unset("offload") {
		c.Offload = ptrTo(true)
	}
}

// ptrTo returns a pointer to a new variable holding v.
func ptrTo[T any](v T) *T { return &v }

// rateLimitDefaults marks a written rate_limit block present and fills
// the keys left out of it.
func rateLimitDefaults(r *RateLimit, unset func(key string) bool) {
	r.Present = true
	if unset("key") {
		r.Key = "client_ip"
	}
	if unset("per") {
		r.Per = time.Second
	}
	if unset("burst") {
		r.Burst = r.Rate
	}
	if unset("max_keys") {
		r.MaxKeys = 100_000
	}
}

// rateLimitRedisDefaults marks a written rate_limit_redis block present
// and fills the keys left out of it.
func rateLimitRedisDefaults(r *RateLimitRedis, unset func(key string) bool) {
	r.Present = true
	if unset("timeout") {
		r.Timeout = 50 * time.Millisecond
	}
	if unset("prefix") {
		r.Prefix = "lb:rl:"
	}
}

// besideFile resolves a relative path against the folder of file.
func besideFile(file, path string) string {
	if path == "" || filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(filepath.Dir(file), path)
}
