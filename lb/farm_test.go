package main_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"lb/internal/testsvc"
)

// The backend farm end to end: real lb, three real backend processes,
// real Redis and a real PostgreSQL primary with a streaming replica.

// backendOpts are the flags of the backends of one farm.
type backendOpts struct {
	redis, primary, replica string
	extra                   []string
}

func (o backendOpts) args(addr, id string) []string {
	a := []string{"-addr", addr, "-id", id}
	if o.redis != "" {
		a = append(a, "-redis", o.redis)
	}
	if o.primary != "" {
		a = append(a, "-database", o.primary)
	}
	if o.replica != "" {
		a = append(a, "-replicas", o.replica)
	}
	return append(a, o.extra...)
}

// farm is n backends behind lb (round robin).
type farm struct {
	backends []*proc
	addrs    []string
	url      string // lb's base URL
}

// startBackendFarm starts n backends with opts and lb in front of them
// with the pool settings in extra and, when accessLog is not empty, lb's
// access log in that file.
func startBackendFarm(t *testing.T, n int, opts backendOpts, extra, accessLog string) *farm {
	t.Helper()
	f := &farm{}
	for i := range n {
		b := start(t, "backend", opts.args("127.0.0.1:0", fmt.Sprintf("backend-%d", i+1))...)
		f.backends = append(f.backends, b)
		f.addrs = append(f.addrs, b.waitFor(t, backendAddrRe))
	}
	cfg := filepath.Join(t.TempDir(), "lb.yaml")
	writeConfig(t, cfg, f.addrs, extra)
	if accessLog != "" {
		data, _ := os.ReadFile(cfg)
		data = []byte(strings.Replace(string(data), "access: {enabled: false}", "access: {enabled: true, output: "+accessLog+"}", 1))
		if err := os.WriteFile(cfg, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f.url = "http://" + start(t, "lb", "-config", cfg).waitFor(t, lbAddrRe)
	return f
}

// browser is an HTTP client with a cookie jar, as a browser would be.
func browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 15 * time.Second}
}

// call sends a request and decodes a JSON answer into out (when not nil).
func call(t *testing.T, c *http.Client, method, url, body string, out any) (int, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s = %d %q: %v", method, url, resp.StatusCode, b, err)
		}
	}
	return resp.StatusCode, resp.Header
}

type meBody struct {
	User     string `json:"user"`
	Instance string `json:"instance"`
}

// TestFarmSessionsAcrossBackends logs in through lb (round robin over
// three backends) and sends 30 more requests, which land on every
// backend. With Redis every one of them sees the user; with the
// in-process store only the backend that made the session does: the
// others answer 401 — the problem the Redis store solves.
func TestFarmSessionsAcrossBackends(t *testing.T) {
	for _, tc := range []struct {
		name   string
		shared bool
	}{{"redis", true}, {"memory", false}} {
		t.Run(tc.name, func(t *testing.T) {
			var opts backendOpts
			if tc.shared {
				opts.redis = testsvc.Redis(t).URL()
			}
			f := startBackendFarm(t, 3, opts, "", "")
			c := browser()
			var login meBody
			if code, _ := call(t, c, "POST", f.url+"/login", `{"user":"ann"}`, &login); code != 200 {
				t.Fatalf("login through lb = %d", code)
			}
			seen := map[string]int{}     // backend → requests
			loggedIn := map[string]int{} // backend → requests that saw ann
			loggedOut := 0               // requests answered 401
			for range 30 {
				var me meBody
				code, _ := call(t, c, "GET", f.url+"/me", "", &me)
				var w whoami
				call(t, c, "GET", f.url+"/whoami", "", &w) // the next backend in turn, so /me visits all three
				switch code {
				case 200:
					if me.User != "ann" {
						t.Fatalf("/me user = %q, want ann", me.User)
					}
					seen[me.Instance]++
					loggedIn[me.Instance]++
				case 401:
					loggedOut++
				default:
					t.Fatalf("/me = %d", code)
				}
			}
			t.Logf("store %s: /me answered by %v, 401 %d times (login on %s)", tc.name, seen, loggedOut, login.Instance)
			if tc.shared {
				if loggedOut != 0 || len(seen) != 3 {
					t.Fatalf("with Redis: %d of 30 requests logged out, backends seen %v; want all 30 logged in on all 3 backends", loggedOut, seen)
				}
				return
			}
			if len(loggedIn) != 1 || loggedIn[login.Instance] != 10 || loggedOut != 20 {
				t.Fatalf("in-process store: logged in on %v, logged out %d times; want only %s (10 requests) and 20 logouts",
					loggedIn, loggedOut, login.Instance)
			}
		})
	}
}

