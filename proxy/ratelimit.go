package proxy

import (
	"bytes"
	"net/netip"
	"strconv"

	"github.com/valyala/fasthttp"

	"lb/ratelimit"
)

// LimitKey says what a route's rate limit buckets belong to.
type LimitKey uint8

const (
	// LimitClientIP: one bucket per client address (after
	// trusted_proxies), Nginx $binary_remote_addr.
	LimitClientIP LimitKey = iota
	// LimitRoute: one bucket for the whole route.
	LimitRoute
	// LimitHeader: one bucket per value of a request header; requests
	// without it are not limited (Nginx skips empty keys).
	LimitHeader
)

// RateLimit is a route's rate limit.
type RateLimit struct {
	Limiter ratelimit.Limiter
	Key     LimitKey
	Header  []byte // the header for LimitHeader
	// Spec describes the settings; a reload keeps the limiter (and its
	// buckets) of a route whose Spec is unchanged.
	Spec string
}

var (
	hRateLimitLimit     = []byte("RateLimit-Limit")
	hRateLimitRemaining = []byte("RateLimit-Remaining")
	hRateLimitReset     = []byte("RateLimit-Reset")
)

// rateLimited applies rt's rate limit and, over it, answers 429 with
// Retry-After and the RateLimit-* fields of the IETF draft
// (draft-ietf-httpapi-ratelimit-headers): the bucket size, 0 remaining,
// and the seconds until the bucket is full again. Retry-After is when
// the next request may pass (Nginx limit_req_status 429; HAProxy
// deny_status 429).
func (h *Handler) rateLimited(ctx *fasthttp.RequestCtx, st *state, snap *Snapshot, rt *Route) bool {
	rl := rt.RateLimit
	if rl == nil {
		return false
	}
	var key []byte
	switch rl.Key {
	case LimitClientIP:
		st.ipBuf = st.limitClient(snap).AppendTo(st.ipBuf[:0])
		key = st.ipBuf
	case LimitHeader:
		if key = bytes.TrimSpace(st.hdrs.Header(rl.Header)); len(key) == 0 {
			return false
		}
	}
	res := rl.Limiter.Allow(key)
	if res.Allowed {
		return false
	}
	h.fail(ctx, st, fasthttp.StatusTooManyRequests, "rate limited", nil)
	var num [20]byte
	hdr := &ctx.Response.Header
	hdr.SetCanonical(hRetryAfter, strconv.AppendInt(num[:0], max(ratelimit.Seconds(res.RetryAfter), 1), 10))
	hdr.SetCanonical(hRateLimitLimit, strconv.AppendInt(num[:0], int64(res.Limit), 10))
	hdr.SetCanonical(hRateLimitRemaining, strconv.AppendInt(num[:0], int64(res.Remaining), 10))
	hdr.SetCanonical(hRateLimitReset, strconv.AppendInt(num[:0], max(ratelimit.Seconds(res.Reset), 1), 10))
	return true
}

// limitClient returns the client address as forwardedFor will: the peer,
// or from a trusted peer the rightmost untrusted X-Forwarded-For address.
// It uses st.xff as scratch; forwardedFor rebuilds it.
func (st *state) limitClient(snap *Snapshot) netip.Addr {
	peer := st.client
	if !peer.IsValid() || !snap.isTrusted(peer) {
		return peer
	}
	st.xff = st.xff[:0]
	for _, kv := range st.hdrs {
		if k, v := kv[0], kv[1]; foldEqual(k, hXForwardedFor) && len(bytes.TrimSpace(v)) > 0 {
			if len(st.xff) > 0 {
				st.xff = append(st.xff, commaSpace...)
			}
			st.xff = append(st.xff, v...)
		}
	}
	return realClient(st.xff, peer, snap)
}
