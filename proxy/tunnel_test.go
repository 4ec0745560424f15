package proxy_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"lb/internal/loopback"
)

// wsOrigin is a net/http server on a loopback port whose handler upgrades
// to WebSocket with gorilla's Upgrader (or refuses) and records the
// handshake requests it receives.
type wsOrigin struct {
	name string
	addr string
	mu   sync.Mutex
	reqs []http.Header // handshake headers as received, Host added
}

// wsMode is what a wsOrigin does with an upgraded connection.
type wsMode int

const (
	wsEcho   wsMode = iota // echo every message
	wsRefuse               // 403 with a body, no upgrade
	wsPush                 // send a message every 25ms, never read
	wsHello                // send "hello <name>" first, then echo
)

func startWSOrigin(t *testing.T, name string, mode wsMode) *wsOrigin {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := &wsOrigin{name: name, addr: ln.Addr().String()}
	up := websocket.Upgrader{ReadBufferSize: 4096, WriteBufferSize: 4096}
	srv := &http.Server{
		ReadHeaderTimeout: 5 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := r.Header.Clone()
			h.Set("Host", r.Host)
			o.mu.Lock()
			o.reqs = append(o.reqs, h)
			o.mu.Unlock()
			if mode == wsRefuse {
				w.Header().Set("Content-Type", "text/plain")
				w.WriteHeader(http.StatusForbidden)
				io.WriteString(w, "no websockets for you")
				return
			}
			c, err := up.Upgrade(w, r, nil)
			if err != nil {
				return
			}
			defer c.Close()
			switch mode {
			case wsPush:
				go func() { // read to see the close
					for {
						if _, _, err := c.ReadMessage(); err != nil {
							c.Close()
							return
						}
					}
				}()
				for i := 0; ; i++ {
					if err := c.WriteMessage(websocket.TextMessage, []byte("tick")); err != nil {
						return
					}
					time.Sleep(25 * time.Millisecond)
				}
			case wsHello:
				if err := c.WriteMessage(websocket.TextMessage, []byte("hello "+name)); err != nil {
					return
				}
			}
			for {
				mt, msg, err := c.ReadMessage()
				if err != nil {
					return
				}
				if err := c.WriteMessage(mt, msg); err != nil {
					return
				}
			}
		}),
	}
	go srv.Serve(ln) //nolint:errcheck
	t.Cleanup(func() { srv.Close() })
	return o
}

// asOrigin lets basicConfig list the server.
func (o *wsOrigin) asOrigin() *origin { return &origin{name: o.name, addr: o.addr} }

func (o *wsOrigin) handshakes() []http.Header {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.reqs)
}

// wsDial opens a WebSocket through lb.
func wsDial(t *testing.T, addr, path string) *websocket.Conn {
	t.Helper()
	c, resp, err := wsTry(addr, path)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("websocket dial %s: %v (status %d)", path, err, status)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func wsTry(addr, path string) (*websocket.Conn, *http.Response, error) {
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second, ReadBufferSize: 4096, WriteBufferSize: 4096}
	return d.Dial("ws://"+addr+path, nil)
}

// inFlight sums the in-flight counts of lb's servers.
func inFlight(lb *lbUnderTest) int64 {
	var n int64
	for _, r := range lb.p.Handler().Snapshot().Routes() {
		for _, s := range r.Pool.Servers() {
			n += s.InFlight()
		}
	}
	return n
}

// noTunnelGoroutines waits until no goroutine runs tunnel code: every
// goroutine a tunnel starts ends with it.
func noTunnelGoroutines(t *testing.T) {
	t.Helper()
	waitFor(t, 5*time.Second, "tunnel goroutines to end", func() bool {
		buf := make([]byte, 1<<20)
		return !bytes.Contains(buf[:runtime.Stack(buf, true)], []byte("lb/proxy.(*tunnel)"))
	})
}