type itemBody struct {
	ID      int64  `json:"id"`
	Name    string `json:"name"`
	Version int64  `json:"version"`
}

// TestFarmReadYourWrites: with sessions in Redis and items in PostgreSQL
// (primary + streaming replica), a write through one backend and a read
// at once through the next one sees the write; reads that need no
// freshness (no session) are served by the replica.
func TestFarmReadYourWrites(t *testing.T) {
	rs := testsvc.Redis(t)
	pg := testsvc.Postgres(t)
	f := startBackendFarm(t, 3, backendOpts{redis: rs.URL(), primary: pg.PrimaryDSN(), replica: pg.ReplicaDSN()}, "", "")
	c := browser()
	if code, _ := call(t, c, "POST", f.url+"/login", `{"user":"ann"}`, nil); code != 200 {
		t.Fatalf("login = %d", code)
	}
	sources := map[string]int{}
	for i := range 30 {
		var created, read itemBody
		if code, _ := call(t, c, "POST", f.url+"/items", fmt.Sprintf(`{"name":"ryw-%d","value":{"i":%d}}`, i, i), &created); code != 201 {
			t.Fatalf("create %d = %d", i, code)
		}
		// Round robin: this read goes to another backend than the write.
		code, h := call(t, c, "GET", fmt.Sprint(f.url, "/items/", created.ID), "", &read)
		if code != 200 || read.Name != created.Name {
			t.Fatalf("read %d right after its write (source %q) = %d %+v, want %+v", created.ID, h.Get("X-Data-Source"), code, read, created)
		}
		sources[h.Get("X-Data-Source")]++
		var updated itemBody
		if code, _ := call(t, c, "PUT", fmt.Sprint(f.url, "/items/", created.ID), `{"name":"ryw-`+fmt.Sprint(i)+`-2","version":1}`, &updated); code != 200 {
			t.Fatalf("update %d = %d", created.ID, code)
		}
		code, h = call(t, c, "GET", fmt.Sprint(f.url, "/items/", created.ID), "", &read)
		if code != 200 || read.Version != 2 {
			t.Fatalf("read %d right after its update = %d version %d, want version 2", created.ID, code, read.Version)
		}
		sources[h.Get("X-Data-Source")]++
	}
	t.Logf("read-your-writes reads by source: %v", sources)

	// No session, no freshness need: the replica answers.
	anon := browser()
	want := "replica:" + pg.ReplicaAddr()
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; ; i++ {
		var list struct{ Items []itemBody }
		code, h := call(t, anon, "GET", f.url+"/items?limit=100", "", &list)
		if code == 200 && h.Get("X-Data-Source") == want && len(list.Items) == 30 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("anonymous list = %d from %q with %d items; want the 30 items from %s", code, h.Get("X-Data-Source"), len(list.Items), want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestFarmRedisDown: Redis stopped mid-test: the session endpoints of
// every backend answer 503 (never a logout, never a 500); after Redis
// restarts, the session is intact on all of them.
func TestFarmRedisDown(t *testing.T) {
	rs := testsvc.Redis(t)
	f := startBackendFarm(t, 3, backendOpts{redis: rs.URL()}, "", "") // no health checks: requests reach the backends
	c := browser()
	if code, _ := call(t, c, "POST", f.url+"/login", `{"user":"ann"}`, nil); code != 200 {
		t.Fatalf("login = %d", code)
	}
	rs.Stop()
	for i := range 6 {
		code, h := call(t, c, "GET", f.url+"/me", "", nil)
		if code != 503 || h.Get("Retry-After") == "" {
			t.Fatalf("/me %d with Redis down = %d (Retry-After %q), want 503", i, code, h.Get("Retry-After"))
		}
	}
	if code, _ := call(t, c, "POST", f.url+"/login", `{"user":"bob"}`, nil); code != 503 {
		t.Fatalf("login with Redis down = %d, want 503", code)
	}
	rs.Start()
	// Each backend's pool redials Redis on its next calls: 503 until then,
	// never 401; then the same session on every backend.
	ok := 0
	deadline := time.Now().Add(10 * time.Second)
	for ok < 6 {
		var me meBody
		code, _ := call(t, c, "GET", f.url+"/me", "", &me)
		switch {
		case code == 200 && me.User == "ann":
			ok++
		case code == 503 && time.Now().Before(deadline):
			ok = 0
			time.Sleep(50 * time.Millisecond)
		default:
			t.Fatalf("/me after Redis restarted = %d %+v, want ann", code, me)
		}
	}
}

// TestFarmWorkSaturated: CPU-heavy /work fills every backend's worker
// pool and queue; meanwhile 100 /whoami requests through lb each answer
// within a 1 s client timeout, and the excess /work gets 503 with
// Retry-After.
func TestFarmWorkSaturated(t *testing.T) {
	f := startBackendFarm(t, 3, backendOpts{extra: []string{"-work-workers", "2", "-work-queue", "2"}}, "", "")
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	noRetryAfter := 0
	heavy := &http.Client{Timeout: time.Minute}
	for range 30 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := heavy.Get(f.url + "/work?cost=2000000")
			if err != nil {
				t.Errorf("/work: %v", err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			mu.Lock()
			codes[resp.StatusCode]++
			if resp.StatusCode == 503 && resp.Header.Get("Retry-After") == "" {
				noRetryAfter++
			}
			mu.Unlock()
		}()
	}
	time.Sleep(200 * time.Millisecond) // let the jobs fill the pools
	quick := &http.Client{Timeout: time.Second}
	var slowest time.Duration
	for i := range 100 {
		begin := time.Now()
		resp, err := quick.Get(f.url + "/whoami")
		if err != nil {
			t.Fatalf("/whoami %d while /work is saturated: %v", i, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("/whoami %d = %d", i, resp.StatusCode)
		}
		slowest = max(slowest, time.Since(begin))
	}
	wg.Wait()
	t.Logf("/work answers %v; slowest of 100 /whoami %v", codes, slowest)
	if codes[200] == 0 || codes[503] == 0 || codes[200]+codes[503] != 30 || noRetryAfter != 0 {
		t.Fatalf("/work answers %v (%d 503 without Retry-After): want some done, the excess 503 with Retry-After", codes, noRetryAfter)
	}
}

// TestFarmRollingRestartSamePort replaces each of three backends under
// continuous load through lb by a new process on the same port (SO_REUSEPORT:
// start the new one, then SIGTERM the old one, which drains), one after
// another, without lb being told: no request fails.
func TestFarmRollingRestartSamePort(t *testing.T) {
	accessLog := filepath.Join(t.TempDir(), "access.log")
	f := startBackendFarm(t, 3, backendOpts{extra: []string{"-drain-grace", "1s"}},
		"    health_check: {path: /healthz, interval: 200ms, timeout: 100ms}\n", accessLog)
	ld := startLoad(t, strings.TrimPrefix(f.url, "http://"), 8)
	ld.waitSent(500)
	for i, addr := range f.addrs {
		nb := start(t, "backend", backendOpts{extra: []string{"-drain-grace", "1s"}}.args(addr, fmt.Sprintf("new-%d", i+1))...)
		nb.waitFor(t, backendAddrRe)
		old := f.backends[i]
		_ = old.cmd.Process.Signal(syscall.SIGTERM)
		if code := old.exitCode(t, 30*time.Second); code != 0 {
			t.Fatalf("old backend %s exited with %d, want 0", addr, code)
		}
		f.backends[i] = nb
		time.Sleep(300 * time.Millisecond)
	}
	sent, failed := ld.end()
	// How many requests lb had to retry (a connection the old process
	// reset) shows whether the drain itself was clean.
	retried := 0
	for _, l := range readLog(t, accessLog, int(sent-failed)) {
		if l.Attempts > 1 {
			retried++
		}
	}
	t.Logf("same-port rolling restart of 3 backends under load: %d requests, %d failed, %d retried by lb", sent, failed, retried)
	if failed != 0 {
		t.Fatalf("%d of %d requests failed during the rolling restart", failed, sent)
	}
	// Only the new processes serve, all three once lb's checks agree (a
	// probe that reached an old process while it drained may have taken
	// the address out for a moment).
	seen := map[string]bool{}
	deadline := time.Now().Add(10 * time.Second)
	for len(seen) < 3 && time.Now().Before(deadline) {
		var w whoami
		if code, _ := call(t, http.DefaultClient, "GET", f.url+"/whoami", "", &w); code != 200 || !strings.HasPrefix(w.Instance, "new-") {
			t.Fatalf("after the restart /whoami = %d from %q, want a new backend", code, w.Instance)
		}
		seen[w.Instance] = true
	}
	if len(seen) != 3 {
		t.Fatalf("serving after the restart: %v, want new-1..3", seen)
	}
}

// importStream writes a JSON array of n items of about size bytes each,
// item bad malformed (-1: none), as it is read: the body is never held.
func importStream(n, size, bad int, prefix string) io.Reader {
	pr, pw := io.Pipe()
	go func() {
		w := bufio.NewWriterSize(pw, 64<<10)
		pad := strings.Repeat("x", max(size-60, 0))
		w.WriteString("[\n")
		for i := range n {
			if i > 0 {
				w.WriteString(",\n")
			}
			if i == bad {
				w.WriteString(`{"name": "` + prefix + `-bad", "value": {"oops" 1}}`)
				continue
			}
			fmt.Fprintf(w, `{"name":"%s-%d","value":{"i":%d,"pad":"%s"}}`, prefix, i, i, pad)
		}
		w.WriteString("\n]\n")
		pw.CloseWithError(w.Flush())
	}()
	return pr
}

// TestImport200MBInFlatMemory streams a 200 MB JSON array to /import of
// a backend on PostgreSQL and checks the backend's peak resident memory
// grows by less than 64 MiB; then a malformed element in the middle of
// another import rejects its batch and keeps the batches before it.
// Heavy: it runs in make test's non-race pass.
func TestImport200MBInFlatMemory(t *testing.T) {
	if raceEnabled {
		t.Skip("runs in make test's non-race pass")
	}
	pg := testsvc.Postgres(t)
	b := start(t, "backend", "-addr", "127.0.0.1:0", "-id", "importer", "-database", pg.PrimaryDSN())
	addr := b.waitFor(t, backendAddrRe)
	pid := pidOf(t, addr)
	c := &http.Client{Timeout: 10 * time.Minute}
	post := func(body io.Reader) (int, string) {
		resp, err := c.Post("http://"+addr+"/import", "application/json", body)
		if err != nil {
			t.Fatalf("/import: %v", err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(out)
	}
	if code, body := post(importStream(2000, 2000, -1, "warm")); code != 200 {
		t.Fatalf("warm-up import = %d %s", code, body)
	}
	before := vmHWM(t, pid)
	const n, size = 100_000, 2000 // ~200 MB
	begin := time.Now()
	code, body := post(importStream(n, size, -1, "big"))
	took := time.Since(begin)
	after := vmHWM(t, pid)
	if code != 200 || !strings.Contains(body, fmt.Sprintf(`"imported":%d`, n)) {
		t.Fatalf("200 MB import = %d %s", code, body)
	}
	t.Logf("import of %d items (~%d MB) in %v (%.0f MB/s); backend peak memory %d KiB before, %d KiB after (+%d KiB)",
		n, n*size/1_000_000, took.Round(time.Millisecond), float64(n*size)/1e6/took.Seconds(), before, after, after-before)
	if after-before > 64<<10 {
		t.Fatalf("backend peak memory grew by %d KiB, want under 64 MiB", after-before)
	}

	// A malformed element at index 2500 of 5000 (batches of 1000): two
	// batches committed, nothing of the third.
	code, body = post(importStream(5000, 200, 2500, "mid"))
	var res struct {
		Error           string
		Index, Imported int
	}
	if err := json.Unmarshal([]byte(body), &res); code != 400 || err != nil || res.Index != 2500 || res.Imported != 2000 {
		t.Fatalf("import with element 2500 malformed = %d %s, want 400 at index 2500 with 2000 imported", code, body)
	}
	conn, err := pgx.Connect(context.Background(), pg.PrimaryDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var rows, maxI int
	if err := conn.QueryRow(context.Background(),
		`SELECT count(*), coalesce(max((value->>'i')::int), -1) FROM items WHERE name LIKE 'mid-%'`).Scan(&rows, &maxI); err != nil {
		t.Fatal(err)
	}
	if rows != 2000 || maxI != 1999 {
		t.Fatalf("after the rejected import the table holds %d of its items (last %d), want items 0..1999", rows, maxI)
	}
}
