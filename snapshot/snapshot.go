// Package snapshot compiles a validated config.Config into the immutable
// runtime proxy.Snapshot the handler serves from. It is the only place
// where configuration types meet runtime types: config never reaches
// proxy or balancer.
//
// Servers are keyed by pool name and address. A rebuild given the
// previous snapshot carries each kept server's runtime state (health,
// in-flight count, counters, keep-alive connections and any admin API
// override of its state) into the new one.
package snapshot

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"sort"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"

	"lb/balancer"
	"lb/config"
	"lb/deadline"
	"lb/metrics"
	"lb/proxy"
	"lb/route"
)

// Upstream connection buffer sizes. The read buffer is also the largest
// response head a server may send (Nginx proxy_buffer_size). Readers are
// pooled per request, not kept per connection: 32 KiB takes a 16 KiB
// answer in one read (its body is read whole, see proxy.wholeBody), which
// cut lb's CPU per 16 KiB request by about a tenth against 16 KiB
// (measured side by side, bench/RESULTS.md).
const (
	upstreamReadBuffer  = 32 << 10
	upstreamWriteBuffer = 16 << 10
)

// Build compiles cfg. prev, when not nil, is the snapshot being replaced:
// servers present in both keep their *balancer.Server, and routes whose
// rate limit is unchanged keep its buckets.
func Build(cfg *config.Config, prev *proxy.Snapshot, opts ...Option) (*proxy.Snapshot, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	limits := newRateLimits(cfg, prev, o)
	old := map[serverKey]*balancer.Server{}
	if prev != nil {
		for _, r := range prev.Routes() {
			for _, s := range r.Pool.Servers() {
				old[serverKey{r.Pool.Name, s.Addr}] = s
			}
		}
	}

	pools := make(map[string]*proxy.Pool, len(cfg.Pools))
	for i := range cfg.Pools {
		p, err := buildPool(&cfg.Pools[i], old)
		if err != nil {
			return nil, err
		}
		pools[p.Name] = p
	}

	rules := make([]route.Rule, len(cfg.Routes))
	targets := make([]*proxy.Route, len(cfg.Routes))
	for i, r := range cfg.Routes {
		rules[i] = route.Rule{
			Hosts:      r.Match.Hosts,
			PathPrefix: r.Match.PathPrefix,
			Methods:    r.Match.Methods,
			Headers:    sortedHeaders(r.Match.Headers),
		}
		p := pools[r.Pool]
		if p == nil {
			return nil, fmt.Errorf("snapshot: route %q: unknown pool %q", r.Name, r.Pool)
		}
		targets[i] = &proxy.Route{
			Name:               r.Name,
			Pool:               p,
			RetryNonIdempotent: r.RetryNonIdempotent,
			Compression:        compression(r.CompressionFor(&cfg.Compression)),

			RejectDotSegments:    r.RejectDotSegments,
			RejectEncodedSlashes: r.RejectEncodedSlashes,
			RateLimit:            limits.build(&cfg.Routes[i]),
		}
		targets[i].Access.Off = !r.AccessLog.On()
		targets[i].Access.Every = uint64(max(r.AccessLog.Sample, 1))
	}
	table, err := route.New(rules)
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	return proxy.NewSnapshot(table, targets, cfg.TrustedPrefixes), nil
}

type serverKey struct{ pool, addr string }

func buildPool(pc *config.Pool, old map[serverKey]*balancer.Server) (*proxy.Pool, error) {
	tlsCfg, err := upstreamTLS(pc)
	if err != nil {
		return nil, err
	}
	servers := make([]*balancer.Server, 0, len(pc.Servers))
	for _, sc := range pc.Servers {
		s := old[serverKey{pc.Name, sc.Address}]
		id := sc.ID
		if id == "" {
			id = balancer.StableID(pc.Name, sc.Address)
		}
		if s == nil || !sameServer(s, pc, &sc, id) || !sameTLS(s.Client.TLSConfig, tlsCfg) {
			ns := balancer.NewServer(sc.Address, sc.Weight, sc.Backup, int64(pc.MaxConnsPerServer))
			ns.ID = id
			ns.Client = newClient(sc.Address, pc, tlsCfg, &ns.Stats)
			ns.ClientIdle = pc.Timeouts.Response
			if s != nil {
				// Still in the configuration: the admin override stays.
				ns.SetAdminState(s.AdminState())
				ns.SetAdminWeight(s.AdminWeight())
			}
			s = ns
		}
		// The operator's state comes from the configuration unless the
		// admin API overrode it: runtime changes survive a reload while
		// the server stays in the configuration (HAProxy semantics), and
		// go with it when the server is removed. Health, ejections and
		// counters stay with the server.
		switch a := s.AdminState(); {
		case a != balancer.AdminNone:
			s.SetState(a.State())
		case sc.Down:
			s.SetState(balancer.StateDown)
		case sc.Drain:
			s.SetState(balancer.StateDraining)
		default:
			s.SetState(balancer.StateUp)
		}
		servers = append(servers, s)
	}
	key, err := hashKey(pc)
	if err != nil {
		return nil, err
	}
	bp, err := balancer.NewPool(pc.Name, balancer.Name(pc.Policy), servers, balancer.Options{HashKey: key})
	if err != nil {
		return nil, fmt.Errorf("snapshot: pool %q: %w", pc.Name, err)
	}
	passive, passiveStatuses := passiveSettings(pc)
	bp.SetPassive(passive)
	bp.SetSlowStart(pc.SlowStart)
	bp.SetPanicMode(pc.PanicMode)
	bp.SetQueue(pc.MaxQueue, pc.QueueTimeout)
	return &proxy.Pool{
		Pool:            bp,
		Host:            []byte(pc.Host),
		ResponseTimeout: pc.Timeouts.Response,
		RequestHeaders:  headerOps(pc.RequestHeaders),
		ResponseHeaders: headerOps(pc.ResponseHeaders),
		Retry:           retryPolicy(pc),
		PassiveStatuses: passiveStatuses,
		RetryAfter:      retryAfter(pc),
		Sticky:          sticky(pc),
	}, nil
}

