package proxy

import (
	"errors"
	"time"

	"github.com/valyala/fasthttp"

	"lb/balancer"
)

// forward sends the request to servers of pool, retrying on another
// server as the pool's retry policy allows, and relays the final
// response. pathQuery is the request target's path and query as received;
// hasHost says whether the client sent a Host field.
func (h *Handler) forward(ctx *fasthttp.RequestCtx, st *state, snap *Snapshot, pool *Pool, pathQuery []byte, hasHost bool) {
	req := &ctx.Request
	up := &st.up
	up.Reset()
	// Special-header handling off: fasthttp writes the fields exactly as
	// added, in order, and frames the body itself.
	up.Header.DisableNormalizing()
	up.Header.DisableSpecialHeader()
	up.Header.SetMethodBytes(req.Header.Method())
	up.UseHostHeader = true
	st.stickyID = nil
	if pool.Sticky != nil {
		st.stickyID = balancer.RequestCookie(&req.Header, str(pool.Sticky.Cookie))
	}
	st.copyRequestHeaders(ctx, snap, pool, hasHost)
	body := req.Body()
	up.SetBodyRaw(body)

	rp := &pool.Retry
	attempts := rp.Attempts
	if len(body) > rp.MaxBodyBytes {
		attempts = 1 // not kept for replay
	}
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
				status, reason := classify(lastErr)
				h.fail(ctx, st, status, reason, pool)
				return
			}
			reason := "no available server"
			switch {
			case errors.Is(err, balancer.ErrQueueFull):
				reason = "queue full"
			case errors.Is(err, balancer.ErrQueueTimeout):
				reason = "queue timeout"
			}
			h.fail(ctx, st, fasthttp.StatusServiceUnavailable, reason, pool)
			return
		}
		st.server = srv
		st.tried.Add(srv)
		st.attempts++

		// The upstream URI is absolute so that fasthttp takes the server
		// from it and the path and query from the bytes received,
		// unnormalised; UseHostHeader keeps the Host field as written.
		st.uri = append(st.uri[:0], "http://"...)
		st.uri = append(st.uri, srv.Addr...)
		if len(pathQuery) == 0 || pathQuery[0] != '/' {
			st.uri = append(st.uri, '/')
		}
		st.uri = append(st.uri, pathQuery...)
		up.SetRequestURIBytes(st.uri)

		timeout := pool.ResponseTimeout
		if left := deadline.Sub(h.now()); left < timeout {
			timeout = left
		}
		t0 := h.now()
		err = roundTrip(srv, up, resp, timeout)
		st.upstream += h.now().Sub(t0)

		outcome, status := outcomeOf(err, resp)
		if outcome == balancer.OK && pool.PassiveStatuses.Has(status) {
			outcome = balancer.BadStatus
		}
		pool.Report(srv, outcome, status)

		if err == nil {
			lastErr = nil
		} else {
			lastErr = err
		}
		if st.attempts >= attempts || !h.now().Before(deadline) || !rp.retries(outcome, status, anyMethod) {
			break
		}
	}
	if lastErr != nil {
		status, reason := classify(lastErr)
		h.fail(ctx, st, status, reason, pool)
		return
	}

	st.editResponse(&resp.Header, &pool.ResponseHeaders)
	if pool.Sticky != nil && string(st.stickyID) != st.server.ID {
		st.setStickyCookie(&resp.Header, pool.Sticky, st.server.ID)
	}
	// An upstream "Connection: close" ends the pooled connection, never
	// the client's; a client's own "Connection: close" ends its own.
	resp.Header.ResetConnectionClose()
	if req.Header.ConnectionClose() {
		resp.SetConnectionClose()
	}
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

// roundTrip forwards one request over a slot taken by acquire, releasing
// it whatever happens inside.
func roundTrip(srv *balancer.Server, req *fasthttp.Request, resp *fasthttp.Response, timeout time.Duration) error {
	defer srv.Release()
	if timeout <= 0 {
		return fasthttp.ErrTimeout
	}
	return srv.Client.DoTimeout(req, resp, timeout)
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
