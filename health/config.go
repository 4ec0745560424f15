package health

import (
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Kind is the kind of probe a Checker sends.
type Kind int

// Probe kinds.
const (
	// HTTP sends one request and checks the answer's status and, optionally,
	// its body (HAProxy option httpchk, http-check expect).
	HTTP Kind = iota
	// TCP only connects (HAProxy check without httpchk).
	TCP
)

// String returns the kind's name as spelled in logs.
func (k Kind) String() string {
	switch k {
	case HTTP:
		return "http"
	case TCP:
		return "tcp"
	}
	return "unknown"
}

// StatusRange is an inclusive range of HTTP status codes.
type StatusRange struct{ Lo, Hi int }

// Config is one pool's active health check. The zero value of each optional
// field selects its default (the Default constants, 200-399, Interval);
// Interval and Timeout are required. A Config is a plain value: it may be
// copied; New keeps its own copy.
type Config struct {
	Kind Kind
	// Method and Path of the HTTP probe; defaults GET and "/".
	Method, Path string
	// Host is the Host header of the HTTP probe; empty: the server's address.
	Host string
	// Expect lists the status codes that pass; empty: 200-399.
	Expect []StatusRange
	// ExpectBody, when set, must occur in the first MaxBodyBytes of the body.
	ExpectBody []byte
	// Interval between checks of a server (HAProxy inter); required > 0.
	Interval time.Duration
	// FastInterval is used while a server is changing state: some
	// consecutive results disagree with its current state (HAProxy
	// fastinter); 0: Interval.
	FastInterval time.Duration
	// DownInterval is used while a server is down (HAProxy downinter);
	// 0: Interval.
	DownInterval time.Duration
	// Timeout bounds one probe: connect, request and response; required > 0.
	Timeout time.Duration
	// Rise consecutive successes bring a down server up, Fall consecutive
	// failures take an up server down; 0: 2 and 3.
	Rise, Fall int
	// MaxBodyBytes is how much of the body is read to look for ExpectBody;
	// 0: 16 KiB. A longer body is truncated for matching, never an error,
	// and never read further.
	MaxBodyBytes int
	// Concurrency bounds the probes in flight at once per Checker; 0: 16.
	Concurrency int
	// TLS, when not nil, wraps each probe's connection in TLS (the pool's
	// servers speak TLS); an empty ServerName means the server's host.
	TLS *tls.Config
}

// Defaults of the optional fields.
const (
	DefaultMethod       = "GET"
	DefaultPath         = "/"
	DefaultRise         = 2
	DefaultFall         = 3
	DefaultMaxBodyBytes = 16 << 10
	DefaultConcurrency  = 16
)

// defaultExpect is the status range that passes when Expect is empty.
var defaultExpect = []StatusRange{{200, 399}}

// ErrInvalidConfig is wrapped by every error of Config.Validate.
var ErrInvalidConfig = errors.New("health: invalid config")

// Validate reports the first problem with c as an error wrapping
// ErrInvalidConfig, or nil. It rejects; it never repairs. Zero values of
// optional fields are valid (they select defaults).
func (c *Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...)
	}
	switch {
	case c.Kind != HTTP && c.Kind != TCP:
		return bad("unknown kind %d", int(c.Kind))
	case c.Interval <= 0:
		return bad("interval %v, want > 0", c.Interval)
	case c.Timeout <= 0:
		return bad("timeout %v, want > 0", c.Timeout)
	case c.FastInterval < 0 || c.DownInterval < 0:
		return bad("negative fast or down interval")
	case c.Rise < 0 || c.Fall < 0:
		return bad("negative rise or fall")
	case c.MaxBodyBytes < 0:
		return bad("negative max body bytes")
	case c.Concurrency < 0:
		return bad("negative concurrency")
	case !isToken(c.Method):
		return bad("method %q is not an HTTP token", c.Method)
	case c.Path != "" && (c.Path[0] != '/' || !isPrintable(c.Path)):
		return bad("path %q must start with / and hold no space or control character", c.Path)
	case !isPrintable(c.Host):
		return bad("host %q holds a space or control character", c.Host)
	}
	for _, r := range c.Expect {
		if r.Lo < 100 || r.Hi > 599 || r.Lo > r.Hi {
			return bad("status range %d-%d, want 100 <= lo <= hi <= 599", r.Lo, r.Hi)
		}
	}
	return nil
}

// withDefaults returns c with every zero optional field set to its default.
func (c Config) withDefaults() Config {
	if c.Method == "" {
		c.Method = DefaultMethod
	}
	if c.Path == "" {
		c.Path = DefaultPath
	}
	if len(c.Expect) == 0 {
		c.Expect = defaultExpect
	}
	if c.FastInterval == 0 {
		c.FastInterval = c.Interval
	}
	if c.DownInterval == 0 {
		c.DownInterval = c.Interval
	}
	if c.Rise == 0 {
		c.Rise = DefaultRise
	}
	if c.Fall == 0 {
		c.Fall = DefaultFall
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.Concurrency == 0 {
		c.Concurrency = DefaultConcurrency
	}
	return c
}

// expects reports whether status is in one of the configured ranges.
func (c *Config) expects(status int) bool {
	for _, r := range c.Expect {
		if status >= r.Lo && status <= r.Hi {
			return true
		}
	}
	return false
}

// isToken reports whether s is empty or an RFC 9110 token.
func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		b := s[i]
		if b <= ' ' || b >= 0x7f || isDelimiter(b) {
			return false
		}
	}
	return true
}

// isDelimiter reports whether b is one of RFC 9110's delimiters.
func isDelimiter(b byte) bool {
	return strings.IndexByte(`"(),/:;<=>?@[\]{}`, b) >= 0
}

// isPrintable reports whether s holds no space, control or non-ASCII byte.
func isPrintable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}
