package balancer

import (
	"math"

	"github.com/valyala/fasthttp"
)

var _ Picker = (*hashPicker)(nil)

// hashPicker is consistent hashing by request key with weighted rendezvous
// hashing, also called highest random weight: D. G. Thaler and
// C. V. Ravishankar, "Using Name-Based Mappings to Increase Hit Rates",
// IEEE/ACM Transactions on Networking 6(1), 1998. The weighted form scores
// a server score = -weight/ln(u), with u uniform in (0, 1) drawn from
// hash(key, server) (the logarithmic method of weighted rendezvous hashing;
// the highest score is then won with probability weight/sum(weights)).
//
// Every server scores every key; the available server with the highest
// score wins. Removing, downing or filling one server therefore moves only
// the keys it had (each to its own second choice), and a server's share of
// the keys is proportional to its weight.
//
// The key is hashed once with FNV-1a 64 and combined with each server's
// precomputed hash of its address through the splitmix64 finaliser. Both
// are fixed functions, so every lb process with the same servers maps a key
// to the same server; hash/maphash is not used because its seed is random
// per process. With equal weights the raw combined hashes are compared
// (the same order as the scores, without a logarithm).
//
// A request with no key (absent or empty header or cookie) goes to the
// next available server in round robin. That is HAProxy's behaviour for
// `balance hdr(name)` (the configuration manual: when the header is absent
// or has no value, round robin is applied instead) and Nginx's for an
// empty `hash` key (ngx_http_upstream_get_hash_peer returns the round-robin
// peer when hp->key.len == 0).
//
// A pick costs one pass over the key, len(servers) mixes and at most
// len(servers) atomic loads (and, with unequal weights, a few logarithms). It is safe for concurrent use; everything but the round robin
// schedule is immutable after construction.
type hashPicker struct {
	servers []*Server
	nodes   []hashNode // parallel to servers
	key     HashKey
	uniform bool // every weight is equal
	rr      wrr  // round robin for requests without a key
}

// hashNode is one server's precomputed hashing data.
type hashNode struct {
	h    uint64  // mix64(fnv1a(address))
	invW float64 // 1/weight
}

func newHash(servers []*Server, opts Options) (Picker, error) {
	if err := opts.HashKey.validate(); err != nil {
		return nil, err
	}
	p := &hashPicker{servers: servers, key: opts.HashKey, uniform: true}
	p.nodes = make([]hashNode, len(servers))
	for i, s := range servers {
		p.nodes[i] = hashNode{h: mix64(fnv1a([]byte(s.Addr))), invW: 1 / float64(weight(s))}
		if weight(s) != weight(servers[0]) {
			p.uniform = false
		}
	}
	p.rr.init(servers, opts, true)
	return p, nil
}

// Pick returns the available server with the highest score for the
// request's key, or, when the request has no key, the next available
// server in turn; nil when none is available.
func (p *hashPicker) Pick(ctx *fasthttp.RequestCtx) *Server {
	n := len(p.servers)
	if n == 0 {
		return nil
	}
	key := requestKey(ctx, p.key)
	if len(key) == 0 {
		return p.rr.Pick(ctx)
	}
	return p.pickKey(fnv1a(key))
}

// rebuild rebuilds the round robin schedule used for requests without a
// key. Keyed picks read the states directly and need no rebuild.
func (p *hashPicker) rebuild() { p.rr.rebuild() }

// pickKey returns the available server with the highest rendezvous score
// for the key hash kh, or nil.
//
// The weighted case minimises x = -ln(u)/weight, which is maximising
// score = -weight/ln(u) = 1/x. Since -ln(u) >= 1-u, (1-u)/weight bounds x
// from below; a server whose bound is not below the best x so far cannot
// win, and its logarithm is skipped. That prunes most servers once a good
// candidate is found, without changing the result: the bound is shrunk by
// a margin far above the rounding error of both computations.
func (p *hashPicker) pickKey(kh uint64) *Server {
	best := -1
	if p.uniform {
		var bestH uint64
		for i, s := range p.servers {
			if h := mix64(kh ^ p.nodes[i].h); (best < 0 || h > bestH) && s.Available() {
				best, bestH = i, h
			}
		}
	} else {
		bestX := math.Inf(1)
		for i, s := range p.servers {
			u := unitInterval(mix64(kh ^ p.nodes[i].h))
			if (1-u)*p.nodes[i].invW*(1-1e-9) >= bestX {
				continue
			}
			if x := -math.Log(u) * p.nodes[i].invW; x < bestX && s.Available() {
				best, bestX = i, x
			}
		}
	}
	if best < 0 {
		return nil
	}
	return p.servers[best]
}

// unitInterval maps h to a float64 in (0, 1), never 0 or 1, keeping 53
// bits, monotonically.
func unitInterval(h uint64) float64 {
	return (float64(h>>11) + 0.5) * 0x1p-53
}

// rendezvousScore returns the weighted rendezvous score -w/ln(u) of the
// combined hash h; pickKey computes its inverse.
func rendezvousScore(h uint64, w float64) float64 {
	return -w / math.Log(unitInterval(h))
}

// FNV-1a 64 parameters (Fowler, Noll, Vo; IETF draft-eastlake-fnv).
const (
	fnvOffset64 = 14695981039346656037
	fnvPrime64  = 1099511628211
)

// fnv1a returns the FNV-1a 64 hash of b.
func fnv1a(b []byte) uint64 {
	h := uint64(fnvOffset64)
	for _, c := range b {
		h ^= uint64(c)
		h *= fnvPrime64
	}
	return h
}

// mix64 is the splitmix64 finaliser (S. Vigna, after D. Stafford's Mix13):
// a bijection on uint64 with full avalanche.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
