package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// target is one thing the client sends to: a proxy, or an origin
// directly (the baseline).
type target struct {
	name string
	url  string
	pids func() []int // processes whose CPU and memory count
	stop func()
}

// gzipLevel is the gzip level of all three proxies. HAProxy's Debian build
// compresses with libslz, which has one level, comparable in ratio to
// zlib's level 1; Nginx and lb use level 1 to match it.
const gzipLevel = 1

// brotliLevel is lb's brotli level in the brotli run (lb alone has it).
const brotliLevel = 4

// maxConns is the client connections each proxy is set to hold: enough
// for the idle-connection run, within the descriptor limit.
var maxConns = 10500

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// startProc starts a command pinned to cpu in its own process group.
func startProc(cpu string, env []string, logPath string, name string, args ...string) (*exec.Cmd, error) {
	cmd := exec.Command("taskset", append([]string{"-c", cpu, name}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Env = append(os.Environ(), env...)
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, err
	}
	go func() { _ = cmd.Wait(); f.Close() }()
	started.Lock()
	started.cmds = append(started.cmds, cmd)
	started.Unlock()
	return cmd, nil
}

// started lists every process group startProc began, for stopStarted.
var started struct {
	sync.Mutex
	cmds []*exec.Cmd
}

// stopStarted kills every process group startProc began: on the way out,
// whichever way that is, nothing the bench started keeps running.
func stopStarted() {
	started.Lock()
	defer started.Unlock()
	for _, c := range started.cmds {
		_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
	}
	started.cmds = nil
}

func killGroup(cmd *exec.Cmd) {
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	time.Sleep(100 * time.Millisecond)
}

// waitListening waits until addr accepts connections.
func waitListening(addr string) error {
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s not listening after 15s", addr)
}

// startOrigins starts n origins on the client CPU.
func startOrigins(dir, cpu, exe string, n int) ([]string, func(), error) {
	var addrs []string
	var cmds []*exec.Cmd
	stop := func() {
		for _, c := range cmds {
			killGroup(c)
		}
	}
	for i := range n {
		port, err := freePort()
		if err != nil {
			stop()
			return nil, nil, err
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		cmd, err := startProc(cpu, []string{"GOMAXPROCS=1"}, filepath.Join(dir, fmt.Sprintf("origin%d.log", i)), exe, "-addr", addr)
		if err != nil {
			stop()
			return nil, nil, err
		}
		cmds = append(cmds, cmd)
		if err := waitListening(addr); err != nil {
			stop()
			return nil, nil, err
		}
		addrs = append(addrs, addr)
	}
	return addrs, stop, nil
}

func startNginx(dir, cpu string, origins []string) (*target, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	var ups strings.Builder
	for _, o := range origins {
		fmt.Fprintf(&ups, "    server %s;\n", o)
	}
	conf := fmt.Sprintf(`worker_processes 1;
worker_rlimit_nofile %[5]d;
daemon off;
pid %[1]s/nginx.pid;
error_log %[1]s/nginx-error.log warn;
events { worker_connections %[6]d; }
http {
  access_log off;
  keepalive_timeout 75s;
  keepalive_requests 1000000;
  client_body_temp_path %[1]s/nginx-body;
  proxy_temp_path %[1]s/nginx-proxy;
  gzip on;
  gzip_comp_level %[2]d;
  gzip_min_length 256;
  gzip_proxied any;
  gzip_types application/json;
  upstream origins {
%[3]s    keepalive 64;
  }
  server {
    # Accept at the first bytes, as lb's listeners do: the same work.
    listen 127.0.0.1:%[4]d deferred;
    location / {
      proxy_pass http://origins;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      # The forwarding fields lb sends by default: the same work.
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Real-IP $remote_addr;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Host $host;
      proxy_set_header X-Request-ID $request_id;
      proxy_buffering on;
    }
  }
}
`, dir, gzipLevel, ups.String(), port, 2*maxConns+100, maxConns+100)
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	cmd, err := startProc(cpu, nil, filepath.Join(dir, "nginx.log"), "nginx", "-c", path, "-p", dir)
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if err := waitListening(addr); err != nil {
		killGroup(cmd)
		return nil, fmt.Errorf("nginx: %w (see %s/nginx-error.log)", err, dir)
	}
	master := cmd.Process.Pid
	return &target{name: "nginx", url: "http://" + addr,
		pids: func() []int { return children(master) }, // taskset execs nginx: master and its worker
		stop: func() { killGroup(cmd) }}, nil
}

func startHAProxy(dir, cpu string, origins []string) (*target, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	var servers strings.Builder
	for i, o := range origins {
		fmt.Fprintf(&servers, "  server o%d %s check inter 2s\n", i, o)
	}
	conf := fmt.Sprintf(`global
  nbthread 1
  maxconn %d
defaults
  mode http
  option http-keep-alive
  option forwardfor
  http-reuse always
  timeout connect 5s
  timeout client 75s
  timeout server 30s
  timeout http-keep-alive 75s
frontend fe
  # Accept at the first bytes, as lb's listeners do: the same work.
  bind 127.0.0.1:%d defer-accept
  # The forwarding fields lb sends by default: the same work.
  unique-id-format %%[uuid()]
  unique-id-header X-Request-ID
  http-request set-header X-Real-IP %%[src]
  http-request set-header X-Forwarded-Proto http
  http-request set-header X-Forwarded-Host %%[req.hdr(host)]
  default_backend be
backend be
  balance roundrobin
  option httpchk GET /healthz
  compression algo gzip
  compression type application/json
%s`, maxConns, port, servers.String())
	path := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	cmd, err := startProc(cpu, nil, filepath.Join(dir, "haproxy.log"), "haproxy", "-db", "-f", path)
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if err := waitListening(addr); err != nil {
		killGroup(cmd)
		return nil, fmt.Errorf("haproxy: %w (see %s/haproxy.log)", err, dir)
	}
	pid := cmd.Process.Pid
	return &target{name: "haproxy", url: "http://" + addr,
		pids: func() []int { return children(pid) },
		stop: func() { killGroup(cmd) }}, nil
}

func startLB(dir, cpu, exe string, origins []string) (*target, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	adminPort, err := freePort()
	if err != nil {
		return nil, err
	}
	var servers strings.Builder
	for _, o := range origins {
		fmt.Fprintf(&servers, "      - address: %s\n", o)
	}
	conf := fmt.Sprintf(`listeners:
  - address: "127.0.0.1:%d"
    idle_timeout: 75s
log:
  level: warn
  format: json
  access: {enabled: false}
admin: {address: "127.0.0.1:%d"}   # metrics on, scraped by nobody
compression:
  algorithms: [br, gzip]
  levels: {br: %d, gzip: %d}
  min_length: 256
routes: [{pool: origins}]
pools:
  origins:
    policy: round_robin
    health_check: {path: /healthz, interval: 2s}
    servers:
%s`, port, adminPort, brotliLevel, gzipLevel, servers.String())
	path := filepath.Join(dir, "lb.yaml")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	cmd, err := startProc(cpu, []string{"GOMAXPROCS=1"}, filepath.Join(dir, "lb.log"), exe, "-config", path)
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if err := waitListening(addr); err != nil {
		killGroup(cmd)
		return nil, fmt.Errorf("lb: %w (see %s/lb.log)", err, dir)
	}
	pid := cmd.Process.Pid
	return &target{name: "lb", url: "http://" + addr,
		pids: func() []int { return []int{pid} },
		stop: func() { killGroup(cmd) }}, nil
}

// startReference starts one of the reference programs that take -addr
// and -origins: bench/bare (the featureless fasthttp proxy, target
// "fasthttp") or bench/floor (the Go floor, a byte relay, target
// "floor"). exe is named for the program.
func startReference(dir, cpu, exe, name string, origins []string) (*target, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	prog := filepath.Base(exe)
	cmd, err := startProc(cpu, []string{"GOMAXPROCS=1"}, filepath.Join(dir, prog+".log"), exe, "-addr", addr, "-origins", strings.Join(origins, ","))
	if err != nil {
		return nil, err
	}
	if err := waitListening(addr); err != nil {
		killGroup(cmd)
		return nil, fmt.Errorf("%s: %w", prog, err)
	}
	pid := cmd.Process.Pid
	return &target{name: name, url: "http://" + addr,
		pids: func() []int { return []int{pid} },
		stop: func() { killGroup(cmd) }}, nil
}

// version returns the first line a command prints about its version.
func version(name string, args ...string) string {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil && len(out) == 0 {
		return "unknown"
	}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	if sc.Scan() {
		return strings.TrimSpace(sc.Text())
	}
	return "unknown"
}
