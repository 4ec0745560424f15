package admin_test

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/valyala/fasthttp"

	"lb/internal/loopback"
	"lb/process"
)

// scrapeMetrics reads /metrics (no token configured) and parses it with
// Prometheus' text parser.
func scrapeMetrics(t *testing.T, admin string) map[string]*dto.MetricFamily {
	t.Helper()
	code, body, err := fasthttp.GetTimeout(nil, "http://"+admin+"/metrics", 5*time.Second)
	if err != nil || code != 200 {
		t.Fatalf("GET /metrics: %d %v", code, err)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return mfs
}

// value returns the value of name's series whose labels include want.
func value(mfs map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	for _, m := range mfs[name].GetMetric() {
		match := 0
		for _, l := range m.GetLabel() {
			if v, ok := want[l.GetName()]; ok && v == l.GetValue() {
				match++
			}
		}
		if match == len(want) {
			if m.Counter != nil {
				return m.Counter.GetValue(), true
			}
			return m.Gauge.GetValue(), true
		}
	}
	return 0, false
}

// TestMetricsHealthChecks: the check results, the verdict, its transitions
// and the last check of a server that refuses connections and of one that
// answers.
func TestMetricsHealthChecks(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) { ctx.WriteString("ok") }}
	go srv.Serve(ln) //nolint:errcheck
	t.Cleanup(func() { _ = srv.Shutdown() })
	good, dead := ln.Addr().String(), loopback.Refusing(t)

	// Generous probes (up to 500ms each): a slow probe in a -race binary
	// on a loaded machine must not count as a failed check of good. The
	// loop below waits for the checks it needs.
	path := filepath.Join(t.TempDir(), "lb.yaml")
	cfg := `listeners: [{address: "127.0.0.1:0"}]
log: {level: error, access: {enabled: false}}
admin: {address: "127.0.0.1:0"}
routes: [{pool: web}]
pools:
  web:
    health_check: {interval: 500ms, timeout: 500ms, fall: 2}
    servers: [{address: "` + good + `"}, {address: "` + dead + `"}]
`
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := process.Start(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = p.Shutdown(ctx)
	})
	admin := p.AdminAddr().String()
	l := func(server string, kv ...string) map[string]string {
		m := map[string]string{"pool": "web", "server": server}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mfs := scrapeMetrics(t, admin)
		passed, _ := value(mfs, "lb_server_checks_total", l(good, "result", "passed"))
		failed, _ := value(mfs, "lb_server_checks_total", l(dead, "result", "failed"))
		healthy, _ := value(mfs, "lb_server_healthy", l(dead))
		if passed >= 3 && failed >= 3 && healthy == 0 {
			checks := []struct {
				name   string
				labels map[string]string
				want   float64
			}{
				{"lb_server_checks_total", l(good, "result", "failed"), 0},
				{"lb_server_checks_total", l(dead, "result", "passed"), 0},
				{"lb_server_health_transitions_total", l(dead), 1},
				{"lb_server_health_transitions_total", l(good), 0},
				{"lb_server_healthy", l(good), 1},
				{"lb_server_last_check_ok", l(good), 1},
				{"lb_server_last_check_ok", l(dead), 0},
			}
			for _, c := range checks {
				if got, ok := value(mfs, c.name, c.labels); !ok || got != c.want {
					t.Errorf("%s%v = %v (found %v), want %v", c.name, c.labels, got, ok, c.want)
				}
			}
			if at, _ := value(mfs, "lb_server_last_check_timestamp_seconds", l(dead)); time.Since(time.Unix(int64(at), 0)) > time.Minute {
				t.Errorf("last check at %v, want within the last minute", at)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 10 s: checks passed %v (good), failed %v (dead), dead healthy %v", passed, failed, healthy)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
