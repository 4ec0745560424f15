// Package process runs one lb process: it loads the configuration, opens
// the listeners, serves them with the proxy handler, reloads on SIGHUP and
// stops gracefully on SIGTERM or SIGINT.
package process

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
	"go.uber.org/zap"

	"lb/admin"
	"lb/balancer"
	"lb/config"
	"lb/discovery"
	"lb/edge"
	"lb/health"
	"lb/logging"
	"lb/proxy"
	"lb/snapshot"
	"lb/upgrade"
)

// Check loads and compiles the configuration at path without serving it
// (nginx -t, haproxy -c).
func Check(path string) error {
	cfg, err := config.Load(path)
	if err != nil {
		return err
	}
	_, err = snapshot.Build(discovery.Expand(cfg, nil), nil)
	return err
}

// Process is a running lb. Its methods are safe for concurrent use.
type Process struct {
	path    string
	cfg     *config.Config
	logs    *logging.Loggers
	handler *proxy.Handler
	// set holds the listening sockets and their connections, which an
	// upgrade hands to the next process.
	set *upgrade.Set
	// listeners are the served listeners, in configuration order;
	// guarded by mu. Replaced ones retire in the background (retiring).
	listeners []*served
	retiring  sync.WaitGroup
	stopping  chan struct{} // closed when Shutdown begins
	// The admin API, when configured: its handler, server and listener.
	admin    *admin.Server
	adminSrv *fasthttp.Server
	adminLn  net.Listener
	mu       sync.Mutex // serialises Reload and Shutdown; guards checks and listeners
	checks   []*health.Checker
	// lastReload is the outcome of the last reload; guarded by mu.
	lastReload ReloadResult
	reloads    reloadCounts // guarded by mu
	// disc is the running DNS service discovery, nil when no server
	// entry says resolve; guarded by mu. discWG counts its goroutines.
	disc   *discoveryRun
	discWG sync.WaitGroup
}

// Start loads the configuration at path, opens its listeners and starts
// serving them. The listeners are open when Start returns.
func Start(path string) (*Process, error) { return StartWith(path, upgrade.NewSet()) }

// StartWith is Start taking the listening sockets from set: those an old
// process passed, when this one was started by an upgrade.
func StartWith(path string, set *upgrade.Set) (*Process, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	logs, err := logging.New(cfg.Log)
	if err != nil {
		return nil, err
	}
	// Servers found in DNS join the configuration (discovery.go).
	disc, cfg, err := newDiscovery(cfg, nil, logs.Error)
	if err != nil {
		logs.Close()
		return nil, err
	}
	snap, err := snapshot.Build(cfg, nil, snapshot.WithLog(logs.Error))
	if err != nil {
		logs.Close()
		return nil, err
	}
	p := &Process{path: path, cfg: cfg, logs: logs, handler: proxy.New(snap, logs.Access), set: set, stopping: make(chan struct{})}
	p.handler.SetErrorLog(logs.Error)
	p.startChecks(cfg, snap)
	set.ParkIdle(parkAfter)
	keys := socketKeys(cfg.Listeners)
	for i, lc := range cfg.Listeners {
		l, err := p.listen(keys[i], lc)
		if err != nil {
			p.stopChecks()
			p.closeListeners()
			logs.Close()
			return nil, err
		}
		p.listeners = append(p.listeners, l)
	}
	if cfg.Admin.Enabled {
		ln, err := p.set.Listen("admin:"+cfg.Admin.Address, cfg.Admin.Address)
		if err != nil {
			p.stopChecks()
			p.closeListeners()
			logs.Close()
			return nil, fmt.Errorf("admin listener: %w", err)
		}
		p.adminLn = ln
		p.admin = admin.New(adminSource{p}, cfg.Admin.Token, logs.Error)
		p.adminSrv = p.newAdminServer()
	}
	for _, l := range p.listeners {
		p.serve(l)
	}
	if p.adminSrv != nil {
		go func() {
			if err := p.adminSrv.Serve(p.adminLn); err != nil {
				p.logs.Error.Error("admin listener stopped", zap.Error(err))
			}
		}()
		logs.Error.Info("admin listening", zap.String("address", p.adminLn.Addr().String()))
	}
	p.runDiscovery(disc)
	return p, nil
}

// AdminAddr returns the admin listener's bound address, or nil when the
// configuration has no admin block.
func (p *Process) AdminAddr() net.Addr {
	if p.adminLn == nil {
		return nil
	}
	return p.adminLn.Addr()
}