func TestTunnelEchoesTextAndBinaryMessages(t *testing.T) {
	o := startWSOrigin(t, "o", wsEcho)
	lb := startLB(t, basicConfig("round_robin", "", o.asOrigin()))
	c := wsDial(t, lb.addr, "/ws?room=1")
	for _, size := range []int{1, 64 << 10, 1 << 20} {
		for _, mt := range []int{websocket.TextMessage, websocket.BinaryMessage} {
			msg := bytes.Repeat([]byte{'a' + byte(size%26)}, size)
			if mt == websocket.BinaryMessage {
				for i := range msg {
					msg[i] = byte(i * 7)
				}
			}
			_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
			if err := c.WriteMessage(mt, msg); err != nil {
				t.Fatalf("write %d bytes: %v", size, err)
			}
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			gotType, got, err := c.ReadMessage()
			if err != nil {
				t.Fatalf("read echo of %d bytes: %v", size, err)
			}
			if gotType != mt || !bytes.Equal(got, msg) {
				t.Fatalf("echo of %d bytes type %d: got %d bytes type %d", size, mt, len(got), gotType)
			}
		}
	}
	if n := lb.p.Handler().OpenTunnels(); n != 1 {
		t.Fatalf("OpenTunnels() = %d during the exchange, want 1", n)
	}
}

func TestTunnelSendsForwardingAndUpgradeHeaders(t *testing.T) {
	o := startWSOrigin(t, "o", wsEcho)
	lb := startLB(t, basicConfig("round_robin", "", o.asOrigin()))
	wsDial(t, lb.addr, "/ws/a%2Fb?x=1&y")
	hs := o.handshakes()
	if len(hs) != 1 {
		t.Fatalf("origin saw %d handshakes, want 1", len(hs))
	}
	h := hs[0]
	for _, tc := range []struct{ name, want string }{
		{"X-Forwarded-For", "127.0.0.1"},
		{"X-Real-Ip", "127.0.0.1"},
		{"X-Forwarded-Proto", "http"},
		{"X-Forwarded-Host", lb.addr},
		{"Host", lb.addr},
		{"Upgrade", "websocket"},
		{"Connection", "Upgrade"},
		{"Sec-Websocket-Version", "13"},
	} {
		if got := h.Values(tc.name); !slices.Equal(got, []string{tc.want}) {
			t.Errorf("origin got %s %q, want [%s]", tc.name, got, tc.want)
		}
	}
	if len(h.Get("Sec-Websocket-Key")) == 0 || len(h.Get("X-Request-Id")) != 32 {
		t.Errorf("origin got Sec-WebSocket-Key %q, X-Request-ID %q", h.Get("Sec-Websocket-Key"), h.Get("X-Request-Id"))
	}

	lines := readAccessLog(t, lb, 1)
	if l := lines[0]; l["status"] != float64(101) || l["server"] != o.addr || l["attempts"] != float64(1) || l["uri"] != "/ws/a%2Fb?x=1&y" {
		t.Errorf("access log line %v, want status 101 from %s in 1 attempt for the URI as sent", l, o.addr)
	}
}

func TestTunnelRelaysRefusedUpgrade(t *testing.T) {
	o := startWSOrigin(t, "o", wsRefuse)
	lb := startLB(t, basicConfig("round_robin", "", o.asOrigin()))
	c, resp, err := wsTry(lb.addr, "/ws")
	if err == nil {
		c.Close()
		t.Fatal("websocket dial succeeded, want the origin's refusal")
	}
	if resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("dial error %v, response %v; want 403", err, resp)
	}
	body, _ := io.ReadAll(resp.Body)
	if string(body) != "no websockets for you" {
		t.Fatalf("refusal body %q, want the origin's", body)
	}
	if v := resp.Header.Values("Upgrade"); len(v) > 0 {
		t.Errorf("refusal carries Upgrade %q", v)
	}
	if n := lb.p.Handler().OpenTunnels(); n != 0 {
		t.Errorf("OpenTunnels() = %d after a refusal, want 0", n)
	}
	waitFor(t, 5*time.Second, "in-flight 0", func() bool { return inFlight(lb) == 0 })
}

func TestTunnelServerFollowsPoolPolicy(t *testing.T) {
	a, b := startWSOrigin(t, "a", wsHello), startWSOrigin(t, "b", wsHello)
	lb := startLB(t, basicConfig("round_robin", "", a.asOrigin(), b.asOrigin()))
	var got []string
	for range 2 {
		c := wsDial(t, lb.addr, "/ws")
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, msg, err := c.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(msg))
	}
	slices.Sort(got)
	if !slices.Equal(got, []string{"hello a", "hello b"}) {
		t.Fatalf("two websockets greeted by %q, want one by each origin", got)
	}
}

