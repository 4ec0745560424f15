package main_test

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"lb/internal/loopback"
)

var adminAddrRe = regexp.MustCompile(`"msg":"admin listening".*"address":"([^"]+)"`)

// scrape fetches /metrics from the admin listener and parses it with
// Prometheus' own text parser.
func scrape(t *testing.T, admin string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET /metrics: %d %s", resp.StatusCode, b)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return mfs
}

// metricValue returns the value of the series of family name whose labels
// include want ("k=v" pairs), failing unless exactly one matches.
func metricValue(t *testing.T, mfs map[string]*dto.MetricFamily, name string, want ...string) float64 {
	t.Helper()
	mf := mfs[name]
	if mf == nil {
		t.Fatalf("no metric %s", name)
	}
	var found []*dto.Metric
	for _, m := range mf.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		ok := true
		for _, kv := range want {
			k, v, _ := strings.Cut(kv, "=")
			if have[k] != v {
				ok = false
			}
		}
		if ok {
			found = append(found, m)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%s%v: %d series match, want 1", name, want, len(found))
	}
	m := found[0]
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	}
	t.Fatalf("%s: unexpected type", name)
	return 0
}

// TestMetricsCountKnownTraffic sends a known number of requests to a pool
// of three backends and to a pool whose only server refuses connections,
// reloads once, and checks every count /metrics reports, parsed with
// Prometheus' text parser.
func TestMetricsCountKnownTraffic(t *testing.T) {
	const n, m = 30, 7
	servers := startFarm(t, 3)
	refusing := loopback.Refusing(t)
	cfg := filepath.Join(t.TempDir(), "lb.yaml")
	var b strings.Builder
	b.WriteString(`listeners: [{address: "127.0.0.1:0"}]
log: {format: json, access: {enabled: false}}
admin: {address: "127.0.0.1:0"}
routes:
  - {name: dead, match: {path_prefix: /dead/}, pool: dead}
  - {name: web, pool: web}
pools:
  dead:
    passive: {max_fails: 0}
    servers: [{address: "` + refusing + `"}]
  web:
    servers:
`)
	for _, s := range servers {
		fmt.Fprintf(&b, "      - address: %s\n", s)
	}
	if err := os.WriteFile(cfg, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	lb := start(t, "lb", "-config", cfg)
	addr := lb.waitFor(t, lbAddrRe)
	admin := lb.waitFor(t, adminAddrRe)

	get := func(path string) int {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	for range n {
		if code := get("/"); code != 200 {
			t.Fatalf("GET / = %d, want 200", code)
		}
	}
	for range m {
		if code := get("/dead/x"); code != 502 {
			t.Fatalf("GET /dead/x = %d, want 502", code)
		}
	}
	// Counters survive a reload that keeps the pools and servers.
	_ = lb.cmd.Process.Signal(syscall.SIGHUP)
	lb.waitFor(t, regexp.MustCompile(`"msg":"(configuration reloaded)"`))

	mfs := scrape(t, admin)
	checks := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"lb_requests_total", []string{"route=web", "pool=web", "class=2xx"}, n},
		{"lb_requests_total", []string{"route=web", "class=5xx"}, 0},
		{"lb_requests_total", []string{"route=dead", "pool=dead", "class=5xx"}, m},
		{"lb_request_duration_seconds", []string{"pool=web"}, n},
		{"lb_upstream_duration_seconds", []string{"pool=web"}, n},
		{"lb_request_duration_seconds", []string{"pool=dead"}, m},
		{"lb_errors_total", []string{"pool=dead", "cause=connect_failed", "code=502"}, m},
		{"lb_errors_total", []string{"pool=web", "cause=connect_failed"}, 0},
		{"lb_retries_total", []string{"pool=dead"}, 0},
		{"lb_request_bytes_total", []string{"pool=web"}, 0},
		{"lb_server_responses_total", []string{"pool=dead", "server=" + refusing, "class=error"}, m},
		{"lb_server_latency_seconds", []string{"pool=dead", "server=" + refusing}, m},
		{"lb_server_in_flight", []string{"pool=dead", "server=" + refusing}, 0},
		{"lb_pool_queued", []string{"pool=web"}, 0},
		{"lb_tunnels_open", nil, 0},
		{"lb_config_reloads_total", []string{"result=success"}, 1},
		{"lb_config_reloads_total", []string{"result=failure"}, 0},
	}
	for _, s := range servers {
		checks = append(checks,
			struct {
				name   string
				labels []string
				want   float64
			}{"lb_server_responses_total", []string{"pool=web", "server=" + s, "class=2xx"}, n / 3},
			struct {
				name   string
				labels []string
				want   float64
			}{"lb_server_state", []string{"pool=web", "server=" + s, "state=up"}, 1},
		)
	}
	for _, c := range checks {
		if got := metricValue(t, mfs, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if got := metricValue(t, mfs, "lb_config_last_reload_success_timestamp_seconds"); got <= 0 {
		t.Errorf("lb_config_last_reload_success_timestamp_seconds = %v, want a time", got)
	}
	if got := metricValue(t, mfs, "lb_response_bytes_total", "pool=web"); got <= 0 {
		t.Errorf("lb_response_bytes_total{pool=web} = %v, want the bodies' bytes", got)
	}
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes"} {
		if mfs[name] == nil {
			t.Errorf("no %s: Go and process collectors missing", name)
		}
	}
}
