package main_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// TestFailoverUnderLoad: 20,000 GETs from concurrent clients over three
// backend processes; one is killed with SIGKILL mid-run and started again
// later. The clients must see no failure; the dead server must get no
// attempt once fall × interval + timeout have passed; after it returns it
// passes rise checks and its share ramps up over slow start.
func TestFailoverUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("long end-to-end test")
	}
	servers := startFarm(t, 3)
	dir := t.TempDir()
	access := filepath.Join(dir, "access.log")
	const (
		interval = 200 * time.Millisecond
		timeout  = 100 * time.Millisecond
		fall     = 2
		total    = 20000
	)
	cfg := fmt.Sprintf(`listeners: [{address: "127.0.0.1:0"}]
log: {format: json, access: {output: %s}}
routes: [{pool: web}]
pools:
  web:
    health_check: {path: /healthz, interval: %v, timeout: %v, fall: %d, rise: 2}
    passive: {max_fails: 1, fail_timeout: 2s}
    retries: {attempts: 3, on: [connect, error, timeout]}
    slow_start: 3s
    timeouts: {connect: 1s, response: 5s}
    servers:
      - address: %s
      - address: %s
      - address: %s
`, access, interval, timeout, fall, servers[0], servers[1], servers[2])
	path := filepath.Join(dir, "lb.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	lb := start(t, "lb", "-config", path)
	addr := lb.waitFor(t, lbAddrRe)

	victim := servers[1]
	victimPID := pidOf(t, victim)

	var killAt, restartAt time.Time
	ld := startLoad(t, addr, 8)

	// The load runs on a timeline: kill at 1s, restart at 3s, then long
	// enough for rise checks and the whole slow start, and at least
	// total requests.
	time.Sleep(time.Second)
	killAt = time.Now()
	if err := syscall.Kill(victimPID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	restartAt = time.Now()
	start(t, "backend", "-addr", victim, "-id", "backend-2-again").waitFor(t, backendAddrRe)
	time.Sleep(5 * time.Second)
	ld.waitSent(total)
	sent, failed := ld.end()
	n := int(sent)
	samples := ld.samples

	if f := failed; f != 0 {
		t.Fatalf("%d of %d requests failed, want none", f, n)
	}

	// Attempts on the dead server show in the access log as retried
	// requests (attempts > 1).
	ejectBy := killAt.Add(fall*interval + timeout)
	var retried, lateRetries int
	var lastRetry time.Time
	for _, l := range readLog(t, access, n) {
		if l.Attempts > 1 {
			retried++
			if l.TS.After(lastRetry) {
				lastRetry = l.TS
			}
			if l.TS.After(ejectBy) && l.TS.Before(restartAt) {
				lateRetries++
			}
		}
	}
	if lateRetries > 0 {
		t.Errorf("%d requests were attempted on the dead server after %v", lateRetries, ejectBy.Sub(killAt))
	}

	// Rejoin and ramp: the new instance's share of each window grows.
	var firstBack time.Time
	var shares []float64
	window := 500 * time.Millisecond
	var inWin, backInWin int
	var winStart time.Time
	for _, s := range samples {
		if s.at.Before(restartAt) {
			continue
		}
		if s.instance == "backend-2-again" && firstBack.IsZero() {
			firstBack, winStart = s.at, s.at
		}
		if firstBack.IsZero() {
			continue
		}
		if s.at.Sub(winStart) > window {
			shares = append(shares, float64(backInWin)/float64(inWin))
			winStart, inWin, backInWin = s.at, 0, 0
		}
		inWin++
		if s.instance == "backend-2-again" {
			backInWin++
		}
	}
	counts := map[string]int{}
	for _, s := range samples {
		if s.at.After(restartAt) {
			counts[s.instance]++
		}
	}
	t.Logf("served after the restart: %v", counts)
	if t.Failed() {
		for drained := false; !drained; {
			select {
			case l := <-lb.stderr.lines:
				t.Log("lb: " + l)
			default:
				drained = true
			}
		}
	}
	if firstBack.IsZero() {
		t.Fatal("the restarted backend never served a request")
	}
	t.Logf("failover: %d requests, %d failed, %d retried; last attempt on the dead server %v after the kill (limit %v); rejoined %v after restart; share per %v after rejoin: %.2f",
		n, failed, retried, lastRetry.Sub(killAt), ejectBy.Sub(killAt), firstBack.Sub(restartAt), window, shares)
	// Slow start is 3s: the first half-second gets a small share, the
	// last ones about a third.
	if len(shares) < 4 || shares[0] > 0.2 || shares[len(shares)-1] < 0.25 {
		t.Errorf("share after rejoin %.2f: want it to ramp from a small share to a third over slow start", shares)
	}
}

// pidOf returns the PID of the backend listening on addr, from /whoami.
func pidOf(t *testing.T, addr string) int {
	t.Helper()
	var resp struct {
		PID int `json:"pid"`
	}
	code, body, err := fasthttp.Get(nil, "http://"+addr+"/whoami")
	if err != nil || code != 200 {
		t.Fatalf("whoami %s: %v %d", addr, err, code)
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		t.Fatal(err)
	}
	return resp.PID
}

type logLine struct {
	TS       time.Time `json:"ts"`
	Attempts int       `json:"attempts"`
	Status   int       `json:"status"`
}

// readLog waits for n lines in an access log and parses them.
func readLog(t *testing.T, path string, n int) []logLine {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		var lines []logLine
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var l struct {
				TS string `json:"ts"`
				logLine
			}
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				t.Fatalf("access log line %q: %v", sc.Text(), err)
			}
			ts, err := time.Parse("2006-01-02T15:04:05.000Z0700", l.TS)
			if err != nil {
				t.Fatalf("access log time %q: %v", l.TS, err)
			}
			l.logLine.TS = ts
			lines = append(lines, l.logLine)
		}
		f.Close()
		if len(lines) >= n || time.Now().After(deadline) {
			if len(lines) < n {
				t.Fatalf("access log has %d lines, want %d", len(lines), n)
			}
			return lines
		}
		time.Sleep(100 * time.Millisecond)
	}
}
