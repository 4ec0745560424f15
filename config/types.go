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

	Log    Log     `yaml:"log"`
	Routes []Route `yaml:"routes"`
	// Pools are written as a YAML mapping from pool name to pool; the
	// order of the file is kept.
	Pools []Pool `yaml:"pools"`
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
	// Format is json or console. Default: Log.Format.
	Format string `yaml:"format"`
}

// Route sends matching requests to a pool; the first matching route wins.
// Nginx: location / HAProxy: use_backend with ACLs.
type Route struct {
	// Name defaults to "route-N", N counting routes from 1.
	Name  string `yaml:"name"`
	Match Match  `yaml:"match"`
	Pool  string `yaml:"pool"`
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
	// Host, when set, replaces the Host header sent to servers; empty keeps
	// the client's (Nginx proxy_set_header Host $host).
	Host            string    `yaml:"host"`
	RequestHeaders  HeaderOps `yaml:"request_headers"`
	ResponseHeaders HeaderOps `yaml:"response_headers"`
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
}
