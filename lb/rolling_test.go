package main_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// TestRollingRestartUnderLoad runs scripts/rollingrestart over three
// backend processes behind lb while clients keep sending: each backend is
// drained, restarted as a new process and enabled in turn, and no request
// fails.
func TestRollingRestartUnderLoad(t *testing.T) {
	dir := t.TempDir()
	var addrs []string
	for i := range 3 {
		b := exec.Command(filepath.Join(binDir, "backend"), "-addr", "127.0.0.1:0", "-id", fmt.Sprintf("old-%d", i))
		b.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		stderr, _ := b.StderrPipe()
		if err := b.Start(); err != nil {
			t.Fatal(err)
		}
		line := make([]byte, 256)
		n, _ := stderr.Read(line)
		m := backendAddrRe.FindSubmatch(line[:n])
		if m == nil {
			t.Fatalf("backend printed %q", line[:n])
		}
		addr := string(m[1])
		addrs = append(addrs, addr)
		_, port, _ := strings.Cut(addr, ":")
		if err := os.WriteFile(filepath.Join(dir, port+".pid"), []byte(strconv.Itoa(b.Process.Pid)), 0o644); err != nil {
			t.Fatal(err)
		}
		go b.Wait() //nolint:errcheck
	}
	// Whatever backend the pid files name at the end is stopped.
	t.Cleanup(func() {
		files, _ := filepath.Glob(filepath.Join(dir, "*.pid"))
		for _, f := range files {
			data, _ := os.ReadFile(f)
			if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})

	cfg := filepath.Join(dir, "lb.yaml")
	writeConfig(t, cfg, addrs, "    health_check: {path: /healthz, interval: 200ms, timeout: 100ms}\n")
	data, _ := os.ReadFile(cfg)
	if err := os.WriteFile(cfg, append([]byte("admin: {address: \"127.0.0.1:0\"}\n"), data...), 0o644); err != nil {
		t.Fatal(err)
	}
	lb := start(t, "lb", "-config", cfg)
	addr := lb.waitFor(t, lbAddrRe)
	adminAddr := lb.waitFor(t, regexp.MustCompile(`"msg":"admin listening".*"address":"([^"]+)"`))

	ld := startLoad(t, addr, 8)
	client := &fasthttp.HostClient{Addr: addr}
	time.Sleep(300 * time.Millisecond)

	restart := fmt.Sprintf(`pid=$(cat %[1]s/{port}.pid); kill -TERM $pid; while kill -0 $pid 2>/dev/null; do sleep 0.05; done; `+
		`setsid %[2]s -addr {addr} -id new-{port} >/dev/null 2>&1 & echo $! > %[1]s/{port}.pid`, dir, filepath.Join(binDir, "backend"))
	out, err := exec.Command(filepath.Join(binDir, "rollingrestart"), "-admin", "http://"+adminAddr, "-pool", "web",
		"-restart", restart, "-drain-wait", "20s", "-ready-wait", "20s").CombinedOutput()
	if err != nil {
		t.Fatalf("rollingrestart: %v\n%s", err, out)
	}
	time.Sleep(300 * time.Millisecond)
	sent, failed := ld.end()

	// Every backend is a new process now, and all take traffic (the last
	// one once lb's checks have seen it rise, a few intervals at most).
	seen := map[string]bool{}
	for deadline := time.Now().Add(15 * time.Second); len(seen) < 3 && time.Now().Before(deadline); {
		_, body, err := client.GetTimeout(nil, "http://lb/whoami", 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var w whoami
		_ = json.Unmarshal(body, &w)
		seen[w.Instance] = true
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("rolling restart of 3 backends under load: %d requests, %d failed; serving now: %v", sent, failed, seen)
	if failed != 0 {
		t.Fatalf("%d requests failed during the rolling restart", failed)
	}
	for k := range seen {
		if !strings.HasPrefix(k, "new-") {
			t.Fatalf("an old backend still serves after the rolling restart: %v", seen)
		}
	}
	if len(seen) != 3 {
		t.Fatalf("serving instances %v, want the 3 new ones", seen)
	}
}
