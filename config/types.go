// Package config reads lb's YAML configuration into a validated, defaulted
// Config. It holds no runtime state and starts no goroutines: the snapshot
// package compiles a Config into the runtime types the proxy uses.
//
// Loading runs in four steps: parse (YAML with positions), default,
// validate, and hand over for compilation. Every error names the file, the
// line and the key it is about.
package config

import (
	"net/netip"
	"time"
)

// Config is one loaded configuration file. A Config is never modified after
// Load returns it; it may be shared between goroutines.
type Config struct {
	// File is the path the configuration was read from.
	File string `yaml:"-"`

	Listeners []Listener `yaml:"listeners"`
	// TrustedProxies lists the peers (addresses or CIDR prefixes) whose
	// X-Forwarded-* headers are kept and extended rather than replaced.
	// Nginx: set_real_ip_from; HAProxy: option forwardfor + trusted ACL.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// TrustedPrefixes is TrustedProxies parsed during validation (a bare
	// address becomes a /32 or /128 prefix).
	TrustedPrefixes []netip.Prefix `yaml:"-"`
	// ShutdownTimeout bounds a graceful stop. Default 30s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`

	Log Log `yaml:"log"`
	// Admin configures the admin API listener. Absent: there is none.
	Admin Admin `yaml:"admin"`
	// Compression configures response compression for every route; a
	// route's own compression block replaces it. Absent: off.
	Compression Compression `yaml:"compression"`
	// RateLimitRedis is where shared rate limits live. Absent: none.
	RateLimitRedis RateLimitRedis `yaml:"rate_limit_redis"`
	Routes         []Route        `yaml:"routes"`
	// Pools are written as a YAML mapping from pool name to pool; the
	// order of the file is kept.
	Pools []Pool `yaml:"pools"`
	// Resolver configures the DNS lookups of servers written with
	// resolve (Nginx resolver, resolver_timeout; HAProxy resolvers).
	Resolver Resolver `yaml:"resolver"`
}

// Resolver configures service discovery by DNS: how the names of servers
// written with resolve (and service) are looked up again and again.
type Resolver struct {
	// Addresses of the DNS servers asked, in order, each "IP:port".
	// Default: none here, meaning the nameservers of /etc/resolv.conf,
	// read when lb starts or reloads.
	Addresses []string `yaml:"addresses"`
	// Interval between two lookups of each name (Nginx resolver valid=,
	// HAProxy hold valid). Record TTLs are not used. Default 5s.
	Interval time.Duration `yaml:"interval"`
	// Timeout of one query to one DNS server (Nginx resolver_timeout,
	// HAProxy timeout resolve). Default 2s.
	Timeout time.Duration `yaml:"timeout"`
}

