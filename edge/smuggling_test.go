package edge_test

import (
	"strings"
	"testing"
	"time"
)

// fwd is what the origin receives for an accepted request from a client
// that sent "Host: a" and "X-Request-ID: r1" first: lb adds its
// X-Forwarded-* fields after Host and keeps the rest as received.
func fwd(line string, fields ...string) string {
	var b strings.Builder
	b.WriteString(line + "\r\nHost: a\r\nX-Forwarded-For: 127.0.0.1\r\nX-Real-IP: 127.0.0.1\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: a\r\nX-Request-ID: r1\r\n")
	for _, f := range fields {
		b.WriteString(f)
		if !strings.HasPrefix(f, "\r\n") {
			b.WriteString("\r\n")
		}
	}
	return b.String()
}

const hd = "Host: a\r\nX-Request-ID: r1\r\n"

// TestSmuggling sends raw requests to a real lb listener in front of an
// origin that records every byte it receives. Each refused request gets
// its status and a closed connection, and not one byte of it (nor of
// anything after it) reaches the origin; accepted ones arrive exactly as
// lb forwards them. The cases are the request smuggling variants (CL.TE,
// TE.CL, TE.TE, obfuscated Transfer-Encoding), malformed chunked
// framing, bad header names and values, and limits.
func TestSmuggling(t *testing.T) {
	o := startRawOrigin(t)
	p := startLB(t, lbConfig("    max_body_bytes: 16\n    max_uri_bytes: 64\n    max_header_bytes: 1KiB\n", o.addr))
	addr := p.Addrs()[0].String()
	long := strings.Repeat("x", 1100)

	for _, tc := range []struct {
		name     string
		raw      []string // written with a pause between parts
		statuses []int
		closed   bool   // the connection must be closed by lb
		origin   string // exact bytes at the origin
		reqs     int    // requests the origin read
	}{
		// Accepted: the framing lb forwards.
		{"get", []string{"GET / HTTP/1.1\r\n" + hd + "\r\n"}, []int{200}, false,
			fwd("GET / HTTP/1.1", "\r\n"), 1},
		{"content-length body", []string{"POST / HTTP/1.1\r\n" + hd + "Content-Length: 5\r\n\r\nhello"}, []int{200}, false,
			fwd("POST / HTTP/1.1", "Content-Length: 5", "\r\nhello"), 1},
		{"content-length with OWS", []string{"POST / HTTP/1.1\r\n" + hd + "Content-Length: \t5 \r\n\r\nhello"}, []int{200}, false,
			fwd("POST / HTTP/1.1", "Content-Length: 5", "\r\nhello"), 1},
		{"chunked", []string{"POST / HTTP/1.1\r\n" + hd + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"}, []int{200}, false,
			fwd("POST / HTTP/1.1", "Transfer-Encoding: chunked", "\r\n5\r\nhello\r\n0\r\n\r\n"), 1},
		{"chunked any case, OWS", []string{"POST / HTTP/1.1\r\n" + hd + "Transfer-Encoding:\tChunked \r\n\r\n5\r\nhello\r\n0\r\n\r\n"}, []int{200}, false,
			fwd("POST / HTTP/1.1", "Transfer-Encoding: chunked", "\r\n5\r\nhello\r\n0\r\n\r\n"), 1},
		{"chunk extension and trailer", []string{"POST / HTTP/1.1\r\n" + hd + "Transfer-Encoding: chunked\r\n\r\n5;a=b\r\nhello\r\n0\r\nX-T: 1\r\n\r\n"}, []int{200}, false,
			fwd("POST / HTTP/1.1", "Transfer-Encoding: chunked", "\r\n5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n"), 1},
		{"request in a body is a body", []string{"POST / HTTP/1.1\r\n" + hd + "Content-Length: 16\r\n\r\nGET /x HTTP/1.1\n"}, []int{200}, false,
			fwd("POST / HTTP/1.1", "Content-Length: 16", "\r\nGET /x HTTP/1.1\n"), 1},
		{"pipelined", []string{"GET /1 HTTP/1.1\r\n" + hd + "\r\nGET /2 HTTP/1.1\r\n" + hd + "\r\n"}, []int{200, 200}, false,
			fwd("GET /1 HTTP/1.1", "\r\n") + fwd("GET /2 HTTP/1.1", "\r\n"), 2},
		{"leading empty line", []string{"\r\nGET / HTTP/1.1\r\n" + hd + "\r\n"}, []int{200}, false,
			fwd("GET / HTTP/1.1", "\r\n"), 1},

		// CL.TE, TE.CL, TE.TE and obfuscated Transfer-Encoding.
		{"CL.TE", []string{"POST / HTTP/1.1\r\n" + hd + "Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG"}, []int{400}, true, "", 0},
		{"TE.CL", []string{"POST / HTTP/1.1\r\n" + hd + "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n"}, []int{400}, true, "", 0},
		{"CL.TE smuggling a request", []string{"POST / HTTP/1.1\r\n" + hd + "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"}, []int{400}, true, "", 0},
		{"TE.TE chunked and identity", []string{"POST / HTTP/1.1\r\n" + hd + "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n"}, []int{400}, true, "", 0},
		{"TE identity", []string{"POST / HTTP/1.1\r\n" + hd + "Transfer-Encoding: identity\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"}, []int{400}, true, "", 0},
		{"TE list", []string{"POST / HTTP/1.1\r\n" + hd + "Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n"}, []int{400}, true, "", 0},
		{"TE xchunked", []string{"POST / HTTP/1.1\r\n" + hd + "Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n"}, []int{400}, true, "", 0},
		{"TE space before colon", []string{"POST / HTTP/1.1\r\n" + hd + "Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n"}, []int{400}, true, "", 0},
		{"TE obs-fold", []string{"POST / HTTP/1.1\r\n" + hd + "Transfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n"}, []int{400}, true, "", 0},
		{"TE vertical tab", []string{"POST / HTTP/1.1\r\n" + hd + "Transfer-Encoding: \x0bchunked\r\n\r\n0\r\n\r\n"}, []int{400}, true, "", 0},
		{"TE on HTTP/1.0", []string{"POST / HTTP/1.0\r\n" + hd + "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"}, []int{400}, true, "", 0},

		// Content-Length.
		{"duplicate CL differing", []string{"POST / HTTP/1.1\r\n" + hd + "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"}, []int{400}, true, "", 0},
		{"duplicate CL equal", []string{"POST / HTTP/1.1\r\n" + hd + "Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello"}, []int{400}, true, "", 0},
		{"CL list", []string{"POST / HTTP/1.1\r\n" + hd + "Content-Length: 5, 5\r\n\r\nhello"}, []int{400}, true, "", 0},
		{"CL plus sign", []string{"POST / HTTP/1.1\r\n" + hd + "Content-Length: +5\r\n\r\nhello"}, []int{400}, true, "", 0},
		{"CL negative", []string{"POST / HTTP/1.1\r\n" + hd + "Content-Length: -1\r\n\r\nhello"}, []int{400}, true, "", 0},
		{"CL empty", []string{"POST / HTTP/1.1\r\n" + hd + "Content-Length: \r\n\r\n"}, []int{400}, true, "", 0},
		{"CL hex", []string{"POST / HTTP/1.1\r\n" + hd + "Content-Length: 0x5\r\n\r\nhello"}, []int{400}, true, "", 0},

		// Chunk framing.
		{"chunk size with space", []string{"POST / HTTP/1.1\r\n" + hd + "Transfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n"}, []int{400}, true, "", 0},
		{"chunk size 0x", []string{"POST / HTTP/1.1\r\n" + hd + "Transfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n"}, []int{400}, true, "", 0},
		{"chunk size negative", []string{"POST / HTTP/1.1\r\n" + hd + "Transfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n"}, []int{400}, true, "", 0},
		{"chunk size overflow", []string{"POST / HTTP/1.1\r\n" + hd + "Transfer-Encoding: chunked\r\n\r\n10000000000000005\r\nhello\r\n0\r\n\r\n"}, []int{400}, true, "", 0},
		{"chunk size empty", []string{"POST / HTTP/1.1\r\n" + hd + "Transfer-Encoding: chunked\r\n\r\n\r\n5\r\nhello\r\n0\r\n\r\n"}, []int{400}, true, "", 0},
		{"chunk size bare LF", []string{"POST / HTTP/1.1\r\n" + hd + "Transfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n"}, []int{400}, true, "", 0},
		{"chunk data overrun", []string{"POST / HTTP/1.1\r\n" + hd + "Transfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n"}, []int{400}, true, "", 0},
		{"chunk extension with CTL", []string{"POST / HTTP/1.1\r\n" + hd + "Transfer-Encoding: chunked\r\n\r\n5;a\x00\r\nhello\r\n0\r\n\r\n"}, []int{400}, true, "", 0},

		// Header names and values, Host, request line.
		{"obs-fold", []string{"GET / HTTP/1.1\r\n" + hd + "X-A: b\r\n c\r\n\r\n"}, []int{400}, true, "", 0},
		{"space in name", []string{"GET / HTTP/1.1\r\n" + hd + "X A: b\r\n\r\n"}, []int{400}, true, "", 0},
		{"space before colon", []string{"GET / HTTP/1.1\r\n" + hd + "X-A : b\r\n\r\n"}, []int{400}, true, "", 0},
		{"empty name", []string{"GET / HTTP/1.1\r\n" + hd + ": b\r\n\r\n"}, []int{400}, true, "", 0},
		{"NUL in value", []string{"GET / HTTP/1.1\r\n" + hd + "X-A: b\x00c\r\n\r\n"}, []int{400}, true, "", 0},
		{"CR in value", []string{"GET / HTTP/1.1\r\n" + hd + "X-A: b\rc\r\n\r\n"}, []int{400}, true, "", 0},
		{"bare LF line ends", []string{"GET / HTTP/1.1\n" + hd + "\n"}, []int{400}, true, "", 0},
		{"bare LF in head", []string{"GET / HTTP/1.1\r\nHost: a\nX-A: b\r\n\r\n"}, []int{400}, true, "", 0},
		{"missing Host", []string{"GET / HTTP/1.1\r\nX-Request-ID: r1\r\n\r\n"}, []int{400}, true, "", 0},
		{"duplicate Host", []string{"GET / HTTP/1.1\r\n" + hd + "Host: b\r\n\r\n"}, []int{400}, true, "", 0},
		{"absolute form, other host", []string{"GET http://b/ HTTP/1.1\r\n" + hd + "\r\n"}, []int{400}, true, "", 0},
		{"authority-like path stays a path", []string{"GET //b/x HTTP/1.1\r\n" + hd + "\r\n"}, []int{200}, false,
			fwd("GET //b/x HTTP/1.1", "\r\n"), 1},
		{"double space in request line", []string{"GET  / HTTP/1.1\r\n" + hd + "\r\n"}, []int{400}, true, "", 0},
		{"HTTP/2.0 on HTTP/1 framing", []string{"GET / HTTP/2.0\r\n" + hd + "\r\n"}, []int{505}, true, "", 0},
		{"NUL in method", []string{"G\x00T / HTTP/1.1\r\n" + hd + "\r\n"}, []int{400}, true, "", 0},

		// Limits.
		{"target over max_uri_bytes", []string{"GET /" + long[:64] + " HTTP/1.1\r\n" + hd + "\r\n"}, []int{414}, true, "", 0},
		{"head over max_header_bytes", []string{"GET / HTTP/1.1\r\n" + hd + "X-Long: " + long + "\r\n\r\n"}, []int{431}, true, "", 0},
		{"CL over max_body_bytes", []string{"POST / HTTP/1.1\r\n" + hd + "Content-Length: 17\r\n\r\n" + long[:17]}, []int{413}, true, "", 0},
		{"chunked over max_body_bytes", []string{"POST / HTTP/1.1\r\n" + hd + "Transfer-Encoding: chunked\r\n\r\n11\r\n" + long[:17] + "\r\n0\r\n\r\n"}, []int{413}, true, "", 0},

		// A good request, then a bad one: only the first goes through.
		{"pipelined then smuggled", []string{"GET /1 HTTP/1.1\r\n" + hd + "\r\nPOST / HTTP/1.1\r\n" + hd + "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"}, []int{200, 400}, true,
			fwd("GET /1 HTTP/1.1", "\r\n"), 1},
		{"bad chunk after the head was forwarded", []string{"POST / HTTP/1.1\r\n" + hd + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", "5 \r\nhello\r\n0\r\n\r\n"}, []int{400}, true,
			fwd("POST / HTTP/1.1", "Transfer-Encoding: chunked", "\r\n5\r\nhello\r\n"), 0},
		{"bad request split over reads", []string{"POST / HTTP/1.1\r\n" + hd, "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"}, []int{400}, true, "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Later parts go once the origin has what it should get: the
			// head forwarded before a bad chunk is what that case is about.
			settled := func() { o.await(len(tc.origin)) }
			statuses, closed := exchangeN(t, addr, tc.raw, settled, len(tc.statuses), tc.closed, time.Second)
			settled()
			got, reqs := o.take()
			if !equalInts(statuses, tc.statuses) {
				t.Errorf("statuses = %v, want %v", statuses, tc.statuses)
			}
			if tc.closed && !closed {
				t.Errorf("connection left open, want closed")
			}
			if !tc.closed && closed {
				t.Errorf("connection closed, want kept alive")
			}
			if got != tc.origin {
				t.Errorf("origin received\n%q\nwant\n%q", got, tc.origin)
			}
			if reqs != tc.reqs {
				t.Errorf("origin read %d requests, want %d", reqs, tc.reqs)
			}
		})
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestBadBodyIsNotAServerFailure: a client whose chunked body breaks
// framing after its head went upstream gets 400, and the server is not
// counted as failed: with max_fails 1 it still serves the next request
// (else any client could eject servers at will).
func TestBadBodyIsNotAServerFailure(t *testing.T) {
	o := startRawOrigin(t)
	cfg := strings.Replace(lbConfig("", o.addr), "passive: {max_fails: 0}", "passive: {max_fails: 1, fail_timeout: 1m}", 1)
	p := startLB(t, cfg)
	addr := p.Addrs()[0].String()
	statuses, _ := exchangeN(t, addr, []string{
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
		"zz\r\n",
	}, func() { o.await(1) }, 1, false, 300*time.Millisecond) // the bad chunk goes once lb has begun forwarding
	if !equalInts(statuses, []int{400}) {
		t.Fatalf("bad body: statuses %v, want [400]", statuses)
	}
	statuses, _ = exchangeN(t, addr, []string{"GET / HTTP/1.1\r\nHost: a\r\n\r\n"}, nil, 1, false, 300*time.Millisecond)
	if !equalInts(statuses, []int{200}) {
		t.Fatalf("next request: statuses %v, want [200] (server not ejected)", statuses)
	}
}
