package proxy_test

import (
	"bufio"
	"bytes"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/valyala/fasthttp"
	"go.uber.org/zap/zapcore"

	"lb/config"
	"lb/logging"
	"lb/logging/accesslog"
	"lb/proxy"
	"lb/snapshot"
)

// lineBuffer collects access log lines.
type lineBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lineBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lineBuffer) lines() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := strings.TrimSuffix(b.buf.String(), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// newCombinedHandler returns a handler logging combined lines to out, with
// a route whose log is off (/quiet/), one sampled 1 in 3 (/s/) and a
// default one.
func newCombinedHandler(tb testing.TB, out zapcore.WriteSyncer) *proxy.Handler {
	tb.Helper()
	o := startOriginTB(tb)
	cfg, err := config.Parse("combined.yaml", []byte(`listeners: [{address: "127.0.0.1:0"}]
routes:
  - {name: quiet, match: {path_prefix: /quiet/}, pool: web, access_log: {enabled: false}}
  - {name: sampled, match: {path_prefix: /s/}, pool: web, access_log: {sample: 3}}
  - {name: web, pool: web}
pools:
  web:
    servers: [{address: "`+o+`"}]
`))
	if err != nil {
		tb.Fatal(err)
	}
	snap, err := snapshot.Build(cfg, nil)
	if err != nil {
		tb.Fatal(err)
	}
	log, err := logging.NewAccessTemplate(accesslog.Combined, out)
	if err != nil {
		tb.Fatal(err)
	}
	return proxy.New(snap, log)
}

func wireRequest(tb testing.TB, path string) *fasthttp.Request {
	tb.Helper()
	req := &fasthttp.Request{}
	req.Header.DisableNormalizing()
	raw := "GET " + path + " HTTP/1.1\r\nHost: shop.example.com\r\nuser-agent: bench/1\r\nReferer: http://shop.example.com/\r\n\r\n"
	if err := req.Read(bufio.NewReader(strings.NewReader(raw))); err != nil {
		tb.Fatal(err)
	}
	return req
}

// TestAccessLogCombinedAndPerRoute checks the combined format's line and
// the routes' policies: off logs nothing, sample 3 logs one in three.
func TestAccessLogCombinedAndPerRoute(t *testing.T) {
	var out lineBuffer
	h := newCombinedHandler(t, zapcore.AddSync(&out))
	var ctx fasthttp.RequestCtx
	ctx.Init(&fasthttp.Request{}, &net.TCPAddr{IP: net.IPv4(10, 1, 2, 3), Port: 40000}, nil)
	for _, tc := range []struct {
		path      string
		n, logged int
	}{{"/quiet/x", 9, 0}, {"/s/x", 9, 3}, {"/", 2, 2}} {
		before := len(out.lines())
		req := wireRequest(t, tc.path)
		for range tc.n {
			serveOnce(h, &ctx, req)
		}
		if got := len(out.lines()) - before; got != tc.logged {
			t.Errorf("%d requests to %s: %d lines, want %d", tc.n, tc.path, got, tc.logged)
		}
	}
	lines := out.lines()
	re := regexp.MustCompile(`^10\.1\.2\.3 - - \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] "GET / HTTP/1\.1" 200 12 "http://shop\.example\.com/" "bench/1"$`)
	if last := lines[len(lines)-1]; !re.MatchString(last) {
		t.Fatalf("combined line %q does not match %s", last, re)
	}
}

// TestProxiedRequestDoesNotAllocateCombined: the combined format keeps
// the hot path's allocation bound.
func TestProxiedRequestDoesNotAllocateCombined(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates; the non-race pass runs this test")
	}
	h := newCombinedHandler(t, zapcore.AddSync(discard))
	req := wireRequest(t, "/")
	var ctx fasthttp.RequestCtx
	ctx.Init(&fasthttp.Request{}, &net.TCPAddr{IP: net.IPv4(10, 1, 2, 3), Port: 40000}, nil)
	for range 100 {
		serveOnce(h, &ctx, req)
	}
	allocs := testing.AllocsPerRun(1000, func() { serveOnce(h, &ctx, req) })
	if allocs > maxAllocs {
		t.Fatalf("a proxied request with a combined access log allocates %.2f times, want at most %d", allocs, maxAllocs)
	}
}
