package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

const chromiumPath = "/usr/bin/chromium"

// newBrowser starts Debian's headless Chromium for the test, with the
// flags that keep it off the network (TESTING.md), and returns a tab.
// Without Chromium the test fails under CI=true and is skipped otherwise.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	if _, err := exec.LookPath(chromiumPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("chromium not installed (%v): scripts/deps.sh installs it", err)
		}
		t.Skipf("chromium not installed: %v", err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 720),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancelTab(); cancelAlloc() })
	return ctx
}

// adminStatus reads GET /api/status with the token.
func adminStatus(t *testing.T, admin, token string) map[string]string {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+admin+"/api/status", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		Pools []struct {
			Servers []struct{ Address, State string }
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatalf("status %d: %v", resp.StatusCode, err)
	}
	states := map[string]string{}
	for _, p := range st.Pools {
		for _, s := range p.Servers {
			states[s.Address] = s.State
		}
	}
	return states
}

// waitJS polls a JavaScript condition in the page until it holds, failing
// with the page's error banner after 20 s.
func waitJS(ctx context.Context, t *testing.T, cond, what string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](cond))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			shown, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('#error').textContent`))
			t.Fatalf("waiting for %s: %v (page error: %q)", what, err, shown)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestStatsPageInChromium opens the admin stats page in headless
// Chromium: the page asks for the token (and says so when it is wrong),
// shows each server up, and its drain button drains the server, as the
// page and the status API then show. It saves a screenshot, to
// docs/stats.png when UPDATE_SCREENSHOT=1.
func TestStatsPageInChromium(t *testing.T) {
	ctx := newBrowser(t)
	const token = "stats-page-token-0123456789"
	servers := startFarm(t, 3)
	cfg := filepath.Join(t.TempDir(), "lb.yaml")
	var b strings.Builder
	b.WriteString(`listeners: [{address: "127.0.0.1:0"}]
log: {format: json, access: {enabled: false}}
admin: {address: "127.0.0.1:0", token: "` + token + `"}
routes: [{name: web, pool: web}]
pools:
  web:
    health_check: {interval: 1s, path: /}
    servers:
`)
	for _, s := range servers {
		fmt.Fprintf(&b, "      - address: %s\n", s)
	}
	if err := os.WriteFile(cfg, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	lb := start(t, "lb", "-config", cfg)
	addr := lb.waitFor(t, lbAddrRe)
	admin := lb.waitFor(t, adminAddrRe)

	// Light traffic while the page is open, for its rates: bounded by
	// the test (at most one request per 20 ms, stopped at its end).
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if resp, err := http.Get("http://" + addr + "/"); err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
		}
	}()
	t.Cleanup(func() { close(stop); wg.Wait() })

	row := func(s string) string { return `tr[data-server="` + s + `"]` }
	css := func(sel string) chromedp.CSS { return chromedp.CSS(sel) }
	err := chromedp.Do(ctx,
		chromedp.Navigate("http://"+admin+"/"),
		// No token yet: the page asks for one. A wrong one is an error
		// shown on the page.
		chromedp.WaitVisible(css(`#token`)),
		chromedp.SendKeys(css(`#token`), "wrong-token-0123456789"),
		chromedp.Click(css(`#token-save`)),
		chromedp.WaitVisible(css(`#error`)),
	)
	if err != nil {
		t.Fatalf("token prompt: %v", err)
	}
	errText, err := chromedp.Run(ctx, chromedp.Text(css(`#error`)))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errText, "401") {
		t.Fatalf("error shown for a wrong token = %q, want it to say 401", errText)
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('#token').value = ''`)); err != nil {
		t.Fatal(err)
	}
	err = chromedp.Do(ctx,
		chromedp.SendKeys(css(`#token`), token),
		chromedp.Click(css(`#token-save`)),
	)
	if err != nil {
		t.Fatalf("entering the token: %v", err)
	}
	waitJS(ctx, t, `document.querySelector('#token-form').hidden`, "the token form to go away")
	for _, s := range servers {
		if err := chromedp.Do(ctx, chromedp.WaitVisible(css(row(s)+` .state`))); err != nil {
			t.Fatalf("row of %s: %v", s, err)
		}
		state, err := chromedp.Run(ctx, chromedp.Text(css(row(s)+` .state`)))
		if err != nil {
			t.Fatal(err)
		}
		if state != "up" {
			t.Fatalf("page shows %s %q, want up", s, state)
		}
	}

	drained := servers[1]
	if err := chromedp.Do(ctx,
		chromedp.Click(css(row(drained)+` button[data-action="drain"]`)),
		chromedp.WaitVisible(css(row(drained)+` .state.draining`)),
	); err != nil {
		t.Fatalf("drain button: %v", err)
	}
	states := adminStatus(t, admin, token)
	for _, s := range servers {
		want := "up"
		if s == drained {
			want = "draining"
		}
		if states[s] != want {
			t.Errorf("/api/status: %s is %q after the drain click, want %q", s, states[s], want)
		}
	}
	hidden, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('#error').hidden`))
	if err != nil {
		t.Fatal(err)
	}
	if !hidden {
		t.Errorf("an error is still shown after a successful drain")
	}

	// The picture: a few samples in for the rates and sparklines.
	update := os.Getenv("UPDATE_SCREENSHOT") == "1"
	if update {
		time.Sleep(9 * time.Second)
	}
	if err := chromedp.Do(ctx, chromedp.WaitVisible(css(row(drained)+` .state.draining`))); err != nil {
		t.Fatal(err)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	out := filepath.Join(t.TempDir(), "stats.png")
	if update {
		out = filepath.Join("..", "docs", "stats.png")
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(out, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", out, len(png))

	// On a phone's width, nothing overflows sideways.
	if err := chromedp.Do(ctx,
		chromedp.EmulateViewport(390, 844),
		chromedp.WaitVisible(css(row(drained)+` .state.draining`)),
	); err != nil {
		t.Fatal(err)
	}
	fits, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth <= window.innerWidth`))
	if err != nil {
		t.Fatal(err)
	}
	if !fits {
		t.Errorf("the page is wider than a 390 px phone screen")
	}
	if update {
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join("..", "docs", "stats-phone.png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
