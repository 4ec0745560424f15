package main_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

const gib = 1 << 30

// seeded returns n bytes of a fixed pseudo-random stream.
func seeded(n int64) io.Reader {
	return io.LimitReader(rand.NewChaCha8([32]byte{'l', 'b'}), n)
}

// vmHWM returns a process's peak resident memory in KiB.
func vmHWM(t *testing.T, pid int) int {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			if err != nil {
				t.Fatal(err)
			}
			return kb
		}
	}
	t.Fatal("no VmHWM")
	return 0
}

// TestGiBTransfersStreamInFlatMemory sends 1 GiB up and 1 GiB down
// through an lb process and checks every byte (SHA-256) while lb's peak
// resident memory grows by less than 64 MiB. It runs in the non-race pass:
// the race detector would make the test's own hashing crawl.
func TestGiBTransfersStreamInFlatMemory(t *testing.T) {
	if raceEnabled {
		t.Skip("runs in make test's non-race pass")
	}
	want := sha256.New()
	if _, err := io.Copy(want, seeded(gib)); err != nil {
		t.Fatal(err)
	}
	wantSum := hex.EncodeToString(want.Sum(nil))

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	origin := &fasthttp.Server{
		StreamRequestBody: true,
		ReadTimeout:       2 * time.Minute,
		WriteTimeout:      2 * time.Minute,
		Handler: func(ctx *fasthttp.RequestCtx) {
			switch string(ctx.Path()) {
			case "/upload":
				h := sha256.New()
				n, err := io.Copy(h, ctx.RequestBodyStream())
				if err != nil {
					ctx.Error(err.Error(), 500)
					return
				}
				fmt.Fprintf(ctx, "%d %x", n, h.Sum(nil))
			case "/download":
				ctx.SetBodyStream(seeded(gib), gib)
			}
		},
	}
	go origin.Serve(ln) //nolint:errcheck
	t.Cleanup(func() { _ = origin.Shutdown() })

	dir := t.TempDir()
	cfg := fmt.Sprintf(`listeners: [{address: "127.0.0.1:0", max_body_bytes: 2GiB, read_timeout: 2m, write_timeout: 2m}]
log: {format: json, access: {enabled: false}}
routes: [{pool: web}]
pools:
  web:
    timeouts: {response: 30s}
    servers: [{address: %s}]
`, ln.Addr())
	path := filepath.Join(dir, "lb.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	lb := start(t, "lb", "-config", path)
	addr := lb.waitFor(t, lbAddrRe)
	client := &fasthttp.HostClient{Addr: addr, StreamResponseBody: true, MaxIdemponentCallAttempts: 1}

	// Warm up: the baseline is lb serving, not lb just started.
	for range 20 {
		if code, _, err := fasthttp.GetTimeout(nil, "http://"+addr+"/download-none", 5*time.Second); err != nil || code != 200 {
			t.Fatalf("warm-up: %v %d", err, code)
		}
	}
	base := vmHWM(t, lb.cmd.Process.Pid)

	// Upload.
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	req.SetRequestURI("http://lb/upload")
	req.Header.SetMethod("POST")
	req.SetBodyStream(seeded(gib), gib)
	start := time.Now()
	if err := client.DoTimeout(req, resp, 2*time.Minute); err != nil {
		t.Fatalf("upload: %v", err)
	}
	body, _ := io.ReadAll(resp.BodyStream())
	up := time.Since(start)
	if got := string(body); resp.StatusCode() != 200 || got != fmt.Sprintf("%d %s", gib, wantSum) {
		t.Fatalf("upload: origin answered %d %q, want %d %s", resp.StatusCode(), got, gib, wantSum)
	}
	fasthttp.ReleaseRequest(req)
	fasthttp.ReleaseResponse(resp)

	// Download.
	req, resp = fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	req.SetRequestURI("http://lb/download")
	start = time.Now()
	if err := client.DoTimeout(req, resp, 2*time.Minute); err != nil {
		t.Fatalf("download: %v", err)
	}
	h := sha256.New()
	n, err := io.Copy(h, resp.BodyStream())
	down := time.Since(start)
	if err != nil || n != gib || hex.EncodeToString(h.Sum(nil)) != wantSum {
		t.Fatalf("download: %d bytes (%v), hash %x, want %d bytes hashing to %s", n, err, h.Sum(nil), gib, wantSum)
	}
	fasthttp.ReleaseRequest(req)
	fasthttp.ReleaseResponse(resp)

	peak := vmHWM(t, lb.cmd.Process.Pid)
	t.Logf("lb VmHWM %d KiB before, %d KiB after 1 GiB up (%v) and 1 GiB down (%v): +%d KiB",
		base, peak, up.Round(time.Millisecond), down.Round(time.Millisecond), peak-base)
	if grew := peak - base; grew >= 64<<10 {
		t.Fatalf("lb's peak resident memory grew by %d KiB, want < 64 MiB", grew)
	}
}
