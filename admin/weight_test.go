package admin_test

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// TestWeight: POST .../weight?value=N changes a server's share of a
// weighted round robin at once, survives a reload while the server stays
// in the configuration, and value=0 returns it to the configured weight.
// Bad values and unknown servers are refused.
func TestWeight(t *testing.T) {
	f := newFarm(t)
	a, b := f.origin(t, "a"), f.origin(t, "b")
	l := startLB(t, a, b)
	writeWRR := func() {
		l.write(a, b)
		cfg, err := os.ReadFile(l.path)
		if err != nil {
			t.Fatal(err)
		}
		// Exact shares: no active checks, whose 40 ms timeout could take a
		// server out for a moment on a loaded machine.
		c := strings.Replace(string(cfg), "  web:\n", "  web:\n    policy: weighted_round_robin\n", 1)
		c = regexp.MustCompile(`(?m)^    health_check: .*\n`).ReplaceAllString(c, "")
		cfg = []byte(c)
		if err := os.WriteFile(l.path, cfg, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeWRR()
	if err := l.p.Reload(); err != nil {
		t.Fatal(err)
	}
	share := func() (na, nb int) {
		for range 40 {
			switch got := l.get("/"); got {
			case "a":
				na++
			case "b":
				nb++
			default:
				t.Fatalf("answer %q", got)
			}
		}
		return na, nb
	}
	if na, nb := share(); na != 20 || nb != 20 {
		t.Fatalf("equal weights: a %d, b %d of 40", na, nb)
	}

	var res struct {
		Weight  int  `json:"weight"`
		Changed bool `json:"changed"`
	}
	path := fmt.Sprintf("/api/servers/web/%s/weight?value=3", a.addr)
	if code := l.call("POST", path, &res); code != fasthttp.StatusOK || res.Weight != 3 || !res.Changed {
		t.Fatalf("set weight: %d %+v", code, res)
	}
	if na, nb := share(); na != 30 || nb != 10 {
		t.Fatalf("weights 3:1: a %d, b %d of 40", na, nb)
	}
	var st status
	l.call("GET", "/api/status", &st)
	if w := st.Pools[0].Servers[0].Weight; w != 3 {
		t.Fatalf("status shows weight %d, want 3", w)
	}

	writeWRR()
	if err := l.p.Reload(); err != nil {
		t.Fatal(err)
	}
	if na, nb := share(); na != 30 || nb != 10 {
		t.Fatalf("after a reload: a %d, b %d of 40; the runtime weight should stay", na, nb)
	}

	path = fmt.Sprintf("/api/servers/web/%s/weight?value=0", a.addr)
	if code := l.call("POST", path, &res); code != fasthttp.StatusOK || res.Weight != 1 {
		t.Fatalf("reset weight: %d %+v", code, res)
	}
	if na, nb := share(); na != 20 || nb != 20 {
		t.Fatalf("after reset: a %d, b %d of 40", na, nb)
	}

	for _, bad := range []string{"value=-1", "value=1001", "value=x", ""} {
		if code := l.call("POST", fmt.Sprintf("/api/servers/web/%s/weight?%s", a.addr, bad), nil); code != fasthttp.StatusBadRequest {
			t.Errorf("weight?%s: status %d, want 400", bad, code)
		}
	}
	if code := l.call("POST", "/api/servers/web/127.0.0.1:1/weight?value=2", nil); code != fasthttp.StatusNotFound {
		t.Errorf("unknown server: status %d, want 404", code)
	}
}
