package testsvc

import (
	"bufio"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// RedisServer is a redis-server child process on a fixed loopback port.
// Not safe for concurrent Start/Stop; the address methods are.
type RedisServer struct {
	tb   testing.TB
	bin  string
	port int
	dir  string
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// Redis starts redis-server (no persistence but the explicit SAVE of
// Stop) on a free loopback port and stops it when the test ends.
func Redis(tb testing.TB) *RedisServer {
	tb.Helper()
	bin, err := lookPath("redis-server")
	if err != nil {
		need(tb, "redis-server", err)
	}
	r := &RedisServer{tb: tb, bin: bin, port: freePort(tb), dir: tb.TempDir()}
	tb.Cleanup(r.kill)
	r.Start()
	return r
}

// Addr is host:port.
func (r *RedisServer) Addr() string { return addr(r.port) }

// URL is the redis:// URL of database 0.
func (r *RedisServer) URL() string { return "redis://" + r.Addr() + "/0" }

// Start runs the server (again) on the same port, loading the data a
// previous Stop saved, and waits until PING answers.
func (r *RedisServer) Start() {
	r.tb.Helper()
	if r.cmd != nil {
		r.tb.Fatal("testsvc: redis already running")
	}
	logf := filepath.Join(r.dir, "redis.log")
	cmd := exec.Command(r.bin, "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", r.dir, "--dbfilename", "dump.rdb",
		"--logfile", logf, "--daemonize", "no")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		r.tb.Fatalf("testsvc: start redis: %v", err)
	}
	r.cmd, r.done = cmd, make(chan struct{})
	go func(done chan struct{}) { _ = cmd.Wait(); close(done) }(r.done)
	deadline := time.Now().Add(15 * time.Second)
	for {
		if resp, err := r.command("PING"); err == nil && resp == "+PONG" {
			return
		}
		select {
		case <-r.done:
			r.cmd = nil
			r.tb.Fatalf("testsvc: redis exited at start:\n%s", tail(logf, 2000))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			r.kill()
			r.tb.Fatalf("testsvc: redis not answering PING on %s:\n%s", r.Addr(), tail(logf, 2000))
		}
	}
}

// Stop saves the data set to the folder (SHUTDOWN SAVE) and waits for the
// process to exit; the port is then closed until Start.
func (r *RedisServer) Stop() {
	r.tb.Helper()
	if r.cmd == nil {
		return
	}
	_, _ = r.command("SHUTDOWN", "SAVE") // the connection closes without a reply
	select {
	case <-r.done:
	case <-time.After(15 * time.Second):
		r.tb.Error("testsvc: redis did not shut down; killing it")
		r.kill()
		return
	}
	r.cmd = nil
}

// kill ends the process group at once (cleanup and failures).
func (r *RedisServer) kill() {
	if r.cmd == nil {
		return
	}
	_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
	<-r.done
	r.cmd = nil
}

// command sends one inline command and returns the first reply line.
func (r *RedisServer) command(args ...string) (string, error) {
	c, err := net.DialTimeout("tcp", r.Addr(), time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := c.Write([]byte(b.String())); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimRight(line, "\r\n"), err
}
