package route

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// fakeRequest implements Request over a map keyed by lower-case header
// name. Header folds the name ASCII-case-insensitively without allocating.
type fakeRequest map[string][]byte

func newFakeRequest(kv ...string) fakeRequest {
	r := fakeRequest{}
	for i := 0; i+1 < len(kv); i += 2 {
		r[asciiLower(kv[i])] = []byte(kv[i+1])
	}
	return r
}

func (r fakeRequest) Header(name []byte) []byte {
	var buf [64]byte
	if len(name) > len(buf) {
		return nil
	}
	n := copy(buf[:], name)
	for i := range n {
		if c := buf[i]; 'A' <= c && c <= 'Z' {
			buf[i] = c + 'a' - 'A'
		}
	}
	return r[string(buf[:n])] // map lookup: the conversion does not allocate
}

// asciiLower lower-cases ASCII letters only, leaving every other byte as
// is (unlike strings.ToLower, which folds Unicode and rewrites invalid
// UTF-8).
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func mustNew(tb testing.TB, rules []Rule) *Table {
	tb.Helper()
	tbl, err := New(rules)
	if err != nil {
		tb.Fatalf("New(%+v) error: %v", rules, err)
	}
	return tbl
}

func TestMatch(t *testing.T) {
	exact := []Rule{{Hosts: []string{"example.com"}}}
	wildcard := []Rule{{Hosts: []string{"*.example.com"}}}
	ipv6 := []Rule{{Hosts: []string{"[::1]"}}}
	prefix := []Rule{{PathPrefix: "/api"}}
	methods := []Rule{{Methods: []string{"GET", "POST"}}}
	headers := []Rule{{Headers: []Header{{Name: "X-Env", Value: "prod"}}}}
	several := []Rule{
		{Hosts: []string{"api.example.com"}, PathPrefix: "/v1", Methods: []string{"GET"}},
		{Hosts: []string{"*.example.com"}, PathPrefix: "/v1"},
		{PathPrefix: "/v1"},
		{Hosts: []string{"example.com"}},
	}

	tests := []struct {
		name   string
		rules  []Rule
		host   string
		path   string
		method string
		req    fakeRequest
		want   int
	}{
		// Hosts.
		{name: "exact host", rules: exact, host: "example.com", path: "/", method: "GET", want: 0},
		{name: "exact host with port", rules: exact, host: "example.com:8080", path: "/", method: "GET", want: 0},
		{name: "exact host with empty port", rules: exact, host: "example.com:", path: "/", method: "GET", want: 0},
		{name: "upper-case host", rules: exact, host: "EXAMPLE.Com", path: "/", method: "GET", want: 0},
		{name: "upper-case rule host", rules: []Rule{{Hosts: []string{"Example.COM"}}}, host: "example.com", path: "/", method: "GET", want: 0},
		{name: "trailing-dot host", rules: exact, host: "example.com.", path: "/", method: "GET", want: 0},
		{name: "trailing-dot host with port", rules: exact, host: "example.com.:443", path: "/", method: "GET", want: 0},
		{name: "trailing-dot rule host", rules: []Rule{{Hosts: []string{"example.com."}}}, host: "example.com", path: "/", method: "GET", want: 0},
		{name: "other host", rules: exact, host: "example.org", path: "/", method: "GET", want: -1},
		{name: "host is a suffix of rule", rules: exact, host: "ample.com", path: "/", method: "GET", want: -1},
		{name: "subdomain of exact host", rules: exact, host: "a.example.com", path: "/", method: "GET", want: -1},
		{name: "empty host", rules: exact, host: "", path: "/", method: "GET", want: -1},
		{name: "second of several hosts", rules: []Rule{{Hosts: []string{"a.test", "b.test"}}}, host: "B.TEST:80", path: "/", method: "GET", want: 0},
		{name: "IPv6 literal with port", rules: ipv6, host: "[::1]:8080", path: "/", method: "GET", want: 0},
		{name: "IPv6 literal without port", rules: ipv6, host: "[::1]", path: "/", method: "GET", want: 0},
		{name: "other IPv6 literal", rules: ipv6, host: "[::2]:8080", path: "/", method: "GET", want: -1},
		{name: "IPv6 literal upper-case", rules: []Rule{{Hosts: []string{"[fe80::ab]"}}}, host: "[FE80::AB]:443", path: "/", method: "GET", want: 0},
		{name: "IPv4 with port", rules: []Rule{{Hosts: []string{"10.0.0.1"}}}, host: "10.0.0.1:80", path: "/", method: "GET", want: 0},

		// Wildcards.
		{name: "wildcard one label", rules: wildcard, host: "a.example.com", path: "/", method: "GET", want: 0},
		{name: "wildcard two labels", rules: wildcard, host: "a.b.example.com", path: "/", method: "GET", want: 0},
		{name: "wildcard upper-case with port", rules: wildcard, host: "A.EXAMPLE.COM:443", path: "/", method: "GET", want: 0},
		{name: "wildcard trailing dot", rules: wildcard, host: "a.example.com.", path: "/", method: "GET", want: 0},
		{name: "wildcard apex", rules: wildcard, host: "example.com", path: "/", method: "GET", want: -1},
		{name: "wildcard no dot boundary", rules: wildcard, host: "badexample.com", path: "/", method: "GET", want: -1},
		{name: "wildcard bare suffix", rules: wildcard, host: ".example.com", path: "/", method: "GET", want: -1},
		{name: "wildcard other domain", rules: wildcard, host: "a.example.org", path: "/", method: "GET", want: -1},

		// Path prefix.
		{name: "path prefix equal", rules: prefix, host: "h", path: "/api", method: "GET", want: 0},
		{name: "path prefix below", rules: prefix, host: "h", path: "/api/users", method: "GET", want: 0},
		{name: "path prefix is bytewise", rules: prefix, host: "h", path: "/apiary", method: "GET", want: 0},
		{name: "path shorter than prefix", rules: prefix, host: "h", path: "/ap", method: "GET", want: -1},
		{name: "path other", rules: prefix, host: "h", path: "/web/api", method: "GET", want: -1},
		{name: "path case-sensitive", rules: prefix, host: "h", path: "/API", method: "GET", want: -1},
		{name: "path not decoded", rules: prefix, host: "h", path: "/%61pi", method: "GET", want: -1},
		{name: "empty path", rules: prefix, host: "h", path: "", method: "GET", want: -1},

		// Methods.
		{name: "method first", rules: methods, host: "h", path: "/", method: "GET", want: 0},
		{name: "method second", rules: methods, host: "h", path: "/", method: "POST", want: 0},
		{name: "method other", rules: methods, host: "h", path: "/", method: "PUT", want: -1},
		{name: "method case-sensitive", rules: methods, host: "h", path: "/", method: "get", want: -1},
		{name: "method prefix", rules: methods, host: "h", path: "/", method: "GE", want: -1},
		{name: "method empty", rules: methods, host: "h", path: "/", method: "", want: -1},

		// Headers.
		{name: "header present", rules: headers, host: "h", path: "/", method: "GET", req: newFakeRequest("X-Env", "prod"), want: 0},
		{name: "header name lower-case", rules: headers, host: "h", path: "/", method: "GET", req: newFakeRequest("x-env", "prod"), want: 0},
		{name: "header name upper-case", rules: headers, host: "h", path: "/", method: "GET", req: newFakeRequest("X-ENV", "prod"), want: 0},
		{name: "header rule name mixed-case", rules: []Rule{{Headers: []Header{{Name: "x-ENV", Value: "prod"}}}}, host: "h", path: "/", method: "GET", req: newFakeRequest("X-Env", "prod"), want: 0},
		{name: "header value differs", rules: headers, host: "h", path: "/", method: "GET", req: newFakeRequest("X-Env", "dev"), want: -1},
		{name: "header value case-sensitive", rules: headers, host: "h", path: "/", method: "GET", req: newFakeRequest("X-Env", "Prod"), want: -1},
		{name: "header missing", rules: headers, host: "h", path: "/", method: "GET", req: newFakeRequest("X-Other", "prod"), want: -1},
		{name: "header empty value present", rules: []Rule{{Headers: []Header{{Name: "X-Flag", Value: ""}}}}, host: "h", path: "/", method: "GET", req: newFakeRequest("x-flag", ""), want: 0},
		{name: "header empty value missing", rules: []Rule{{Headers: []Header{{Name: "X-Flag", Value: ""}}}}, host: "h", path: "/", method: "GET", req: newFakeRequest(), want: -1},
		{
			name:  "all headers required",
			rules: []Rule{{Headers: []Header{{Name: "A", Value: "1"}, {Name: "B", Value: "2"}}}},
			host:  "h", path: "/", method: "GET", req: newFakeRequest("a", "1"), want: -1,
		},
		{
			name:  "all headers present",
			rules: []Rule{{Headers: []Header{{Name: "A", Value: "1"}, {Name: "B", Value: "2"}}}},
			host:  "h", path: "/", method: "GET", req: newFakeRequest("b", "2", "a", "1"), want: 0,
		},

		// Combinations and order.
		{name: "first match wins", rules: several, host: "api.example.com", path: "/v1/x", method: "GET", want: 0},
		{name: "first match wins method falls through", rules: several, host: "api.example.com", path: "/v1/x", method: "POST", want: 1},
		{name: "first match wins host falls through", rules: several, host: "other.test", path: "/v1/x", method: "GET", want: 2},
		{name: "first match wins path falls through", rules: several, host: "example.com", path: "/v2", method: "GET", want: 3},
		{name: "identical rules first wins", rules: []Rule{{}, {}}, host: "h", path: "/", method: "GET", want: 0},
		{name: "no match", rules: several, host: "other.test", path: "/v2", method: "GET", want: -1},
		{name: "empty table", rules: nil, host: "h", path: "/", method: "GET", want: -1},
		{
			name:  "all conditions must hold",
			rules: []Rule{{Hosts: []string{"h"}, PathPrefix: "/p", Methods: []string{"GET"}, Headers: []Header{{Name: "A", Value: "1"}}}},
			host:  "h", path: "/p", method: "GET", req: newFakeRequest("a", "2"), want: -1,
		},
		{name: "empty rule matches everything", rules: []Rule{{}}, host: "anything:1", path: "/x", method: "BREW", want: 0},
		{name: "empty rule matches empty request", rules: []Rule{{}}, host: "", path: "", method: "", want: 0},
		{name: "empty rule after miss", rules: []Rule{{Hosts: []string{"a"}}, {}}, host: "b", path: "/", method: "GET", want: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tbl := mustNew(t, tc.rules)
			req := tc.req
			if req == nil {
				req = newFakeRequest()
			}
			host := []byte(tc.host)
			got := tbl.Match(host, []byte(tc.path), []byte(tc.method), req)
			if got != tc.want {
				t.Errorf("Match(%q, %q, %q) = %d, want %d", tc.host, tc.path, tc.method, got, tc.want)
			}
			if string(host) != tc.host {
				t.Errorf("Match modified host: %q, want %q", host, tc.host)
			}
		})
	}
}

