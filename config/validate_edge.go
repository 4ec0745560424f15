package config

import (
	"crypto/x509"
	"errors"
	"os"
	"strings"
)

// listenerLimits checks the limits of each listener (the edge keys:
// max_uri_bytes, header_timeout, max_conns, max_conns_per_ip,
// max_requests_per_conn). Sizes and durations are positive once decoded.
func (v *validator) listenerLimits(ls []Listener) {
	for i := range ls {
		l := &ls[i]
		p := index("listeners", i)
		if l.MaxURIBytes > l.MaxHeaderBytes && !v.undecoded(p+".max_header_bytes") {
			v.errorf(p+".max_uri_bytes", "%d is over max_header_bytes (%d): the request line is part of the head", l.MaxURIBytes, l.MaxHeaderBytes)
		}
		if l.HeaderTimeout > l.ReadTimeout && !v.undecoded(p+".read_timeout") {
			v.errorf(p+".header_timeout", "%s is over read_timeout (%s)", l.HeaderTimeout, l.ReadTimeout)
		}
		for _, n := range []struct {
			key string
			val int
		}{
			{"max_conns", l.MaxConns},
			{"max_conns_per_ip", l.MaxConnsPerIP},
			{"max_requests_per_conn", l.MaxRequestsPerConn},
		} {
			if n.val < 0 {
				v.errorf(p+"."+n.key, "must not be negative (0 means no limit), got %d", n.val)
			}
		}
		if l.MaxConns > 0 && l.MaxConnsPerIP > l.MaxConns {
			v.errorf(p+".max_conns_per_ip", "%d is over max_conns (%d)", l.MaxConnsPerIP, l.MaxConns)
		}
		if l.HTTPSPort < 1 || l.HTTPSPort > 65535 {
			v.errorf(p+".https_port", "must be a port number (1-65535), got %d", l.HTTPSPort)
		}
		if l.RedirectHTTPS && l.TLS.Present {
			v.errorf(p+".redirect_https", "a TLS listener cannot redirect to itself")
		}
		if l.TLS.Present {
			v.tls(p+".tls", &l.TLS)
		}
	}
}

// rateLimits checks the routes' rate_limit blocks and rate_limit_redis.
func (v *validator) rateLimits(c *Config) {
	if r := &c.RateLimitRedis; r.Present {
		ap := "rate_limit_redis.address"
		switch {
		case r.Address == "":
			v.errorf(ap, "required (host:port, e.g. \"127.0.0.1:6379\")")
		case checkHostPort(r.Address, true, "127.0.0.1:6379") != "":
			v.errorf(ap, "%s", checkHostPort(r.Address, true, "127.0.0.1:6379"))
		}
		if r.DB < 0 {
			v.errorf("rate_limit_redis.db", "must not be negative, got %d", r.DB)
		}
	}
	for i := range c.Routes {
		r := &c.Routes[i].RateLimit
		if !r.Present {
			continue
		}
		p := index("routes", i) + ".rate_limit"
		switch {
		case r.Key == "client_ip", r.Key == "route":
		case strings.HasPrefix(r.Key, "header:"):
			if name := strings.TrimPrefix(r.Key, "header:"); !isToken(name) {
				v.errorf(p+".key", "bad header name %s", quote(name))
			}
		default:
			v.errorf(p+".key", "unknown key %s (want client_ip, route or header:NAME)", quote(r.Key))
		}
		if r.Rate <= 0 && !v.undecoded(p+".rate") {
			v.errorf(p+".rate", "required: a positive number of requests per %s", r.Per)
		}
		if r.Burst <= 0 && v.pos.set[p+".burst"] {
			v.errorf(p+".burst", "must be positive, got %d", r.Burst)
		}
		if r.MaxKeys <= 0 && v.pos.set[p+".max_keys"] {
			v.errorf(p+".max_keys", "must be positive, got %d", r.MaxKeys)
		}
		if r.Shared && !c.RateLimitRedis.Present {
			v.errorf(p+".shared", "needs a rate_limit_redis block")
		}
	}
}

// tls checks a listener's tls block; certificate files must be readable.
func (v *validator) tls(p string, t *TLS) {
	if len(t.Certificates) == 0 {
		v.errorf(p+".certificates", "at least one certificate is required")
	}
	for i, c := range t.Certificates {
		cp := index(p+".certificates", i)
		for _, f := range []struct{ key, path string }{{"cert", c.Cert}, {"key", c.Key}} {
			switch _, err := os.Stat(f.path); {
			case f.path == "":
				v.errorf(cp+"."+f.key, "required (a PEM file)")
			case err != nil:
				v.errorf(cp+"."+f.key, "cannot read %s: %v", quote(f.path), errors.Unwrap(err))
			}
		}
	}
	if t.MinVersion != "1.2" && t.MinVersion != "1.3" {
		v.errorf(p+".min_version", "must be \"1.2\" or \"1.3\", got %s", quote(t.MinVersion))
	}
	for _, c := range t.HSTS {
		if c < ' ' || c > '~' {
			v.errorf(p+".hsts", "must be printable ASCII (a Strict-Transport-Security value)")
			break
		}
	}
}

// upstreamTLS checks the pools' tls blocks: a CA file must hold at
// least one PEM certificate.
func (v *validator) upstreamTLS(pools []Pool) {
	for i := range pools {
		t := &pools[i].TLS
		if !t.Present || t.CA == "" {
			continue
		}
		p := "pools." + pools[i].Name + ".tls.ca"
		pem, err := os.ReadFile(t.CA)
		switch {
		case err != nil:
			v.errorf(p, "cannot read %s: %v", quote(t.CA), errors.Unwrap(err))
		case !x509.NewCertPool().AppendCertsFromPEM(pem):
			v.errorf(p, "no PEM certificate in %s", quote(t.CA))
		}
	}
}
