package process

import (
	"go.uber.org/zap"

	"lb/balancer"
	"lb/proxy"
)

// serverKey names a server as the error log does: pool and address.
type serverKey struct{ pool, addr string }

// servedServer is a server of a snapshot and the state it had when
// recorded.
type servedServer struct {
	srv   *balancer.Server
	state balancer.State
}

// serverStates records the servers of snap and their states, before a
// reload changes them.
func serverStates(snap *proxy.Snapshot) map[serverKey]servedServer {
	m := map[serverKey]servedServer{}
	for _, r := range snap.Routes() {
		for _, s := range r.Pool.Servers() {
			m[serverKey{r.Pool.Name, s.Addr}] = servedServer{s, s.State()}
		}
	}
	return m
}

// logServerChanges logs, one line each with the pool and server, the
// servers a reload added, removed, rebuilt (new settings) or changed the
// state of (configuration down/drain).
func logServerChanges(log *zap.Logger, before map[serverKey]servedServer, snap *proxy.Snapshot) {
	after := serverStates(snap)
	for k, a := range after {
		f := []zap.Field{zap.String("pool", k.pool), zap.String("server", k.addr), zap.String("state", a.state.String())}
		b, ok := before[k]
		switch {
		case !ok:
			log.Info("reload: server added", f...)
		case b.srv != a.srv:
			log.Info("reload: server settings changed; new connections", f...)
		case b.state != a.state:
			log.Info("reload: server state changed", append(f, zap.String("was", b.state.String()))...)
		}
	}
	for k, b := range before {
		if _, ok := after[k]; !ok {
			log.Info("reload: server removed; it finishes its requests in flight",
				zap.String("pool", k.pool), zap.String("server", k.addr), zap.Int64("in_flight", b.srv.InFlight()))
		}
	}
}