func hashKey(pc *config.Pool) (balancer.HashKey, error) {
	if pc.HashKey == "" {
		return balancer.HashKey{}, nil
	}
	k, err := balancer.ParseHashKey(pc.HashKey)
	if err != nil {
		return k, fmt.Errorf("snapshot: pool %q: %w", pc.Name, err)
	}
	return k, nil
}

// sameServer reports whether a kept server's fixed settings still match
// its configuration; if not, it is rebuilt (a new connection pool).
func sameServer(s *balancer.Server, pc *config.Pool, sc *config.Server, id string) bool {
	c := s.Client
	return s.Weight == sc.Weight && s.Backup == sc.Backup && s.ID == id &&
		s.MaxConns == int64(pc.MaxConnsPerServer) && c != nil &&
		c.MaxConns == pc.MaxConnsPerServer &&
		c.MaxIdleConnDuration == pc.Timeouts.Idle &&
		c.MaxConnWaitTimeout == pc.Timeouts.Connect &&
		s.ClientIdle == pc.Timeouts.Response
}

// newClient returns the keep-alive connection pool for one server, set up
// for proxying (see FASTHTTP.md): fasthttp's own retries off (lb decides),
// names, paths and defaults left as the client sent them.
func newClient(addr string, pc *config.Pool, tlsCfg *tls.Config, stats *metrics.ServerStats) *fasthttp.HostClient {
	connect, idle := pc.Timeouts.Connect, pc.Timeouts.Response
	dialer := &fasthttp.TCPDialer{Concurrency: 0, DNSCacheDuration: time.Minute}
	var connTLS *tls.Config
	if tlsCfg != nil {
		connTLS = clientTLSFor(tlsCfg, addr)
	}
	// dial opens a connection to the server: a TCP socket with lazily
	// armed deadlines, under TLS when the pool has it, and the socket, for
	// the idle check.
	dial := func() (net.Conn, syscall.RawConn, error) {
		raw, err := dialer.DialDualStackTimeout(addr, connect)
		if err != nil {
			return nil, nil, err
		}
		sc, err := raw.(syscall.Conn).SyscallConn()
		if err != nil {
			raw.Close()
			return nil, nil, err
		}
		// Under TLS, so that a deadline resumed is never seen by it.
		var c net.Conn = deadline.New(raw)
		if connTLS == nil {
			return c, sc, nil
		}
		// TLS inside Dial: fasthttp (and the tunnel, which dials
		// through here too) sees a plain connection, so requests keep
		// their http URI (FASTHTTP.md); the connect timeout bounds the
		// handshake as well.
		ctx, cancel := context.WithTimeout(context.Background(), connect)
		c, err = tlsDial(ctx, c, connTLS)
		cancel()
		if err != nil {
			return nil, nil, err
		}
		return c, sc, nil
	}
	return &fasthttp.HostClient{
		Addr: addr,
		Dial: func(string) (net.Conn, error) {
			return newServerConn(dial, idle, stats)
		},
		// Not used to dial (IsTLS is false): it records the pool's TLS
		// settings, for sameTLS on reload.
		TLSConfig: tlsCfg,
		// Bodies stream back to the client instead of being read whole.
		StreamResponseBody:            true,
		NoDefaultUserAgentHeader:      true,
		DisableHeaderNamesNormalizing: true,
		DisablePathNormalizing:        true,
		MaxConns:                      pc.MaxConnsPerServer,
		MaxConnWaitTimeout:            connect,
		MaxIdleConnDuration:           pc.Timeouts.Idle,
		MaxIdemponentCallAttempts:     1,
		ReadBufferSize:                upstreamReadBuffer,
		WriteBufferSize:               upstreamWriteBuffer,
	}
}

func headerOps(c config.HeaderOps) proxy.HeaderOps {
	var ops proxy.HeaderOps
	for _, n := range c.Remove {
		ops.Remove = append(ops.Remove, []byte(n))
	}
	for _, h := range sortedHeaders(c.Set) {
		ops.Set = append(ops.Set, proxy.HeaderKV{Name: []byte(h.Name), Value: []byte(h.Value)})
	}
	for _, h := range sortedHeaders(c.Add) {
		ops.Add = append(ops.Add, proxy.HeaderKV{Name: []byte(h.Name), Value: []byte(h.Value)})
	}
	return ops
}

// sortedHeaders returns m as a list in name order, so that edits are
// applied in the same order on every load.
func sortedHeaders(m map[string]string) []route.Header {
	hs := make([]route.Header, 0, len(m))
	for k, v := range m {
		hs = append(hs, route.Header{Name: k, Value: v})
	}
	sort.Slice(hs, func(i, j int) bool { return hs[i].Name < hs[j].Name })
	return hs
}
