package proxy_test

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
	"go.uber.org/zap/zapcore"

	"lb/config"
	"lb/logging"
	"lb/proxy"
	"lb/snapshot"
)

// newBenchHandler returns a handler with the default access log on (JSON
// to a discarding writer) in front of one origin, and a request template.
func newBenchHandler(tb testing.TB, policy string) (*proxy.Handler, *fasthttp.Request) {
	tb.Helper()
	o := startOriginTB(tb)
	yaml := `listeners: [{address: "127.0.0.1:0"}]
trusted_proxies: [10.0.0.0/8]
routes:
  - {name: api, match: {host: "*.example.com", path_prefix: /api/, methods: [GET, POST]}, pool: api}
  - {name: web, pool: web}
pools:
  api:
    policy: ` + policy + `
    servers: [{address: "` + o + `"}]
  web:
    policy: ` + policy + `
    request_headers: {set: {X-Env: prod}}
    response_headers: {remove: [X-Powered-By]}
    servers: [{address: "` + o + `"}]
`
	if policy == "hash" {
		yaml = strings.ReplaceAll(yaml, "policy: hash", "policy: hash\n    hash_key: header:X-User")
	}
	cfg, err := config.Parse("bench.yaml", []byte(yaml))
	if err != nil {
		tb.Fatal(err)
	}
	snap, err := snapshot.Build(cfg, nil)
	if err != nil {
		tb.Fatal(err)
	}
	h := proxy.New(snap, logging.NewAccess(zapcore.AddSync(io.Discard)))
	// Parsed from the wire, as the server does: lb reads headers as
	// received.
	req := &fasthttp.Request{}
	req.Header.DisableNormalizing()
	raw := "GET /api/items?limit=10 HTTP/1.1\r\nHost: shop.example.com\r\nUser-Agent: bench\r\n" +
		"Accept: application/json\r\nX-User: u-42\r\nCookie: sid=abc; theme=\"dark\"\r\n" +
		"X-Forwarded-For: 203.0.113.9\r\nConnection: keep-alive\r\n\r\n"
	if err := req.Read(bufio.NewReader(strings.NewReader(raw))); err != nil {
		tb.Fatal(err)
	}
	return h, req
}

// startOriginTB starts a minimal fasthttp origin on loopback.
func startOriginTB(tb testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	body := []byte(`{"items":[]}`)
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.Set("X-Powered-By", "go")
		ctx.SetContentType("application/json")
		ctx.SetBody(body)
	}}
	go srv.Serve(ln) //nolint:errcheck
	tb.Cleanup(func() { _ = srv.Shutdown() })
	return ln.Addr().String()
}

// discard is where serveOnce writes responses, as the server would to
// the client.
var discard = bufio.NewWriterSize(io.Discard, 64<<10)

// serveOnce runs one request through h in ctx, starting from tmpl, and
// writes the response out as fasthttp's server does (a streamed body is
// relayed, then closed).
func serveOnce(h *proxy.Handler, ctx *fasthttp.RequestCtx, tmpl *fasthttp.Request) {
	tmpl.CopyTo(&ctx.Request)
	ctx.Response.Reset()
	h.Serve(ctx)
	_ = ctx.Response.Write(discard)
	ctx.Response.Reset()
}

// maxAllocs is what one proxied request may allocate: nothing. (Through
// HostClient.Do, fasthttp's client allocated its response-body stream
// and three closures per streamed answer; lb's exchange reads the answer
// itself.)
const maxAllocs = 0

// TestProxiedRequestDoesNotAllocate pins the hot-path rule: in the steady
// state a proxied request, with the access log on, allocates nothing of
// lb's own.
func TestProxiedRequestDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates; the non-race pass runs this test")
	}
	for _, policy := range []string{"round_robin", "weighted_round_robin", "least_conn", "random_two", "hash"} {
		t.Run(policy, func(t *testing.T) {
			h, tmpl := newBenchHandler(t, policy)
			var ctx fasthttp.RequestCtx
			ctx.Init(&fasthttp.Request{}, &net.TCPAddr{IP: net.IPv4(10, 1, 2, 3), Port: 40000}, nil)
			for range 100 { // warm pools and connections
				serveOnce(h, &ctx, tmpl)
			}
			if ctx.Response.StatusCode() != 200 {
				t.Fatalf("status %d, body %q", ctx.Response.StatusCode(), ctx.Response.Body())
			}
			allocs := testing.AllocsPerRun(1000, func() { serveOnce(h, &ctx, tmpl) })
			if allocs > maxAllocs {
				t.Fatalf("a proxied request allocates %.2f times, want at most %d", allocs, maxAllocs)
			}
		})
	}
}

// BenchmarkProxyRequest measures one request through the handler to a
// real loopback origin, access log on.
func BenchmarkProxyRequest(b *testing.B) {
	h, tmpl := newBenchHandler(b, "round_robin")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		var ctx fasthttp.RequestCtx
		ctx.Init(&fasthttp.Request{}, &net.TCPAddr{IP: net.IPv4(10, 1, 2, 3), Port: 40000}, nil)
		for pb.Next() {
			serveOnce(h, &ctx, tmpl)
		}
	})
}