// newAdminServer returns the admin API's server. Its timeouts bound
// reading a request and writing an answer; a drain call with a wait
// blocks in the handler, which they do not bound.
func (p *Process) newAdminServer() *fasthttp.Server {
	return &fasthttp.Server{
		Handler:               p.admin.Handler,
		ConnState:             upgrade.ConnState, // handed over on upgrade
		Logger:                zapPrintf{p.logs.Error},
		ReadTimeout:           10 * time.Second,
		WriteTimeout:          10 * time.Second,
		IdleTimeout:           time.Minute,
		MaxRequestBodySize:    4 << 10,
		Concurrency:           256,
		NoDefaultServerHeader: true,
		CloseOnShutdown:       true,
	}
}

// adminSource is the process as the admin API sees it.
type adminSource struct{ p *Process }

// Pools returns the served snapshot's pools, each once, in route order.
func (a adminSource) Pools() []*balancer.Pool {
	var pools []*balancer.Pool
	seen := map[*balancer.Pool]bool{}
	for _, r := range a.p.handler.Snapshot().Routes() {
		if bp := r.Pool.Pool; !seen[bp] {
			seen[bp] = true
			pools = append(pools, bp)
		}
	}
	return pools
}

func (a adminSource) Reload() error { return a.p.Reload() }

func (a adminSource) LastReload() (time.Time, error) {
	r := a.p.LastReload()
	return r.At, r.Err
}

func (a adminSource) CheckStatus(s *balancer.Server) (health.Result, bool) {
	a.p.mu.Lock()
	defer a.p.mu.Unlock()
	for _, c := range a.p.checks {
		if r, ok := c.Status(s); ok {
			return r, true
		}
	}
	return health.Result{}, false
}

// Addrs returns the listeners' bound addresses, in configuration order.
func (p *Process) Addrs() []net.Addr {
	p.mu.Lock()
	defer p.mu.Unlock()
	a := make([]net.Addr, len(p.listeners))
	for i, l := range p.listeners {
		a[i] = l.ln.Addr()
	}
	return a
}

// Handler returns the process's proxy handler.
func (p *Process) Handler() *proxy.Handler { return p.handler }

// responseWriteBuffer holds an answer's head and a body lb read whole
// (up to about 32 KiB) for one write to the client: fasthttp would send a
// larger answer with writev, but only on a bare TCP connection, which
// lb's connection wrappers hide. A parked connection gives it back.
const responseWriteBuffer = 32 << 10

// bodyReadAhead is how much of a request body is read before the
// handler runs; larger bodies stream to the server.
const bodyReadAhead = 16 << 10

func (p *Process) newServer(lc config.Listener) *fasthttp.Server {
	return &fasthttp.Server{
		Handler:      edge.Handler(lc, p.handler.Listener(int64(lc.MaxBodyBytes))), // HSTS, https redirect
		ErrorHandler: proxy.ParseError,
		Logger:       zapPrintf{p.logs.Error},

		// ReadTimeout bounds the head (Nginx client_header_timeout: 408 and
		// close); once it is read, read_timeout bounds the body.
		ReadTimeout: lc.HeaderTimeout,
		HeaderReceived: func(*fasthttp.RequestHeader) fasthttp.RequestConfig {
			return fasthttp.RequestConfig{ReadTimeout: lc.ReadTimeout}
		},
		WriteTimeout:       lc.WriteTimeout,
		IdleTimeout:        lc.IdleTimeout,
		ReadBufferSize:     int(lc.MaxHeaderBytes),
		WriteBufferSize:    responseWriteBuffer,
		Concurrency:        lc.MaxConns,           // Nginx worker_connections, HAProxy maxconn
		MaxRequestsPerConn: lc.MaxRequestsPerConn, // Nginx keepalive_requests
		// max_conns_per_ip is enforced by edge.Wrap's listener.
		// With streaming, fasthttp reads up to MaxRequestBodySize of a body
		// before the handler runs and streams the rest: this is the
		// per-request read-ahead (Nginx client_body_buffer_size), not the
		// limit, which the handler enforces on the whole stream.
		MaxRequestBodySize: int(min(lc.MaxBodyBytes, bodyReadAhead)),
		// An Expect: 100-continue request whose declared body is over the
		// limit is refused before its body is sent (417).
		ContinueHandler: func(h *fasthttp.RequestHeader) bool {
			return int64(h.ContentLength()) <= int64(lc.MaxBodyBytes)
		},

		// Forward what the client sent: names and paths as received, no
		// invented Server or Content-Type headers.
		DisableHeaderNamesNormalizing: true,
		NoDefaultServerHeader:         true,
		NoDefaultContentType:          true,
		DisablePreParseMultipartForm:  true,
		// The handler keeps its own times; ctx.Time() would read the
		// clock per request for nothing.
		LazyRequestTime: true,
		CloseOnShutdown: true,
		// Bodies stream to the server instead of being read whole; the
		// handler enforces max_body_bytes on them.
		StreamRequestBody: true,
	}
}

