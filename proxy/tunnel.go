package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"net"
	"time"

	"github.com/valyala/fasthttp"

	"lb/balancer"
)

// Upgrade requests (WebSocket and the like) are not forwarded through the
// server's HostClient, which would take the 101 for an ordinary answer and
// pool the switched connection (FASTHTTP.md). lb dials the server itself,
// sends the request head, and on a 101 hijacks the client's connection and
// copies bytes both ways until either side closes or the tunnel is idle
// (Nginx proxy_pass with Upgrade and Connection set, proxy_read_timeout;
// HAProxy tunnel mode, timeout tunnel). Any other answer is relayed as the
// request's response and the server's connection closed.

const (
	// tunnelDialTimeout bounds the connect when the server has no dialer
	// of its own (Server.Client.Dial, which applies the pool's connect
	// timeout).
	tunnelDialTimeout = 5 * time.Second
	// tunnelStartTimeout bounds the wait for fasthttp to hand over the
	// client's connection after the 101. It does so at once unless writing
	// earlier pipelined responses fails, in which case it never calls the
	// hijack handler: the tunnel is then given up, its slot released.
	tunnelStartTimeout = 10 * time.Second
	// tunnelBufSize is the copy buffer of each direction.
	tunnelBufSize = 32 << 10
	// tunnelReadBuffer is the server-side reader size when the server's
	// client sets none; it is the largest response head accepted.
	tunnelReadBuffer = 4 << 10
	// maxRefusalBody bounds the body of an answer other than 101, which is
	// read whole before it is relayed.
	maxRefusalBody = 4 << 20
)

var (
	hUpgrade   = []byte("Upgrade")
	tokUpgrade = []byte("upgrade")
	tokH2C     = []byte("h2c")
)

// errBadUpgrade fails a 101 that switches to a protocol the client did
// not offer (Go's ReverseProxy refuses it the same way).
var errBadUpgrade = errors.New("proxy: server switched to a protocol not requested")

// isUpgrade reports whether the request asks to switch protocols and is
// tunnelled: HTTP/1.1 (RFC 9110 §7.8: an HTTP/1.0 Upgrade is ignored), a
// Connection field listing "upgrade" (any case, any of several fields),
// an Upgrade field offering a protocol other than h2c, and no body.
//
// Requests that fail the last two go through forward, which drops
// Upgrade as hop-by-hop, so the server answers in HTTP/1.1: h2c upgrades
// are deprecated (RFC 9113 §3.1), curl --http2 sends them on every
// request, and a server ignoring them answers with an ordinary response
// of any size; a request body would have to be sent before the switch,
// and WebSocket handshakes have none.
//
// Fields are read as received (st.hdrs) and their names compared
// ignoring case.
func (st *state) isUpgrade(h *fasthttp.RequestHeader) bool {
	// -2 ("identity") is a request without a body; -1 is chunked.
	if cl := h.ContentLength(); !h.IsHTTP11() || cl > 0 || cl == -1 {
		return false
	}
	conn, proto := false, false
	for _, kv := range st.hdrs {
		k, v := kv[0], kv[1]
		switch {
		case foldEqual(k, hConnection):
			conn = conn || hasToken(v, tokUpgrade)
		case foldEqual(k, hUpgrade):
			proto = proto || offersTunnel(v)
		}
	}
	return conn && proto
}

// hasToken reports whether the comma-separated list v holds tok, any case.
func hasToken(v, tok []byte) bool {
	for len(v) > 0 {
		var t []byte
		t, v = nextToken(v)
		if foldEqual(t, tok) {
			return true
		}
	}
	return false
}

// offersTunnel reports whether an Upgrade value offers a protocol lb
// tunnels: any but h2c.
func offersTunnel(v []byte) bool {
	for len(v) > 0 {
		var t []byte
		t, v = nextToken(v)
		if len(t) > 0 && !foldEqual(t, tokH2C) {
			return true
		}
	}
	return false
}

