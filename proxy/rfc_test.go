package proxy_test

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// rawExchange sends raw on a new connection and returns every byte the
// client receives until the server has been quiet for quiet.
func rawExchange(t *testing.T, addr, raw string, quiet time.Duration) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(raw)); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		_ = c.SetReadDeadline(time.Now().Add(quiet))
		n, err := c.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return b.String()
		}
	}
}

// splitRaw splits a raw response into its status line, head and body.
func splitRaw(resp string) (statusLine, head, body string) {
	head, body, _ = strings.Cut(resp, "\r\n\r\n")
	statusLine, _, _ = strings.Cut(head, "\r\n")
	return statusLine, head, body
}

// TestBodylessResponsesOnTheWire pins RFC 9110 §9.3.2, §15.3.5 and
// §15.4.5 on the raw bytes: HEAD carries the GET's Content-Length and no
// body; 204 and 304 carry no body.
func TestBodylessResponsesOnTheWire(t *testing.T) {
	o := startOrigin(t, "o", bodylessOrigin)
	lb := startLB(t, basicConfig("round_robin", "", o))
	tests := []struct {
		raw, status, header string
	}{
		{"HEAD /doc HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "HTTP/1.1 200 OK", "Content-Length: 10"},
		{"GET /204 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "HTTP/1.1 204 No Content", ""},
		{"GET /304 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "HTTP/1.1 304 Not Modified", `ETag: "v1"`},
	}
	for _, tc := range tests {
		got := rawExchange(t, lb.addr, tc.raw, 2*time.Second)
		status, head, body := splitRaw(got)
		if status != tc.status || body != "" || !strings.Contains(head, tc.header) {
			t.Errorf("%q answered\n%q\nwant %q, %q in the head and no body", firstLine(tc.raw), got, tc.status, tc.header)
		}
		if tc.status != "HTTP/1.1 200 OK" && strings.Contains(strings.ToLower(head), "transfer-encoding") {
			t.Errorf("%s has a Transfer-Encoding: %q", tc.status, head)
		}
	}
}

// TestExpectContinue: lb answers "100 Continue" to a body it will take
// and 417 to one over max_body_bytes, before the body is sent.
func TestExpectContinue(t *testing.T) {
	o := startOrigin(t, "o", func(ctx *fasthttp.RequestCtx) { ctx.Write(ctx.Request.Body()) })
	cfg := strings.Replace(basicConfig("round_robin", "", o),
		"  - address: 127.0.0.1:0", "  - address: 127.0.0.1:0\n    max_body_bytes: 1KiB", 1)
	lb := startLB(t, cfg)

	c, err := net.Dial("tcp", lb.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	_, _ = c.Write([]byte("POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"))
	line, err := br.ReadString('\n')
	if err != nil || line != "HTTP/1.1 100 Continue\r\n" {
		t.Fatalf("interim answer %q (%v), want HTTP/1.1 100 Continue", line, err)
	}
	for line != "\r\n" {
		line, _ = br.ReadString('\n')
	}
	_, _ = c.Write([]byte("hello"))
	var r fasthttp.Response
	if err := r.Read(br); err != nil || r.StatusCode() != 200 || string(r.Body()) != "hello" {
		t.Fatalf("final answer %d %q (%v), want 200 hello", r.StatusCode(), r.Body(), err)
	}
	if v := o.last(t).headerFold("Expect"); len(v) > 0 {
		t.Fatalf("origin got Expect %q: lb has met it already", v)
	}

	got := rawExchange(t, lb.addr, "POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4096\r\n\r\n", 2*time.Second)
	if status, _, _ := splitRaw(got); status != "HTTP/1.1 417 Expectation Failed" {
		t.Fatalf("over-limit Expect answered %q, want 417 before the body", got)
	}
}

// TestResponseDateIsLBs: the answer carries one Date, lb's own, whatever
// spellings of it the server sent (Nginx replaces the upstream Date too),
// and the other fields keep their order; with only a canonical Date to
// replace as with other fields to drop.
func TestResponseDateIsLBs(t *testing.T) {
	const dateOnly = "HTTP/1.1 200 OK\r\nDate: Mon, 01 Jan 2001 00:00:00 GMT\r\nX-A: 1\r\nX-B: 2\r\nX-A: 3\r\nContent-Length: 2\r\n\r\nok"
	mixed := strings.Replace(dateOnly, "X-B: 2\r\n", "X-B: 2\r\ndate: Tue, 02 Jan 2001 00:00:00 GMT\r\nKeep-Alive: timeout=5\r\n", 1)
	for _, resp := range []string{dateOnly, mixed} {
		o := startRawOrigin(t, resp)
		lb := startLB(t, basicConfig("round_robin", "", &origin{addr: o.addr}))
		got := rawExchange(t, lb.addr, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 2*time.Second)
		status, head, body := splitRaw(got)
		if status != "HTTP/1.1 200 OK" || body != "ok" {
			t.Fatalf("answer %q", got)
		}
		var dates, order []string
		for _, line := range strings.Split(head, "\r\n")[1:] {
			k, v, _ := strings.Cut(line, ": ")
			switch {
			case strings.EqualFold(k, "Date"):
				dates = append(dates, v)
			case strings.HasPrefix(k, "X-"):
				order = append(order, k+"="+v)
			case strings.EqualFold(k, "Keep-Alive"):
				t.Errorf("hop-by-hop Keep-Alive relayed: %q", head)
			}
		}
		if len(dates) != 1 || strings.Contains(dates[0], "2001") {
			t.Errorf("dates %q in\n%s\nwant one, lb's", dates, head)
		}
		if strings.Join(order, ",") != "X-A=1,X-B=2,X-A=3" {
			t.Errorf("fields %q, want X-A=1,X-B=2,X-A=3 in order", order)
		}
	}
}
