package proxy

import (
	"bytes"
	"math/rand/v2"
	"net/netip"

	"github.com/valyala/fasthttp"
)

// maxRequestIDLen bounds a client's X-Request-ID; a longer one is replaced.
const maxRequestIDLen = 200

var (
	protoHTTP  = []byte("http")
	protoHTTPS = []byte("https")
	commaSpace = []byte(", ")
)

// copyRequestHeaders adds to out the upstream request's fields, from the
// client's: every field in the order, spelling and bytes received, less
// the hop-by-hop ones, those named in Connection, those lb manages and
// those the pool removes or sets; then lb's own and the pool's.
func (st *state) copyRequestHeaders(ctx *fasthttp.RequestCtx, snap *Snapshot, pool *Pool, hasHost bool, out fieldSink) {
	ops := &pool.RequestHeaders

	st.tokens = st.tokens[:0]
	for _, kv := range st.hdrs {
		st.connectionTokens(kv[0], kv[1])
	}
	st.forwardedFor(ctx, snap)

	for _, kv := range st.hdrs {
		k, v := kv[0], kv[1]
		switch {
		case st.dropRequest(k, ops):
		case foldEqual(k, hHost) && len(pool.Host) > 0:
			out.AddBytesKV(k, pool.Host)
		case pool.Sticky != nil && len(st.stickyID) > 0 && foldEqual(k, hCookie) && bytes.Contains(v, pool.Sticky.Cookie):
			n := len(st.buf)
			st.buf = stripCookie(st.buf, v, pool.Sticky.Cookie)
			if len(st.buf) > n {
				out.AddBytesKV(k, st.buf[n:])
			}
		default:
			out.AddBytesKV(k, v)
		}
	}
	if !hasHost {
		host := st.host
		if len(pool.Host) > 0 {
			host = pool.Host
		}
		out.AddBytesKV(hHost, host)
	}

	out.AddBytesKV(hXForwardedFor, st.xff)
	st.ipBuf = st.client.AppendTo(st.ipBuf[:0])
	out.AddBytesKV(hXRealIP, st.ipBuf)
	switch {
	case len(st.xfp) > 0:
		out.AddBytesKV(hXForwardedProt, st.xfp)
	case ctx.IsTLS():
		out.AddBytesKV(hXForwardedProt, protoHTTPS)
	default:
		out.AddBytesKV(hXForwardedProt, protoHTTP)
	}
	if len(st.xfh) > 0 {
		out.AddBytesKV(hXForwardedHost, st.xfh)
	} else {
		out.AddBytesKV(hXForwardedHost, st.host)
	}
	out.AddBytesKV(hXRequestID, st.requestID)
	for _, kv := range ops.Set {
		out.AddBytesKV(kv.Name, kv.Value)
	}
	for _, kv := range ops.Add {
		out.AddBytesKV(kv.Name, kv.Value)
	}
}

// forwardedFor computes X-Forwarded-For into st.xff, the trusted
// X-Forwarded-Proto and -Host into st.xfp and st.xfh, and the client
// address into st.client. It honours the Connection tokens in st.tokens.
//
// From a trusted proxy (Nginx set_real_ip_from with real_ip_recursive on)
// the incoming X-Forwarded-For is kept and the peer appended (Nginx
// $proxy_add_x_forwarded_for); the client is the rightmost address in it
// that is not itself trusted; incoming X-Forwarded-Proto and -Host are
// kept. From anyone else all are replaced, so a client cannot forge its
// address. Either way the server receives exactly one of each.
func (st *state) forwardedFor(ctx *fasthttp.RequestCtx, snap *Snapshot) {
	peer := st.client
	st.xff, st.xfp, st.xfh = st.xff[:0], st.xfp[:0], st.xfh[:0]
	if peer.IsValid() && snap.isTrusted(peer) {
		for _, kv := range st.hdrs {
			k, v := kv[0], kv[1]
			if foldIn(k, st.tokens) {
				continue // named in Connection: not forwarded
			}
			switch {
			case foldEqual(k, hXForwardedFor):
				if len(bytes.TrimSpace(v)) > 0 {
					if len(st.xff) > 0 {
						st.xff = append(st.xff, commaSpace...)
					}
					st.xff = append(st.xff, v...)
				}
			case foldEqual(k, hXForwardedProt):
				if len(st.xfp) == 0 {
					st.xfp = append(st.xfp, v...)
				}
			case foldEqual(k, hXForwardedHost):
				if len(st.xfh) == 0 {
					st.xfh = append(st.xfh, v...)
				}
			}
		}
		st.client = realClient(st.xff, peer, snap)
	}
	if len(st.xff) > 0 {
		st.xff = append(st.xff, commaSpace...)
	}
	st.xff = peer.AppendTo(st.xff)
}

// realClient walks a X-Forwarded-For list from the right past trusted
// addresses and returns the first untrusted one; if all are trusted, the
// leftmost; if the list is unreadable, the last good one or peer.
func realClient(xff []byte, peer netip.Addr, snap *Snapshot) netip.Addr {
	client := peer
	for len(xff) > 0 {
		i := bytes.LastIndexByte(xff, ',')
		tok := bytes.TrimSpace(xff[i+1:])
		if i < 0 {
			xff = nil
		} else {
			xff = xff[:i]
		}
		a, err := netip.ParseAddr(str(tok))
		if err != nil {
			break
		}
		client = a.Unmap()
		if !snap.isTrusted(client) {
			break
		}
	}
	return client
}

const hexDigits = "0123456789abcdef"

// newRequestID fills buf with 128 random bits in hex and returns it.
func newRequestID(buf *[32]byte) []byte {
	a, b := rand.Uint64(), rand.Uint64()
	for i := 0; i < 16; i++ {
		buf[i] = hexDigits[(a>>(60-4*i))&0xf]
		buf[16+i] = hexDigits[(b>>(60-4*i))&0xf]
	}
	return buf[:]
}
