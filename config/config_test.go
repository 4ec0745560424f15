package config

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

func ptr[T any](v T) *T { return &v }

// TestLoadGood pins the whole Config that ../testdata/good.yaml, which uses
// every key, decodes to: explicit values, merged anchors and defaults.
func TestLoadGood(t *testing.T) {
	const path = "../testdata/good.yaml"
	got, err := Load(path)
	if err != nil {
		t.Fatalf("Load(%q): %v", path, err)
	}
	sharedTimeouts := Timeouts{Connect: 2 * time.Second, Response: 30 * time.Second, Idle: 20 * time.Second}
	defaultPassive := Passive{MaxFails: 1, FailTimeout: 10 * time.Second, Failures: StringList{"connect", "timeout", "error"}}
	defaultOutlier := Outlier{BaseEjectionTime: 30 * time.Second, MaxEjectionTime: 300 * time.Second, MaxEjectionPercent: 50}
	want := &Config{
		File: path,
		Listeners: []Listener{{
			Name:               "public",
			Address:            ":8080",
			ReadTimeout:        30 * time.Second,
			WriteTimeout:       45 * time.Second,
			IdleTimeout:        2 * time.Minute,
			MaxHeaderBytes:     32 << 10,
			MaxBodyBytes:       10 << 20,
			MaxURIBytes:        4 << 10,
			HeaderTimeout:      5 * time.Second,
			MaxConns:           10000,
			MaxConnsPerIP:      100,
			MaxRequestsPerConn: 1000,
			RedirectHTTPS:      true,
			HTTPSPort:          8443,
			ProxyProtocol:      true,
		}, {
			Name:           "127.0.0.1:8443", // defaults follow
			Address:        "127.0.0.1:8443",
			ReadTimeout:    60 * time.Second,
			WriteTimeout:   60 * time.Second,
			IdleTimeout:    75 * time.Second,
			MaxHeaderBytes: 16 << 10,
			MaxBodyBytes:   8 << 20,
			MaxURIBytes:    8 << 10,
			HeaderTimeout:  10 * time.Second,
			HTTPSPort:      443,
			TLS: TLS{
				Present:               true,
				Certificates:          []TLSCertificate{{Cert: "../testdata/tls/example.crt", Key: "../testdata/tls/example.key"}},
				MinVersion:            "1.3",
				SessionTicketRotation: 30 * time.Minute,
				HSTS:                  "max-age=31536000; includeSubDomains",
				WatchInterval:         5 * time.Second,
			},
		}},
		TrustedProxies: []string{"10.0.0.0/8", "192.168.1.7", "2001:db8::/32", "::1"},
		TrustedPrefixes: []netip.Prefix{
			netip.MustParsePrefix("10.0.0.0/8"),
			netip.MustParsePrefix("192.168.1.7/32"),
			netip.MustParsePrefix("2001:db8::/32"),
			netip.MustParsePrefix("::1/128"),
		},
		ShutdownTimeout: 15 * time.Second,
		Admin:           Admin{Enabled: true, Address: "0.0.0.0:9090", Token: "0123456789abcdef-admin"},
		Log: Log{
			Level:  "debug",
			Format: "console",
			Output: "/var/log/lb/error.log",
			Access: AccessLog{Enabled: ptr(false), Output: "/var/log/lb/access.log", Format: "template",
				Template: `$remote_addr [$time_local] "$request" $status $body_bytes_sent $request_time $upstream_addr $request_id`},
		},
		RateLimitRedis: RateLimitRedis{Present: true, Address: "127.0.0.1:6379", DB: 2, Timeout: 100 * time.Millisecond, Prefix: "lb:limits:"},
		Compression: Compression{
			Present:      true,
			Enabled:      ptr(true),
			Algorithms:   []string{"br", "gzip"},
			Levels:       map[string]int{"br": 5, "gzip": 6}, // gzip defaulted
			MinLength:    1 << 10,
			Types:        []string{"text/*", "application/json", "application/*+json", "image/svg+xml"},
			ExcludePaths: []string{"/download/", "/events"},
			Offload:      ptr(true),
		},
		Routes: []Route{{
			Name: "api",
			Match: Match{
				Hosts:      StringList{"api.example.com", "*.api.example.com"},
				PathPrefix: "/v1/",
				Methods:    []string{"GET", "POST"},
				Headers:    map[string]string{"X-Tenant": "acme"},
			},
			Pool:                 "api",
			RetryNonIdempotent:   true,
			AccessLog:            RouteAccessLog{Enabled: ptr(true), Sample: 10},
			RejectDotSegments:    true,
			RejectEncodedSlashes: true,
			RateLimit: RateLimit{Present: true, Key: "header:X-API-Key", Rate: 600, Per: time.Minute,
				Burst: 50, Shared: true, MaxKeys: 5000},
		}, {
			Name:  "route-2",
			Match: Match{Hosts: StringList{"static.example.com"}},
			Pool:  "static",
			Compression: Compression{
				Present:      true,
				Enabled:      ptr(true),
				Algorithms:   []string{"gzip"},
				Levels:       map[string]int{"gzip": 9},
				MinLength:    512,
				Types:        []string{"text/css", "application/javascript"},
				ExcludePaths: []string{"/raw/"},
				Offload:      ptr(false),
			},
		}, {
			Name: "route-3",
			Pool: "web",
			// compression: {enabled: false}: off, the rest defaulted.
			Compression: Compression{
				Present:    true,
				Enabled:    ptr(false),
				Algorithms: []string{"br", "gzip"},
				Levels:     map[string]int{"br": 4, "gzip": 6},
				MinLength:  256,
				Types: []string{"text/*", "application/json", "application/javascript", "application/xml",
					"application/*+json", "application/*+xml", "image/svg+xml", "application/wasm"},
				Offload: ptr(true),
			},
			RateLimit: RateLimit{Present: true, Key: "client_ip", Rate: 100, Per: time.Second, Burst: 100, MaxKeys: 100_000},
		}},
		Pools: []Pool{{
			Name:    "api",
			Policy:  Hash,
			HashKey: "header:X-User",
			TLS:     UpstreamTLS{Present: true, CA: "../testdata/tls/example.crt", ServerName: "api.example.com"},
			Servers: []Server{
				{Address: "10.0.1.1:9001", Weight: 5},
				{Address: "10.0.1.2:9001", Weight: 1},
				{Address: "10.0.1.3:9001", Weight: 1, Backup: true},
				{Address: "[2001:db8::10]:9001", Weight: 1, Down: true},
			},
			Timeouts:          sharedTimeouts,
			MaxConnsPerServer: 256,
			Host:              "api.internal:9001",
			RequestHeaders: HeaderOps{
				Set:    map[string]string{"X-Forwarded-Proto": "https"},
				Add:    map[string]string{"Via": "1.1 lb"},
				Remove: []string{"X-Debug"},
			},
			ResponseHeaders: HeaderOps{
				Set:    map[string]string{"Strict-Transport-Security": "max-age=31536000"},
				Add:    map[string]string{"X-Served-By": "lb"},
				Remove: []string{"Server"},
			},
			HealthCheck: HealthCheck{
				Enabled:      true,
				Type:         "http",
				Method:       "GET",
				Path:         "/healthz?deep=1",
				Host:         "health.internal",
				ExpectStatus: StringList{"200", "204-299"},
				ExpectBody:   "ok",
				Interval:     5 * time.Second,
				FastInterval: time.Second,
				DownInterval: 10 * time.Second,
				Timeout:      time.Second,
				Rise:         3,
				Fall:         2,
			},
			Passive: Passive{MaxFails: 3, FailTimeout: 30 * time.Second, Failures: StringList{"connect", "timeout", "502", "503"}},
			Outlier: Outlier{
				Consecutive5xx:     5,
				BaseEjectionTime:   10 * time.Second,
				MaxEjectionTime:    2 * time.Minute,
				MaxEjectionPercent: 34,
			},
			SlowStart:    30 * time.Second,
			PanicMode:    true,
			MaxQueue:     100,
			QueueTimeout: 500 * time.Millisecond,
			Retries: Retries{
				Attempts:     2,
				On:           StringList{"connect", "timeout", "503"},
				Timeout:      10 * time.Second,
				MaxBodyBytes: 64 << 10,
			},
		}, {
			Name:   "static",
			Policy: LeastConn,
			Servers: []Server{
				{Address: "static-1.internal:80", Weight: 1},
				{Address: "static-2.internal:80", Weight: 1},
				{Address: "static.default.svc.cluster.local:80", Weight: 2, Resolve: true},
				{Address: "static.default.svc.cluster.local", Weight: 1, Backup: true, Resolve: true, Service: "http"},
			},
			Timeouts:          Timeouts{Connect: 5 * time.Second, Response: 60 * time.Second, Idle: 30 * time.Second},
			MaxConnsPerServer: 1024,
			// health_check: {} turns on an http check with every default.
			HealthCheck: HealthCheck{
				Enabled:      true,
				Type:         "http",
				Method:       "GET",
				Path:         "/",
				ExpectStatus: StringList{"200-399"},
				Interval:     2 * time.Second,
				FastInterval: 2 * time.Second,
				DownInterval: 2 * time.Second,
				Timeout:      time.Second,
				Rise:         2,
				Fall:         3,
			},
			Passive:      defaultPassive,
			Outlier:      defaultOutlier,
			MaxQueue:     1024,
			QueueTimeout: 5 * time.Second, // timeouts.connect
			Retries:      Retries{Attempts: 3, On: StringList{"connect", "error"}, Timeout: 60 * time.Second, MaxBodyBytes: 1 << 20},
		}, {
			Name:   "web",
			Policy: WeightedRoundRobin,
			Servers: []Server{
				{Address: "127.0.0.1:9001", Weight: 3, ID: "web-1"},
				{Address: "127.0.0.1:9002", Weight: 1, ID: "web-2", Drain: true},
			},
			// A merge key: the shared timeouts with response overridden.
			Timeouts:          Timeouts{Connect: 2 * time.Second, Response: 90 * time.Second, Idle: 20 * time.Second},
			MaxConnsPerServer: 1024,
			// A tcp check: no HTTP defaults; the rest follow the interval.
			HealthCheck: HealthCheck{
				Enabled:      true,
				Type:         "tcp",
				Interval:     500 * time.Millisecond,
				FastInterval: 500 * time.Millisecond,
				DownInterval: 500 * time.Millisecond,
				Timeout:      500 * time.Millisecond,
				Rise:         2,
				Fall:         3,
			},
			Passive:      defaultPassive,
			Outlier:      defaultOutlier,
			MaxQueue:     1024,
			QueueTimeout: 2 * time.Second, // timeouts.connect
			Retries:      Retries{Attempts: 3, On: StringList{"connect", "error"}, Timeout: 90 * time.Second, MaxBodyBytes: 1 << 20},
			Sticky:       Sticky{Enabled: true, Cookie: "lb_web", MaxAge: time.Hour, Secure: true},
		}},
		Resolver: Resolver{Addresses: []string{"10.96.0.10:53", "[fd00::10]:53"}, Interval: 10 * time.Second, Timeout: time.Second},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Load(%q) =\n%+v\nwant\n%+v", path, got, want)
	}
	if p := got.Pool("static"); p != &got.Pools[1] {
		t.Errorf(`Pool("static") = %p, want %p`, p, &got.Pools[1])
	}
	if p := got.Pool("nope"); p != nil {
		t.Errorf(`Pool("nope") = %+v, want nil`, p)
	}
	for i, wantOn := range []bool{true, true, false} {
		r := &got.Routes[i]
		if c := r.CompressionFor(&got.Compression); c.On() != wantOn {
			t.Errorf("route %s: compression on = %v, want %v", r.Name, c.On(), wantOn)
		}
	}
	if c := got.Routes[0].CompressionFor(&got.Compression); c != &got.Compression {
		t.Errorf("route api without a block: CompressionFor = %p, want the global block %p", c, &got.Compression)
	}
}