// Reload loads the configuration again and swaps it in. An invalid
// configuration changes nothing and is returned as the error.
// Listener and log changes need a restart for now.
func (p *Process) Reload() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	before := serverStates(p.handler.Snapshot()) // servers.go
	cfg, err := config.Load(p.path)
	var disc *discoveryRun
	if err == nil {
		disc, cfg, err = newDiscovery(cfg, p.disc, p.logs.Error) // discovery.go
	}
	if err == nil {
		var snap *proxy.Snapshot
		if snap, err = snapshot.Build(cfg, p.handler.Snapshot(), snapshot.WithLog(p.logs.Error)); err == nil {
			var next, fresh, old []*served
			if next, fresh, old, err = p.reconcile(cfg); err == nil {
				if p.cfg.Admin != cfg.Admin {
					p.logs.Error.Warn("admin listener changes take effect at the next restart or upgrade; the reload changed everything else")
				}
				p.swap(cfg, snap)
				logServerChanges(p.logs.Error, before, snap)
				p.runDiscovery(disc)
				p.listeners = next
				for _, l := range fresh {
					p.serve(l)
				}
				for _, l := range old {
					p.retire(l)
				}
			}
		}
	}
	p.lastReload = ReloadResult{At: time.Now(), Err: err}
	p.reloads.count(p.lastReload)
	return err
}

// swap publishes a new snapshot and restarts the health checks on it.
func (p *Process) swap(cfg *config.Config, snap *proxy.Snapshot) {
	// The new checkers start from the servers' current health: a server
	// kept down stays down until it passes rise checks.
	p.stopChecks()
	p.handler.Store(snap)
	p.startChecks(cfg, snap)
	p.cfg = cfg
}

// ReloadResult is the outcome of the last reload attempt.
type ReloadResult struct {
	At  time.Time // zero: no reload yet
	Err error     // nil: the new configuration serves
}

// LastReload returns the outcome of the last reload attempt.
func (p *Process) LastReload() ReloadResult {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lastReload
}

// startChecks starts the active health checks of snap's pools.
func (p *Process) startChecks(cfg *config.Config, snap *proxy.Snapshot) {
	for _, c := range snapshot.Checks(cfg, snap) {
		ch := health.New(c.Pool, c.Config, p.logs.Error)
		ch.Start()
		p.checks = append(p.checks, ch)
	}
}

// stopChecks stops the running health checks and waits for them.
func (p *Process) stopChecks() {
	for _, c := range p.checks {
		c.Stop()
	}
	p.checks = nil
}

// Shutdown stops accepting, lets requests in flight finish until ctx is
// done, then closes what remains.
func (p *Process) Shutdown(ctx context.Context) error {
	var wg sync.WaitGroup
	p.mu.Lock()
	listeners := p.listeners
	select {
	case <-p.stopping:
	default:
		close(p.stopping) // retiring servers shut down now too
	}
	p.runDiscovery(nil)
	p.mu.Unlock()
	p.discWG.Wait()
	errs := make([]error, len(listeners))
	for i, l := range listeners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = l.srv.ShutdownWithContext(ctx)
		}()
	}
	var adminErr error
	if p.adminSrv != nil {
		p.admin.Close() // drain calls waiting answer now
		wg.Add(1)
		go func() {
			defer wg.Done()
			adminErr = p.adminSrv.ShutdownWithContext(ctx)
		}()
	}
	wg.Wait()
	errs = append(errs, adminErr)
	retired := make(chan struct{})
	go func() {
		p.retiring.Wait()
		close(retired)
	}()
	select {
	case <-retired:
	case <-ctx.Done():
	}
	// Parked idle connections are not the servers' any more: close them
	// as the servers closed their idle ones.
	p.set.StopParking()
	// Tunnels (WebSockets) are hijacked connections that fasthttp neither
	// counts nor waits for: give them until ctx is done, then close them.
	if err := p.handler.CloseTunnels(ctx); err != nil {
		errs = append(errs, err)
	}
	p.mu.Lock()
	p.stopChecks()
	p.mu.Unlock()
	for _, r := range p.handler.Snapshot().Routes() {
		for _, s := range r.Pool.Servers() {
			s.Client.CloseIdleConnections()
		}
	}
	p.logs.Close()
	return errors.Join(errs...)
}

func (p *Process) closeListeners() {
	for _, l := range p.listeners {
		l.ln.Close()
	}
	if p.adminLn != nil {
		p.adminLn.Close()
	}
}

// zapPrintf adapts zap to fasthttp's Logger. fasthttp reports client
// errors (bad requests, timeouts) through it: info level, as Nginx logs
// them, so that hostile clients cannot fill the log at the default level.
type zapPrintf struct{ l *zap.Logger }

func (z zapPrintf) Printf(format string, args ...any) {
	if ce := z.l.Check(zap.InfoLevel, "client connection"); ce != nil {
		ce.Write(zap.String("detail", fmt.Sprintf(format, args...)))
	}
}

var _ fasthttp.Logger = zapPrintf{}
