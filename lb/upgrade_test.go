package main_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
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

// TestUpgradesUnderLoad: three binary upgrades through `lb -s upgrade`,
// each to a freshly installed executable, while clients that never retry
// keep sending on keep-alive connections: not one request fails or sees
// a reset, an idle keep-alive connection opened before the first upgrade
// still works after the last, the PID file names the newest process,
// which runs the new executable, and every old process exits.
func TestUpgradesUnderLoad(t *testing.T) {
	servers := startFarm(t, 2)
	dir := t.TempDir()
	cfgPath, pidPath := filepath.Join(dir, "lb.yaml"), filepath.Join(dir, "lb.pid")
	writeConfig(t, cfgPath, servers, "")
	exe := installLB(t, "lb-upgraded")
	lb := start(t, filepath.Base(exe), "-config", cfgPath, "-pid", pidPath)
	addr := lb.waitFor(t, lbAddrRe)
	pid := waitNewPID(t, pidPath, 0)

	idle := dialKeepAlive(t, addr)
	if err := idle.get(); err != nil {
		t.Fatal(err)
	}
	ld := startLoad(t, addr, 8)
	ld.waitSent(500)
	for i := range 3 {
		// A request whose body is half sent when the upgrade begins: it
		// must be answered by the old process, not split between two.
		half := dialKeepAlive(t, addr)
		half.c.SetDeadline(time.Now().Add(30 * time.Second))
		if _, err := io.WriteString(half.c, "POST /whoami HTTP/1.1\r\nHost: lb\r\nContent-Length: 10\r\n\r\nhello"); err != nil {
			t.Fatal(err)
		}
		installLB(t, "lb-upgraded") // a new executable in place, as a deploy does
		if out, err := exec.Command(filepath.Join(binDir, "lb"), "-s", "upgrade", "-pid", pidPath).CombinedOutput(); err != nil {
			t.Fatalf("lb -s upgrade: %v %s", err, out)
		}
		next := waitNewPID(t, pidPath, pid)
		time.Sleep(100 * time.Millisecond) // the old process is handing over
		if _, err := io.WriteString(half.c, "world"); err != nil {
			t.Fatalf("upgrade %d: finishing a request body: %v", i+1, err)
		}
		var resp fasthttp.Response
		if err := resp.Read(half.r); err != nil || resp.StatusCode() != 200 {
			t.Fatalf("upgrade %d: request with its body split across the upgrade: %v, status %d", i+1, err, resp.StatusCode())
		}
		if err := half.get(); err != nil {
			t.Fatalf("upgrade %d: the same connection afterwards: %v", i+1, err)
		}
		waitExited(t, pid, 20*time.Second)
		if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", next)); err != nil || strings.HasSuffix(exe, "(deleted)") {
			t.Fatalf("upgrade %d: new process runs %q (%v), want the newly installed executable", i+1, exe, err)
		}
		pid = next
		sent := ld.sent.Load()
		ld.waitSent(sent + 500)
		if err := idle.get(); err != nil {
			t.Fatalf("upgrade %d: idle keep-alive connection: %v", i+1, err)
		}
	}
	sent, failed := ld.end()
	t.Logf("3 upgrades under load: %d requests, %d failed", sent, failed)
	if failed != 0 {
		t.Fatalf("%d requests failed across upgrades", failed)
	}
	if got := readPIDFile(t, pidPath); got != pid {
		t.Fatalf("PID file names %d, want the newest process %d", got, pid)
	}
}

// TestFailedUpgradeKeepsServing: a new process that cannot load its
// configuration exits, the old one says why and goes on serving with the
// same PID.
func TestFailedUpgradeKeepsServing(t *testing.T) {
	servers := startFarm(t, 1)
	dir := t.TempDir()
	cfgPath, pidPath := filepath.Join(dir, "lb.yaml"), filepath.Join(dir, "lb.pid")
	writeConfig(t, cfgPath, servers, "")
	lb := start(t, "lb", "-config", cfgPath, "-pid", pidPath)
	addr := lb.waitFor(t, lbAddrRe)
	pid := waitNewPID(t, pidPath, 0)
	conn := dialKeepAlive(t, addr)

	if err := os.WriteFile(cfgPath, []byte("listeners: [{address: \"127.0.0.1:0\"}]\nroutes: [{pool: nowhere}]\npools: {web: {servers: [{address: \""+servers[0]+"\"}]}}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	reason := lb.waitFor(t, regexp.MustCompile(`"msg":"upgrade failed, still serving".*"error":"([^"]+)"`))
	if !strings.Contains(reason, "lb.yaml:2") {
		t.Fatalf("upgrade failure says %q; want the configuration error with its line", reason)
	}
	if got := readPIDFile(t, pidPath); got != pid {
		t.Fatalf("PID file names %d after a failed upgrade, want %d", got, pid)
	}
	for _, c := range []*keepAlive{conn, dialKeepAlive(t, addr)} {
		if err := c.get(); err != nil {
			t.Fatalf("after a failed upgrade: %v", err)
		}
	}
}

// installLB copies the built lb to binDir/name through a rename, so that a
// running process's executable is replaced, not rewritten.
func installLB(t *testing.T, name string) string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(binDir, "lb"))
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(binDir, name)
	tmp := dst + ".new"
	if err := os.WriteFile(tmp, src, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		t.Fatal(err)
	}
	return dst
}

func readPIDFile(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("pid file %s: %q", path, b)
	}
	return pid
}

// waitNewPID waits until the PID file names a process other than old.
func waitNewPID(t *testing.T, path string, old int) int {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(path); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid != old {
				return pid
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("PID file still names %d after 30s", old)
	return 0
}

// waitExited waits until pid has exited (or is a zombie nobody reaped).
func waitExited(t *testing.T, pid int, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return
		}
		if i := strings.LastIndexByte(string(stat), ')'); i > 0 && len(stat) > i+2 && stat[i+2] == 'Z' {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("old process %d still running after %v", pid, limit)
}

// keepAlive is one client connection kept open between requests.
type keepAlive struct {
	c net.Conn
	r *bufio.Reader
}

func dialKeepAlive(t *testing.T, addr string) *keepAlive {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &keepAlive{c: c, r: bufio.NewReader(c)}
}

// get sends GET /whoami and reads a 200 answer.
func (k *keepAlive) get() error {
	k.c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(k.c, "GET /whoami HTTP/1.1\r\nHost: lb\r\n\r\n"); err != nil {
		return err
	}
	var resp fasthttp.Response
	if err := resp.Read(k.r); err != nil {
		return err
	}
	if resp.StatusCode() != 200 || resp.ConnectionClose() {
		return fmt.Errorf("status %d, connection close %v", resp.StatusCode(), resp.ConnectionClose())
	}
	return nil
}