func TestHostName(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain", "example.com", "example.com"},
		{"port", "example.com:8080", "example.com"},
		{"trailing dot", "example.com.", "example.com"},
		{"trailing dot and port", "example.com.:80", "example.com"},
		{"keeps case", "Example.COM", "Example.COM"},
		{"IPv6 with port", "[::1]:8080", "[::1]"},
		{"IPv6 without port", "[::1]", "[::1]"},
		{"IPv6 unterminated", "[::1", "[::1"},
		{"IPv4 with port", "127.0.0.1:80", "127.0.0.1"},
		{"empty", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := HostName([]byte(tc.in)); string(got) != tc.want {
				t.Errorf("HostName(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name string
		rule Rule
	}{
		{name: "empty host", rule: Rule{Hosts: []string{""}}},
		{name: "only a dot", rule: Rule{Hosts: []string{"."}}},
		{name: "bare star", rule: Rule{Hosts: []string{"*"}}},
		{name: "star dot", rule: Rule{Hosts: []string{"*."}}},
		{name: "star inside", rule: Rule{Hosts: []string{"a*b.example.com"}}},
		{name: "star suffix", rule: Rule{Hosts: []string{"example.*"}}},
		{name: "star without dot", rule: Rule{Hosts: []string{"*example.com"}}},
		{name: "bad host after good", rule: Rule{Hosts: []string{"ok.example.com", "*"}}},
		{name: "star in wildcard suffix", rule: Rule{Hosts: []string{"*.*.example.com"}}},
		{name: "host with port", rule: Rule{Hosts: []string{"example.com:8080"}}},
		{name: "wildcard with port", rule: Rule{Hosts: []string{"*.example.com:8080"}}},
		{name: "two trailing dots", rule: Rule{Hosts: []string{"foo.."}}},
		{name: "non-ASCII host", rule: Rule{Hosts: []string{"\u212a.example"}}},
		{name: "space in host", rule: Rule{Hosts: []string{"a b.example"}}},
		{name: "relative path prefix", rule: Rule{PathPrefix: "api"}},
		{name: "star path prefix", rule: Rule{PathPrefix: "*"}},
		{name: "absolute-URI path prefix", rule: Rule{PathPrefix: "http://h/"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rules := []Rule{{}, tc.rule}
			tbl, err := New(rules)
			if err == nil {
				t.Fatalf("New(%+v) = %v, nil; want error", tc.rule, tbl)
			}
			if !errors.Is(err, ErrInvalidRule) {
				t.Errorf("New(%+v) error %v does not wrap ErrInvalidRule", tc.rule, err)
			}
			if tbl != nil {
				t.Errorf("New(%+v) returned a table with the error", tc.rule)
			}
		})
	}
}

func TestNewValid(t *testing.T) {
	rules := []Rule{
		{},
		{Hosts: []string{"example.com", "*.example.com", "[::1]", "10.0.0.1", "EXAMPLE.org."}},
		{PathPrefix: "/"},
		{PathPrefix: "/api/"},
		{Methods: []string{"GET"}, Headers: []Header{{Name: "X", Value: ""}}},
	}
	tbl, err := New(rules)
	if err != nil {
		t.Fatalf("New error: %v", err)
	}
	if got := tbl.Len(); got != len(rules) {
		t.Errorf("Len() = %d, want %d", got, len(rules))
	}
	empty, err := New(nil)
	if err != nil {
		t.Fatalf("New(nil) error: %v", err)
	}
	if got := empty.Len(); got != 0 {
		t.Errorf("New(nil).Len() = %d, want 0", got)
	}
}

// TestNewCopiesRules checks that the table does not alias the rules it
// was built from.
func TestNewCopiesRules(t *testing.T) {
	rules := []Rule{{
		Hosts:      []string{"a.test"},
		PathPrefix: "/p",
		Methods:    []string{"GET"},
		Headers:    []Header{{Name: "A", Value: "1"}},
	}}
	tbl := mustNew(t, rules)
	rules[0].Hosts[0] = "b.test"
	rules[0].Methods[0] = "PUT"
	rules[0].Headers[0].Value = "2"
	rules[0].PathPrefix = "/q"
	if got := tbl.Match([]byte("a.test"), []byte("/p"), []byte("GET"), newFakeRequest("a", "1")); got != 0 {
		t.Errorf("Match(%q, %q, %q) = %d, want 0", "a.test", "/p", "GET", got)
	}
}

func TestMatchAllocs(t *testing.T) {
	tbl := mustNew(t, []Rule{
		{Hosts: []string{"api.example.com"}, PathPrefix: "/v2", Methods: []string{"POST"}},
		{Hosts: []string{"*.example.com"}, Headers: []Header{{Name: "X-Env", Value: "prod"}}},
		{Hosts: []string{"[::1]"}, PathPrefix: "/"},
	})
	var req Request = newFakeRequest("x-env", "prod")
	host, path, method := []byte("WWW.Example.com.:443"), []byte("/v1/users"), []byte("GET")
	ipv6 := []byte("[::1]:8080")
	other := []byte("other.test")
	if got := tbl.Match(host, path, method, req); got != 1 {
		t.Fatalf("Match(%q, %q, %q) = %d, want 1", host, path, method, got)
	}
	allocs := testing.AllocsPerRun(100, func() {
		tbl.Match(host, path, method, req)
		tbl.Match(ipv6, path, method, req)
		tbl.Match(other, path, method, req)
	})
	if allocs != 0 {
		t.Errorf("Match allocates %v times per run, want 0", allocs)
	}
}

func BenchmarkMatch(b *testing.B) {
	rules := make([]Rule, 0, 10)
	for _, h := range []string{"a", "b", "c", "d", "e", "f", "g", "h", "i"} {
		rules = append(rules, Rule{
			Hosts:      []string{h + ".example.com", "*." + h + ".example.org"},
			PathPrefix: "/" + h,
			Methods:    []string{"GET", "HEAD"},
		})
	}
	rules = append(rules, Rule{
		Hosts:      []string{"api.example.com", "*.example.net"},
		PathPrefix: "/v1/",
		Methods:    []string{"GET", "POST"},
		Headers:    []Header{{Name: "X-Env", Value: "prod"}},
	})
	tbl := mustNew(b, rules)
	var req Request = newFakeRequest("X-Env", "prod")
	host, path, method := []byte("www.Example.NET:443"), []byte("/v1/users/42"), []byte("POST")
	if got := tbl.Match(host, path, method, req); got != 9 {
		b.Fatalf("Match(%q, %q, %q) = %d, want 9", host, path, method, got)
	}
	b.ReportAllocs()
	for b.Loop() {
		tbl.Match(host, path, method, req)
	}
}

// fuzzRules is the fixed table FuzzMatch runs against. It has no
// catch-all so that -1 stays reachable.
var fuzzRules = []Rule{
	{Hosts: []string{"api.example.com"}, PathPrefix: "/v1/", Methods: []string{"GET", "HEAD"}},
	{Hosts: []string{"*.example.com", "example.org."}, PathPrefix: "/static"},
	{Hosts: []string{"[::1]", "127.0.0.1"}},
	{Hosts: []string{"Admin.Example.COM"}, Headers: []Header{{Name: "X-Env", Value: "prod"}}},
	{Hosts: []string{"*.internal"}, Headers: []Header{{Name: "x-missing", Value: ""}}},
	{PathPrefix: "/health", Methods: []string{"GET"}},
	{Methods: []string{"DELETE"}, Headers: []Header{{Name: "X-ENV", Value: "prod"}, {Name: "Authorization", Value: "Bearer t"}}},
	{PathPrefix: "/", Methods: []string{"OPTIONS"}},
}

// fuzzHeaders are the headers of the fixed request FuzzMatch uses.
var fuzzHeaders = map[string]string{
	"x-env":         "prod",
	"authorization": "Bearer t",
}

// modelMatch is a straightforward, string-based re-implementation of
// Match for the model check in FuzzMatch.
func modelMatch(rules []Rule, headers map[string]string, host, path, method string) int {
	// Host header without port and trailing dot; IPv6 literals keep
	// their brackets.
	if strings.HasPrefix(host, "[") {
		if end := strings.Index(host, "]"); end >= 0 {
			host = host[:end+1]
		}
	} else {
		if colon := strings.LastIndex(host, ":"); colon >= 0 {
			host = host[:colon]
		}
		host = strings.TrimSuffix(host, ".")
	}
	host = asciiLower(host)

	header := func(name string) (string, bool) {
		for k, v := range headers {
			if asciiLower(k) == asciiLower(name) {
				return v, true
			}
		}
		return "", false
	}

rules:
	for i, r := range rules {
		if len(r.Hosts) > 0 {
			hostOK := false
			for _, h := range r.Hosts {
				h = asciiLower(strings.TrimSuffix(h, "."))
				if suffix, ok := strings.CutPrefix(h, "*"); ok {
					// "*.example.com" matches at least one more label.
					if strings.HasSuffix(host, suffix) && len(host) > len(suffix) {
						hostOK = true
					}
				} else if host == h {
					hostOK = true
				}
			}
			if !hostOK {
				continue
			}
		}
		if !strings.HasPrefix(path, r.PathPrefix) {
			continue
		}
		if len(r.Methods) > 0 {
			methodOK := false
			for _, m := range r.Methods {
				if m == method {
					methodOK = true
				}
			}
			if !methodOK {
				continue
			}
		}
		for _, h := range r.Headers {
			if v, ok := header(h.Name); !ok || v != h.Value {
				continue rules
			}
		}
		return i
	}
	return -1
}

func FuzzMatch(f *testing.F) {
	f.Add([]byte("api.example.com"), []byte("/v1/users"), []byte("GET"))
	f.Add([]byte("[::1]:8080"), []byte("/"), []byte("GET"))
	tbl := mustNew(f, fuzzRules)
	req := fakeRequest{}
	for k, v := range fuzzHeaders {
		req[k] = []byte(v)
	}
	f.Fuzz(func(t *testing.T, host, path, method []byte) {
		h0, p0, m0 := bytes.Clone(host), bytes.Clone(path), bytes.Clone(method)
		got := tbl.Match(host, path, method, req)
		if got < -1 || got >= tbl.Len() {
			t.Fatalf("Match(%q, %q, %q) = %d, want in [-1, %d)", host, path, method, got, tbl.Len())
		}
		if want := modelMatch(fuzzRules, fuzzHeaders, string(host), string(path), string(method)); got != want {
			t.Errorf("Match(%q, %q, %q) = %d, want %d", host, path, method, got, want)
		}
		if !bytes.Equal(host, h0) || !bytes.Equal(path, p0) || !bytes.Equal(method, m0) {
			t.Errorf("Match(%q, %q, %q) modified its arguments", h0, p0, m0)
		}
	})
}
