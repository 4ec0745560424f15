package main

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"
)

func TestParseWrk(t *testing.T) {
	out := []byte("Running 5s test @ http://x\n  1 threads and 64 connections\n\nWRKJSON {\"requests\":1000,\"duration_us\":2000000,\"errors\":3,\"p50\":120,\"p99\":900,\"p999\":2500}\n")
	r, err := parseWrk(out)
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests != 1000 || r.Errors != 3 || r.P999 != 2500 || r.rps() != 500 {
		t.Fatalf("%+v", r)
	}
	if _, err := parseWrk([]byte("wrk: connection refused")); err == nil {
		t.Fatal("no summary accepted")
	}
}

func TestParseStatTicks(t *testing.T) {
	// Field 14 (utime) = 250, 15 (stime) = 50; the name holds spaces and ')'.
	stat := "1234 (my (odd) name) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 100 1000 200"
	u, s, err := parseStatTicks(stat)
	if err != nil || u != 250 || s != 50 {
		t.Fatalf("ticks %d user, %d system, %v; want 250 and 50", u, s, err)
	}
}

func TestReport(t *testing.T) {
	mk := func(req, ticks int64) []sample {
		return []sample{{wrk: wrkResult{Requests: req, DurationUS: 1e6, P99: 1000}, ticks: ticks, sys: ticks / 2}}
	}
	r := &report{Date: "today", Duration: time.Second, Runs: 1, Order: []string{"keep-alive small GET"},
		Results: map[string]map[string][]sample{"keep-alive small GET": {
			"nginx": mk(100000, 200), "haproxy": mk(100000, 250), "lb": mk(100000, 150), "floor": mk(100000, 160)}},
		Idle: map[string]idleResult{"lb": {Conns: 1000, BeforeKiB: 10000, AfterKiB: 14000}},
		Encoded: map[string]map[string]encoded{"keep-alive small GET": {
			"direct": {Bytes: 1000}, "nginx": {Bytes: 200, Coding: "gzip"}, "lb": {Bytes: 150, Coding: "gzip"}}}}
	dir := t.TempDir()
	if err := r.write(dir); err != nil {
		t.Fatal(err)
	}
	md := readFile(t, dir+"/RESULTS.md")
	// lb 15 µs, Nginx 20 µs, HAProxy 25 µs: 0.75 of the best, goal met.
	// Half of each in the kernel: lb 7.5 µs, so 0.9 × 20 − 7.5 = 10.5 µs
	// of user time would meet the goal. The Go floor: 16 µs, 0.8 × the best.
	for _, want := range []string{"| keep-alive small GET | 15.0 µs | 20.0 µs | 25.0 µs | — | 16.0 µs (0.80 ×) | 0.75 | 0.60 | ✓ 0.75 × |", "| lb | 4.00 |",
		"| keep-alive small GET | 7.5 | 7.5 | 10.0 | 10.0 | 12.5 | 12.5 | 8.0 | 8.0 | 10.5 µs |",
		"Body as sent: nginx 200 bytes gzip (20.0%), lb 150 bytes gzip (15.0%); uncompressed 1000 bytes."} {
		if !strings.Contains(md, want) {
			t.Errorf("RESULTS.md lacks %q:\n%s", want, md)
		}
	}
	if !strings.Contains(md, "Go floor: `bench/floor`") {
		t.Error("RESULTS.md lacks the Go floor's note")
	}
	delete(r.Results["keep-alive small GET"], "floor")
	if err := r.write(dir); err != nil {
		t.Fatal(err)
	}
	if md := readFile(t, dir+"/RESULTS.md"); strings.Contains(md, "Go floor: `bench/floor`") {
		t.Error("RESULTS.md explains a Go floor that did not run")
	}
	if svg := readFile(t, dir+"/results.svg"); !strings.HasPrefix(svg, "<svg") || !strings.Contains(svg, "lb 15.0") {
		t.Errorf("bad chart:\n%s", svg)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// fetchEncoded reports the body as sent, not decoded, and its coding.
func TestFetchEncoded(t *testing.T) {
	body := strings.Repeat(`{"k":"value"},`, 1000)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Accept-Encoding") != "gzip" {
			_, _ = io.WriteString(w, body)
			return
		}
		w.Header().Set("Content-Encoding", "gzip")
		zw := gzip.NewWriter(w)
		_, _ = io.WriteString(zw, body)
		_ = zw.Close()
	}))
	defer srv.Close()
	plain, err := fetchEncoded(srv.URL+"/x", nil)
	if err != nil || plain.Bytes != len(body) || plain.Coding != "" {
		t.Fatalf("plain: %+v, %v; want %d bytes, no coding", plain, err, len(body))
	}
	gz, err := fetchEncoded(srv.URL+"/x", []string{"Accept-Encoding: gzip"})
	if err != nil || gz.Coding != "gzip" || gz.Bytes == 0 || gz.Bytes >= len(body)/10 {
		t.Fatalf("gzip: %+v, %v; want the compressed size", gz, err)
	}
}
