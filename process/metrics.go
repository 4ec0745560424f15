package process

import (
	"time"

	"lb/admin"
	"lb/balancer"
	"lb/metrics"
)

// reloadCounts are the reload metrics of a process.
type reloadCounts struct {
	ok, failed uint64
	lastGood   time.Time // zero: no reload took effect yet
}

// count adds one reload outcome.
func (c *reloadCounts) count(r ReloadResult) {
	if r.Err != nil {
		c.failed++
		return
	}
	c.ok++
	c.lastGood = r.At
}

var _ admin.MetricsSource = adminSource{}

// Routes returns the served snapshot's routes with their stats.
func (a adminSource) Routes() []admin.RouteInfo {
	rs := a.p.handler.Snapshot().Routes()
	out := make([]admin.RouteInfo, 0, len(rs))
	for _, r := range rs {
		out = append(out, admin.RouteInfo{Name: r.Name, Pool: r.Pool.Name, Stats: r.Stats})
	}
	return out
}

// PoolStats returns the stats of bp, a pool of the served snapshot.
func (a adminSource) PoolStats(bp *balancer.Pool) *metrics.PoolStats {
	for _, r := range a.p.handler.Snapshot().Routes() {
		if r.Pool.Pool == bp {
			return r.Pool.Stats
		}
	}
	return nil
}

func (a adminSource) Registry() *metrics.Registry { return a.p.handler.Stats() }

func (a adminSource) Reloads() (ok, failed uint64, lastGood time.Time) {
	a.p.mu.Lock()
	defer a.p.mu.Unlock()
	return a.p.reloads.ok, a.p.reloads.failed, a.p.reloads.lastGood
}

func (a adminSource) OpenTunnels() int64 { return int64(a.p.handler.OpenTunnels()) }
