package process

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestReloadLogsServerChanges: a reload that adds, removes, drains and
// re-weights servers says so in the error log, one line per server with
// its pool and address.
func TestReloadLogsServerChanges(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "error.log")
	cfgPath := filepath.Join(dir, "lb.yaml")
	write := func(servers string) {
		t.Helper()
		cfg := `listeners: [{address: "127.0.0.1:0"}]
log: {output: "` + logPath + `", access: {enabled: false}}
routes: [{pool: web}]
pools:
  web:
    servers: [` + servers + `]
`
		if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(`{address: "127.0.0.1:1"}, {address: "127.0.0.1:2"}, {address: "127.0.0.1:3"}, {address: "127.0.0.1:4"}`)
	p, err := Start(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = p.Shutdown(ctx)
	})
	write(`{address: "127.0.0.1:1"}, {address: "127.0.0.1:2", drain: true}, {address: "127.0.0.1:4", weight: 3}, {address: "127.0.0.1:5"}`)
	if err := p.Reload(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) != nil {
			continue
		}
		if msg, _ := m["msg"].(string); strings.HasPrefix(msg, "reload: server") {
			if m["pool"] != "web" {
				t.Errorf("%q: pool %v, want web", msg, m["pool"])
			}
			got[m["server"].(string)] = msg
		}
	}
	want := map[string]string{
		"127.0.0.1:2": "reload: server state changed",
		"127.0.0.1:3": "reload: server removed; it finishes its requests in flight",
		"127.0.0.1:4": "reload: server settings changed; new connections",
		"127.0.0.1:5": "reload: server added",
	}
	if len(got) != len(want) {
		t.Errorf("reload logged %v, want %v", got, want)
	}
	for s, msg := range want {
		if got[s] != msg {
			t.Errorf("server %s: logged %q, want %q", s, got[s], msg)
		}
	}
}
