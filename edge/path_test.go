package edge_test

import (
	"fmt"
	"testing"
	"time"
)

// TestRoutePathRules: a route with reject_dot_segments and
// reject_encoded_slashes answers 400 (and closes) to traversal paths in
// any spelling, and nothing reaches its server; a route without them
// forwards the same paths untouched.
func TestRoutePathRules(t *testing.T) {
	o := startRawOrigin(t)
	p := startLB(t, fmt.Sprintf(`listeners:
  - address: 127.0.0.1:0
log: {level: error, access: {enabled: false}}
routes:
  - match: {path_prefix: /strict/}
    pool: web
    reject_dot_segments: true
    reject_encoded_slashes: true
  - pool: web
pools:
  web:
    passive: {max_fails: 0}
    servers: [{address: %s}]
`, o.addr))
	addr := p.Addrs()[0].String()
	for _, tc := range []struct {
		path   string
		status int
	}{
		{"/strict/a/b", 200},
		{"/strict/a..b/c.d", 200},
		{"/strict/../admin", 400},
		{"/strict/./a", 400},
		{"/strict/%2e%2E/admin", 400},
		{"/strict/.%2e/admin", 400},
		{"/strict/..;/admin", 400},
		{"/strict/a/..?q=1", 400},
		{"/strict/a%2Fb", 400},
		{"/strict/a%5cb", 400},
		{"/open/../admin", 200},
		{"/open/a%2Fb", 200},
	} {
		statuses, closed := exchangeParts(t, addr, []string{"GET " + tc.path + " HTTP/1.1\r\nHost: a\r\n\r\n"}, time.Second)
		got, n := o.take()
		if len(statuses) != 1 || statuses[0] != tc.status {
			t.Errorf("GET %s: statuses %v, want [%d]", tc.path, statuses, tc.status)
			continue
		}
		want := 0
		if tc.status == 200 {
			want = 1
			if wantLine := "GET " + tc.path + " HTTP/1.1\r\n"; len(got) < len(wantLine) || got[:len(wantLine)] != wantLine {
				t.Errorf("GET %s: origin received %q", tc.path, got)
			}
		} else if !closed {
			t.Errorf("GET %s: connection left open after 400", tc.path)
		}
		if n != want {
			t.Errorf("GET %s: origin read %d requests, want %d", tc.path, n, want)
		}
	}
}
