package proxy

import (
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"lb/balancer"
)

// SetErrorLog sets the log of lb's own events on the request path, each
// line carrying the request ID it concerns: refusals (lb's own error
// answers: 5xx at warn, others at debug, as Nginx logs "upstream
// connect() failed ... request: ..." per request) and passive ejections
// (warn). nil, the default, logs none. Call it before serving.
func (h *Handler) SetErrorLog(l *zap.Logger) { h.errLog = l }

// logRefusal logs that lb answered st's request with status itself.
func (h *Handler) logRefusal(st *state, status int, reason string, pool *Pool) {
	if h.errLog == nil {
		return
	}
	level := zapcore.DebugLevel
	if status >= 500 {
		level = zapcore.WarnLevel
	}
	ce := h.errLog.Check(level, "request refused")
	if ce == nil {
		return
	}
	st.ipBuf = st.client.AppendTo(st.ipBuf[:0])
	f := []zap.Field{
		zap.String("request_id", string(st.requestID)),
		zap.Int("status", status),
		zap.String("reason", reason),
		zap.String("client", string(st.ipBuf)),
	}
	if st.route != nil {
		f = append(f, zap.String("route", st.route.Name))
	}
	if pool != nil {
		f = append(f, zap.String("pool", pool.Name))
	}
	if st.server != nil {
		f = append(f, zap.String("server", st.server.Addr), zap.Int("attempts", st.attempts))
	}
	ce.Write(f...)
}

// logEjection logs that the outcome of st's attempt on srv made passive
// checks take srv out of pool.
func (h *Handler) logEjection(st *state, pool *Pool, srv *balancer.Server, outcome balancer.Outcome, status int) {
	if h.errLog == nil {
		return
	}
	h.errLog.Warn("passive: server ejected",
		zap.String("pool", pool.Name), zap.String("server", srv.Addr),
		zap.String("outcome", outcomeName(outcome)), zap.Int("status", status),
		zap.Int("ejections", srv.Ejections()),
		zap.String("request_id", string(st.requestID)))
}

func outcomeName(o balancer.Outcome) string {
	switch o {
	case balancer.OK:
		return "ok"
	case balancer.ConnectFailed:
		return "connect failed"
	case balancer.TimedOut:
		return "timeout"
	case balancer.Failed:
		return "error"
	case balancer.BadStatus:
		return "bad status"
	}
	return "unknown"
}
