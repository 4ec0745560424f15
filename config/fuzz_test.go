package config

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary bytes to Parse. The seed corpus in
// testdata/fuzz/FuzzParse holds every configuration under ../testdata
// (good and bad) and the inputs earlier fuzzing found.
//
// Parse must not panic or hang; it returns either a Config that meets the
// promises validation makes, or no Config and only *Error values with
// sensible positions.
func FuzzParse(f *testing.F) {
	f.Add([]byte(base))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.yaml", data)
		if err != nil {
			if c != nil {
				t.Fatalf("Parse returned a Config with error %v", err)
			}
			checkFuzzErrors(t, err, len(data))
			return
		}
		checkValidConfig(t, c)
		again, err := Parse("fuzz.yaml", data)
		if err != nil || !reflect.DeepEqual(c, again) {
			t.Fatalf("Parse is not deterministic: %+v, then %+v, %v", c, again, err)
		}
	})
}

// checkFuzzErrors asserts that err joins only *Error values, each with a
// message, the file name, and a line within the input.
func checkFuzzErrors(t *testing.T, err error, size int) {
	t.Helper()
	errs := []error{err}
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		errs = joined.Unwrap()
	}
	if len(errs) == 0 {
		t.Fatalf("error %q wraps nothing", err)
	}
	for _, e := range errs {
		var ce *Error
		if !errors.As(e, &ce) {
			t.Fatalf("error %q (%T) is not a *Error", e, e)
		}
		if ce.Line < 0 || ce.Line > size+1 {
			t.Errorf("error %q: line %d outside the input (%d bytes)", ce, ce.Line, size)
		}
		if ce.Msg == "" || ce.File != "fuzz.yaml" {
			t.Errorf("error %#v: want a message and File fuzz.yaml", ce)
		}
	}
}

// checkValidConfig asserts what a caller of Parse may rely on when it
// returns no error.
func checkValidConfig(t *testing.T, c *Config) {
	t.Helper()
	if c == nil {
		t.Fatal("Parse returned nil, nil")
	}
	if len(c.Listeners) == 0 || len(c.Routes) == 0 || len(c.Pools) == 0 {
		t.Fatalf("valid config without listeners, routes or pools: %+v", c)
	}
	if len(c.TrustedPrefixes) != len(c.TrustedProxies) {
		t.Errorf("%d trusted prefixes for %d trusted proxies", len(c.TrustedPrefixes), len(c.TrustedProxies))
	}
	if c.ShutdownTimeout <= 0 || c.Log.Access.Enabled == nil {
		t.Errorf("defaults missing: %+v", c)
	}
	for _, l := range c.Listeners {
		if l.Name == "" || l.ReadTimeout <= 0 || l.WriteTimeout <= 0 || l.IdleTimeout <= 0 || l.MaxHeaderBytes <= 0 || l.MaxBodyBytes <= 0 {
			t.Errorf("listener not defaulted: %+v", l)
		}
	}
	checkValidCompression(t, "compression", &c.Compression)
	for _, r := range c.Routes {
		if r.Name == "" || c.Pool(r.Pool) == nil {
			t.Errorf("route %+v: no name or unknown pool", r)
		}
		checkValidCompression(t, "route "+r.Name+" compression", &r.Compression)
	}
	for _, p := range c.Pools {
		primaries := 0
		for _, s := range p.Servers {
			if s.Weight < 1 || s.Weight > maxWeight || s.Address == "" {
				t.Errorf("pool %s: bad server %+v", p.Name, s)
			}
			if !s.Backup {
				primaries++
			}
		}
		if primaries == 0 || p.MaxConnsPerServer < 1 || p.Timeouts.Connect <= 0 || p.Timeouts.Response <= 0 || p.Timeouts.Idle <= 0 {
			t.Errorf("pool %+v: not valid or not defaulted", p)
		}
		if (p.Policy == Hash) != (p.HashKey != "") {
			t.Errorf("pool %s: policy %s with hash_key %q", p.Name, p.Policy, p.HashKey)
		}
		checkValidPoolExtras(t, &p)
	}
}

