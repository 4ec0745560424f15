package proxy

import (
	"io"

	"github.com/valyala/fasthttp"

	"lb/compress"
	"lb/metrics"
)

// Stats returns the handler's metrics registry: per route and per pool
// stats by name, and handler-wide ones. Servers carry their own
// (balancer.Server.Stats).
func (h *Handler) Stats() *metrics.Registry { return &h.stats }

// resolveStats gives s's routes and pools their stats from the registry,
// before s is published.
func (h *Handler) resolveStats(s *Snapshot) {
	for _, r := range s.targets {
		r.Stats = h.stats.Route(r.Name)
		if r.Pool.Stats == nil {
			r.Pool.Stats = h.stats.Pool(r.Pool.Name)
		}
	}
}

// record counts a request that the handler is done with: a few atomic
// adds, no allocation. The response body, when streamed, is counted by
// its relay.
func (h *Handler) record(ctx *fasthttp.RequestCtx, st *state) {
	class := metrics.ClassOf(ctx.Response.StatusCode())
	rt := st.route
	if rt == nil {
		h.stats.Unrouted.Requests[class].Add(1)
		return
	}
	rt.Stats.Requests[class].Add(1)
	ps := rt.Pool.Stats
	ps.Duration.Observe(st.duration)
	if st.attempts > 0 {
		ps.Upstream.Observe(st.upstream)
		ps.Retries.Add(uint64(st.attempts - 1))
	}
	if st.errorReason != "" {
		ps.Errors[metrics.CauseOf(st.errorReason)].Add(1)
	}
	in := int64(st.bytesIn)
	if st.body.r != nil {
		in += st.maxBody - st.body.left
	}
	ps.BytesIn.Add(uint64(in))
}

// countCompressed counts in bytes compressed with a into out bytes.
func (h *Handler) countCompressed(a compress.Algorithm, in, out int) {
	if int(a) < len(h.stats.Compression) {
		c := &h.stats.Compression[a]
		c.In.Add(uint64(in))
		c.Out.Add(uint64(out))
	}
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n int
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += n
	return n, err
}
