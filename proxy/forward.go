package proxy

import (
	"errors"
	"time"

	"github.com/valyala/fasthttp"

	"lb/balancer"
	"lb/compress"
	"lb/edge"
)

// forward sends the request to servers of pool, retrying on another
// server as the pool's retry policy allows, and relays the final
// response. pathQuery is the request target's path and query as received;
// hasHost says whether the client sent a Host field.
func (h *Handler) forward(ctx *fasthttp.RequestCtx, st *state, snap *Snapshot, pool *Pool, pathQuery []byte, hasHost bool) {
	req := &ctx.Request
	st.stickyID = nil
	if pool.Sticky != nil {
		st.stickyID = balancer.RequestCookie(&req.Header, str(pool.Sticky.Cookie))
	}
	st.coding = st.negotiate(&req.Header)
	st.offload = st.coding != compress.Identity && st.route.Compression.Offload

	// The body: small ones are read whole and can be sent again on a
	// retry; larger or chunked ones stream to the server once, within
	// the listener's max_body_bytes. A body read whole, with no trailer
	// fields, goes out after a head lb writes itself (exchange).
	rp := &pool.Retry
	var body []byte
	var replayable bool
	st.writesHead = writesHead(req, rp.MaxBodyBytes)
	if st.writesHead {
		body = req.Body()
		replayable = len(body) <= rp.MaxBodyBytes
		st.bytesIn = len(body)
		st.buildHead(ctx, snap, pool, pathQuery, hasHost, len(body))
	} else {
		replayable = st.buildRequest(ctx, snap, pool, pathQuery, hasHost)
	}

	anyMethod := st.route.RetryNonIdempotent || idempotent(req.Header.Method())
	deadline := st.start.Add(rp.Timeout)
	var (
		rl      *relay
		lastErr error
	)
	for {
		srv, err := h.acquire(ctx, st, pool)
		if err != nil {
			if rl != nil {
				break // no other server: the last answer stands
			}
			if lastErr != nil {
				h.failUpstream(ctx, st, lastErr, pool)
				return
			}
			h.fail(ctx, st, fasthttp.StatusServiceUnavailable, acquireReason(err), pool)
			return
		}
		st.attempt(srv)

		if rl != nil {
			rl.discard() // the previous attempt's answer, not sent
		}
		rl = h.relays.Get().(*relay)
		rl.srv = srv
		t0 := h.now()
		// The retries' time (Nginx proxy_next_upstream_timeout) stops
		// further attempts and never cuts one short: the exchange itself
		// is bounded by the server connection (timeouts.response, between
		// any two reads or writes).
		err = fasthttp.ErrTimeout
		if deadline.Sub(t0) > 0 {
			err = exchange(srv, st, body, rl, req.Header.IsHead())
		}
		if err == nil {
			err = rl.readWhole(req.Header.IsHead())
		}
		t1 := h.now()
		d := t1.Sub(t0)
		st.upstream += d

		outcome, status := outcomeOf(err, &rl.resp)
		if err != nil && st.clientFault(err) {
			outcome = balancer.OK // the client's body broke off, not the server
		}
		srv.Stats.Attempt(status, d)
		if outcome == balancer.OK && pool.PassiveStatuses.Has(status) {
			outcome = balancer.BadStatus
		}
		if pool.Report(srv, outcome, status) {
			h.logEjection(st, pool, srv, outcome, status)
		}
		lastErr = err
		if err != nil {
			rl.discard()
			rl = nil
		}
		if st.attempts >= rp.Attempts || !t1.Before(deadline) ||
			(!replayable && outcome != balancer.ConnectFailed) ||
			!rp.retries(outcome, status, anyMethod) {
			break
		}
	}
	if lastErr != nil {
		h.failUpstream(ctx, st, lastErr, pool)
		return
	}

	resp := &ctx.Response
	rl.resp.Header.CopyTo(&resp.Header)
	st.editResponse(&resp.Header, &pool.ResponseHeaders)
	if pool.Sticky != nil && string(st.stickyID) != st.server.ID {
		st.setStickyCookie(&resp.Header, pool.Sticky, st.server.ID)
	}
	rl.stats = pool.Stats // the relay counts the bytes it relays
	if rl.resp.IsBodyStream() {
		cl := rl.resp.Header.ContentLength()
		if cl == -1 {
			// Chunked: trailers may follow the body. Only then: a body
			// with a length has none. The relay copies them at its end.
			rl.out, rl.ops = &resp.Header, &pool.ResponseHeaders
			if names := rl.resp.Header.PeekTrailerKeys(); len(names) > 0 {
				announceTrailers(&resp.Header, names, rl.ops.dropTrailer)
			}
		}
		// fasthttp relays the body after the handler returns, chunk by
		// chunk when its length is unknown, and then closes the relay.
		if st.compressing(ctx, resp, cl) {
			h.compressInto(resp, rl, st.coding, st.route.Compression.Policy.Level(st.coding))
		} else {
			resp.SetBodyStream(rl, cl)
		}
	} else {
		body := rl.resp.Body()
		pool.Stats.BytesOut.Add(uint64(len(body)))
		if st.compressing(ctx, resp, len(body)) {
			resp.ResetBody()
			cw := compress.NewWriter(st.coding, st.route.Compression.Policy.Level(st.coding), resp.BodyWriter())
			_, _ = cw.Write(body)
			_ = cw.Close()
			cw.Release()
			resp.Header.SetContentLength(len(resp.Body()))
			h.countCompressed(st.coding, len(body), len(resp.Body()))
			rl.discard()
		} else {
			// The body stays in the relay's buffer, not copied: the relay
			// lives on until fasthttp has written the response.
			resp.SetBodyRaw(body)
			if cl := rl.resp.Header.ContentLength(); req.Header.IsHead() && cl >= 0 {
				resp.Header.SetContentLength(cl) // HEAD: the GET's length
			}
			rl.lend(ctx)
		}
	}
	// An upstream "Connection: close" ends the pooled connection, never
	// the client's; a client's own "Connection: close" ends its own.
	resp.Header.ResetConnectionClose()
	if req.Header.ConnectionClose() {
		resp.SetConnectionClose()
	}
}