func TestTunnelStickyCookieKeepsAClientOnOneServer(t *testing.T) {
	a, b, c := startWSOrigin(t, "a", wsHello), startWSOrigin(t, "b", wsHello), startWSOrigin(t, "c", wsHello)
	lb := startLB(t, poolConfig("    sticky: {cookie: lb}\n", a.addr, b.addr, c.addr))
	greeting := func(h http.Header) (string, *http.Response) {
		d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
		conn, resp, err := d.Dial("ws://"+lb.addr+"/ws", h)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, msg, err := conn.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		return string(msg), resp
	}
	home, resp := greeting(nil)
	var id string
	for _, ck := range resp.Cookies() {
		if ck.Name == "lb" {
			id = ck.Value
		}
	}
	if id == "" {
		t.Fatalf("101 without the sticky cookie: %v", resp.Header)
	}
	for i := range 6 {
		got, resp := greeting(http.Header{"Cookie": {"theme=dark; lb=" + id}})
		if got != home {
			t.Fatalf("websocket %d with the cookie greeted by %q, want %q", i, got, home)
		}
		if v := resp.Header.Values("Set-Cookie"); len(v) > 0 {
			t.Fatalf("websocket %d: cookie re-set to %q though it was right", i, v)
		}
	}
	for _, o := range []*wsOrigin{a, b, c} {
		for _, h := range o.handshakes() {
			if ck := h.Get("Cookie"); strings.Contains(ck, "lb=") {
				t.Fatalf("origin %s got the sticky cookie: %q", o.name, ck)
			}
		}
	}
}

func TestTunnelRetriesConnectFailureOnAnotherServer(t *testing.T) {
	good := startWSOrigin(t, "good", wsEcho)
	bad := &origin{name: "bad", addr: loopback.Refusing(t)}
	lb := startLB(t, basicConfig("round_robin", "", bad, good.asOrigin()))
	for i := range 4 {
		c := wsDial(t, lb.addr, "/ws")
		if err := c.WriteMessage(websocket.TextMessage, []byte("x")); err != nil {
			t.Fatal(err)
		}
		if _, msg, err := c.ReadMessage(); err != nil || string(msg) != "x" {
			t.Fatalf("websocket %d: echo %q, %v", i, msg, err)
		}
	}
}

func TestTunnelCountsReturnToZeroWhenClosed(t *testing.T) {
	o := startWSOrigin(t, "o", wsEcho)
	lb := startLB(t, basicConfig("round_robin", "", o.asOrigin()))
	h := lb.p.Handler()
	var conns []*websocket.Conn
	for range 3 {
		conns = append(conns, wsDial(t, lb.addr, "/ws"))
	}
	if n := h.OpenTunnels(); n != 3 {
		t.Fatalf("OpenTunnels() = %d with 3 websockets open, want 3", n)
	}
	if n := inFlight(lb); n != 3 {
		t.Fatalf("in flight = %d with 3 websockets open, want 3", n)
	}
	// One closed by the client, one by the origin's side (a close frame
	// answered), one by dropping the TCP connection.
	_ = conns[0].WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	_, _, _ = conns[0].ReadMessage()
	conns[0].Close()
	conns[1].Close()
	conns[2].UnderlyingConn().(*net.TCPConn).SetLinger(0)
	conns[2].Close()
	waitFor(t, 5*time.Second, "OpenTunnels() 0", func() bool { return h.OpenTunnels() == 0 })
	waitFor(t, 5*time.Second, "in-flight 0", func() bool { return inFlight(lb) == 0 })
	noTunnelGoroutines(t)
}

