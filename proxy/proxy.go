// Package proxy is lb's fasthttp request handler: it routes a request to
// a pool, picks a server, forwards the request over the server's
// keep-alive connections and relays the response, following the checklist
// of Go's httputil.ReverseProxy (hop-by-hop headers, X-Forwarded-*,
// error mapping) with fasthttp's pooled objects.
//
// The client's request is never modified: the request sent upstream is
// built next to it, its header fields copied in the order received, which
// keeps their order, spelling and bytes (fasthttp's own header editing
// reorders fields and re-serialises cookies), and lets a retry resend it.
//
// The handler reads the current Snapshot with one atomic load per request
// and does not allocate in the steady state.
package proxy

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
	"go.uber.org/zap"

	"lb/balancer"
	"lb/compress"
	"lb/deadline"
	"lb/metrics"
)

// Handler serves client requests from the current snapshot. It is safe
// for concurrent use; its zero value is not usable, use New.
type Handler struct {
	snap   atomic.Pointer[Snapshot]
	access *zap.Logger // nil: no access log
	now    func() time.Time
	states sync.Pool // *state
	relays sync.Pool // *relay
	bufs   sync.Pool // *[]byte, for compressing streams
	tun    tunnels   // open Upgrade tunnels
	stats  metrics.Registry
	errLog *zap.Logger // nil: no request-path events logged
}

// New returns a handler serving snap. access is the access log; nil turns
// it off.
func New(snap *Snapshot, access *zap.Logger) *Handler {
	h := &Handler{access: access, now: deadline.Now} // durations and deadlines only
	h.states.New = func() any { return new(state) }
	h.relays.New = func() any { return &relay{pool: &h.relays} }
	h.bufs.New = func() any { b := make([]byte, 32<<10); return &b }
	h.Store(snap)
	return h
}

// Listener returns the request handler for one listener, whose requests
// may carry bodies of at most maxBody bytes (Nginx client_max_body_size):
// a larger declared length gets 413 before anything is forwarded, and a
// streamed body that grows past it is cut off.
func (h *Handler) Listener(maxBody int64) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) { h.serveLimited(ctx, maxBody) }
}

// Serve is the fasthttp.RequestHandler with no body limit of its own.
func (h *Handler) Serve(ctx *fasthttp.RequestCtx) { h.serveLimited(ctx, 1<<62) }

// Store publishes a new snapshot; requests already running finish on the
// one they loaded. It first gives the snapshot's routes and pools their
// metrics from the handler's registry, by name, so that a reload keeps
// them.
func (h *Handler) Store(s *Snapshot) {
	h.resolveStats(s)
	h.snap.Store(s)
}

// Snapshot returns the snapshot new requests use.
func (h *Handler) Snapshot() *Snapshot { return h.snap.Load() }

// state is one request's working memory, pooled between requests. It is
// owned by one request at a time and must not be copied.
type state struct {
	scratch
	up   fasthttp.Request // the request sent upstream, when fasthttp frames it
	head headBuf          // the head sent upstream, when lb writes it
	// writesHead: lb writes the request's head (head), not fasthttp (up).
	writesHead bool
	body       limitedBody // the streamed request body, if any
	maxBody    int64       // the listener's max_body_bytes
	uri        []byte      // upstream request target, when fasthttp writes it
	xff        []byte      // X-Forwarded-For value being built
	xfp        []byte      // trusted X-Forwarded-Proto
	xfh        []byte      // trusted X-Forwarded-Host
	ipBuf      []byte      // client IP text
	id         [32]byte    // generated request ID
	fields     [20]zap.Field

	// Filled while serving, read by the access log. Byte slices point
	// into the client's request, which lives until the handler returns.
	start    time.Time
	route    *Route
	server   *balancer.Server
	duration time.Duration // the handler's, from start
	upstream time.Duration // all attempts together
	attempts int
	tried    balancer.Tried
	stickyID []byte             // the client's sticky cookie value
	coding   compress.Algorithm // lb compresses the answer with it
	ccBuf    [][]byte           // Cache-Control values of the answer
	varyBuf  [][]byte           // Vary values of the answer
	client   netip.Addr
	// hdrs are the client's request fields (scanRequest); the request
	// outlives the handler's use of them.
	hdrs        fields
	requestID   []byte
	host        []byte
	errorReason string
	bytesIn     int // request body bytes sent upstream whole
}

