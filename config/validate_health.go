package config

import (
	"strings"
)

// Checks of the keys that decide which servers of a pool take requests,
// and how failed requests are retried: health_check, passive, outlier,
// max_queue, retries and sticky.

const (
	// maxRetryAttempts bounds retries.attempts: each attempt goes to
	// another server, so more only adds load to a pool that is failing.
	maxRetryAttempts = 10
	// maxExpectBody is how much of a probe's response body is searched
	// for health_check.expect_body.
	maxExpectBody = 16 << 10
)

// httpCheckKeys are the health_check keys that only http checks use.
var httpCheckKeys = []string{"method", "path", "host", "expect_status", "expect_body"}

// healthCheck checks the active health check of the pool at key path p.
func (v *validator) healthCheck(p string, h *HealthCheck) {
	if !h.Enabled {
		return
	}
	hp := p + ".health_check"
	switch h.Type {
	case "http":
		v.httpCheck(hp, h)
	case "tcp":
		for _, k := range httpCheckKeys {
			if key := hp + "." + k; v.pos.set[key] {
				v.errorf(key, "is only used by http checks, but this check's type is tcp")
			}
		}
	default:
		v.errorf(hp+".type", "unknown type %s (want http or tcp)", quote(h.Type))
	}
	if h.Rise < 1 {
		v.errorf(hp+".rise", "must be at least 1, got %d", h.Rise)
	}
	if h.Fall < 1 {
		v.errorf(hp+".fall", "must be at least 1, got %d", h.Fall)
	}
	// Durations are positive: the decoder refuses others. A timeout left
	// out is at most the interval; one written may not be.
	tp, ip := hp+".timeout", hp+".interval"
	if h.Timeout > h.Interval && !v.undecoded(ip) {
		v.errorf(tp, "timeout %s exceeds interval %s%s: probes would overlap (the next would start while this one still runs); make timeout at most interval",
			h.Timeout, h.Interval, v.defaulted(ip))
	}
}

// httpCheck checks the keys of an http health check at key path hp.
func (v *validator) httpCheck(hp string, h *HealthCheck) {
	mp := hp + ".method"
	switch {
	case !isToken(h.Method):
		v.errorf(mp, "bad method %s: not an HTTP token", quote(h.Method))
	case strings.ToUpper(h.Method) != h.Method:
		v.errorf(mp, "method %s must be upper-case (did you mean %q?)", quote(h.Method), strings.ToUpper(h.Method))
	}

	pp := hp + ".path"
	switch {
	case !strings.HasPrefix(h.Path, "/"):
		v.errorf(pp, "must start with \"/\", got %s", quote(h.Path))
	case hasSpaceOrControl(h.Path):
		v.errorf(pp, "bad path %s: contains spaces or control characters", quote(h.Path))
	case strings.Contains(h.Path, "#"):
		v.errorf(pp, "bad path %s: a fragment ('#') is never sent to a server", quote(h.Path))
	}

	if key := hp + ".host"; v.pos.set[key] || h.Host != "" {
		if msg := checkHostHeader(h.Host); msg != "" {
			v.errorf(key, "%s", msg)
		}
	}

	sp := hp + ".expect_status"
	if len(h.ExpectStatus) == 0 {
		v.errorf(sp, "must not be empty (leave expect_status out for the default, \"%s\")", defaultCheckStatus)
	}
	seen := firstSeen{}
	for i, s := range h.ExpectStatus {
		key := v.itemKey(sp, i)
		if msg := checkExpectStatus(s); msg != "" {
			v.errorf(key, "%s", msg)
		} else if first, dup := seen.dup(s, v.pos.line(key)); dup {
			v.errorf(key, "duplicate status %s (first at line %d)", quote(s), first)
		}
	}

	bp := hp + ".expect_body"
	switch {
	case v.pos.set[bp] && h.ExpectBody == "":
		v.errorf(bp, "must not be empty (leave expect_body out to accept any body)")
	case len(h.ExpectBody) > maxExpectBody:
		v.errorf(bp, "is %d bytes long, but only the first 16 KiB of the body are searched", len(h.ExpectBody))
	case h.ExpectBody != "" && h.Method == "HEAD":
		v.errorf(bp, "cannot be found: the response to a HEAD probe has no body")
	}
}