// Listener is an address lb accepts client connections on.
// Nginx: listen / HAProxy: frontend bind.
type Listener struct {
	// Name defaults to the address.
	Name    string `yaml:"name"`
	Address string `yaml:"address"`
	// ReadTimeout bounds reading one whole request (Nginx
	// client_header_timeout + client_body_timeout). Default 60s.
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// WriteTimeout bounds writing one response (Nginx send_timeout).
	// Default 60s.
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// IdleTimeout closes keep-alive connections idle this long (Nginx
	// keepalive_timeout, HAProxy timeout http-keep-alive). Default 75s.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// MaxHeaderBytes is the largest request head accepted (Nginx
	// large_client_header_buffers). Default 16 KiB.
	MaxHeaderBytes ByteSize `yaml:"max_header_bytes"`
	// MaxBodyBytes is the largest request body accepted (Nginx
	// client_max_body_size). Default 8 MiB.
	MaxBodyBytes ByteSize `yaml:"max_body_bytes"`
	// MaxURIBytes is the longest request target accepted, 414 over it
	// (Nginx: a request line over large_client_header_buffers; HAProxy:
	// tune.bufsize). Default 8 KiB; at most max_header_bytes.
	MaxURIBytes ByteSize `yaml:"max_uri_bytes"`
	// HeaderTimeout bounds reading a request's head, from its first byte
	// (or the connection's opening), 408 and close past it: the answer to
	// slowloris (Nginx client_header_timeout, HAProxy timeout
	// http-request). Default 10s; at most read_timeout.
	HeaderTimeout time.Duration `yaml:"header_timeout"`
	// MaxConns bounds the listener's open client connections; one over it
	// is answered 503 and closed (Nginx worker_connections, HAProxy
	// maxconn). Default 0: fasthttp's 262144.
	MaxConns int `yaml:"max_conns"`
	// MaxConnsPerIP bounds the open connections of one client address; one
	// over it is answered 429 and closed (Nginx limit_conn on
	// $binary_remote_addr, HAProxy src_conn_cur). Default 0: no limit.
	MaxConnsPerIP int `yaml:"max_conns_per_ip"`
	// MaxRequestsPerConn closes a keep-alive connection after this many
	// requests (Nginx keepalive_requests, HAProxy has none). Default 0:
	// no limit.
	MaxRequestsPerConn int `yaml:"max_requests_per_conn"`
	// TLS, when present, terminates TLS on this listener (Nginx listen
	// ssl, HAProxy bind ssl crt).
	TLS TLS `yaml:"tls"`
	// RedirectHTTPS answers every request with 308 to the same URL on
	// https, port HTTPSPort (Nginx return 301 https://$host$request_uri;
	// HAProxy http-request redirect scheme https). Default false.
	RedirectHTTPS bool `yaml:"redirect_https"`
	// HTTPSPort is the port redirects name. Default 443 (left out of the
	// URL).
	HTTPSPort int `yaml:"https_port"`
	// ProxyProtocol requires every connection to open with a PROXY
	// protocol header, v1 or v2, whose source address then is the
	// client's (Nginx listen ... proxy_protocol, HAProxy accept-proxy).
	// For listeners behind a TCP load balancer only. Default false.
	ProxyProtocol bool `yaml:"proxy_protocol"`
}

// TLS terminates TLS on a listener. Written at all it is Present.
type TLS struct {
	// Present is true when the tls key is written.
	Present bool `yaml:"-"`
	// Certificates are PEM certificate chains and keys; the one whose
	// names (exact, then wildcard) match the client's SNI serves it, the
	// first when none does (Nginx default_server, HAProxy crt-list order).
	// Files are read again on SIGHUP and when they change. Required.
	Certificates []TLSCertificate `yaml:"certificates"`
	// MinVersion is "1.2" or "1.3". Default "1.2" (Nginx ssl_protocols,
	// HAProxy ssl-min-ver).
	MinVersion string `yaml:"min_version"`
	// SessionTicketRotation is how often a new session ticket key is made;
	// the two before it still resume sessions (Nginx ssl_session_ticket_key
	// rotated by hand). Default 1h.
	SessionTicketRotation time.Duration `yaml:"session_ticket_rotation"`
	// HSTS is the Strict-Transport-Security value added to every response,
	// e.g. "max-age=31536000; includeSubDomains" (Nginx add_header
	// Strict-Transport-Security ... always). Default: none.
	HSTS string `yaml:"hsts"`
	// WatchInterval is how often the certificate files are checked for
	// changes. Default 2s.
	WatchInterval time.Duration `yaml:"watch_interval"`
}