// checkValidPoolExtras asserts the promises about a valid pool's health
// checks, ejection, queue, retries, stickiness and server ids.
func checkValidPoolExtras(t *testing.T, p *Pool) {
	t.Helper()
	ids := map[string]bool{}
	for _, s := range p.Servers {
		if s.Down && s.Drain {
			t.Errorf("pool %s: server %s down and draining", p.Name, s.Address)
		}
		if s.ID != "" {
			if ids[s.ID] || checkServerID(s.ID) != "" {
				t.Errorf("pool %s: bad or duplicate server id %q", p.Name, s.ID)
			}
			ids[s.ID] = true
		}
	}
	if h := p.HealthCheck; h.Enabled {
		if h.Interval <= 0 || h.FastInterval <= 0 || h.DownInterval <= 0 || h.Timeout <= 0 || h.Timeout > h.Interval || h.Rise < 1 || h.Fall < 1 {
			t.Errorf("pool %s: bad health check timing %+v", p.Name, h)
		}
		switch h.Type {
		case "http":
			if !isToken(h.Method) || !strings.HasPrefix(h.Path, "/") || len(h.ExpectStatus) == 0 {
				t.Errorf("pool %s: bad http check %+v", p.Name, h)
			}
			for _, s := range h.ExpectStatus {
				if checkExpectStatus(s) != "" {
					t.Errorf("pool %s: bad expect_status %q", p.Name, s)
				}
			}
		case "tcp":
			if h.Method != "" || h.Path != "" || h.Host != "" || h.ExpectStatus != nil || h.ExpectBody != "" {
				t.Errorf("pool %s: tcp check with HTTP settings %+v", p.Name, h)
			}
		default:
			t.Errorf("pool %s: health check type %q", p.Name, h.Type)
		}
	} else if !reflect.DeepEqual(h, HealthCheck{}) {
		t.Errorf("pool %s: health check off but set: %+v", p.Name, h)
	}
	if p.Passive.MaxFails < 0 || p.Passive.FailTimeout <= 0 || len(p.Passive.Failures) == 0 {
		t.Errorf("pool %s: bad passive %+v", p.Name, p.Passive)
	}
	o := p.Outlier
	if o.Consecutive5xx < 0 || o.BaseEjectionTime <= 0 || o.MaxEjectionTime < o.BaseEjectionTime || o.MaxEjectionPercent < 1 || o.MaxEjectionPercent > 100 {
		t.Errorf("pool %s: bad outlier %+v", p.Name, o)
	}
	if p.MaxQueue < 0 || p.QueueTimeout <= 0 || p.SlowStart < 0 {
		t.Errorf("pool %s: bad queue or slow start", p.Name)
	}
	r := p.Retries
	if r.Attempts < 1 || r.Attempts > maxRetryAttempts || len(r.On) == 0 || r.Timeout <= 0 || r.MaxBodyBytes <= 0 {
		t.Errorf("pool %s: bad retries %+v", p.Name, r)
	}
	for _, c := range slices.Concat(p.Passive.Failures, r.On) {
		if checkCondition(c) != "" {
			t.Errorf("pool %s: bad condition %q", p.Name, c)
		}
	}
	if s := p.Sticky; s.Enabled && checkCookieName(s.Cookie) != "" || !s.Enabled && s != (Sticky{}) {
		t.Errorf("pool %s: bad sticky %+v", p.Name, s)
	}
}

// checkValidCompression asserts the promises about a valid compression
// block: zero when absent; when present, defaulted, with known algorithms
// listed once, a level in range for each of them and no other, and
// well-formed types and paths.
func checkValidCompression(t *testing.T, name string, c *Compression) {
	t.Helper()
	if !c.Present {
		if !reflect.DeepEqual(*c, Compression{}) || c.On() {
			t.Errorf("%s absent but set: %+v", name, *c)
		}
		return
	}
	if c.Enabled == nil || c.Offload == nil || c.MinLength <= 0 || len(c.Algorithms) == 0 || len(c.Types) == 0 || c.On() != *c.Enabled {
		t.Errorf("%s not defaulted: %+v", name, *c)
	}
	if len(c.Levels) != len(c.Algorithms) {
		t.Errorf("%s: levels %v for algorithms %v", name, c.Levels, c.Algorithms)
	}
	seen := map[string]bool{}
	for _, alg := range c.Algorithms {
		r, known := compressionLevels[alg]
		level, ok := c.Levels[alg]
		if !known || seen[alg] || !ok || level < r.min || level > r.max {
			t.Errorf("%s: bad algorithm %q or level %d", name, alg, level)
		}
		seen[alg] = true
	}
	for _, typ := range c.Types {
		if checkMediaRange(typ) != "" {
			t.Errorf("%s: bad type %q", name, typ)
		}
	}
	for _, p := range c.ExcludePaths {
		if checkPathPrefix(p) != "" {
			t.Errorf("%s: bad exclude path %q", name, p)
		}
	}
}
