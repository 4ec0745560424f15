package config

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"reflect"
	"regexp"
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
	want := &Config{
		File: path,
		Listeners: []Listener{{
			Name:           "public",
			Address:        ":8080",
			ReadTimeout:    30 * time.Second,
			WriteTimeout:   45 * time.Second,
			IdleTimeout:    2 * time.Minute,
			MaxHeaderBytes: 32 << 10,
			MaxBodyBytes:   10 << 20,
		}, {
			Name:           "127.0.0.1:8443", // defaults follow
			Address:        "127.0.0.1:8443",
			ReadTimeout:    60 * time.Second,
			WriteTimeout:   60 * time.Second,
			IdleTimeout:    75 * time.Second,
			MaxHeaderBytes: 16 << 10,
			MaxBodyBytes:   8 << 20,
		}},
		TrustedProxies: []string{"10.0.0.0/8", "192.168.1.7", "2001:db8::/32", "::1"},
		TrustedPrefixes: []netip.Prefix{
			netip.MustParsePrefix("10.0.0.0/8"),
			netip.MustParsePrefix("192.168.1.7/32"),
			netip.MustParsePrefix("2001:db8::/32"),
			netip.MustParsePrefix("::1/128"),
		},
		ShutdownTimeout: 15 * time.Second,
		Log: Log{
			Level:  "debug",
			Format: "console",
			Output: "/var/log/lb/error.log",
			Access: AccessLog{Enabled: ptr(false), Output: "/var/log/lb/access.log", Format: "json"},
		},
		Routes: []Route{{
			Name: "api",
			Match: Match{
				Hosts:      StringList{"api.example.com", "*.api.example.com"},
				PathPrefix: "/v1/",
				Methods:    []string{"GET", "POST"},
				Headers:    map[string]string{"X-Tenant": "acme"},
			},
			Pool: "api",
		}, {
			Name:  "route-2",
			Match: Match{Hosts: StringList{"static.example.com"}},
			Pool:  "static",
		}, {
			Name: "route-3",
			Pool: "web",
		}},
		Pools: []Pool{{
			Name:    "api",
			Policy:  Hash,
			HashKey: "header:X-User",
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
		}, {
			Name:   "static",
			Policy: LeastConn,
			Servers: []Server{
				{Address: "static-1.internal:80", Weight: 1},
				{Address: "static-2.internal:80", Weight: 1},
			},
			Timeouts:          Timeouts{Connect: 5 * time.Second, Response: 60 * time.Second, Idle: 30 * time.Second},
			MaxConnsPerServer: 1024,
		}, {
			Name:   "web",
			Policy: WeightedRoundRobin,
			Servers: []Server{
				{Address: "127.0.0.1:9001", Weight: 3},
				{Address: "127.0.0.1:9002", Weight: 1},
			},
			// A merge key: the shared timeouts with response overridden.
			Timeouts:          Timeouts{Connect: 2 * time.Second, Response: 90 * time.Second, Idle: 20 * time.Second},
			MaxConnsPerServer: 1024,
		}},
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
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %v, want %v", tc.name, tc.got, tc.want)
		}
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