// tunnel forwards an Upgrade request. It takes a slot on a server as
// forward does (sticky server first, then the pool's pick), dials it,
// writes the request head: the path and query as received, the client's
// fields in order less the hop-by-hop ones, X-Forwarded-* and
// X-Request-ID as for any request, then "Connection: Upgrade" and the
// client's Upgrade value. On a 101 it hands the connection to a tunnel
// (switchProtocols); on any other answer it relays that answer. A failed
// attempt is retried on another server as forward retries. pathQuery is
// the request target's path and query as received; hasHost says whether
// the client sent a Host field.
func (h *Handler) tunnel(ctx *fasthttp.RequestCtx, st *state, pool *Pool, pathQuery []byte, hasHost bool) {
	if h.tun.isClosed() {
		h.fail(ctx, st, fasthttp.StatusServiceUnavailable, "shutting down", pool)
		return
	}
	req := &ctx.Request
	up := st.resetUpstream(req.Header.Method())
	st.stickyID = nil
	if pool.Sticky != nil {
		st.stickyID = balancer.RequestCookie(&req.Header, str(pool.Sticky.Cookie))
	}
	// The trusted proxies come from the current snapshot, which is serve's
	// unless a reload landed in between.
	st.copyRequestHeaders(ctx, h.snap.Load(), pool, hasHost, &up.Header)
	offered := st.offeredProtocols()
	up.Header.AddBytesKV(hConnection, hUpgrade)
	up.Header.AddBytesKV(hUpgrade, offered)
	st.uri = st.uri[:0]
	if len(pathQuery) == 0 || pathQuery[0] != '/' {
		st.uri = append(st.uri, '/')
	}
	st.uri = append(st.uri, pathQuery...)
	up.Header.SetRequestURIBytes(st.uri)
	head := up.Header.Header()

	rp := &pool.Retry
	anyMethod := st.route.RetryNonIdempotent || idempotent(req.Header.Method())
	deadline := st.start.Add(rp.Timeout)
	resp := &ctx.Response
	var lastErr error
	for {
		srv, err := h.acquire(ctx, st, pool)
		if err != nil {
			if st.attempts > 0 && lastErr == nil {
				break // no other server: the last answer stands
			}
			if lastErr != nil {
				h.failTunnel(ctx, st, lastErr, pool)
				return
			}
			h.fail(ctx, st, fasthttp.StatusServiceUnavailable, acquireReason(err), pool)
			return
		}
		st.attempt(srv)

		timeout := h.attemptTimeout(pool, deadline)
		t0 := h.now()
		conn, br, err := handshake(srv, head, resp, offered, timeout)
		st.upstream += h.now().Sub(t0)

		outcome, status := outcomeOf(err, resp)
		if outcome == balancer.OK && pool.PassiveStatuses.Has(status) {
			outcome = balancer.BadStatus
		}
		if pool.Report(srv, outcome, status) {
			h.logEjection(st, pool, srv, outcome, status)
		}
		lastErr = err
		if conn != nil {
			h.switchProtocols(ctx, st, pool, srv, conn, br)
			return
		}
		srv.Release()
		if st.attempts >= rp.Attempts || !h.now().Before(deadline) || !rp.retries(outcome, status, anyMethod) {
			break
		}
	}
	if lastErr != nil {
		h.failTunnel(ctx, st, lastErr, pool)
		return
	}
	// Not switched: the server's answer is the response, as in forward.
	st.editResponse(&resp.Header, &pool.ResponseHeaders)
	if pool.Sticky != nil && string(st.stickyID) != st.server.ID {
		st.setStickyCookie(&resp.Header, pool.Sticky, st.server.ID)
	}
	resp.Header.ResetConnectionClose()
	if req.Header.ConnectionClose() {
		resp.SetConnectionClose()
	}
}

// offeredProtocols returns the client's Upgrade values, several fields
// joined with ", ", kept in the request's scratch buffer.
func (st *state) offeredProtocols() []byte {
	n := len(st.buf)
	for _, kv := range st.hdrs {
		k, v := kv[0], kv[1]
		if v = bytes.TrimSpace(v); len(v) > 0 && foldEqual(k, hUpgrade) {
			if len(st.buf) > n {
				st.buf = append(st.buf, commaSpace...)
			}
			st.buf = append(st.buf, v...)
		}
	}
	return st.buf[n:len(st.buf):len(st.buf)]
}

// failTunnel answers for an attempt that came to err.
func (h *Handler) failTunnel(ctx *fasthttp.RequestCtx, st *state, err error, pool *Pool) {
	switch {
	case errors.Is(err, errBadUpgrade):
		h.fail(ctx, st, fasthttp.StatusBadGateway, "upstream upgrade mismatch", pool)
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		h.fail(ctx, st, fasthttp.StatusBadGateway, "upstream response too large", pool)
	default:
		status, reason := classify(err)
		h.fail(ctx, st, status, reason, pool)
	}
}

