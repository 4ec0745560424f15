package main_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// binDir holds lb and backend built once for the tests in this package.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "lb-bin-")
	if err != nil {
		panic(err)
	}
	binDir = dir
	for _, pkg := range []string{"lb", "backend", "scripts/rollingrestart"} {
		out, err := exec.Command("go", "build", "-o", filepath.Join(dir, filepath.Base(pkg)), "lb/"+pkg).CombinedOutput()
		if err != nil {
			os.RemoveAll(dir)
			panic(string(out))
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// TestCheckNamesFileLineAndKey runs `lb -check` on every bad configuration
// in testdata/badconfig and compares its output with the .err file.
func TestCheckNamesFileLineAndKey(t *testing.T) {
	files, _ := filepath.Glob("../testdata/badconfig/*.yaml")
	if len(files) < 10 {
		t.Fatalf("found %d bad configs, want the whole table", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			want, err := os.ReadFile(strings.TrimSuffix(f, ".yaml") + ".err")
			if err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(filepath.Join(binDir, "lb"), "-check", "-config", f)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err = cmd.Run()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 1 {
				t.Fatalf("lb -check exit: %v, want status 1", err)
			}
			if got := strings.TrimSpace(stderr.String()); got != strings.TrimSpace(string(want)) {
				t.Fatalf("lb -check printed\n%s\nwant\n%s", got, want)
			}
		})
	}
}

func TestCheckAcceptsShippedConfigs(t *testing.T) {
	for _, f := range []string{"../config.yaml", "../testdata/good.yaml"} {
		out, err := exec.Command(filepath.Join(binDir, "lb"), "-check", "-config", f).CombinedOutput()
		if err != nil {
			t.Fatalf("lb -check -config %s: %v\n%s", f, err, out)
		}
	}
}

// proc is a child process with its own process group, stopped at cleanup.
type proc struct {
	cmd    *exec.Cmd
	stderr *lineReader
	done   chan struct{} // closed when the process has exited
}

// exitCode waits up to limit for the process to exit and returns its
// status.
func (p *proc) exitCode(t *testing.T, limit time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(limit):
		t.Fatalf("process did not exit within %v", limit)
		return -1
	}
}

func start(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	return startCmd(t, exec.Command(filepath.Join(binDir, name), args...))
}

// startCmd starts cmd in a process group of its own, its standard error
// read by waitFor, killed with its group at cleanup.
func startCmd(t *testing.T, cmd *exec.Cmd) *proc {
	t.Helper()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, stderr: newLineReader(pr), done: make(chan struct{})}
	go func() { _ = cmd.Wait(); pw.Close(); close(p.done) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	})
	return p
}

// lineReader collects a process's output lines for waitFor.
type lineReader struct{ lines chan string }

func newLineReader(r io.Reader) *lineReader {
	lr := &lineReader{lines: make(chan string, 1024)}
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			select {
			case lr.lines <- sc.Text():
			default: // nobody is waiting for this much output
			}
		}
		close(lr.lines)
	}()
	return lr
}

// waitFor returns the first submatch of re in the process's output.
func (p *proc) waitFor(t *testing.T, re *regexp.Regexp) string {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case l, ok := <-p.stderr.lines:
			if !ok {
				t.Fatalf("process exited before printing %s", re)
			}
			if m := re.FindStringSubmatch(l); m != nil {
				return m[1]
			}
		case <-timeout:
			t.Fatalf("timed out waiting for %s", re)
		}
	}
}

var (
	backendAddrRe = regexp.MustCompile(`listening on (\S+)`)
	lbAddrRe      = regexp.MustCompile(`"msg":"listening".*"address":"([^"]+)"`)
)

// startFarm starts n backends and returns their addresses.
func startFarm(t *testing.T, n int) []string {
	var addrs []string
	for i := range n {
		b := start(t, "backend", "-addr", "127.0.0.1:0", "-id", "backend-"+string(rune('1'+i)))
		addrs = append(addrs, b.waitFor(t, backendAddrRe))
	}
	return addrs
}

func writeConfig(t *testing.T, path string, servers []string, extra string) {
	t.Helper()
	var b strings.Builder
	b.WriteString("listeners: [{address: \"127.0.0.1:0\"}]\nlog: {format: json, access: {enabled: false}}\nroutes: [{pool: web}]\npools:\n  web:\n" + extra + "    servers:\n")
	for _, s := range servers {
		b.WriteString("      - address: " + s + "\n")
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

type whoami struct {
	Instance string `json:"instance"`
}

func ask(t *testing.T, url string) (whoami, http.Header) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var w whoami
	if err := json.NewDecoder(resp.Body).Decode(&w); err != nil {
		t.Fatalf("status %d: %v", resp.StatusCode, err)
	}
	return w, resp.Header
}

// TestRunFarmRoundRobinReloadAndStop is `make run` in a test: three
// backends, lb in front, each backend answers in turn; SIGHUP reloads a
// good config and keeps serving on a bad one; SIGTERM stops with status 0.
func TestRunFarmRoundRobinReloadAndStop(t *testing.T) {
	servers := startFarm(t, 3)
	cfg := filepath.Join(t.TempDir(), "lb.yaml")
	writeConfig(t, cfg, servers, "")
	lb := start(t, "lb", "-config", cfg)
	url := "http://" + lb.waitFor(t, lbAddrRe) + "/"

	var seen []string
	for range 6 {
		w, _ := ask(t, url)
		seen = append(seen, w.Instance)
	}
	for i := 3; i < 6; i++ {
		if seen[i] != seen[i-3] || seen[i] == seen[i-1] {
			t.Fatalf("instances %v: want each backend in turn", seen)
		}
	}

	// A good reload: responses gain a header.
	writeConfig(t, cfg, servers, "    response_headers: {set: {X-Reloaded: yes}}\n")
	_ = lb.cmd.Process.Signal(syscall.SIGHUP)
	lb.waitFor(t, regexp.MustCompile(`"msg":"(configuration reloaded)"`))
	if _, h := ask(t, url); h.Get("X-Reloaded") != "yes" {
		t.Fatalf("after reload X-Reloaded = %q, want yes", h.Get("X-Reloaded"))
	}

	// A bad reload changes nothing.
	if err := os.WriteFile(cfg, []byte("listeners: [\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_ = lb.cmd.Process.Signal(syscall.SIGHUP)
	// The log names the file and line of the error.
	lb.waitFor(t, regexp.MustCompile(`"msg":"reload failed.*"error":"[^"]*(lb\.yaml:\d+: [^"]+)"`))
	if _, h := ask(t, url); h.Get("X-Reloaded") != "yes" {
		t.Fatalf("after a bad reload X-Reloaded = %q, want the previous config's yes", h.Get("X-Reloaded"))
	}

	_ = lb.cmd.Process.Signal(syscall.SIGTERM)
	if code := lb.exitCode(t, 20*time.Second); code != 0 {
		t.Fatalf("lb exited with %d after SIGTERM, want 0", code)
	}
}