func TestCloseTunnelsClosesTunnelsStillOpen(t *testing.T) {
	o := startWSOrigin(t, "o", wsEcho)
	lb := startLB(t, basicConfig("round_robin", "", o.asOrigin()))
	h := lb.p.Handler()
	c := wsDial(t, lb.addr, "/ws")

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := h.CloseTunnels(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("CloseTunnels() = %v, want %v", err, context.DeadlineExceeded)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("CloseTunnels took %v", d)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := c.ReadMessage(); err == nil || isTimeout(err) {
		t.Fatalf("client read after CloseTunnels: %v, want the connection closed", err)
	}
	if n := h.OpenTunnels(); n != 0 {
		t.Fatalf("OpenTunnels() = %d after CloseTunnels, want 0", n)
	}
	if n := inFlight(lb); n != 0 {
		t.Fatalf("in flight = %d after CloseTunnels, want 0", n)
	}
	noTunnelGoroutines(t)

	// Stopping: new upgrades are refused, not tunnelled.
	_, resp, err := wsTry(lb.addr, "/ws")
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("upgrade after CloseTunnels: %v, %v; want 503", err, resp)
	}
}

func TestCloseTunnelsReturnsAtOnceWithoutTunnels(t *testing.T) {
	o := startWSOrigin(t, "o", wsEcho)
	lb := startLB(t, basicConfig("round_robin", "", o.asOrigin()))
	c := wsDial(t, lb.addr, "/ws")
	c.Close()
	waitFor(t, 5*time.Second, "OpenTunnels() 0", func() bool { return lb.p.Handler().OpenTunnels() == 0 })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := lb.p.Handler().CloseTunnels(ctx); err != nil {
		t.Fatalf("CloseTunnels() = %v with no tunnel open, want nil", err)
	}
}

// The pool's response timeout is the tunnel's idle timeout (Nginx
// proxy_read_timeout): a quiet tunnel is closed, one with traffic either
// way, even one way only, stays open.
func TestTunnelIdleTimeout(t *testing.T) {
	const idleTimeout = time.Second
	echo, push := startWSOrigin(t, "echo", wsEcho), startWSOrigin(t, "push", wsPush)
	cfg := func(o *wsOrigin) string {
		return strings.Replace(basicConfig("round_robin", "", o.asOrigin()), "response: 2s", "response: "+idleTimeout.String(), 1)
	}
	lbEcho, lbPush := startLB(t, cfg(echo)), startLB(t, cfg(push))

	// Timed from before the idle tunnel's handshake, its last activity:
	// on a loaded machine the measure can only come out longer.
	start := time.Now()
	idle := wsDial(t, lbEcho.addr, "/idle")
	active := wsDial(t, lbEcho.addr, "/active")
	oneWay := wsDial(t, lbPush.addr, "/push")

	idleClosed := make(chan error, 1)
	var idleFor time.Duration
	go func() {
		_ = idle.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, _, err := idle.ReadMessage()
		idleFor = time.Since(start)
		idleClosed <- err
	}()
	// Traffic every 25-50ms, far inside the idle timeout, until the idle
	// tunnel has closed and a whole idle timeout more has passed.
	var closedAt time.Time
	for closedAt.IsZero() || time.Since(closedAt) < idleTimeout {
		if closedAt.IsZero() {
			select {
			case err := <-idleClosed:
				if err == nil || isTimeout(err) {
					t.Fatalf("idle tunnel read: %v, want closed", err)
				}
				closedAt = time.Now()
			default:
				if time.Since(start) > 10*time.Second {
					t.Fatal("idle tunnel still open")
				}
			}
		}
		if err := active.WriteMessage(websocket.TextMessage, []byte("ping")); err != nil {
			t.Fatalf("active tunnel write after %v: %v", time.Since(start), err)
		}
		_ = active.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, _, err := active.ReadMessage(); err != nil {
			t.Fatalf("active tunnel read after %v: %v", time.Since(start), err)
		}
		_ = oneWay.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, msg, err := oneWay.ReadMessage(); err != nil || string(msg) != "tick" {
			t.Fatalf("one-way tunnel read after %v: %q, %v", time.Since(start), msg, err)
		}
		time.Sleep(25 * time.Millisecond)
	}
	if idleFor < idleTimeout || idleFor > 5*idleTimeout {
		t.Fatalf("idle tunnel closed after %v, want after %v (and well before the active ones)", idleFor, idleTimeout)
	}
}

