package proxy

import (
	"sync/atomic"
	"unsafe"

	"github.com/valyala/fasthttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// logAccess writes one access-log line for the request (Nginx access_log,
// HAProxy option httplog). Fields are built in the request's state and
// strings point into its buffers, which stay valid while zap encodes them
// synchronously; nothing is allocated.
func (h *Handler) logAccess(ctx *fasthttp.RequestCtx, st *state) {
	if st.route != nil && !st.route.Access.logs() {
		return
	}
	ce := h.access.Check(zapcore.InfoLevel, "request")
	if ce == nil {
		return
	}
	var referer, userAgent []byte
	for _, kv := range st.hdrs {
		k, v := kv[0], kv[1]
		switch {
		case referer == nil && foldEqual(k, hReferer):
			referer = v
		case userAgent == nil && foldEqual(k, hUserAgent):
			userAgent = v
		}
	}
	st.ipBuf = st.client.AppendTo(st.ipBuf[:0])
	routeName, poolName, serverAddr := "", "", ""
	if st.route != nil {
		routeName, poolName = st.route.Name, st.route.Pool.Name
	}
	if st.server != nil {
		serverAddr = st.server.Addr
	}
	f := st.fields[:0]
	f = append(f,
		zap.String("client", str(st.ipBuf)),
		zap.String("method", str(ctx.Request.Header.Method())),
		zap.String("host", str(st.host)),
		zap.String("uri", str(ctx.Request.Header.RequestURI())),
		zap.String("proto", str(ctx.Request.Header.Protocol())),
		zap.Int("status", ctx.Response.StatusCode()),
		zap.Int("bytes_in", requestBodySize(&ctx.Request)),
		zap.Int("bytes_out", responseBodySize(&ctx.Response)),
		zap.Duration("duration", st.duration),
		zap.String("route", routeName),
		zap.String("pool", poolName),
		zap.String("server", serverAddr),
		zap.Duration("upstream_duration", st.upstream),
		zap.Int("attempts", st.attempts),
		zap.String("request_id", str(st.requestID)),
		zap.String("referer", str(referer)),
		zap.String("user_agent", str(userAgent)),
	)
	if st.errorReason != "" {
		f = append(f, zap.String("error", st.errorReason))
	}
	ce.Write(f...)
}

var (
	hReferer   = []byte("Referer")
	hUserAgent = []byte("User-Agent")
)

// AccessLog is a route's access log policy (Nginx access_log off in a
// location; HAProxy log ... sample 1:N). Its zero value logs every
// request. Set it before the route serves.
type AccessLog struct {
	// Off: no access log lines for the route.
	Off bool
	// Every: log one request in Every (0 and 1: all), counted per route.
	Every uint64
	n     atomic.Uint64
}

// logs reports whether this request gets a line.
func (a *AccessLog) logs() bool {
	if a.Off {
		return false
	}
	if a.Every <= 1 {
		return true
	}
	return a.n.Add(1)%a.Every == 1
}

// str views b as a string without copying; the string must not outlive
// the bytes.
func str(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
