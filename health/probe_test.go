package health

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"lb/balancer"
)

// answer returns a handler that answers status with body.
func answer(status int, body string) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		ctx.SetStatusCode(status)
		ctx.SetBodyString(body)
	}
}

// probeOnce runs one probe of the server at addr with cfg.
func probeOnce(t *testing.T, addr string, cfg Config) (bool, string, time.Duration) {
	t.Helper()
	pool, _ := newPool(t, balancer.RoundRobin, addr)
	c := New(pool, cfg, nil)
	start := time.Now()
	ok, reason := c.probe(context.Background(), &c.targets[0])
	return ok, reason, time.Since(start)
}

func TestHTTPProbe(t *testing.T) {
	big := strings.Repeat("x", 1<<20)
	endless := func(ctx *fasthttp.RequestCtx) {
		ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
			chunk := bytes.Repeat([]byte("ready "), 1000)
			for range 10000 { // up to 60 MB, stopped by the probe closing
				if _, err := w.Write(chunk); err != nil {
					return
				}
				if err := w.Flush(); err != nil {
					return
				}
			}
		})
	}
	tests := []struct {
		name       string
		handler    fasthttp.RequestHandler
		cfg        Config
		wantOK     bool
		wantReason string
	}{
		{"200 default", answer(200, "ok"), Config{}, true, "status 200"},
		{"302 default", answer(302, ""), Config{}, true, "status 302"},
		{"503 default", answer(503, "busy"), Config{}, false, "status 503"},
		{"404 default", answer(404, ""), Config{}, false, "status 404"},
		{"204 in range", answer(204, ""), Config{Expect: []StatusRange{{200, 299}}}, true, "status 204"},
		{"404 in second range", answer(404, ""), Config{Expect: []StatusRange{{200, 200}, {400, 404}}}, true, "status 404"},
		{"301 out of range", answer(301, ""), Config{Expect: []StatusRange{{200, 299}}}, false, "status 301"},
		{"body match", answer(200, `{"status":"ready"}`), Config{ExpectBody: []byte("ready")}, true, "status 200"},
		{"body mismatch", answer(200, `{"status":"starting"}`), Config{ExpectBody: []byte("ready")}, false, "body mismatch"},
		{"bad status wins over body", answer(503, "ready"), Config{ExpectBody: []byte("ready")}, false, "status 503"},
		{"empty body mismatch", answer(200, ""), Config{ExpectBody: []byte("ready")}, false, "body mismatch"},
		{"big body, match within limit", answer(200, "ready"+big), Config{ExpectBody: []byte("ready"), MaxBodyBytes: 1024}, true, "status 200"},
		{"big body, match beyond limit", answer(200, big+"ready"), Config{ExpectBody: []byte("ready"), MaxBodyBytes: 1024}, false, "body mismatch"},
		{"big body, default limit", answer(200, big+"ready"), Config{ExpectBody: []byte("ready")}, false, "body mismatch"},
		{"endless chunked body", endless, Config{ExpectBody: []byte("ready"), MaxBodyBytes: 4096}, true, "status 200"},
		{"endless chunked body, no match", endless, Config{ExpectBody: []byte("never"), MaxBodyBytes: 4096}, false, "body mismatch"},
		{"HEAD skips the body", answer(200, "x"), Config{Method: "HEAD", ExpectBody: []byte("x")}, true, "status 200"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.Interval, cfg.Timeout = time.Second, 5*time.Second
			ok, reason, took := probeOnce(t, origin(t, tc.handler), cfg)
			if ok != tc.wantOK || reason != tc.wantReason {
				t.Errorf("probe() = %v, %q, want %v, %q", ok, reason, tc.wantOK, tc.wantReason)
			}
			if took > 3*time.Second {
				t.Errorf("probe took %v: it should not wait for the timeout", took)
			}
		})
	}
}

