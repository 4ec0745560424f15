package accesslog_test

import (
	"errors"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"lb/logging/accesslog"
)

// entry is one request's fields, as the proxy logs them.
func entry() []zapcore.Field {
	return []zapcore.Field{
		zap.String(accesslog.KeyClient, "203.0.113.9"),
		zap.String(accesslog.KeyMethod, "GET"),
		zap.String(accesslog.KeyHost, "shop.example.com"),
		zap.String(accesslog.KeyURI, "/api/items?limit=10"),
		zap.String(accesslog.KeyProto, "HTTP/1.1"),
		zap.Int(accesslog.KeyStatus, 200),
		zap.Int(accesslog.KeyBytesIn, 0),
		zap.Int(accesslog.KeyBytesOut, 12),
		zap.Duration(accesslog.KeyDuration, 3456*time.Microsecond),
		zap.String(accesslog.KeyRoute, "api"),
		zap.String(accesslog.KeyPool, "api"),
		zap.String(accesslog.KeyServer, "10.0.0.1:8080"),
		zap.Duration(accesslog.KeyUpstream, 2100*time.Microsecond),
		zap.Int(accesslog.KeyAttempts, 1),
		zap.String(accesslog.KeyRequestID, "0123abcd"),
		zap.String(accesslog.KeyReferer, ""),
		zap.String(accesslog.KeyUserAgent, `curl/8.0 "x"`),
	}
}

var at = time.Date(2026, 11, 25, 21, 4, 5, 678e6, time.FixedZone("", 3600))

func TestTemplates(t *testing.T) {
	for _, tc := range []struct {
		name, tmpl, want string
	}{
		{"combined", accesslog.Combined,
			`203.0.113.9 - - [25/Nov/2026:21:04:05 +0100] "GET /api/items?limit=10 HTTP/1.1" 200 12 "-" "curl/8.0 \x22x\x22"`},
		{"upstream", `$remote_addr $request $status $upstream_addr $request_time $upstream_response_time $request_id`,
			`203.0.113.9 GET /api/items?limit=10 HTTP/1.1 200 10.0.0.1:8080 0.003 0.002 0123abcd`},
		{"braces and dollars", `${lb_route}/${lb_pool} $$5 $lb_attempts $lb_request_body_bytes $lb_error`,
			`api/api $5 1 0 -`},
		{"times", `$time_iso8601 $msec`, `2026-11-25T21:04:05+01:00 1795637045.678`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tm, err := accesslog.Parse(tc.tmpl)
			if err != nil {
				t.Fatal(err)
			}
			if got := string(tm.Append(nil, at, entry())); got != tc.want {
				t.Fatalf("line\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

// TestEscapesClientBytes pins that a client's bytes cannot forge a line:
// quotes, backslashes, control and non-ASCII bytes are written \xHH, as
// Nginx does.
func TestEscapesClientBytes(t *testing.T) {
	tm := accesslog.MustParse(`"$http_user_agent"`)
	f := []zapcore.Field{zap.String(accesslog.KeyUserAgent, "a\"b\\c\nd\x7fé")}
	want := `"a\x22b\x5Cc\x0Ad\x7F\xC3\xA9"`
	if got := string(tm.Append(nil, at, f)); got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

func TestUpstreamTimeDashWithoutServer(t *testing.T) {
	tm := accesslog.MustParse(`$upstream_addr $upstream_response_time $body_bytes_sent`)
	f := []zapcore.Field{zap.String(accesslog.KeyServer, ""), zap.Duration(accesslog.KeyUpstream, 0), zap.Int(accesslog.KeyBytesOut, -1)}
	if got := string(tm.Append(nil, at, f)); got != "- - -" {
		t.Fatalf("got %q, want \"- - -\"", got)
	}
}

func TestParseErrors(t *testing.T) {
	for _, s := range []string{"", "  ", "$nope", "${remote_addr", "a $ b", "${}"} {
		if _, err := accesslog.Parse(s); !errors.Is(err, accesslog.ErrTemplate) {
			t.Errorf("Parse(%q) = %v, want ErrTemplate", s, err)
		}
	}
}

func TestCoreWritesLinesWithoutAllocating(t *testing.T) {
	var out []byte
	w := zapcore.AddSync(writerFunc(func(p []byte) (int, error) { out = append(out[:0], p...); return len(p), nil }))
	log := zap.New(accesslog.NewCore(accesslog.MustParse(accesslog.Combined), w))
	fields := entry()
	log.Info("request", fields...)
	if raceEnabled {
		t.Skip("the race detector allocates; the non-race pass runs this test")
	}
	if len(out) == 0 || out[len(out)-1] != '\n' {
		t.Fatalf("line %q: want one newline-terminated line", out)
	}
	allocs := testing.AllocsPerRun(1000, func() {
		if ce := log.Check(zapcore.InfoLevel, "request"); ce != nil {
			ce.Write(fields...)
		}
	})
	if allocs != 0 {
		t.Fatalf("a combined line allocates %.1f times, want 0", allocs)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// FuzzParse checks that any template either parses or fails with
// ErrTemplate, and that a parsed one renders without panicking.
func FuzzParse(f *testing.F) {
	for _, s := range []string{accesslog.Combined, "$request_id", "${host}x", "$$", "$", "${", "a$b$c", "\xff$status"} {
		f.Add(s)
	}
	fields := entry()
	f.Fuzz(func(t *testing.T, s string) {
		tm, err := accesslog.Parse(s)
		if err != nil {
			if !errors.Is(err, accesslog.ErrTemplate) {
				t.Fatalf("Parse(%q): %v, want ErrTemplate", s, err)
			}
			return
		}
		_ = tm.Append(nil, at, fields)
	})
}
