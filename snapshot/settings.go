package snapshot

import (
	"strconv"
	"strings"
	"time"

	"lb/balancer"
	"lb/compress"
	"lb/config"
	"lb/health"
	"lb/proxy"
)

// passiveSettings compiles a pool's passive and outlier configuration.
// The statuses that count as failures are returned apart: the proxy
// decides which answers to report as bad.
func passiveSettings(pc *config.Pool) (balancer.Passive, proxy.StatusSet) {
	p := balancer.Passive{
		MaxFails:          pc.Passive.MaxFails,
		FailTimeout:       pc.Passive.FailTimeout,
		Consecutive5xx:    pc.Outlier.Consecutive5xx,
		BaseEjection:      pc.Outlier.BaseEjectionTime,
		MaxEjection:       pc.Outlier.MaxEjectionTime,
		MaxEjectedPercent: pc.Outlier.MaxEjectionPercent,
	}
	var statuses proxy.StatusSet
	for _, f := range pc.Passive.Failures {
		switch f {
		case "connect":
			p.Count[balancer.ConnectFailed] = true
		case "timeout":
			p.Count[balancer.TimedOut] = true
		case "error":
			p.Count[balancer.Failed] = true
		default:
			if code, err := strconv.Atoi(f); err == nil {
				statuses.Add(code)
				p.Count[balancer.BadStatus] = true
			}
		}
	}
	return p, statuses
}

// retryPolicy compiles a pool's retries.
func retryPolicy(pc *config.Pool) proxy.RetryPolicy {
	rp := proxy.RetryPolicy{
		Attempts:     max(pc.Retries.Attempts, 1),
		Timeout:      pc.Retries.Timeout,
		MaxBodyBytes: int(pc.Retries.MaxBodyBytes),
	}
	if rp.Timeout <= 0 {
		rp.Timeout = pc.Timeouts.Response
	}
	for _, on := range pc.Retries.On {
		switch on {
		case "connect": // always retried
		case "timeout":
			rp.OnTimeout = true
		case "error":
			rp.OnError = true
		default:
			if code, err := strconv.Atoi(on); err == nil {
				rp.Statuses.Add(code)
			}
		}
	}
	return rp
}

// retryAfter is the Retry-After of a pool's 503s: when the next health
// check may bring a server back, at least a second.
func retryAfter(pc *config.Pool) []byte {
	d := time.Second
	if hc := pc.HealthCheck; hc.Enabled && hc.Interval > d {
		d = hc.Interval
	}
	return []byte(strconv.Itoa(int((d + time.Second - 1) / time.Second)))
}

// sticky compiles a pool's sticky cookie.
func sticky(pc *config.Pool) *proxy.Sticky {
	if !pc.Sticky.Enabled {
		return nil
	}
	attrs := "; Path=/; HttpOnly; SameSite=Lax"
	if pc.Sticky.MaxAge > 0 {
		attrs += "; Max-Age=" + strconv.Itoa(int(pc.Sticky.MaxAge/time.Second))
	}
	if pc.Sticky.Secure {
		attrs += "; Secure"
	}
	return &proxy.Sticky{Cookie: []byte(pc.Sticky.Cookie), Attrs: []byte(attrs)}
}

// Check is one pool's active health checking, to be run by a
// health.Checker.
type Check struct {
	Pool   *balancer.Pool
	Config health.Config
}

// Checks returns the active health checks of the pools snap uses.
func Checks(cfg *config.Config, snap *proxy.Snapshot) []Check {
	var checks []Check
	seen := map[*balancer.Pool]bool{}
	for _, r := range snap.Routes() {
		bp := r.Pool.Pool
		if seen[bp] {
			continue
		}
		seen[bp] = true
		pc := cfg.Pool(bp.Name)
		if pc == nil || !pc.HealthCheck.Enabled {
			continue
		}
		hc := healthConfig(&pc.HealthCheck)
		hc.TLS, _ = upstreamTLS(pc) // Build has read the CA already
		checks = append(checks, Check{Pool: bp, Config: hc})
	}
	return checks
}

func healthConfig(hc *config.HealthCheck) health.Config {
	c := health.Config{
		Kind:         health.HTTP,
		Method:       hc.Method,
		Path:         hc.Path,
		Host:         hc.Host,
		ExpectBody:   []byte(hc.ExpectBody),
		Interval:     hc.Interval,
		FastInterval: hc.FastInterval,
		DownInterval: hc.DownInterval,
		Timeout:      hc.Timeout,
		Rise:         hc.Rise,
		Fall:         hc.Fall,
	}
	if hc.Type == "tcp" {
		c.Kind = health.TCP
	}
	for _, e := range hc.ExpectStatus {
		lo, hi, ok := strings.Cut(e, "-")
		if !ok {
			hi = lo
		}
		l, err1 := strconv.Atoi(lo)
		h, err2 := strconv.Atoi(hi)
		if err1 == nil && err2 == nil {
			c.Expect = append(c.Expect, health.StatusRange{Lo: l, Hi: h})
		}
	}
	return c
}

// compression compiles a route's compression block; nil when off.
func compression(c *config.Compression) *proxy.Compression {
	if c == nil || !c.On() {
		return nil
	}
	p := &compress.Policy{
		Levels:       map[compress.Algorithm]int{},
		MinLength:    int(c.MinLength),
		Types:        c.Types,
		ExcludePaths: c.ExcludePaths,
	}
	for _, name := range c.Algorithms {
		if a, ok := compress.ParseAlgorithm(name); ok {
			p.Prefer = append(p.Prefer, a)
			if level, ok := c.Levels[name]; ok {
				p.Levels[a] = level
			}
		}
	}
	return &proxy.Compression{Policy: p, Offload: c.Offload == nil || *c.Offload}
}