// buildRequest builds the request sent upstream as a fasthttp.Request,
// st.up, for a body that streams or carries trailer fields, which
// fasthttp frames. It reports whether the request can be sent again.
func (st *state) buildRequest(ctx *fasthttp.RequestCtx, snap *Snapshot, pool *Pool, pathQuery []byte, hasHost bool) (replayable bool) {
	req := &ctx.Request
	up := st.resetUpstream(req.Header.Method())
	st.copyRequestHeaders(ctx, snap, pool, hasHost, &up.Header)
	st.uri = appendTarget(st.uri[:0], pathQuery)
	up.SetRequestURIBytes(st.uri)

	// Trailers: the names the client announced are announced to the
	// server. A streamed body's trailer fields are copied when it ends
	// (limitedBody); a body read whole has them already, and fasthttp
	// sends a body with announced trailers chunked, trailers after it.
	rp := &pool.Retry
	ops := &pool.RequestHeaders
	replayable = true
	if req.IsBodyStream() {
		if cl := req.Header.ContentLength(); cl >= 0 && cl <= rp.MaxBodyBytes {
			up.SetBodyRaw(req.Body())
		} else {
			st.body = limitedBody{r: ctx.RequestBodyStream(), left: st.maxBody}
			if cl == -1 { // chunked: trailers may follow
				st.body.in, st.body.out = &req.Header, &up.Header
				st.body.s, st.body.ops = &st.scratch, ops
				st.announceRequestTrailers(&req.Header, ops)
			}
			up.SetBodyStream(&st.body, cl)
			replayable = false
		}
	} else {
		up.SetBodyRaw(req.Body())
		replayable = len(req.Body()) <= rp.MaxBodyBytes
		if len(req.Header.PeekTrailerKeys()) > 0 {
			st.announceRequestTrailers(&req.Header, ops)
			copyTrailers(&up.Header, req.Header.TrailerHeader(), false, func(k []byte) bool { return st.dropRequest(k, ops) })
		}
	}
	if st.body.r == nil {
		st.bytesIn = len(up.Body())
	}
	return replayable
}

// resetUpstream readies st.up for a request of method whose fields lb
// adds in order. Special-header handling off: fasthttp writes the fields
// exactly as added, and frames the body itself.
func (st *state) resetUpstream(method []byte) *fasthttp.Request {
	up := &st.up
	up.Reset()
	up.Header.DisableNormalizing()
	up.Header.DisableSpecialHeader()
	up.Header.SetMethodBytes(method)
	return up
}

// announceRequestTrailers announces on the upstream request the trailer
// names of the client's request in.
func (st *state) announceRequestTrailers(in *fasthttp.RequestHeader, ops *HeaderOps) {
	if names := in.PeekTrailerKeys(); len(names) > 0 {
		announceTrailers(&st.up.Header, names, func(k []byte) bool { return st.dropRequest(k, ops) })
	}
}

// failUpstream answers for an attempt that came to err: 413 when the
// client's streamed body crossed the limit, else what classify says.
func (h *Handler) failUpstream(ctx *fasthttp.RequestCtx, st *state, err error, pool *Pool) {
	if st.body.over || errors.Is(err, errBodyTooLarge) {
		h.fail(ctx, st, fasthttp.StatusRequestEntityTooLarge, "body too large", pool)
		ctx.Response.SetConnectionClose() // the rest of the body is unread
		return
	}
	if status, reason := edge.StatusOf(err); status != 0 {
		// The streamed body broke lb's framing checks (package edge).
		h.fail(ctx, st, status, reason, pool)
		ctx.Response.SetConnectionClose()
		return
	}
	status, reason := classify(err)
	h.fail(ctx, st, status, reason, pool)
}

// attempt records that the request is tried on srv.
func (st *state) attempt(srv *balancer.Server) {
	st.server = srv
	st.tried.Add(srv)
	st.attempts++
}

// attemptTimeout is how long one attempt may take: the pool's response
// timeout, or what is left of the retries' deadline.
func (h *Handler) attemptTimeout(pool *Pool, deadline time.Time) time.Duration {
	return min(pool.ResponseTimeout, deadline.Sub(h.now()))
}

// acquireReason names, for the access log, why no server took a request.
func acquireReason(err error) string {
	switch {
	case errors.Is(err, balancer.ErrQueueFull):
		return "queue full"
	case errors.Is(err, balancer.ErrQueueTimeout):
		return "queue timeout"
	}
	return "no available server"
}

// acquire takes a connection slot on the request's server: its sticky
// server when that one can serve, else one the pool picks among those not
// tried yet.
func (h *Handler) acquire(ctx *fasthttp.RequestCtx, st *state, pool *Pool) (*balancer.Server, error) {
	if len(st.stickyID) > 0 && st.attempts == 0 {
		if s := pool.ByID(st.stickyID); s != nil && s.StickyUsable() && s.TryAcquire() {
			return s, nil
		}
	}
	return pool.Acquire(ctx, &st.tried)
}

// idempotent reports whether a method is idempotent (RFC 9110 §9.2.2).
func idempotent(method []byte) bool {
	switch string(method) {
	case fasthttp.MethodGet, fasthttp.MethodHead, fasthttp.MethodOptions,
		fasthttp.MethodTrace, fasthttp.MethodPut, fasthttp.MethodDelete:
		return true
	}
	return false
}