// TestGoodConfigUsesEveryKey keeps good.yaml complete: every key of the
// schema must appear in it, so that TestLoadGood covers new fields too.
func TestGoodConfigUsesEveryKey(t *testing.T) {
	data, err := os.ReadFile("../testdata/good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	errs := &errorList{}
	root := parseYAML(errs, data)
	d := newDecoder(errs, root)
	d.decode(root, &Config{})
	if err := errs.err(); err != nil {
		t.Fatal(err)
	}
	index := regexp.MustCompile(`\[[0-9]+\]`)
	poolName := regexp.MustCompile(`^pools\.[^.]+`)
	written := map[string]bool{}
	for path := range d.pos.lines {
		written[poolName.ReplaceAllString(index.ReplaceAllString(path, "[]"), "pools.*")] = true
	}
	for _, key := range schemaKeys(reflect.TypeFor[Config](), "") {
		if !written[key] {
			t.Errorf("good.yaml does not use key %s", key)
		}
	}
}

// schemaKeys lists the key paths of struct type t, list items as "[]" and
// pool names as "*".
func schemaKeys(t reflect.Type, path string) []string {
	var keys []string
	for _, f := range yamlFields(t) {
		ft := t.Field(f.index).Type
		p := join(path, f.name)
		keys = append(keys, p)
		switch {
		case ft == poolsType:
			keys = append(keys, schemaKeys(ft.Elem(), p+".*")...)
		case ft.Kind() == reflect.Struct && ft != durationType:
			keys = append(keys, schemaKeys(ft, p)...)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			keys = append(keys, schemaKeys(ft.Elem(), p+"[]")...)
		}
	}
	return keys
}

// TestDefaults checks the defaults a minimal configuration gets.
func TestDefaults(t *testing.T) {
	c, err := Parse("min.yaml", []byte(`
listeners: [{address: ":8080"}]
log: {format: console}
routes: [{pool: web}, {pool: web}]
pools: {web: {servers: [{address: "127.0.0.1:9001"}]}}
`))
	if err != nil {
		t.Fatal(err)
	}
	l := c.Listeners[0]
	for _, tc := range []struct {
		name      string
		got, want any
	}{
		{"File", c.File, "min.yaml"},
		{"listener Name", l.Name, ":8080"},
		{"ReadTimeout", l.ReadTimeout, 60 * time.Second},
		{"WriteTimeout", l.WriteTimeout, 60 * time.Second},
		{"IdleTimeout", l.IdleTimeout, 75 * time.Second},
		{"MaxHeaderBytes", l.MaxHeaderBytes, ByteSize(16 << 10)},
		{"MaxBodyBytes", l.MaxBodyBytes, ByteSize(8 << 20)},
		{"MaxURIBytes", l.MaxURIBytes, ByteSize(8 << 10)},
		{"HeaderTimeout", l.HeaderTimeout, 10 * time.Second},
		{"HTTPSPort", l.HTTPSPort, 443},
		{"TLS", l.TLS.Present, false},
		{"ShutdownTimeout", c.ShutdownTimeout, 30 * time.Second},
		{"TrustedPrefixes", len(c.TrustedPrefixes), 0},
		{"Log.Level", c.Log.Level, "info"},
		{"Log.Output", c.Log.Output, "stderr"},
		{"Access.Enabled", *c.Log.Access.Enabled, true},
		{"Access.Output", c.Log.Access.Output, "stdout"},
		{"Access.Format (follows Log.Format)", c.Log.Access.Format, "console"},
		{"route 1 Name", c.Routes[0].Name, "route-1"},
		{"route 2 Name", c.Routes[1].Name, "route-2"},
		{"Policy", c.Pools[0].Policy, RoundRobin},
		{"Connect", c.Pools[0].Timeouts.Connect, 5 * time.Second},
		{"Response", c.Pools[0].Timeouts.Response, 60 * time.Second},
		{"Idle", c.Pools[0].Timeouts.Idle, 30 * time.Second},
		{"MaxConnsPerServer", c.Pools[0].MaxConnsPerServer, 1024},
		{"Weight", c.Pools[0].Servers[0].Weight, 1},
		{"Pool Name", c.Pools[0].Name, "web"},
		{"Server Drain", c.Pools[0].Servers[0].Drain, false},
		{"Server ID (compiled later)", c.Pools[0].Servers[0].ID, ""},
		{"SlowStart", c.Pools[0].SlowStart, time.Duration(0)},
		{"PanicMode", c.Pools[0].PanicMode, false},
		{"MaxQueue", c.Pools[0].MaxQueue, 1024},
		{"QueueTimeout (follows timeouts.connect)", c.Pools[0].QueueTimeout, 5 * time.Second},
		{"route RetryNonIdempotent", c.Routes[0].RetryNonIdempotent, false},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}
	p := c.Pools[0]
	for _, tc := range []struct {
		name      string
		got, want any
	}{
		{"Compression (absent: off)", c.Compression, Compression{}},
		{"route Compression (absent: the global block)", c.Routes[0].Compression, Compression{}},
		{"HealthCheck (absent: off)", p.HealthCheck, HealthCheck{}},
		{"Sticky (absent: off)", p.Sticky, Sticky{}},
		{"Passive", p.Passive, Passive{MaxFails: 1, FailTimeout: 10 * time.Second, Failures: StringList{"connect", "timeout", "error"}}},
		{"Outlier", p.Outlier, Outlier{BaseEjectionTime: 30 * time.Second, MaxEjectionTime: 300 * time.Second, MaxEjectionPercent: 50}},
		{"Retries (timeout follows timeouts.response)", p.Retries, Retries{Attempts: 3, On: StringList{"connect", "error"}, Timeout: 60 * time.Second, MaxBodyBytes: 1 << 20}},
	} {
		if !reflect.DeepEqual(tc.got, tc.want) {
			t.Errorf("%s = %+v, want %+v", tc.name, tc.got, tc.want)
		}
	}
}

// TestPoolDefaults checks the pool defaults that depend on which keys are
// present and on other values.
func TestPoolDefaults(t *testing.T) {
	httpDefaults := HealthCheck{
		Enabled: true, Type: "http", Method: "GET", Path: "/", ExpectStatus: StringList{"200-399"},
		Interval: 2 * time.Second, FastInterval: 2 * time.Second, DownInterval: 2 * time.Second,
		Timeout: time.Second, Rise: 2, Fall: 3,
	}
	with := func(h HealthCheck, edit func(*HealthCheck)) HealthCheck {
		h.ExpectStatus = slices.Clone(h.ExpectStatus)
		edit(&h)
		return h
	}
	for _, tc := range []struct {
		name, keys string
		check      func(p *Pool) (got, want any)
	}{
		{"health_check {} turns checks on", "health_check: {}", func(p *Pool) (any, any) {
			return p.HealthCheck, httpDefaults
		}},
		{"health_check null turns checks on", "health_check: ~", func(p *Pool) (any, any) {
			return p.HealthCheck, httpDefaults
		}},
		{"health_check with no value turns checks on", "health_check: ", func(p *Pool) (any, any) {
			return p.HealthCheck, httpDefaults
		}},
		{"health_check from an anchor", "health_check: *hc", func(p *Pool) (any, any) {
			return p.HealthCheck, with(httpDefaults, func(h *HealthCheck) { h.Path = "/h" })
		}},
		{"short interval caps the timeout", "health_check: {interval: 500ms}", func(p *Pool) (any, any) {
			return p.HealthCheck, with(httpDefaults, func(h *HealthCheck) {
				h.Interval, h.FastInterval, h.DownInterval, h.Timeout = 500*time.Millisecond, 500*time.Millisecond, 500*time.Millisecond, 500*time.Millisecond
			})
		}},
		{"intervals follow interval unless given", "health_check: {interval: 10s, fast_interval: 3s}", func(p *Pool) (any, any) {
			return p.HealthCheck, with(httpDefaults, func(h *HealthCheck) {
				h.Interval, h.FastInterval, h.DownInterval = 10*time.Second, 3*time.Second, 10*time.Second
			})
		}},
		{"tcp check has no HTTP defaults", "health_check: {type: tcp}", func(p *Pool) (any, any) {
			return p.HealthCheck, with(httpDefaults, func(h *HealthCheck) { h.Type, h.Method, h.Path, h.ExpectStatus = "tcp", "", "", nil })
		}},
		{"sticky {} turns stickiness on", "sticky: {}", func(p *Pool) (any, any) {
			return p.Sticky, Sticky{Enabled: true, Cookie: "lb"}
		}},
		{"sticky null turns stickiness on", "sticky: null", func(p *Pool) (any, any) {
			return p.Sticky, Sticky{Enabled: true, Cookie: "lb"}
		}},
		{"queue and retry timeouts follow timeouts", "timeouts: {connect: 3s, response: 20s}", func(p *Pool) (any, any) {
			return []time.Duration{p.QueueTimeout, p.Retries.Timeout}, []time.Duration{3 * time.Second, 20 * time.Second}
		}},
		{"explicit values are kept", "max_queue: 0, passive: {max_fails: 0}, outlier: {consecutive_5xx: 0}, retries: {attempts: 1}", func(p *Pool) (any, any) {
			return []int{p.MaxQueue, p.Passive.MaxFails, p.Outlier.Consecutive5xx, p.Retries.Attempts}, []int{0, 0, 0, 1}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("t.yaml", []byte("x-hc: &hc {path: /h}\n"+withPoolKeys(tc.keys)))
			if err != nil {
				t.Fatal(err)
			}
			if got, want := tc.check(&c.Pools[0]); !reflect.DeepEqual(got, want) {
				t.Errorf("got %+v, want %+v", got, want)
			}
		})
	}
}

// TestParseRejects pins messages that the badconfig files do not show.
func TestParseRejects(t *testing.T) {
	for _, tc := range []struct {
		keys string
		want string
	}{
		{"health_check: {interval: 0s}", `pools.web.health_check.interval: must be positive, got "0s"`},
		{"health_check: {timeout: -1s}", `pools.web.health_check.timeout: must be positive, got "-1s"`},
		{"health_check: {fast_interval: 0s}", `pools.web.health_check.fast_interval: must be positive, got "0s"`},
		{"health_check: {timeout: 3s}", `pools.web.health_check.timeout: timeout 3s exceeds interval 2s (the default): probes would overlap (the next would start while this one still runs); make timeout at most interval`},
		{"health_check: {expect_status: []}", `pools.web.health_check.expect_status: must not be empty (leave expect_status out for the default, "200-399")`},
		{"health_check: {expect_status: 600}", `pools.web.health_check.expect_status: bad status "600": status codes are from 100 to 599`},
		{"health_check: {method: HEAD, expect_body: ok}", `pools.web.health_check.expect_body: cannot be found: the response to a HEAD probe has no body`},
		{"health_check: {type: tcp, host: h}", `pools.web.health_check.host: is only used by http checks, but this check's type is tcp`},
		{"health_check: 5", `pools.web.health_check: must be a mapping, got "5"`},
		{"passive: {failures: []}", `pools.web.passive.failures: must not be empty (set max_fails: 0 to turn passive checks off)`},
		{"passive: {failures: [500-599]}", `pools.web.passive.failures[0]: bad entry "500-599": list single status codes, not ranges`},
		{"passive: {failures: [404]}", `pools.web.passive.failures[0]: bad status "404": only codes from 500 to 599 may be listed`},
		{"retries: {on: []}", `pools.web.retries.on: must not be empty (set attempts: 1 to turn retries off)`},
		{"retries: {on: [connect, connect]}", `pools.web.retries.on[1]: duplicate entry "connect" (first at line 4)`},
		{"retries: {max_body_bytes: 0}", `pools.web.retries.max_body_bytes: must be positive, got "0"`},
		{"outlier: {base_ejection_time: 10m}", `pools.web.outlier.base_ejection_time: base_ejection_time 10m0s exceeds max_ejection_time 5m0s (the default)`},
		{"outlier: {max_ejection_percent: 101}", `pools.web.outlier.max_ejection_percent: must be from 1 to 100, got 101 (set consecutive_5xx: 0 to turn outlier ejection off)`},
		{"slow_start: 0s", `pools.web.slow_start: must be positive, got "0s"`},
		{"sticky: {cookie: __Host-lb}", `pools.web.sticky.cookie: cookie "__Host-lb" needs secure: true (browsers drop __Secure- and __Host- cookies that are not Secure)`},
		{"sticky: {cookie: ''}", `pools.web.sticky.cookie: must not be empty`},
	} {
		t.Run(tc.keys, func(t *testing.T) {
			_, err := Parse("t.yaml", []byte(withPoolKeys(tc.keys)))
			want := "t.yaml:4: " + tc.want
			if err == nil || err.Error() != want {
				t.Errorf("Parse(%s) = %v\nwant %s", tc.keys, err, want)
			}
		})
	}
}

// base is a valid configuration that tests extend with one more key.
const base = `
listeners: [{address: ":8080"}]
routes: [{pool: web}]
pools: {web: {servers: [{address: "127.0.0.1:9001"}]}}
`

// withPoolKeys returns a valid configuration whose pool web has extra keys
// (written in flow style, e.g. "timeouts: {idle: 1s}").
func withPoolKeys(extra string) string {
	return `
listeners: [{address: ":8080"}]
routes: [{pool: web}]
pools: {web: {servers: [{address: "127.0.0.1:9001"}], ` + extra + `}}
`
}

func TestParseAccepts(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
	}{
		{"null values mean default", base + "shutdown_timeout: ~\nlog: {level: null, access: {enabled: }}\n"},
		{"document start marker", "---\n" + base},
		{"listener on port 0", "listeners: [{address: \"127.0.0.1:0\"}, {address: \":0\"}]\nroutes: [{pool: web}]\npools: {web: {servers: [{address: \"a:1\"}]}}\n"},
		{"ipv6 listener", "listeners: [{address: \"[::1]:8080\"}]\nroutes: [{pool: web}]\npools: {web: {servers: [{address: \"[::1]:1\"}]}}\n"},
		{"byte sizes", "listeners: [{address: \":1\", max_header_bytes: 512, max_body_bytes: \"1 GiB\"}, {address: \":2\", max_header_bytes: 0x400, max_body_bytes: 8M}]\nroutes: [{pool: web}]\npools: {web: {servers: [{address: \"a:1\"}]}}\n"},
		{"all primaries down", "listeners: [{address: \":1\"}]\nroutes: [{pool: web}]\npools: {web: {servers: [{address: \"a:1\", down: true}, {address: \"b:1\", backup: true}]}}\n"},
		{"unused pool", "listeners: [{address: \":1\"}]\nroutes: [{pool: web}]\npools: {web: {servers: [{address: \"a:1\"}]}, spare: {servers: [{address: \"b:1\", down: true}]}}\n"},
		{"route host IPv6 and trailing dot", "listeners: [{address: \":1\"}]\nroutes: [{pool: web, match: {host: [\"[::1]\", \"example.com.\", \"*.com\", \"10.0.0.1\"]}}]\npools: {web: {servers: [{address: \"a:1\"}]}}\n"},
		{"extension keys", base + "x-y: 1\n"},
		{"merge list", "x-a: &a {connect: 1s}\nx-b: &b {connect: 2s, idle: 3s}\n" + withPoolKeys("timeouts: {<<: [*a, *b]}")},
		{"hash keys", withPoolKeys("policy: hash, hash_key: cookie:session")},
		{"header edits", withPoolKeys("request_headers: {set: {X-A: b}, remove: [X-B]}, response_headers: {add: {Host: h}}")},
		{"tcp check", withPoolKeys("health_check: {type: tcp, interval: 1s, timeout: 1s, rise: 1, fall: 1}")},
		{"http check", withPoolKeys("health_check: {method: OPTIONS, path: /, host: \"[::1]:80\", expect_status: 200, expect_body: \"\\\"ok\\\"\"}")},
		{"status ranges", withPoolKeys("health_check: {expect_status: [100-599, 200-200, \"300\"]}")},
		{"codes as integers", withPoolKeys("passive: {failures: [502, \"503\", error]}, retries: {on: [599, 500, timeout]}")},
		{"one condition as a string", withPoolKeys("passive: {failures: timeout}, retries: {on: connect}")},
		{"features off", withPoolKeys("max_queue: 0, passive: {max_fails: 0}, outlier: {consecutive_5xx: 0}, retries: {attempts: 1}")},
		{"limits", withPoolKeys("retries: {attempts: 10}, outlier: {max_ejection_percent: 100, base_ejection_time: 1m, max_ejection_time: 1m}")},
		{"secure prefixed cookie", withPoolKeys("sticky: {cookie: __Secure-lb, secure: true}")},
		{"server ids and drain", "listeners: [{address: \":1\"}]\nroutes: [{pool: web, retry_non_idempotent: true}]\npools: {web: {servers: [{address: \"a:1\", id: a.1_X-y, drain: true}, {address: \"b:1\", id: ~, down: true}, {address: \"c:1\", drain: false, down: true}]}, api: {servers: [{address: \"a:1\", id: a.1_X-y}]}}\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Parse("t.yaml", []byte(tc.yaml)); err != nil {
				t.Errorf("Parse(%q):\n%v", tc.yaml, err)
			}
		})
	}
}

