package process

import (
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestWebSocketSurvivesReload: a tunnel opened before a reload keeps
// echoing after it; the reload swaps routing tables, not connections.
func TestWebSocketSurvivesReload(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	up := websocket.Upgrader{}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			mt, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			if c.WriteMessage(mt, msg) != nil {
				return
			}
		}
	})}
	go srv.Serve(ln) //nolint:errcheck
	t.Cleanup(func() { srv.Close() })

	path := filepath.Join(t.TempDir(), "lb.yaml")
	write := func(version string) {
		cfg := strings.NewReplacer("VERSION", version, "A", ln.Addr().String()).Replace(`listeners: [{address: "127.0.0.1:0"}]
log: {level: error, access: {enabled: false}}
routes: [{pool: web}]
pools:
  web:
    response_headers: {set: {X-Version: VERSION}}
    servers: [{address: A}]
`)
		if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("1")
	p, err := Start(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { shutdown(t, p) })

	ws, _, err := websocket.DefaultDialer.Dial("ws://"+p.Addrs()[0].String()+"/chat", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	echo := func(msg string) {
		t.Helper()
		_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		if err := ws.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		_, got, err := ws.ReadMessage()
		if err != nil || string(got) != msg {
			t.Fatalf("echo of %q: %q, %v", msg, got, err)
		}
	}
	echo("before")
	write("2")
	if err := p.Reload(); err != nil {
		t.Fatal(err)
	}
	if r := p.LastReload(); r.Err != nil || r.At.IsZero() {
		t.Fatalf("LastReload = %+v, want a successful one", r)
	}
	echo("after")
	if n := p.Handler().OpenTunnels(); n != 1 {
		t.Fatalf("open tunnels %d, want 1", n)
	}
}
