package process

import (
	"context"
	"fmt"
	"net"
	"reflect"
	"strings"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
	"go.uber.org/zap"

	"lb/config"
	"lb/edge"
	"lb/upgrade"
)

// parkAfter is how long a client connection waits between requests
// before it is parked: its server goroutine and buffers are let go until
// its next request (see upgrade.Conn). Idle keep-alive connections then
// cost a few KiB each.
const parkAfter = 250 * time.Millisecond

// socketKeys name the listeners' sockets across reloads and upgrades:
// each its address, which validation keeps unique, except on port 0,
// where every listener gets a port of its own: the address and its
// count among those with the same address.
func socketKeys(ls []config.Listener) []string {
	keys := make([]string, len(ls))
	seen := map[string]int{}
	for i, lc := range ls {
		keys[i] = "http:" + lc.Address
		if strings.HasSuffix(lc.Address, ":0") {
			keys[i] = fmt.Sprintf("http:%s#%d", lc.Address, seen[lc.Address])
			seen[lc.Address]++
		}
	}
	return keys
}

// served is one listener and the server on it.
type served struct {
	key     string // the socket's name in the set
	cfg     config.Listener
	ln      net.Listener // edge checks over a view of the set's socket
	srv     *fasthttp.Server
	retired atomic.Bool // replaced by a reload: answer with Connection: close
}

// listen opens (or shares, or inherits) lc's socket and builds its
// server; serve starts it.
func (p *Process) listen(key string, lc config.Listener) (*served, error) {
	v, err := p.set.Listen(key, lc.Address)
	if err != nil {
		return nil, fmt.Errorf("listener %q: %w", lc.Name, err)
	}
	ln, err := edge.Wrap(v, lc, edge.WithLog(p.logs.Error)) // TLS, strict framing, limits; closes v on error
	if err != nil {
		return nil, fmt.Errorf("listener %q: %w", lc.Name, err)
	}
	l := &served{key: key, cfg: lc, ln: ln, srv: p.newServer(lc)}
	h := l.srv.Handler
	l.srv.Handler = func(ctx *fasthttp.RequestCtx) {
		h(ctx)
		if l.retired.Load() {
			// A reload replaced this server: its clients move to the new
			// one on their next connection, told so with a response
			// rather than a close that could cross a request.
			ctx.SetConnectionClose()
		}
	}
	l.srv.ConnState = upgrade.ConnState
	return l, nil
}

func (p *Process) serve(l *served) {
	go func() {
		if err := l.srv.Serve(l.ln); err != nil {
			p.logs.Error.Error("listener stopped", zap.String("listener", l.cfg.Name), zap.Error(err))
		}
	}()
	p.logs.Error.Info("listening", zap.String("listener", l.cfg.Name), zap.String("address", l.ln.Addr().String()))
}

// reconcile opens what cfg's listeners need beyond the running ones:
// next is the new list, fresh the servers to start and old the ones to
// retire once the new configuration is in. A listener whose settings
// are unchanged keeps its server and connections; a changed one gets a
// new server on the same socket. On error nothing has changed.
func (p *Process) reconcile(cfg *config.Config) (next, fresh, old []*served, err error) {
	running := make(map[string]*served, len(p.listeners))
	for _, l := range p.listeners {
		running[l.key] = l
	}
	keys := socketKeys(cfg.Listeners)
	for i, lc := range cfg.Listeners {
		if l := running[keys[i]]; l != nil && reflect.DeepEqual(l.cfg, lc) {
			if err := l.ln.(*edge.Listener).ReloadCertificates(); err != nil {
				p.logs.Error.Warn("TLS certificates do not load; still serving the previous ones", zap.String("listener", lc.Name), zap.Error(err))
			}
			next = append(next, l)
			delete(running, l.key)
			continue
		}
		l, err := p.listen(keys[i], lc)
		if err != nil {
			for _, f := range fresh {
				f.ln.Close()
			}
			return nil, nil, nil, err
		}
		next = append(next, l)
		fresh = append(fresh, l)
	}
	for _, l := range p.listeners {
		if running[l.key] == l {
			old = append(old, l)
		}
	}
	return next, fresh, old, nil
}

// retire stops l accepting (its socket closes unless a new server shares
// it) and lets its connections finish: each gets Connection: close on
// its next response, idle ones end at their idle timeout, and what
// remains after shutdown_timeout is closed.
func (p *Process) retire(l *served) {
	l.retired.Store(true)
	l.ln.Close()
	p.logs.Error.Info("listener retired by reload", zap.String("listener", l.cfg.Name), zap.String("address", l.cfg.Address))
	timeout := p.cfg.ShutdownTimeout
	p.retiring.Add(1)
	go func() {
		defer p.retiring.Done()
		// Not Shutdown at once: it would close idle connections under
		// requests already on their way. Idle ones end at their idle
		// timeout as they would have anyway; then Shutdown bounds the rest.
		select {
		case <-time.After(l.cfg.IdleTimeout):
		case <-p.stopping:
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		_ = l.srv.ShutdownWithContext(ctx)
	}()
}
