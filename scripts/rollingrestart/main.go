// Command rollingrestart restarts the servers of one lb pool one at a
// time without losing a request: for each server it drains it through
// lb's admin API and waits until nothing is in flight, runs the restart
// command, waits until the server answers its health path, and enables it
// again before moving on.
//
//	go run ./scripts/rollingrestart -admin http://127.0.0.1:9090 -pool web \
//	    -restart 'systemctl restart backend@{port}'
//
// {addr}, {host} and {port} in the command are replaced by the server's.
// With a token, set LB_ADMIN_TOKEN.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"time"

	"lb/admin"
)

func main() {
	adminURL := flag.String("admin", "http://127.0.0.1:9090", "lb's admin API")
	pool := flag.String("pool", "", "the pool whose servers to restart")
	restart := flag.String("restart", "", "command restarting one server; {addr}, {host}, {port} are replaced")
	health := flag.String("health", "/healthz", "path a restarted server must answer 200 on before it is enabled")
	drainWait := flag.Duration("drain-wait", time.Minute, "longest wait for a server's in-flight requests")
	readyWait := flag.Duration("ready-wait", time.Minute, "longest wait for a restarted server to be healthy")
	flag.Parse()
	if *pool == "" || *restart == "" {
		fmt.Fprintln(os.Stderr, "rollingrestart: -pool and -restart are required")
		os.Exit(2)
	}
	r := &roller{admin: strings.TrimRight(*adminURL, "/"), token: os.Getenv("LB_ADMIN_TOKEN"), client: &http.Client{Timeout: *drainWait + 10*time.Second}}
	if err := r.run(*pool, *restart, *health, *drainWait, *readyWait); err != nil {
		fmt.Fprintln(os.Stderr, "rollingrestart:", err)
		os.Exit(1)
	}
}

type roller struct {
	admin, token string
	client       *http.Client
}

func (r *roller) run(pool, restart, health string, drainWait, readyWait time.Duration) error {
	servers, err := r.servers(pool)
	if err != nil {
		return err
	}
	for _, addr := range servers {
		fmt.Printf("%s: draining\n", addr)
		var res struct {
			Drained  *bool  `json:"drained"`
			InFlight *int64 `json:"in_flight"`
		}
		if err := r.post(fmt.Sprintf("/api/servers/%s/%s/drain?wait=%s", pool, addr, drainWait), &res); err != nil {
			return err
		}
		if res.Drained == nil || !*res.Drained {
			return fmt.Errorf("%s: still has requests in flight after %v; stopping here (it stays drained)", addr, drainWait)
		}
		host, port, _ := net.SplitHostPort(addr)
		cmd := strings.NewReplacer("{addr}", addr, "{host}", host, "{port}", port).Replace(restart)
		fmt.Printf("%s: drained; restarting: %s\n", addr, cmd)
		if out, err := exec.Command("sh", "-c", cmd).CombinedOutput(); err != nil {
			return fmt.Errorf("%s: restart: %v\n%s", addr, err, out)
		}
		if err := waitHealthy("http://"+addr+health, readyWait); err != nil {
			return fmt.Errorf("%s: %w (it stays drained)", addr, err)
		}
		if err := r.post(fmt.Sprintf("/api/servers/%s/%s/enable", pool, addr), nil); err != nil {
			return err
		}
		fmt.Printf("%s: healthy and enabled\n", addr)
	}
	return nil
}

// servers lists the pool's server addresses from /api/status.
func (r *roller) servers(pool string) ([]string, error) {
	var st admin.Status
	if err := r.do(http.MethodGet, "/api/status", &st); err != nil {
		return nil, err
	}
	for _, p := range st.Pools {
		if p.Name == pool {
			var addrs []string
			for _, s := range p.Servers {
				addrs = append(addrs, s.Address)
			}
			return addrs, nil
		}
	}
	return nil, fmt.Errorf("no pool %q in lb's status", pool)
}

func (r *roller) post(path string, out any) error { return r.do(http.MethodPost, path, out) }

func (r *roller) do(method, path string, out any) error {
	req, err := http.NewRequest(method, r.admin+path, nil)
	if err != nil {
		return err
	}
	if r.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %s %s", method, path, resp.Status, body)
	}
	if out != nil {
		return json.Unmarshal(body, out)
	}
	return nil
}

// waitHealthy polls url until it answers 200 or limit passes.
func waitHealthy(url string, limit time.Duration) error {
	c := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if resp, err := c.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("not healthy at %s after %v", url, limit)
}