func TestMergeOrder(t *testing.T) {
	c, err := Parse("t.yaml", []byte("x-a: &a {connect: 1s}\nx-b: &b {connect: 2s, idle: 3s}\n"+
		"listeners: [{address: \":8080\"}]\nroutes: [{pool: web}]\n"+
		"pools: {web: {servers: [{address: \"a:1\"}], timeouts: {<<: [*a, *b], response: 4s}}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := Timeouts{Connect: time.Second, Response: 4 * time.Second, Idle: 3 * time.Second}
	if got := c.Pools[0].Timeouts; got != want {
		t.Errorf("Timeouts = %+v, want %+v (earlier merged mappings and own keys win)", got, want)
	}
}

func TestHeaderValuesKeepTheirText(t *testing.T) {
	c, err := Parse("t.yaml", []byte(withPoolKeys("request_headers: {set: {X-Version: 010, X-On: true}}")))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"X-Version": "010", "X-On": "true"}
	if got := c.Pools[0].RequestHeaders.Set; !reflect.DeepEqual(got, want) {
		t.Errorf("Set = %v, want %v", got, want)
	}
}

func TestErrorFormat(t *testing.T) {
	for _, tc := range []struct {
		err  Error
		want string
	}{
		{Error{"c.yaml", 7, "pools.web.servers[0].wieght", "unknown key"}, "c.yaml:7: pools.web.servers[0].wieght: unknown key"},
		{Error{"c.yaml", 0, "listeners", "at least one listener is required"}, "c.yaml: listeners: at least one listener is required"},
		{Error{"c.yaml", 0, "", "empty configuration"}, "c.yaml: empty configuration"},
		{Error{"c.yaml", 3, "", "syntax error: x"}, "c.yaml:3: syntax error: x"},
		{Error{"", 3, "log", "m"}, "3: log: m"},
		{Error{"", 0, "", "m"}, "m"},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("%#v.Error() = %q, want %q", tc.err, got, tc.want)
		}
	}
}