// passive checks the passive health checks of the pool at key path p.
func (v *validator) passive(p string, ps *Passive) {
	pp := p + ".passive"
	if ps.MaxFails < 0 {
		v.errorf(pp+".max_fails", "must be at least 0 (0 turns passive checks off), got %d", ps.MaxFails)
	}
	v.conditions(pp+".failures", ps.Failures, "set max_fails: 0 to turn passive checks off")
}

// conditions checks the list of failure kinds at key path key
// (passive.failures or retries.on); off says how to turn off the feature
// the list is for, since an empty list is refused.
func (v *validator) conditions(key string, list StringList, off string) {
	if len(list) == 0 {
		v.errorf(key, "must not be empty (%s)", off)
		return
	}
	seen := firstSeen{}
	for i, s := range list {
		k := v.itemKey(key, i)
		if msg := checkCondition(s); msg != "" {
			v.errorf(k, "%s", msg)
		} else if first, dup := seen.dup(s, v.pos.line(k)); dup {
			v.errorf(k, "duplicate entry %s (first at line %d)", quote(s), first)
		}
	}
}

// outlier checks the outlier ejection of the pool at key path p.
func (v *validator) outlier(p string, o *Outlier) {
	op := p + ".outlier"
	if o.Consecutive5xx < 0 {
		v.errorf(op+".consecutive_5xx", "must be at least 0 (0 turns outlier ejection off), got %d", o.Consecutive5xx)
	}
	if o.MaxEjectionPercent < 1 || o.MaxEjectionPercent > 100 {
		v.errorf(op+".max_ejection_percent", "must be from 1 to 100, got %d (set consecutive_5xx: 0 to turn outlier ejection off)", o.MaxEjectionPercent)
	}
	bp, mp := op+".base_ejection_time", op+".max_ejection_time"
	switch {
	case o.MaxEjectionTime >= o.BaseEjectionTime || v.undecoded(bp) || v.undecoded(mp):
	case v.pos.set[mp]:
		v.errorf(mp, "max_ejection_time %s is less than base_ejection_time %s%s", o.MaxEjectionTime, o.BaseEjectionTime, v.defaulted(bp))
	default:
		v.errorf(bp, "base_ejection_time %s exceeds max_ejection_time %s (the default)", o.BaseEjectionTime, o.MaxEjectionTime)
	}
}

// retries checks the retries of the pool at key path p.
func (v *validator) retries(p string, r *Retries) {
	rp := p + ".retries"
	ap := rp + ".attempts"
	switch {
	case r.Attempts < 1:
		v.errorf(ap, "must be at least 1, got %d (the first try counts: 1 turns retries off)", r.Attempts)
	case r.Attempts > maxRetryAttempts:
		v.errorf(ap, "must be at most %d, got %d (each attempt goes to another server; more attempts only add load to a failing pool)", maxRetryAttempts, r.Attempts)
	}
	v.conditions(rp+".on", r.On, "set attempts: 1 to turn retries off")
	// retries.max_body_bytes is positive, as every size: the decoder
	// refuses 0.
}

// sticky checks the sticky sessions of the pool at key path p.
func (v *validator) sticky(p string, s *Sticky) {
	if !s.Enabled {
		return
	}
	cp := p + ".sticky.cookie"
	if msg := checkCookieName(s.Cookie); msg != "" {
		v.errorf(cp, "%s", msg)
		return
	}
	// Browsers drop cookies with these prefixes unless they are Secure
	// (RFC 6265bis section 4.1.3), and match the prefixes ignoring case.
	lower := strings.ToLower(s.Cookie)
	if !s.Secure && (strings.HasPrefix(lower, "__secure-") || strings.HasPrefix(lower, "__host-")) {
		v.errorf(cp, "cookie %s needs secure: true (browsers drop __Secure- and __Host- cookies that are not Secure)", quote(s.Cookie))
	}
}
