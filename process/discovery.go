package process

import (
	"context"
	"time"

	"go.uber.org/zap"

	"lb/config"
	"lb/discovery"
	"lb/proxy"
	"lb/snapshot"
)

// DNS service discovery: pools whose server entries say resolve follow
// their names' records. A Watcher looks the names up every
// resolver.interval; when an answer changes, the configuration in force
// is expanded again with the servers found and compiled into a new
// snapshot, as a reload does but without reading the file: kept servers
// keep their state, new ones join, removed ones get no new requests and
// finish those in flight (a request holds its server until its answer
// is relayed), and health checks restart on the new pools. Reloads and
// discovery updates are serialised by p.mu.

// discoveryRun is the discovery of one loaded configuration.
type discoveryRun struct {
	raw    *config.Config // the configuration as written (entries with resolve)
	w      *discovery.Watcher
	cancel context.CancelFunc // stops w's Run; set by runDiscovery
}

// newDiscovery prepares the discovery of cfg, starting from prev's
// answers (nil: none), and looks up the names that have no answer yet,
// waiting a bounded time. It returns cfg expanded with the servers found;
// with no entry that says resolve, it returns nil and cfg itself. A name
// that cannot be looked up yet gives no servers and is tried again every
// interval; only a resolver that cannot be set up is an error.
func newDiscovery(cfg *config.Config, prev *discoveryRun, log *zap.Logger) (*discoveryRun, *config.Config, error) {
	sources := discovery.Sources(cfg)
	if len(sources) == 0 {
		return nil, cfg, nil
	}
	res, err := discovery.NewResolver(cfg.Resolver)
	if err != nil {
		return nil, nil, err
	}
	var seed discovery.Sets
	if prev != nil {
		seed = prev.w.Sets()
	}
	w := discovery.NewWatcher(res, cfg.Resolver.Interval, sources, seed, log)
	// Every server tried for A, AAAA and one more query (SRV), then give up.
	wait := time.Duration(3*len(res.Servers))*res.Timeout + time.Second
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	w.Refresh(ctx, true)
	return &discoveryRun{raw: cfg, w: w}, discovery.Expand(cfg, w.Sets()), nil
}

// runDiscovery makes d the running discovery (nil: none), stopping the
// one it replaces without waiting for it (its goroutine may be waiting
// for p.mu; it sees it was replaced and ends). p.mu must be held, or p
// not yet shared.
func (p *Process) runDiscovery(d *discoveryRun) {
	if old := p.disc; old != nil && old.cancel != nil {
		old.cancel()
	}
	p.disc = d
	if d == nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	p.discWG.Go(func() {
		d.w.Run(ctx, func(sets discovery.Sets) { p.rediscovered(d, sets) })
	})
}

// rediscovered serves the servers found by d's latest answers.
func (p *Process) rediscovered(d *discoveryRun, sets discovery.Sets) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.disc != d {
		return // replaced by a reload, or stopping
	}
	cfg := discovery.Expand(d.raw, sets)
	prev := p.handler.Snapshot()
	snap, err := snapshot.Build(cfg, prev, snapshot.WithLog(p.logs.Error))
	if err != nil {
		p.logs.Error.Error("service discovery: the servers found could not be served; the previous ones stay", zap.Error(err))
		return
	}
	// p.swap without replacing p.cfg, which Run reads without p.mu (its
	// pools are not what changed): checks restart on the new pools.
	p.stopChecks()
	p.handler.Store(snap)
	p.startChecks(cfg, snap)
	closeRemovedIdle(prev, snap)
}

// closeRemovedIdle closes the idle keep-alive connections of the servers
// prev has and snap has not: they get no new requests. Those in use
// finish their requests and close as the servers' clients let them go.
func closeRemovedIdle(prev, snap *proxy.Snapshot) {
	kept := map[any]bool{}
	for _, r := range snap.Routes() {
		for _, s := range r.Pool.Servers() {
			kept[s] = true
		}
	}
	for _, r := range prev.Routes() {
		for _, s := range r.Pool.Servers() {
			if !kept[s] && s.Client != nil {
				s.Client.CloseIdleConnections()
			}
		}
	}
}
