package proxy

import (
	"time"

	"github.com/valyala/fasthttp"

	"lb/balancer"
)

// forward sends the request to a server of pool and relays its response.
// pathQuery is the request target's path and query as received; hasHost
// says whether the client sent a Host field.
func (h *Handler) forward(ctx *fasthttp.RequestCtx, st *state, snap *Snapshot, pool *Pool, pathQuery []byte, hasHost bool) {
	srv := pool.Pick(ctx)
	if srv == nil {
		h.fail(ctx, st, fasthttp.StatusServiceUnavailable, "no available server")
		return
	}
	st.server = srv
	req := &ctx.Request
	up := &st.up
	up.Reset()
	// Special-header handling off: fasthttp writes the fields exactly as
	// added, in order, and frames the body itself.
	up.Header.DisableNormalizing()
	up.Header.DisableSpecialHeader()
	up.Header.SetMethodBytes(req.Header.Method())

	// The upstream URI is absolute so that fasthttp takes the server from
	// it and the path and query from the bytes received, unnormalised;
	// UseHostHeader keeps the Host field as written.
	st.uri = append(st.uri[:0], "http://"...)
	st.uri = append(st.uri, srv.Addr...)
	if len(pathQuery) == 0 || pathQuery[0] != '/' {
		st.uri = append(st.uri, '/')
	}
	st.uri = append(st.uri, pathQuery...)
	up.SetRequestURIBytes(st.uri)
	up.UseHostHeader = true

	st.copyRequestHeaders(ctx, snap, pool, hasHost)
	up.SetBodyRaw(req.Body())

	t0 := h.now()
	err := roundTrip(srv, up, &ctx.Response, pool.ResponseTimeout)
	st.upstream = h.now().Sub(t0)
	if err != nil {
		status, reason := classify(err)
		h.fail(ctx, st, status, reason)
		return
	}

	resp := &ctx.Response
	st.editResponse(&resp.Header, &pool.ResponseHeaders)
	// An upstream "Connection: close" ends the pooled connection, never
	// the client's; a client's own "Connection: close" ends its own.
	resp.Header.ResetConnectionClose()
	if req.Header.ConnectionClose() {
		resp.SetConnectionClose()
	}
}

// roundTrip forwards one request with the server's in-flight count held
// for exactly its duration, whatever happens inside.
func roundTrip(srv *balancer.Server, req *fasthttp.Request, resp *fasthttp.Response, timeout time.Duration) error {
	srv.Acquire()
	defer srv.Release()
	return srv.Client.DoTimeout(req, resp, timeout)
}
