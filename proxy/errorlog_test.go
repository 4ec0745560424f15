package proxy_test

import (
	"bufio"
	"encoding/json"
	"net"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
	"go.uber.org/zap/zapcore"

	"lb/config"
	"lb/internal/loopback"
	"lb/logging"
	"lb/proxy"
	"lb/snapshot"
)

// TestErrorLogNamesRequestAndServer: lb's own 502 and the passive
// ejection it causes are error log lines that carry the request ID and
// the server, so that a client's complaint leads to the cause.
func TestErrorLogNamesRequestAndServer(t *testing.T) {
	// Two servers, one attempt: the one tried is taken out (the other
	// could still serve; the last one never is) and lb answers 502.
	dead, other := loopback.Refusing(t), loopback.Refusing(t)
	cfg, err := config.Parse("errlog.yaml", []byte(`listeners: [{address: "127.0.0.1:0"}]
routes: [{name: web, pool: web}]
pools:
  web:
    policy: round_robin
    passive: {max_fails: 1, fail_timeout: 10s}
    retries: {attempts: 1}
    servers: [{address: "`+dead+`"}, {address: "`+other+`"}]
`))
	if err != nil {
		t.Fatal(err)
	}
	snap, err := snapshot.Build(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out lineBuffer
	h := proxy.New(snap, nil)
	h.SetErrorLog(logging.NewAccess(zapcore.AddSync(&out)))

	req := &fasthttp.Request{}
	raw := "GET /x HTTP/1.1\r\nHost: shop.example.com\r\nX-Request-ID: req-42\r\n\r\n"
	if err := req.Read(bufio.NewReader(strings.NewReader(raw))); err != nil {
		t.Fatal(err)
	}
	var ctx fasthttp.RequestCtx
	ctx.Init(&fasthttp.Request{}, &net.TCPAddr{IP: net.IPv4(10, 1, 2, 3), Port: 40000}, nil)
	req.CopyTo(&ctx.Request)
	h.Serve(&ctx)
	if code := ctx.Response.StatusCode(); code != 502 {
		t.Fatalf("status %d, want 502", code)
	}
	for _, l := range out.lines() {
		if strings.Contains(l, `"passive: server ejected"`) && strings.Contains(l, `"`+other+`"`) {
			dead = other // round robin began with the second server
		}
	}

	want := map[string]map[string]any{
		"passive: server ejected": {"pool": "web", "server": dead, "outcome": "connect failed", "request_id": "req-42"},
		"request refused": {"status": 502.0, "reason": "connect failed", "route": "web", "pool": "web",
			"server": dead, "request_id": "req-42", "client": "10.1.2.3"},
	}
	seen := map[string]bool{}
	for _, l := range out.lines() {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		msg, _ := m["msg"].(string)
		fields, ok := want[msg]
		if !ok {
			continue
		}
		seen[msg] = true
		if m["level"] != "warn" {
			t.Errorf("%q at level %v, want warn", msg, m["level"])
		}
		for k, v := range fields {
			if m[k] != v {
				t.Errorf("%q: %s = %v, want %v", msg, k, m[k], v)
			}
		}
	}
	for msg := range want {
		if !seen[msg] {
			t.Errorf("no %q line in the error log:\n%s", msg, strings.Join(out.lines(), "\n"))
		}
	}
}
