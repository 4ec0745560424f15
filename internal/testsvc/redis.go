package testsvc

import (
	"bufio"
	"fmt"
	"net"
	"os"
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
	r := &RedisServer{tb: tb, bin: bin, dir: tb.TempDir()}
	tb.Cleanup(r.kill)
	for attempt := 1; ; attempt++ {
		r.port = freePort(tb)
		err := r.start()
		if err == nil {
			return r
		}
		// The port may have been taken between freePort and the bind.
		if attempt == 3 || !strings.Contains(err.Error(), "in use") {
			tb.Fatal(err)
		}
	}
}

// Addr is host:port.
func (r *RedisServer) Addr() string { return addr(r.port) }

// URL is the redis:// URL of database 0.
func (r *RedisServer) URL() string { return "redis://" + r.Addr() + "/0" }

// Start runs the server again on the same port, loading the data a
// previous Stop saved, and waits until PING answers.
func (r *RedisServer) Start() {
	r.tb.Helper()
	if err := r.start(); err != nil {
		r.tb.Fatal(err)
	}
}

func (r *RedisServer) start() error {
	if r.cmd != nil {
		return fmt.Errorf("testsvc: redis already running")
	}
	logf := filepath.Join(r.dir, "redis.log")
	_ = os.Remove(logf)
	cmd := exec.Command(r.bin, "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", r.dir, "--dbfilename", "dump.rdb",
		"--logfile", logf, "--daemonize", "no")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("testsvc: start redis: %v", err)
	}
	r.cmd, r.done = cmd, make(chan struct{})
	go func(done chan struct{}) { _ = cmd.Wait(); close(done) }(r.done)
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := r.command("PING")
		select {
		case <-r.done: // exited: whatever answered is not ours
			r.cmd = nil
			return fmt.Errorf("testsvc: redis exited at start:\n%s", tail(logf, 2000))
		default:
		}
		if err == nil && resp == "+PONG" {
			return nil
		}
		if time.Now().After(deadline) {
			r.kill()
			return fmt.Errorf("testsvc: redis not answering PING on %s:\n%s", r.Addr(), tail(logf, 2000))
		}
		time.Sleep(20 * time.Millisecond)
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
	_ = c.SetDeadline(time.Now().Add(time.Second)) // PING retries; SHUTDOWN needs no reply
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
