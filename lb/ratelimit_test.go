package main_test

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"lb/internal/testsvc"
)

// TestRateLimitSharedAcrossProcesses: two lb processes whose route has a
// shared rate limit (burst 20, 1 per hour, keyed by X-API-Key) in one
// redis-server enforce one budget: of 60 requests with the same key,
// alternating between them, exactly 20 pass and 40 get 429 with
// Retry-After and RateLimit-* fields; another key has its own budget, and
// a local (unshared) limit counts each process apart.
func TestRateLimitSharedAcrossProcesses(t *testing.T) {
	rs := testsvc.Redis(t)
	backends := startFarm(t, 1)
	dir := t.TempDir()
	cfg := fmt.Sprintf(`listeners: [{address: "127.0.0.1:0"}]
log: {format: json, access: {enabled: false}}
rate_limit_redis: {address: %q, timeout: 3s} # generous: a slow answer on a loaded machine would fail open and skew the counts
routes:
  - match: {path_prefix: /local/}
    pool: web
    rate_limit: {key: header:X-API-Key, rate: 1, per: 1h, burst: 5}
  - pool: web
    rate_limit: {key: header:X-API-Key, rate: 1, per: 1h, burst: 20, shared: true}
pools:
  web:
    servers: [{address: %q}]
`, rs.Addr(), backends[0])
	path := filepath.Join(dir, "lb.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	var lbs []string
	var procs []*proc
	for range 2 {
		p := start(t, "lb", "-config", path)
		lbs = append(lbs, "http://"+p.waitFor(t, lbAddrRe))
		procs = append(procs, p)
	}

	get := func(base, path, key string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("GET", base+path, nil)
		req.Header.Set("X-API-Key", key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}

	counts := map[int]int{}
	for i := range 60 {
		resp := get(lbs[i%2], "/", "key-1")
		counts[resp.StatusCode]++
		if resp.StatusCode == 429 {
			ra, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
			if ra < 3500 || ra > 3600 {
				t.Errorf("Retry-After %q, want about 3600", resp.Header.Get("Retry-After"))
			}
			if resp.Header.Get("RateLimit-Limit") != "20" || resp.Header.Get("RateLimit-Remaining") != "0" || resp.Header.Get("RateLimit-Reset") == "" {
				t.Errorf("RateLimit fields %v, want limit 20, remaining 0 and a reset", resp.Header)
			}
		}
	}
	if counts[200] != 20 || counts[429] != 40 {
		t.Fatalf("statuses %v, want 20 × 200 and 40 × 429 (one budget of 20 for both processes)", counts)
	}
	if resp := get(lbs[1], "/", "key-2"); resp.StatusCode != 200 {
		t.Fatalf("another key: status %d, want 200", resp.StatusCode)
	}
	// No key: not limited (Nginx skips empty keys).
	if resp := get(lbs[0], "/", ""); resp.StatusCode != 200 {
		t.Fatalf("no key: status %d, want 200", resp.StatusCode)
	}

	// A local limit is per process: 5 each.
	local := map[int]int{}
	for i := range 20 {
		local[get(lbs[i%2], "/local/", "key-1").StatusCode]++
	}
	if local[200] != 10 || local[429] != 10 {
		t.Fatalf("local limit: statuses %v, want 10 × 200 (5 per process) and 10 × 429", local)
	}

	// Redis gone: the shared limit fails open, with a warning in the log.
	rs.Stop()
	for i := range 10 {
		if resp := get(lbs[i%2], "/", "key-1"); resp.StatusCode != 200 {
			t.Fatalf("Redis down, request %d: status %d, want 200 (fail open)", i+1, resp.StatusCode)
		}
	}
	procs[0].waitFor(t, regexp.MustCompile(`"level":"warn".*(Redis unavailable, allowing requests \(fail open\))`))
}
