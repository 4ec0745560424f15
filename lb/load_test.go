package main_test

import (
	"encoding/json"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// sample is which backend instance answered a request, and when.
type sample struct {
	at       time.Time
	instance string
}

// load is a continuous GET /whoami load on lb from concurrent keep-alive
// clients. The client never retries by itself (fasthttp would resend an
// idempotent request on error and hide a failure): every failure counts.
type load struct {
	stop         atomic.Bool
	sent, failed atomic.Int64
	wg           sync.WaitGroup
	mu           sync.Mutex
	samples      []sample // guarded by mu
}

// startLoad starts workers clients sending to lb at addr until end.
func startLoad(t *testing.T, addr string, workers int) *load {
	l := &load{}
	client := &fasthttp.HostClient{Addr: addr, MaxConns: workers * 2, MaxIdemponentCallAttempts: 1}
	for range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for !l.stop.Load() {
				l.sent.Add(1)
				req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
				req.SetRequestURI("http://lb/whoami")
				err := client.DoTimeout(req, resp, 10*time.Second)
				if err != nil || resp.StatusCode() != 200 {
					l.failed.Add(1)
					t.Errorf("request failed: %v status %d body %q", err, resp.StatusCode(), resp.Body())
				} else {
					var w whoami
					_ = json.Unmarshal(resp.Body(), &w)
					l.mu.Lock()
					l.samples = append(l.samples, sample{time.Now(), w.Instance})
					l.mu.Unlock()
				}
				fasthttp.ReleaseRequest(req)
				fasthttp.ReleaseResponse(resp)
			}
		}()
	}
	return l
}

// waitSent waits until at least n requests have been sent.
func (l *load) waitSent(n int64) {
	for l.sent.Load() < n {
		time.Sleep(10 * time.Millisecond)
	}
}

// end stops the clients, waits for them and returns what they sent and
// how many failed.
func (l *load) end() (sent, failed int64) {
	l.stop.Store(true)
	l.wg.Wait()
	return l.sent.Load(), l.failed.Load()
}