// UpstreamTLS is how lb speaks TLS to a pool's servers. Written at all it
// is Present.
type UpstreamTLS struct {
	// Present is true when the tls key is written.
	Present bool `yaml:"-"`
	// CA is a PEM file of the certificates that may sign the servers'
	// (relative to the config file); default: the system's roots (Nginx
	// proxy_ssl_trusted_certificate, HAProxy ca-file).
	CA string `yaml:"ca"`
	// ServerName is sent as SNI and verified in the certificate; default:
	// the host of each server's address, no SNI for an IP address (Nginx
	// proxy_ssl_name with proxy_ssl_server_name on, HAProxy sni).
	ServerName string `yaml:"server_name"`
	// InsecureSkipVerify accepts any certificate: tests only. Default
	// false (Nginx proxy_ssl_verify off, HAProxy verify none).
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// TLSCertificate is one certificate chain and its private key, PEM files.
type TLSCertificate struct {
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// Admin configures the admin API (status and runtime commands) on an
// address of its own (HAProxy stats socket, Nginx Plus API).
type Admin struct {
	// Enabled is true when the admin key is present, even with an empty
	// mapping or a null value. When it is false every field is zero.
	Enabled bool `yaml:"-"`
	// Address is host:port. Default "127.0.0.1:9090". A host beyond
	// loopback (anything but 127.0.0.0/8, ::1 and localhost, including an
	// empty host: every interface) requires a Token.
	Address string `yaml:"address"`
	// Token, when set, is required as "Authorization: Bearer TOKEN" on
	// every admin request: at least 16 printable ASCII characters, no
	// spaces. Default: none (loopback only).
	Token string `yaml:"token"`
}

// ByteSize is a size in bytes. In YAML it is an integer or a string with a
// unit: "512", "16KiB", "8MiB", "1GiB" (also "k", "m", "g", powers of 1024).
type ByteSize int64

// Log configures the error log and the access log.
type Log struct {
	// Level is debug, info, warn or error. Default info.
	Level string `yaml:"level"`
	// Format is json or console. Default json.
	Format string `yaml:"format"`
	// Output is stdout, stderr or a file path. Default stderr.
	Output string    `yaml:"output"`
	Access AccessLog `yaml:"access"`
}

// AccessLog configures the one-line-per-request access log
// (Nginx access_log, HAProxy option httplog).
type AccessLog struct {
	// Enabled defaults to true.
	Enabled *bool `yaml:"enabled"`
	// Output is stdout, stderr or a file path. Default stdout.
	Output string `yaml:"output"`
	// Format is json, console, combined (Nginx/Apache) or template.
	// Default: Log.Format.
	Format string `yaml:"format"`
	// Template is the line of format template, with Nginx log_format
	// variables ($remote_addr, $request, $status, ...).
	Template string `yaml:"template"`
}

// Route sends matching requests to a pool; the first matching route wins.
// Nginx: location / HAProxy: use_backend with ACLs.
type Route struct {
	// Name defaults to "route-N", N counting routes from 1.
	Name  string `yaml:"name"`
	Match Match  `yaml:"match"`
	Pool  string `yaml:"pool"`
	// RetryNonIdempotent lets the pool retry POST and other
	// non-idempotent requests on timeouts, errors and statuses too, not
	// only on connect failures. Default false.
	RetryNonIdempotent bool `yaml:"retry_non_idempotent"`
	// RejectDotSegments answers 400 to a request whose path has a "." or
	// ".." segment, also percent-encoded ("%2e%2e") or with parameters
	// ("..;x"), instead of routing it: path traversal past a prefix
	// rule. Default false (HAProxy: http-request deny if { path_sub ../ }).
	RejectDotSegments bool `yaml:"reject_dot_segments"`
	// RejectEncodedSlashes answers 400 to a request whose path holds an
	// encoded slash or backslash (%2F, %5C), which servers decode into
	// separators the route never saw. Default false (Apache
	// AllowEncodedSlashes Off; HAProxy: deny if { path_sub -i %2f }).
	RejectEncodedSlashes bool `yaml:"reject_encoded_slashes"`
	// RateLimit, when present, limits the route's requests per key: 429
	// with Retry-After past it (Nginx limit_req_zone + limit_req burst
	// nodelay; HAProxy stick-table http_req_rate + deny_status 429).
	RateLimit RateLimit `yaml:"rate_limit"`
	// Compression, when present, replaces the global compression block for
	// this route (`compression: {enabled: false}` turns it off here).
	// Blocks are not merged: keys left out of a route's block get their
	// defaults, not the global block's values. See CompressionFor.
	Compression Compression `yaml:"compression"`
	// AccessLog turns the access log off or samples it for this route.
	AccessLog RouteAccessLog `yaml:"access_log"`
}

// RateLimit is a token bucket per key: Burst requests at once, then Rate
// per Per. Written at all it is Present, and its keys left out get the
// defaults below.
type RateLimit struct {
	// Present is true when the rate_limit key is written.
	Present bool `yaml:"-"`
	// Key is what a bucket belongs to: client_ip (the client address,
	// after trusted_proxies), route (one bucket for the route) or
	// header:NAME (e.g. an API key; a request without the header is not
	// limited, as Nginx does with an empty key). Default client_ip.
	Key string `yaml:"key"`
	// Rate is the number of requests refilled every Per. Required.
	Rate int `yaml:"rate"`
	// Per is Rate's period. Default 1s.
	Per time.Duration `yaml:"per"`
	// Burst is the bucket size: requests allowed at once. Default Rate.
	Burst int `yaml:"burst"`
	// Shared keeps the buckets in Redis (rate_limit_redis), so that every
	// lb process using that Redis enforces one limit. Default false: in
	// this process's memory.
	Shared bool `yaml:"shared"`
	// MaxKeys bounds the keys held in memory (not shared). Default 100000.
	MaxKeys int `yaml:"max_keys"`
}

// RateLimitRedis is the Redis that shared rate limits keep their buckets
// in. Absent: there is none, and no rate limit may be shared.
type RateLimitRedis struct {
	// Present is true when the rate_limit_redis key is written.
	Present bool `yaml:"-"`
	// Address is host:port. Required.
	Address string `yaml:"address"`
	// DB is the database number. Default 0.
	DB int `yaml:"db"`
	// Timeout bounds one decision; past it the request is allowed (fail
	// open). Default 50ms.
	Timeout time.Duration `yaml:"timeout"`
	// Prefix starts every key. Default "lb:rl:".
	Prefix string `yaml:"prefix"`
}

// Compression configures compressing responses at the edge, so that
// servers need not (Nginx gzip and brotli modules). lb compresses a
// response when the client accepts one of Algorithms, the response is not
// already encoded, its Content-Type is one of Types, its path starts with
// none of ExcludePaths, and its length, when known, is at least MinLength.
//
// Written at all (even as "compression: {}" or with a null value) the block
// is Present and its keys left out get the defaults given below, whether
// or not it is enabled; absent, every field is zero. Like every key, one
// written with a bad value is refused, never repaired.
type Compression struct {
	// Present is true when the compression key is written (even as {}).
	Present bool `yaml:"-"`
	// Enabled defaults to true when the block is present.
	Enabled *bool `yaml:"enabled"`
	// Algorithms in server preference order (used when the client's
	// Accept-Encoding rates several equally): br, gzip, lower-case, each
	// at most once. Not empty (set enabled: false to turn compression
	// off). Default [br, gzip].
	Algorithms []string `yaml:"algorithms"`
	// Levels per algorithm: br 0..11 (default 4), gzip 1..9 (default 6).
	// Only listed algorithms may be given a level; after defaulting every
	// listed algorithm has one.
	Levels map[string]int `yaml:"levels"`
	// MinLength: bodies of known length below it are sent as they are
	// (Nginx gzip_min_length); bodies of unknown length (streamed) are
	// compressed. Default 256. Like every size it must be positive: 0 is
	// refused, and 1 compresses every body.
	MinLength ByteSize `yaml:"min_length"`
	// Types are the media types compressed, matched against the response's
	// Content-Type without its parameters, ignoring case. Each is written
	// in lower case as "type/subtype", where the subtype may be "*" (any:
	// "text/*") or "*+SUFFIX" (any with that structured-syntax suffix:
	// "application/*+json"); "*/*" is refused, as most binary types are
	// compressed already. Not empty. Default: see defaultCompressionTypes.
	Types []string `yaml:"types"`
	// ExcludePaths are path prefixes (each starting with "/") whose
	// responses are never compressed. Default none.
	ExcludePaths []string `yaml:"exclude_paths"`
	// Offload: when lb will compress, it does not forward Accept-Encoding,
	// so the backend sends identity and spends no CPU on it. Default true.
	Offload *bool `yaml:"offload"`
}

// On reports whether compression is turned on: the block is present and
// not disabled.
func (c *Compression) On() bool {
	return c.Present && (c.Enabled == nil || *c.Enabled)
}

// CompressionFor returns the compression settings that apply to requests
// the route takes: its own block when it has one, otherwise global (the
// Config's block).
func (r *Route) CompressionFor(global *Compression) *Compression {
	if r.Compression.Present {
		return &r.Compression
	}
	return global
}

// Match holds the conditions of a route; all given ones must hold. An empty
// Match matches every request.
type Match struct {
	// Hosts are exact names ("example.com") or wildcards ("*.example.com",
	// matching any name that ends in ".example.com"). In YAML a string or
	// a list of strings. Compared case-insensitively, port ignored.
	Hosts StringList `yaml:"host"`
	// PathPrefix must start with "/".
	PathPrefix string `yaml:"path_prefix"`
	// Methods are upper-case tokens such as GET.
	Methods []string `yaml:"methods"`
	// Headers maps a header name to the exact value it must have.
	Headers map[string]string `yaml:"headers"`
}

// StringList is a list of strings that YAML may also write as one string.
type StringList []string

// Policy names a balancing algorithm.
type Policy string

// The balancing policies (Nginx / HAProxy equivalents in the README).
const (
	RoundRobin         Policy = "round_robin"
	WeightedRoundRobin Policy = "weighted_round_robin"
	LeastConn          Policy = "least_conn"
	RandomTwo          Policy = "random_two"
	Hash               Policy = "hash"
)

// Pool is a named group of servers with one policy.
// Nginx: upstream / HAProxy: backend.
type Pool struct {
	// Name is the pool's key in the pools mapping.
	Name string `yaml:"-"`
	// Policy defaults to round_robin.
	Policy Policy `yaml:"policy"`
	// HashKey is required by the hash policy: client_ip, path,
	// header:NAME or cookie:NAME.
	HashKey  string   `yaml:"hash_key"`
	Servers  []Server `yaml:"servers"`
	Timeouts Timeouts `yaml:"timeouts"`
	// MaxConnsPerServer bounds the connections lb opens to each server
	// (HAProxy server maxconn). Default 1024.
	MaxConnsPerServer int `yaml:"max_conns_per_server"`
	// TLS, when present, connects to the pool's servers over TLS, their
	// certificates verified (Nginx proxy_pass https:// with
	// proxy_ssl_verify on; HAProxy server ... ssl verify required).
	TLS UpstreamTLS `yaml:"tls"`
	// Host, when set, replaces the Host header sent to servers; empty keeps
	// the client's (Nginx proxy_set_header Host $host).
	Host            string    `yaml:"host"`
	RequestHeaders  HeaderOps `yaml:"request_headers"`
	ResponseHeaders HeaderOps `yaml:"response_headers"`

	// HealthCheck configures active checks. Absent means none; written at
	// all (even as "health_check: {}" or with a null value) it turns them
	// on, with the defaults given on HealthCheck's fields.
	HealthCheck HealthCheck `yaml:"health_check"`
	// Passive configures Nginx-style failure counting.
	Passive Passive `yaml:"passive"`
	// Outlier configures Envoy-style ejection on consecutive 5xx.
	Outlier Outlier `yaml:"outlier"`
	// SlowStart ramps a server that comes back from a small share of its
	// weight to all of it over this time (HAProxy slowstart). Default 0:
	// off; when written it must be positive.
	SlowStart time.Duration `yaml:"slow_start"`
	// PanicMode, when no server is available (backups included), sends
	// requests to all servers regardless of health instead of answering
	// 503 (Envoy's panic mode). Default false.
	PanicMode bool `yaml:"panic_mode"`
	// MaxQueue requests may wait for a connection slot when every usable
	// server is at max_conns_per_server (HAProxy maxqueue). 0: no queue,
	// such requests get 503 at once. Must not be negative. Default 1024.
	MaxQueue int `yaml:"max_queue"`
	// QueueTimeout bounds the wait (HAProxy timeout queue). Default:
	// timeouts.connect.
	QueueTimeout time.Duration `yaml:"queue_timeout"`
	// Retries configures retrying a failed attempt on another server.
	Retries Retries `yaml:"retries"`
	// Sticky configures cookie-insert stickiness. Absent means none;
	// written at all (even as "sticky: {}" or with a null value) it turns
	// stickiness on.
	Sticky Sticky `yaml:"sticky"`
}

// HealthCheck configures active health checks of a pool's servers
// (HAProxy check / option httpchk, Nginx health_check).
type HealthCheck struct {
	// Enabled is true when the health_check key is present, even with an
	// empty mapping or a null value; the other fields are then defaulted.
	// When it is false every field is zero.
	Enabled bool `yaml:"-"`
	// Type is http or tcp (connect only). Default http.
	//
	// Method, Path, Host, ExpectStatus and ExpectBody are for http checks
	// only: a tcp check refuses them and leaves them empty (no defaults).
	Type string `yaml:"type"`
	// Method and Path of the HTTP probe. Default GET and /. Method is an
	// upper-case token; Path starts with "/" and may carry a query.
	Method string `yaml:"method"`
	Path   string `yaml:"path"`
	// Host header of the HTTP probe: a host name or IP address with an
	// optional port. Default: the server's address.
	Host string `yaml:"host"`
	// ExpectStatus lists accepted codes and ranges: "200", "200-399",
	// codes from 100 to 599. Default ["200-399"] (HAProxy http-check
	// expect status).
	ExpectStatus StringList `yaml:"expect_status"`
	// ExpectBody, when set, must occur in the first 16 KiB of the body
	// (so it is at most 16 KiB long, and the method cannot be HEAD).
	ExpectBody string `yaml:"expect_body"`
	// Interval between checks (HAProxy inter). Default 2s.
	Interval time.Duration `yaml:"interval"`
	// FastInterval while a server is changing state (HAProxy fastinter).
	// Default: interval.
	FastInterval time.Duration `yaml:"fast_interval"`
	// DownInterval while a server is down (HAProxy downinter). Default:
	// interval.
	DownInterval time.Duration `yaml:"down_interval"`
	// Timeout of one probe (HAProxy timeout check); at most interval, so
	// that probes never overlap. Default: the smaller of interval and 1s.
	Timeout time.Duration `yaml:"timeout"`
	// Rise consecutive successes bring a down server up; Fall consecutive
	// failures take an up server down. At least 1; defaults 2 and 3.
	Rise int `yaml:"rise"`
	Fall int `yaml:"fall"`
}

// Passive configures passive health checks: MaxFails failures within
// FailTimeout make a server unavailable for FailTimeout (Nginx max_fails,
// fail_timeout).
type Passive struct {
	// MaxFails defaults to 1, as in Nginx; 0 turns passive checks off.
	MaxFails int `yaml:"max_fails"`
	// FailTimeout defaults to 10s, as in Nginx.
	FailTimeout time.Duration `yaml:"fail_timeout"`
	// Failures lists what counts: connect, timeout, error (other
	// transport errors) and single status codes 500-599 ("502", no
	// ranges). Not empty. Default [connect, timeout, error] (Nginx
	// proxy_next_upstream error timeout).
	Failures StringList `yaml:"failures"`
}

// Outlier configures ejection on consecutive 5xx answers (Envoy outlier
// detection).
type Outlier struct {
	// Consecutive5xx answers in a row eject a server. Default 0: off.
	Consecutive5xx int `yaml:"consecutive_5xx"`
	// BaseEjectionTime is the first ejection's length; the n-th lasts n
	// times as long. Default 30s.
	BaseEjectionTime time.Duration `yaml:"base_ejection_time"`
	// MaxEjectionTime caps an ejection's length; it may not be below
	// BaseEjectionTime. Default 300s.
	MaxEjectionTime time.Duration `yaml:"max_ejection_time"`
	// MaxEjectionPercent caps the share of the pool ejected at once (at
	// least one server may be), 1 to 100. Default 50.
	MaxEjectionPercent int `yaml:"max_ejection_percent"`
}

// Retries configures retrying on another server (Nginx
// proxy_next_upstream, HAProxy retry-on / option redispatch).
type Retries struct {
	// Attempts is the most tries per request, the first included: 1 to
	// 10, each attempt going to another server. Default 3; 1 turns
	// retries off.
	Attempts int `yaml:"attempts"`
	// On lists what is retried: connect (always retried, whatever the
	// method), timeout, error, and single status codes 500-599 ("503",
	// no ranges). Not empty. Default [connect, error]. Timeouts, errors
	// and statuses are retried only for idempotent methods unless the
	// route says retry_non_idempotent.
	On StringList `yaml:"on"`
	// Timeout bounds all attempts together (Nginx
	// proxy_next_upstream_timeout). Default: timeouts.response.
	Timeout time.Duration `yaml:"timeout"`
	// MaxBodyBytes: requests with a larger body are not retried. Default
	// 1MiB. Like every size it must be positive: 0 is refused.
	MaxBodyBytes ByteSize `yaml:"max_body_bytes"`
}

// Sticky configures session stickiness by an inserted cookie (HAProxy
// cookie NAME insert indirect nocache, Nginx sticky cookie).
type Sticky struct {
	// Enabled is true when the sticky key is present, even with an empty
	// mapping or a null value. When it is false every field is zero.
	Enabled bool `yaml:"-"`
	// Cookie is the cookie's name, an RFC 6265 token. Default "lb". A
	// name starting with __Secure- or __Host- requires Secure, as
	// browsers drop such cookies otherwise.
	Cookie string `yaml:"cookie"`
	// MaxAge of the cookie; default 0: a session cookie.
	MaxAge time.Duration `yaml:"max_age"`
	// Secure marks the cookie Secure. Default false.
	Secure bool `yaml:"secure"`
}

// Timeouts bound the exchanges with a pool's servers.
type Timeouts struct {
	// Connect bounds dialling a server (Nginx proxy_connect_timeout,
	// HAProxy timeout connect). Default 5s.
	Connect time.Duration `yaml:"connect"`
	// Response bounds the whole exchange once connected: sending the
	// request and reading the full response (Nginx proxy_read_timeout,
	// HAProxy timeout server). Default 60s.
	Response time.Duration `yaml:"response"`
	// Idle closes pooled keep-alive connections unused this long; keep it
	// below the servers' own keep-alive timeout (Nginx upstream
	// keepalive_timeout). Default 30s.
	Idle time.Duration `yaml:"idle"`
}

// HeaderOps edits headers: remove first, then set (replace), then add.
// Nginx: proxy_set_header / add_header; HAProxy: http-request set-header.
type HeaderOps struct {
	Set    map[string]string `yaml:"set"`
	Add    map[string]string `yaml:"add"`
	Remove []string          `yaml:"remove"`
}

// Server is one upstream address in a pool. Nginx/HAProxy: server.
type Server struct {
	// Address is host:port.
	Address string `yaml:"address"`
	// Weight is 1..1000. Default 1.
	Weight int `yaml:"weight"`
	// Backup servers get traffic only when no primary server is available.
	Backup bool `yaml:"backup"`
	// Down marks the server as permanently unavailable (Nginx down).
	Down bool `yaml:"down"`
	// Drain sends the server no new requests but its sticky ones (Nginx
	// drain, HAProxy drain state). A server cannot be both down and
	// draining.
	Drain bool `yaml:"drain"`
	// ID names the server in sticky cookies: 1 to 64 letters, digits,
	// '.', '_' and '-', unique within the pool. Default (left empty here,
	// computed where cookies are made): a stable hash of the pool name
	// and address, so that the cookie never reveals it.
	ID string `yaml:"id"`
	// Resolve makes the host of Address a DNS name looked up every
	// resolver.interval: each address in its A and AAAA records becomes a
	// server with this entry's port and settings (Nginx server ...
	// resolve, HAProxy server-template). Default false.
	Resolve bool `yaml:"resolve"`
	// Service, with Resolve, looks up SRV records instead (Nginx server
	// ... service=NAME resolve): Address is then a host name without a
	// port, and the SRV name is "_SERVICE._tcp.HOST", or "SERVICE.HOST"
	// when SERVICE holds a dot ("_http._tcp"). Each record's targets
	// become servers with the record's port and weight (clamped to
	// 1..1000); the records of the lowest priority are primaries, the
	// others backups (a backup entry: the lowest are backups, the others
	// ignored). Default: none (A and AAAA).
	Service string `yaml:"service"`
}
