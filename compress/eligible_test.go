package compress

import "testing"

func TestEligible(t *testing.T) {
	p := DefaultPolicy()
	p.ExcludePaths = []string{"/metrics", "/static/"}
	p.Types = append(p.Types, "application/vnd.*")
	// base is an eligible response; each case changes one thing.
	base := func() Response {
		return Response{Status: 200, Path: []byte("/index.html"), ContentType: []byte("text/html"), Length: 4096}
	}
	bs := func(s string) []byte { return []byte(s) }
	tests := []struct {
		name   string
		modify func(r *Response)
		want   bool
		reason string
	}{
		{"eligible base", func(r *Response) {}, true, ""},
		{"already gzip encoded", func(r *Response) { r.ContentEncoding = bs("gzip") }, false, ReasonEncoded},
		{"already encoded unknown coding", func(r *Response) { r.ContentEncoding = bs("x-custom") }, false, ReasonEncoded},
		{"identity encoding is not encoded", func(r *Response) { r.ContentEncoding = bs(" Identity ") }, true, ""},
		{"no-transform in second Cache-Control field", func(r *Response) {
			r.CacheControl = [][]byte{bs("public, max-age=60"), bs("s-maxage=10, No-Transform")}
		}, false, ReasonNoTransform},
		{"no-transform inside quoted string is not the directive", func(r *Response) {
			r.CacheControl = [][]byte{bs(`private="x, no-transform", max-age=1`)}
		}, true, ""},
		{"no-transform-ish token is not the directive", func(r *Response) { r.CacheControl = [][]byte{bs("no-transformer")} }, true, ""},
		{"status 204", func(r *Response) { r.Status = 204 }, false, ReasonStatus},
		{"status 206", func(r *Response) { r.Status = 206 }, false, ReasonStatus},
		{"status 304", func(r *Response) { r.Status = 304 }, false, ReasonStatus},
		{"status 101", func(r *Response) { r.Status = 101 }, false, ReasonStatus},
		{"status 103", func(r *Response) { r.Status = 103 }, false, ReasonStatus},
		{"status 404 page compressed", func(r *Response) { r.Status = 404 }, true, ""},
		{"HEAD request", func(r *Response) { r.Head = true }, false, ReasonHead},
		{"Content-Range on 200", func(r *Response) { r.ContentRange = bs("bytes 0-99/4096") }, false, ReasonContentRange},
		{"image/png", func(r *Response) { r.ContentType = bs("image/png") }, false, ReasonCompressedType},
		{"application/zip even if listed", func(r *Response) { r.ContentType = bs("application/zip") }, false, ReasonCompressedType},
		{"video/mp4", func(r *Response) { r.ContentType = bs("video/mp4") }, false, ReasonCompressedType},
		{"font/woff2", func(r *Response) { r.ContentType = bs("font/woff2") }, false, ReasonCompressedType},
		{"octet-stream", func(r *Response) { r.ContentType = bs("application/octet-stream") }, false, ReasonCompressedType},
		{"svg allowed despite image/*", func(r *Response) { r.ContentType = bs("image/svg+xml") }, true, ""},
		{"type not in list", func(r *Response) { r.ContentType = bs("application/x-custom") }, false, ReasonTypeNotIncluded},
		{"no content type", func(r *Response) { r.ContentType = nil }, false, ReasonNoContentType},
		{"excluded path prefix", func(r *Response) { r.Path = bs("/metrics") }, false, ReasonExcludedPath},
		{"excluded path below prefix", func(r *Response) { r.Path = bs("/static/app.js") }, false, ReasonExcludedPath},
		{"excluded path with query", func(r *Response) { r.Path = bs("/metrics?x=1") }, false, ReasonExcludedPath},
		{"not excluded sibling path", func(r *Response) { r.Path = bs("/metricsx") }, true, ""},
		{"short body", func(r *Response) { r.Length = 255 }, false, ReasonShort},
		{"exactly min length", func(r *Response) { r.Length = 256 }, true, ""},
		{"empty body", func(r *Response) { r.Length = 0 }, false, ReasonEmpty},
		{"unknown length allowed", func(r *Response) { r.Length = -1 }, true, ""},
		{"text/html charset allowed", func(r *Response) { r.ContentType = bs("Text/HTML ; charset=utf-8") }, true, ""},
		{"wildcard text/*", func(r *Response) { r.ContentType = bs("text/csv") }, true, ""},
		{"wildcard suffix +json", func(r *Response) { r.ContentType = bs("application/problem+json; charset=utf-8") }, true, ""},
		{"wildcard custom vnd", func(r *Response) { r.ContentType = bs("application/vnd.api.v2") }, true, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := base()
			tc.modify(&r)
			got, reason := p.Eligible(&r)
			if got != tc.want || reason != tc.reason {
				t.Errorf("Eligible(%+v) = (%v, %q), want (%v, %q)", r, got, reason, tc.want, tc.reason)
			}
		})
	}
}

func TestEligibleZeroPolicyUsesDefaultTypes(t *testing.T) {
	var p Policy
	r := Response{Status: 200, ContentType: []byte("application/json"), Length: 10}
	if ok, reason := p.Eligible(&r); !ok {
		t.Errorf("zero Policy Eligible(json, 10 bytes) = (false, %q), want true", reason)
	}
}

func TestEligibleAllocs(t *testing.T) {
	p := DefaultPolicy()
	p.ExcludePaths = []string{"/api/raw"}
	r := Response{Status: 200, Path: []byte("/api/x"), ContentType: []byte("application/problem+json"),
		CacheControl: [][]byte{[]byte("public, max-age=60")}, Length: -1}
	if a := testing.AllocsPerRun(100, func() { p.Eligible(&r) }); a != 0 {
		t.Errorf("Eligible allocs = %v, want 0", a)
	}
}

func TestPolicyValidate(t *testing.T) {
	tests := []struct {
		name string
		p    Policy
		ok   bool
	}{
		{"defaults", *DefaultPolicy(), true},
		{"zero", Policy{}, true},
		{"identity in prefer", Policy{Prefer: []Algorithm{Identity}}, false},
		{"duplicate prefer", Policy{Prefer: []Algorithm{Gzip, Gzip}}, false},
		{"gzip level 10", Policy{Levels: map[Algorithm]int{Gzip: 10}}, false},
		{"brotli level 12", Policy{Levels: map[Algorithm]int{Brotli: 12}}, false},
		{"negative min length", Policy{MinLength: -1}, false},
		{"two wildcards", Policy{Types: []string{"*/*+*"}}, false},
		{"relative exclude path", Policy{ExcludePaths: []string{"api"}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.p.Validate(); (err == nil) != tc.ok {
				t.Errorf("Validate() = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestPolicyLevel(t *testing.T) {
	p := Policy{Levels: map[Algorithm]int{Gzip: 1}}
	if got := p.Level(Gzip); got != 1 {
		t.Errorf("Level(Gzip) = %d, want 1", got)
	}
	if got := p.Level(Brotli); got != DefaultBrotliLevel {
		t.Errorf("Level(Brotli) = %d, want %d", got, DefaultBrotliLevel)
	}
}