func (st *state) reset() {
	st.scratch.reset()
	st.route, st.server, st.upstream = nil, nil, 0
	st.attempts, st.stickyID = 0, nil
	st.coding = compress.Identity
	st.body = limitedBody{}
	st.tried.Reset()
	st.client = netip.Addr{}
	clear(st.hdrs) // no references into a finished request
	st.hdrs = st.hdrs[:0]
	st.requestID, st.host, st.errorReason = nil, nil, ""
	st.bytesIn = 0
	st.writesHead = false
}

func (h *Handler) serveLimited(ctx *fasthttp.RequestCtx, maxBody int64) {
	st := h.states.Get().(*state)
	st.reset()
	st.maxBody = maxBody
	st.start = h.now()
	h.serve(ctx, st)
	st.duration = h.now().Sub(st.start)
	h.record(ctx, st)
	if h.access != nil {
		h.logAccess(ctx, st)
	}
	if !st.writesHead {
		st.up.Reset() // drop the reference to the client's body
	}
	h.states.Put(st)
}

func (h *Handler) serve(ctx *fasthttp.RequestCtx, st *state) {
	snap := h.snap.Load()
	req := &ctx.Request
	st.client = peerAddr(ctx)

	hosts, id := st.scanRequest(&req.Header)
	if len(id) > 0 && len(id) <= maxRequestIDLen {
		st.requestID = id
	} else {
		st.requestID = newRequestID(&st.id)
	}

	method := req.Header.Method()
	if string(method) == fasthttp.MethodConnect {
		h.fail(ctx, st, fasthttp.StatusMethodNotAllowed, "connect refused", nil)
		return
	}
	if hosts > 1 {
		// RFC 9112 §3.2: more than one Host field is a 400.
		h.fail(ctx, st, fasthttp.StatusBadRequest, "duplicate host", nil)
		return
	}
	host := req.Header.Host()
	if len(host) == 0 && !req.Header.IsHTTP11() {
		// HTTP/1.0 may omit Host; absolute form then names the host.
		if rest, ok := cutScheme(req.Header.RequestURI()); ok {
			host = rest[:indexAuthorityEnd(rest)]
		}
	}
	if len(host) == 0 {
		h.fail(ctx, st, fasthttp.StatusBadRequest, "missing host", nil)
		return
	}
	st.host = host
	if cl := req.Header.ContentLength(); int64(cl) > st.maxBody {
		h.fail(ctx, st, fasthttp.StatusRequestEntityTooLarge, "body too large", nil)
		ctx.Response.SetConnectionClose() // the body stays unread
		return
	}
	pathQuery, path, ok := splitTarget(req.Header.RequestURI(), host)
	if !ok {
		h.fail(ctx, st, fasthttp.StatusBadRequest, "bad request target", nil)
		return
	}
	if path == nil {
		path = slash
	}
	i := snap.routes.Match(host, path, method, &st.hdrs)
	if i < 0 {
		h.fail(ctx, st, fasthttp.StatusNotFound, "no route", nil)
		return
	}
	rt := snap.targets[i]
	st.route = rt
	if reason := rt.rejectPath(path); reason != "" {
		h.fail(ctx, st, fasthttp.StatusBadRequest, reason, nil)
		return
	}
	if h.rateLimited(ctx, st, snap, rt) {
		return
	}
	if st.isUpgrade(&req.Header) {
		h.tunnel(ctx, st, rt.Pool, pathQuery, hosts == 1)
		return
	}
	h.forward(ctx, st, snap, rt.Pool, pathQuery, hosts == 1)
}

// scanRequest lists the fields of a request as received in st.hdrs (one
// scan of the head, which later steps read instead of scanning it again),
// counts its Host fields and returns its first X-Request-ID.
func (st *state) scanRequest(h *fasthttp.RequestHeader) (hosts int, id []byte) {
	for k, v := range h.AllInOrder() {
		st.hdrs = append(st.hdrs, [2][]byte{k, v})
		switch {
		case foldEqual(k, hHost):
			hosts++
		case id == nil && foldEqual(k, hXRequestID):
			id = v
		}
	}
	return hosts, id
}

var slash = []byte("/")

func indexAuthorityEnd(b []byte) int {
	for i, c := range b {
		if c == '/' || c == '?' || c == '#' {
			return i
		}
	}
	return len(b)
}

// peerAddr returns the address of the connection's peer: as the edge
// connection keeps it, or from the connection's address.
func peerAddr(ctx *fasthttp.RequestCtx) netip.Addr {
	if c, ok := ctx.Conn().(interface{ ClientAddr() netip.Addr }); ok {
		return c.ClientAddr()
	}
	a, _ := netip.AddrFromSlice(ctx.RemoteIP())
	return a.Unmap()
}