// handshake dials srv, sends head and reads the answer into resp within
// timeout. On a 101 that switches to an offered protocol it returns the
// connection and its reader, which may already hold bytes the server sent
// after the 101; on any other answer it reads the body (at most
// maxRefusalBody), closes the connection and returns nil.
func handshake(srv *balancer.Server, head []byte, resp *fasthttp.Response, offered []byte, timeout time.Duration) (net.Conn, *bufio.Reader, error) {
	if timeout <= 0 {
		return nil, nil, fasthttp.ErrTimeout
	}
	conn, err := dialServer(srv)
	if err != nil {
		return nil, nil, err
	}
	if err := conn.SetDeadline(time.Now().Add(timeout)); err != nil {
		conn.Close()
		return nil, nil, err
	}
	if _, err := conn.Write(head); err != nil {
		conn.Close()
		return nil, nil, err
	}
	size := tunnelReadBuffer
	if srv.Client != nil && srv.Client.ReadBufferSize > 0 {
		size = srv.Client.ReadBufferSize
	}
	br := bufio.NewReaderSize(conn, size)
	resp.Header.DisableNormalizing()
	// Interim answers (100, 103) are skipped; a 101 has no body.
	if err := resp.ReadLimitBody(br, maxRefusalBody); err != nil {
		conn.Close()
		return nil, nil, err
	}
	if resp.StatusCode() != fasthttp.StatusSwitchingProtocols {
		conn.Close()
		return nil, nil, nil
	}
	if proto := bytes.TrimSpace(responseField(&resp.Header, hUpgrade)); len(proto) == 0 || !hasToken(offered, proto) {
		conn.Close()
		return nil, nil, errBadUpgrade
	}
	if err := conn.SetDeadline(time.Time{}); err != nil {
		conn.Close()
		return nil, nil, err
	}
	return conn, br, nil
}

// dialServer connects to srv with its client's dialer, which applies the
// pool's connect timeout and DNS caching, or a plain dialer.
func dialServer(srv *balancer.Server) (net.Conn, error) {
	if c := srv.Client; c != nil && c.Dial != nil {
		conn, err := c.Dial(srv.Addr)
		if t, ok := conn.(interface{ Tunnel() }); ok && err == nil {
			t.Tunnel() // bytes both ways at any time: not an exchange
		}
		return conn, err
	}
	d := net.Dialer{Timeout: tunnelDialTimeout}
	return d.Dial("tcp", srv.Addr)
}

// responseField returns the first value of the response field name, in
// any spelling, or nil.
func responseField(h *fasthttp.ResponseHeader, name []byte) []byte {
	for k, v := range h.All() {
		if foldEqual(k, name) {
			return v
		}
	}
	return nil
}

// switchProtocols turns a 101 from srv into a tunnel: the head relayed to
// the client is the server's with hop-by-hop fields dropped and the
// pool's edits applied, as for any response, then "Upgrade" as the server
// sent it and "Connection: Upgrade". fasthttp writes nothing itself; the
// tunnel writes the head once it has the client's connection. The 101
// stays in ctx.Response for the access log. The slot on srv and conn now
// belong to the tunnel.
func (h *Handler) switchProtocols(ctx *fasthttp.RequestCtx, st *state, pool *Pool, srv *balancer.Server, conn net.Conn, br *bufio.Reader) {
	resp := &ctx.Response
	proto := st.keep(bytes.TrimSpace(responseField(&resp.Header, hUpgrade)))
	st.editResponse(&resp.Header, &pool.ResponseHeaders)
	if pool.Sticky != nil && string(st.stickyID) != srv.ID {
		st.setStickyCookie(&resp.Header, pool.Sticky, srv.ID)
	}
	resp.Header.AddBytesKV(hUpgrade, proto)
	resp.Header.AddBytesKV(hConnection, hUpgrade)

	t := &tunnel{
		reg:   &h.tun,
		srv:   srv,
		up:    conn,
		upr:   br,
		head:  resp.Header.AppendBytes(nil),
		idle:  pool.ResponseTimeout,
		start: time.Now(),
	}
	t.watchdog = time.AfterFunc(tunnelStartTimeout, t.abandon)
	if !h.tun.add(t) {
		// CloseTunnels ran meanwhile: lb is stopping.
		t.watchdog.Stop() // abandon does nothing to a tunnel never added
		conn.Close()
		srv.Release()
		h.fail(ctx, st, fasthttp.StatusServiceUnavailable, "shutting down", pool)
		return
	}
	ctx.HijackSetNoResponse(true)
	switchedProtocols(ctx)
	ctx.Hijack(t.run)
}
