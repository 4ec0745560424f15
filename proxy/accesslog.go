package proxy

import (
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
	ce := h.access.Check(zapcore.InfoLevel, "request")
	if ce == nil {
		return
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
		zap.Int("status", ctx.Response.StatusCode()),
		zap.Int("bytes_in", requestBodySize(&ctx.Request)),
		zap.Int("bytes_out", responseBodySize(&ctx.Response)),
		zap.Duration("duration", h.now().Sub(st.start)),
		zap.String("route", routeName),
		zap.String("pool", poolName),
		zap.String("server", serverAddr),
		zap.Duration("upstream_duration", st.upstream),
		zap.Int("attempts", st.attempts),
		zap.String("request_id", str(st.requestID)),
	)
	if st.errorReason != "" {
		f = append(f, zap.String("error", st.errorReason))
	}
	ce.Write(f...)
}

// str views b as a string without copying; the string must not outlive
// the bytes.
func str(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