func TestErrorsAs(t *testing.T) {
	_, err := Parse("c.yaml", []byte(base+"log: {level: loud}\nbogus: 1\n"))
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("errors.As(%v, *Error) = false", err)
	}
	want := Error{File: "c.yaml", Line: 5, Key: "log.level", Msg: `unknown level "loud" (want debug, info, warn or error)`}
	if *e != want {
		t.Errorf("first error = %#v, want %#v", *e, want)
	}
	if n := strings.Count(err.Error(), "\n") + 1; n != 2 {
		t.Errorf("error has %d lines, want 2:\n%v", n, err)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load("../testdata/badconfig/does-not-exist.yaml")
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing) = %v, want an os.ErrNotExist error", err)
	}
}

func TestSyntaxError(t *testing.T) {
	for _, tc := range []struct {
		in   error
		want Error
	}{
		{errors.New("yaml: line 3: mapping values are not allowed in this context"),
			Error{"f", 3, "", "syntax error: mapping values are not allowed in this context"}},
		{errors.New("yaml: unknown anchor 'x' referenced"), Error{"f", 0, "", "syntax error: unknown anchor 'x' referenced"}},
	} {
		if got := syntaxError("f", tc.in); *got != tc.want {
			t.Errorf("syntaxError(%q) = %#v, want %#v", tc.in, *got, tc.want)
		}
	}
	// And one straight from the parser, with the line it names.
	_, err := Parse("f", []byte("a: 1\nb: [2\n"))
	var e *Error
	if !errors.As(err, &e) || e.Line < 1 || !strings.HasPrefix(e.Msg, "syntax error: ") {
		t.Errorf("Parse(unclosed list) = %v, want a syntax error with a line", err)
	}
}

func TestParseByteSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want ByteSize
		ok   bool
	}{
		{"512", 512, true},
		{"512B", 512, true},
		{"16KiB", 16 << 10, true},
		{"16 KiB", 16 << 10, true},
		{"16k", 16 << 10, true},
		{"16K", 16 << 10, true},
		{"8MiB", 8 << 20, true},
		{"8m", 8 << 20, true},
		{"1GiB", 1 << 30, true},
		{"2G", 2 << 30, true},
		{"8589934591G", 8589934591 << 30, true},
		{"8589934592G", 0, false}, // overflows int64
		{"16KB", 0, false},        // 1000 or 1024? refuse to guess
		{"1.5MiB", 0, false},
		{"-1", 0, false},
		{"KiB", 0, false},
		{"", 0, false},
		{"16 ", 0, false},
	} {
		got, ok := parseByteSize(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseByteSize(%q) = %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// TestAliasBlowUpStops pins that a small file whose aliases multiply into
// billions of nodes is refused quickly instead of hanging a reload.
func TestAliasBlowUpStops(t *testing.T) {
	var b strings.Builder
	b.WriteString("x-0: &a0 {connect: 1s}\n")
	for i := 1; i <= 40; i++ {
		fmt.Fprintf(&b, "x-%d: &a%d {<<: [*a%d, *a%d]}\n", i, i, i-1, i-1)
	}
	b.WriteString(withPoolKeys("timeouts: *a40"))
	start := time.Now()
	_, err := Parse("t.yaml", []byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), "aliases expand the document too much") {
		t.Errorf("Parse(alias bomb) = %v, want an aliasing error", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Parse(alias bomb) took %v", d)
	}
}

// TestRepositoryConfigLoads keeps the default ../config.yaml (what
// `lb -config config.yaml` runs) valid.
func TestRepositoryConfigLoads(t *testing.T) {
	if _, err := Load("../config.yaml"); err != nil {
		t.Errorf("Load(../config.yaml):\n%v", err)
	}
}

// TestAdminBlock pins the admin block's presence rule and defaults: absent
// means no admin listener; written at all it listens on loopback.
func TestAdminBlock(t *testing.T) {
	const base = "listeners: [{address: \":8080\"}]\nroutes: [{pool: web}]\npools: {web: {servers: [{address: \"127.0.0.1:9001\"}]}}\n"
	for _, tc := range []struct {
		extra string
		want  Admin
	}{
		{"", Admin{}},
		{"admin:\n", Admin{Enabled: true, Address: "127.0.0.1:9090"}},
		{"admin: {address: \"[::1]:0\"}\n", Admin{Enabled: true, Address: "[::1]:0"}},
		{"admin: {address: \"localhost:9000\"}\n", Admin{Enabled: true, Address: "localhost:9000"}},
		{"admin: {address: \"127.0.0.2:9000\", token: \"\"}\n", Admin{Enabled: true, Address: "127.0.0.2:9000"}},
		{"admin: {address: \"10.0.0.1:9000\", token: \"abcdefghijklmnop\"}\n", Admin{Enabled: true, Address: "10.0.0.1:9000", Token: "abcdefghijklmnop"}},
	} {
		c, err := Parse("admin.yaml", []byte(base+tc.extra))
		if err != nil {
			t.Errorf("%q: %v", tc.extra, err)
			continue
		}
		if c.Admin != tc.want {
			t.Errorf("%q: Admin = %+v, want %+v", tc.extra, c.Admin, tc.want)
		}
	}
}
