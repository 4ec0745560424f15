package edge_test

import (
	"bufio"
	"fmt"
	"io"
	"testing"
)

// TestRateLimitKeys: a local limit by client address counts each client
// apart (the address after trusted_proxies: X-Forwarded-For from a
// trusted peer names the client), a route limit counts everyone
// together; past the burst the answer is 429 with Retry-After and the
// RateLimit fields, and nothing reaches the origin.
func TestRateLimitKeys(t *testing.T) {
	o := startRawOrigin(t)
	p := startLB(t, fmt.Sprintf(`listeners: [{address: 127.0.0.1:0}]
trusted_proxies: [127.0.0.1]
log: {level: error, access: {enabled: false}}
routes:
  - match: {path_prefix: /ip/}
    pool: web
    rate_limit: {rate: 1, per: 1h, burst: 3}
  - match: {path_prefix: /route/}
    pool: web
    rate_limit: {key: route, rate: 1, per: 1h, burst: 2}
pools:
  web:
    servers: [{address: %s}]
`, o.addr))
	addr := p.Addrs()[0].String()
	c := dial(t, addr)
	br := bufio.NewReader(c)
	get := func(path, xff string) (int, string) {
		t.Helper()
		io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: "+xff+"\r\n\r\n")
		resp := readResponse(t, c, br)
		h := ""
		if resp.StatusCode() == 429 {
			h = fmt.Sprintf("%s %s %s %s", resp.Header.Peek("Retry-After"), resp.Header.Peek("RateLimit-Limit"),
				resp.Header.Peek("RateLimit-Remaining"), resp.Header.Peek("RateLimit-Reset"))
		}
		return resp.StatusCode(), h
	}
	for _, tc := range []struct {
		path, client string
		status       int
		fields       string // Retry-After, RateLimit-Limit, -Remaining, -Reset
	}{
		{"/ip/", "198.51.100.1", 200, ""},
		{"/ip/", "198.51.100.1", 200, ""},
		{"/ip/", "198.51.100.1", 200, ""},
		{"/ip/", "198.51.100.1", 429, "3600 3 0 10800"},
		{"/ip/", "198.51.100.2", 200, ""}, // another client
		{"/route/", "198.51.100.3", 200, ""},
		{"/route/", "198.51.100.4", 200, ""},
		{"/route/", "198.51.100.5", 429, "3600 2 0 7200"}, // everyone together
	} {
		status, fields := get(tc.path, tc.client)
		if status != tc.status || fields != tc.fields {
			t.Errorf("GET %s from %s: %d %q, want %d %q", tc.path, tc.client, status, fields, tc.status, tc.fields)
		}
	}
	if _, n := o.take(); n != 6 {
		t.Errorf("origin read %d requests, want 6", n)
	}
}