// Bytes the server sends in the same packet as its 101 (a server-first
// protocol, or a greeting) sit in lb's reader of the handshake: they must
// reach the client. Likewise bytes the client sends right behind its
// request sit in fasthttp's reader and must reach the server.
func TestTunnelRelaysBytesBufferedAroundThe101(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	fromClient := make(chan []byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		br := bufio.NewReader(c)
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		// The 101 and a first frame in one write.
		sum := sha1.Sum([]byte(req.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
		resp := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
			"Sec-WebSocket-Accept: " + base64.StdEncoding.EncodeToString(sum[:]) + "\r\n\r\n" +
			"\x81\x05first"
		if _, err := c.Write([]byte(resp)); err != nil {
			return
		}
		frame := make([]byte, 2+4+6) // masked "client"
		if _, err := io.ReadFull(br, frame); err != nil {
			return
		}
		fromClient <- frame
	}()
	lb := startLB(t, basicConfig("round_robin", "", &origin{name: "raw", addr: ln.Addr().String()}))

	c := dialRaw(t, lb.addr)
	_ = c.c.SetDeadline(time.Now().Add(10 * time.Second))
	mask := []byte{1, 2, 3, 4}
	frame := []byte{0x81, 0x80 | 6}
	frame = append(frame, mask...)
	for i, b := range []byte("client") {
		frame = append(frame, b^mask[i%4])
	}
	req := "GET /raw HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := c.c.Write(append([]byte(req), frame...)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Upgrade") != "websocket" || resp.Header.Get("Connection") != "Upgrade" {
		t.Fatalf("handshake answer %d %v, want 101 with Upgrade: websocket, Connection: Upgrade", resp.StatusCode, resp.Header)
	}
	first := make([]byte, 7)
	if _, err := io.ReadFull(c.br, first); err != nil || string(first) != "\x81\x05first" {
		t.Fatalf("first frame %q, %v; want the server's greeting", first, err)
	}
	select {
	case got := <-fromClient:
		if !bytes.Equal(got, frame) {
			t.Fatalf("server got %x, want the client's frame %x", got, frame)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the client's first frame did not reach the server")
	}
}

// Which requests are tunnelled: the origin sees Upgrade only on a tunnel
// (forward drops it as hop-by-hop).
func TestTunnelOnlyForUpgradeRequests(t *testing.T) {
	o := startWSOrigin(t, "o", wsRefuse) // answers 403 to all
	lb := startLB(t, basicConfig("round_robin", "", o.asOrigin()))
	for _, tc := range []struct {
		name    string
		req     string
		tunnel  bool
		upgrade string // Upgrade the origin sees
	}{
		{"websocket", "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", true, "websocket"},
		{"token in a list, any case", "GET / HTTP/1.1\r\nHost: x\r\nconnection: keep-alive, UPGRADE\r\nupgrade: websocket\r\n\r\n", true, "websocket"},
		{"token in a second Connection field", "GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n", true, "websocket"},
		{"several Upgrade fields", "GET / HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: foo/1\r\nUpgrade: websocket\r\n\r\n", true, "foo/1, websocket"},
		{"no Connection token", "GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\nUpgrade: websocket\r\n\r\n", false, ""},
		{"empty Upgrade", "GET / HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: \r\n\r\n", false, ""},
		{"h2c only", "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n", false, ""},
		{"HTTP/1.0", "GET / HTTP/1.0\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n", false, ""},
		{"with a body", "POST / HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: websocket\r\nContent-Length: 2\r\n\r\nhi", false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(o.handshakes())
			resp := dialRaw(t, lb.addr).mustDo(tc.req)
			if resp.StatusCode() != http.StatusForbidden {
				t.Fatalf("status %d, want the origin's 403", resp.StatusCode())
			}
			hs := o.handshakes()
			if len(hs) != before+1 {
				t.Fatalf("origin saw %d requests, want 1", len(hs)-before)
			}
			h := hs[len(hs)-1]
			if got := h.Get("Upgrade"); got != tc.upgrade {
				t.Fatalf("origin got Upgrade %q, want %q (tunnel %v)", got, tc.upgrade, tc.tunnel)
			}
			if tc.tunnel && h.Get("Connection") != "Upgrade" {
				t.Fatalf("origin got Connection %q, want Upgrade", h.Get("Connection"))
			}
			if !tc.tunnel && len(h.Values("Http2-Settings")) > 0 {
				t.Fatalf("origin got HTTP2-Settings %q on a plain request", h.Values("Http2-Settings"))
			}
		})
	}
}