func TestHTTPProbeRequest(t *testing.T) {
	var method, uri, host, ua, conn string
	addr := origin(t, func(ctx *fasthttp.RequestCtx) {
		h := &ctx.Request.Header
		method, uri, host = string(h.Method()), string(h.RequestURI()), string(h.Host())
		ua, conn = string(h.UserAgent()), string(h.Peek("Connection"))
	})
	for _, tc := range []struct {
		name               string
		cfg                Config
		method, path, host string
	}{
		{"defaults", Config{}, "GET", "/", addr},
		{"configured", Config{Method: "OPTIONS", Path: "/healthz?full=1", Host: "app.example"}, "OPTIONS", "/healthz?full=1", "app.example"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.Interval, cfg.Timeout = time.Second, 5*time.Second
			if ok, reason, _ := probeOnce(t, addr, cfg); !ok {
				t.Fatalf("probe() failed: %s", reason)
			}
			if method != tc.method || uri != tc.path || host != tc.host {
				t.Errorf("request %s %s Host %s, want %s %s Host %s", method, uri, host, tc.method, tc.path, tc.host)
			}
			if ua != "lb-health-check" || conn != "close" {
				t.Errorf("User-Agent %q, Connection %q, want lb-health-check, close", ua, conn)
			}
		})
	}
}

func TestTCPProbeListener(t *testing.T) {
	cfg := Config{Kind: TCP, Interval: time.Second, Timeout: 5 * time.Second}
	if ok, reason, _ := probeOnce(t, hungServer(t), cfg); !ok || reason != "connected" {
		t.Errorf("probe() = %v, %q, want true, \"connected\"", ok, reason)
	}
}

// The probe of a server that accepts and never answers fails by Timeout,
// neither sooner nor much later.
func TestHTTPProbeTimeout(t *testing.T) {
	const timeout = 200 * time.Millisecond
	cfg := Config{Interval: time.Second, Timeout: timeout}
	ok, reason, took := probeOnce(t, hungServer(t), cfg)
	if ok || reason != "timeout" {
		t.Errorf("probe() = %v, %q, want false, \"timeout\"", ok, reason)
	}
	if took < timeout || took > 10*timeout {
		t.Errorf("probe took %v, want about %v", took, timeout)
	}
}

// A server that closes the connection without answering fails the probe
// with a short reason, not a timeout.
func TestHTTPProbeClosed(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
	})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = c.Read(make([]byte, 512))
			_ = c.Close()
		}
	}()
	addr := ln.Addr().String()
	ok, reason, _ := probeOnce(t, addr, Config{Interval: time.Second, Timeout: 5 * time.Second})
	if ok || reason != "read: connection closed" {
		t.Errorf("probe() = %v, %q, want false, \"read: connection closed\"", ok, reason)
	}
}

func TestValidate(t *testing.T) {
	good := Config{Interval: time.Second, Timeout: time.Second}
	for _, tc := range []struct {
		name string
		edit func(*Config)
	}{
		{"no interval", func(c *Config) { c.Interval = 0 }},
		{"no timeout", func(c *Config) { c.Timeout = 0 }},
		{"negative fall", func(c *Config) { c.Fall = -1 }},
		{"negative concurrency", func(c *Config) { c.Concurrency = -1 }},
		{"unknown kind", func(c *Config) { c.Kind = 7 }},
		{"method with space", func(c *Config) { c.Method = "GET /x" }},
		{"path without slash", func(c *Config) { c.Path = "health" }},
		{"path with CRLF", func(c *Config) { c.Path = "/\r\nX: y" }},
		{"host with CRLF", func(c *Config) { c.Host = "a\r\nX: y" }},
		{"inverted range", func(c *Config) { c.Expect = []StatusRange{{300, 200}} }},
		{"range out of bounds", func(c *Config) { c.Expect = []StatusRange{{200, 600}} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := good
			tc.edit(&cfg)
			if err := cfg.Validate(); !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("Validate() = %v, want ErrInvalidConfig", err)
			}
		})
	}
	if err := good.Validate(); err != nil {
		t.Errorf("Validate() of a minimal config = %v, want nil", err)
	}
}
