package main_test

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/valyala/fasthttp"
)

// cpuTicks returns a process's user+system CPU time in clock ticks
// (fields 14 and 15 of /proc/PID/stat).
func cpuTicks(t *testing.T, pid int) int {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// The command name may hold spaces; fields count from after ')'.
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	utime, _ := strconv.Atoi(f[11])
	stime, _ := strconv.Atoi(f[12])
	return utime + stime
}

// TestCompressionOffloadSavesBackendCPU: a backend that compresses when
// asked spends far less CPU on the same responses when lb compresses for
// it (offload: lb does not forward Accept-Encoding), and the client still
// gets brotli.
func TestCompressionOffloadSavesBackendCPU(t *testing.T) {
	b := start(t, "backend", "-addr", "127.0.0.1:0", "-id", "compressing", "-compress")
	backend := b.waitFor(t, backendAddrRe)
	pid := pidOf(t, backend)

	dir := t.TempDir()
	cfg := fmt.Sprintf(`listeners: [{address: "127.0.0.1:0"}]
log: {format: json, access: {enabled: false}}
compression: {algorithms: [br, gzip]}
routes: [{pool: web}]
pools:
  web:
    servers: [{address: %s}]
`, backend)
	path := filepath.Join(dir, "lb.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	lb := start(t, "lb", "-config", path)
	lbAddr := lb.waitFor(t, lbAddrRe)

	const n = 400
	run := func(addr string) (ticks int, encoding string, body []byte) {
		c := &fasthttp.HostClient{Addr: addr}
		before := cpuTicks(t, pid)
		for range n {
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			req.SetRequestURI("http://x/json?kb=64")
			req.Header.Set("Accept-Encoding", "br, gzip")
			if err := c.DoTimeout(req, resp, 10*time.Second); err != nil || resp.StatusCode() != 200 {
				t.Fatalf("GET via %s: %v %d", addr, err, resp.StatusCode())
			}
			encoding = string(resp.Header.ContentEncoding())
			body = append(body[:0], resp.Body()...)
			fasthttp.ReleaseRequest(req)
			fasthttp.ReleaseResponse(resp)
		}
		return cpuTicks(t, pid) - before, encoding, body
	}
	direct, directEnc, _ := run(backend)
	offloaded, lbEnc, lbBody := run(lbAddr)
	t.Logf("backend CPU for %d × 64 KiB JSON: %d ticks compressing itself (%s), %d ticks behind lb (lb sent %s)",
		n, direct, directEnc, offloaded, lbEnc)
	if directEnc != "br" || lbEnc != "br" {
		t.Fatalf("Content-Encoding direct %q via lb %q, want br both", directEnc, lbEnc)
	}
	plain, err := decodeBrotli(lbBody)
	if err != nil || !strings.HasPrefix(string(plain), `{"items":[`) {
		t.Fatalf("lb's brotli body does not decode to the JSON: %v", err)
	}
	if offloaded*2 > direct {
		t.Fatalf("backend spent %d ticks behind lb and %d compressing itself; want less than half", offloaded, direct)
	}
}

func decodeBrotli(b []byte) ([]byte, error) {
	return io.ReadAll(brotli.NewReader(bytes.NewReader(b)))
}

// TestCurlCompressedThroughDefaultConfig: curl --compressed through lb
// running the repository's config.yaml (the one make run uses, on free
// ports) gets brotli and decodes it to the backend's JSON.
func TestCurlCompressedThroughDefaultConfig(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Fatal("curl is missing: make test installs it (scripts/deps.sh)")
	}
	backend := startFarm(t, 1)[0]
	data, err := os.ReadFile("../config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.NewReplacer(`":8080"`, `"127.0.0.1:0"`,
		"127.0.0.1:9001", backend, "      - address: 127.0.0.1:9002\n", "", "      - address: 127.0.0.1:9003\n", "",
		"format: console", "format: json").Replace(string(data))
	path := filepath.Join(t.TempDir(), "lb.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	lb := start(t, "lb", "-config", path)
	url := "http://" + lb.waitFor(t, lbAddrRe) + "/json?kb=64"

	out, err := exec.Command(curl, "-sS", "--compressed", "-D", "-", url).Output()
	if err != nil {
		t.Fatalf("curl: %v", err)
	}
	head, body, _ := strings.Cut(string(out), "\r\n\r\n")
	if !strings.Contains(strings.ToLower(head), "content-encoding: br") {
		t.Fatalf("curl --compressed got head\n%s\nwant Content-Encoding: br", head)
	}
	direct, err := exec.Command(curl, "-sS", "http://"+backend+"/json?kb=64").Output()
	if err != nil {
		t.Fatal(err)
	}
	if body != string(direct) {
		t.Fatalf("decoded body of %d bytes differs from the backend's %d", len(body), len(direct))
	}
}
