package balancer

import (
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// hashUsers maps n user keys through p by the X-User header.
func hashUsers(t *testing.T, p Picker, n int) []*Server {
	t.Helper()
	out := make([]*Server, n)
	for i := range out {
		out[i] = p.Pick(requestCtx("10.0.0.1", "/", fmt.Sprint("user-", i)))
	}
	return out
}

var userKey = Options{HashKey: HashKey{Kind: KeyHeader, Name: "X-User"}}

// TestHashStableOnRemoval: downing or removing one of five servers moves
// only the keys it had, and spreads them over the others.
func TestHashStableOnRemoval(t *testing.T) {
	const keys = 10000
	srv := newServers(t, "10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80", "10.0.0.4:80", "10.0.0.5:80")
	before := hashUsers(t, mustNew(t, Hash, srv, userKey), keys)

	counts := map[*Server]int{}
	for _, s := range before {
		counts[s]++
	}
	for _, s := range srv {
		if n := counts[s]; n < 1600 || n > 2400 {
			t.Errorf("%s has %d of %d keys, want about 2000", s.Addr, n, keys)
		}
	}

	gone := srv[2]
	check := func(t *testing.T, after []*Server) {
		moved := map[*Server]int{}
		for i := range keys {
			switch {
			case after[i] == nil || after[i] == gone:
				t.Fatalf("key %d: Pick() = %s, want an available server", i, name(after[i]))
			case before[i] != gone && after[i] != before[i]:
				t.Fatalf("key %d: Pick() = %s, want %s (its server is still there)", i, after[i].Addr, before[i].Addr)
			case before[i] == gone:
				moved[after[i]]++
			}
		}
		for _, s := range srv {
			if s != gone && (moved[s] < counts[gone]/8) {
				t.Errorf("%s took %d of the %d moved keys, want about a quarter", s.Addr, moved[s], counts[gone])
			}
		}
	}
	t.Run("down", func(t *testing.T) {
		p := mustNew(t, Hash, srv, userKey)
		gone.SetState(StateDown)
		defer gone.SetState(StateUp)
		check(t, hashUsers(t, p, keys))
	})
	t.Run("full", func(t *testing.T) {
		p := mustNew(t, Hash, srv, userKey)
		gone.MaxConns = 1
		gone.Acquire()
		defer func() { gone.Release(); gone.MaxConns = 0 }()
		check(t, hashUsers(t, p, keys))
	})
	t.Run("removed", func(t *testing.T) {
		// Fresh servers with the same addresses, in another order: the
		// mapping depends on addresses only, as another lb process would
		// see them.
		var rest []*Server
		for _, i := range []int{4, 0, 3, 1} {
			rest = append(rest, NewServer(srv[i].Addr, 1, false, 0))
		}
		after := hashUsers(t, mustNew(t, Hash, rest, userKey), keys)
		byAddr := map[string]*Server{}
		for _, s := range srv {
			byAddr[s.Addr] = s
		}
		for i, s := range after {
			if s != nil {
				after[i] = byAddr[s.Addr]
			}
		}
		check(t, after)
	})
}

func TestHashWeighted(t *testing.T) {
	const keys = 20000
	srv := newServers(t, "a:1", "b:2", "c:3", "d:4")
	counts := map[string]int{}
	for _, s := range hashUsers(t, mustNew(t, Hash, srv, userKey), keys) {
		counts[name(s)]++
	}
	for _, s := range srv {
		want := keys * s.Weight / 10
		if got := counts[s.Addr]; got < want*85/100 || got > want*115/100 {
			t.Errorf("%s (weight %d) has %d keys, want about %d", s.Addr, s.Weight, got, want)
		}
	}
}

// TestHashAgreesAcrossProcesses pins the mapping of a few keys, because
// several lb processes (and versions) must send a key to the same server:
// a change of hash function or mixer fails here, not in production.
func TestHashAgreesAcrossProcesses(t *testing.T) {
	addrs := []string{"10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080", "10.0.0.4:8080"}
	keys := []string{"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"}
	tests := []struct {
		name    string
		weights []int
		want    []string // the server of each key, by last address digit
	}{
		{"equal weights", []int{1, 1, 1, 1}, strings.Fields("1 3 1 1 3 3 2 4")},
		{"weights 1 2 3 4", []int{1, 2, 3, 4}, strings.Fields("4 3 4 1 3 3 2 4")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := make([]*Server, len(addrs))
			for i, a := range addrs {
				srv[i] = NewServer(a, tc.weights[i], false, 0)
			}
			p := mustNew(t, Hash, srv, userKey)
			for i, k := range keys {
				ctx := requestCtx("10.9.9.9", "/", k)
				got := p.Pick(ctx).Addr[7:8]
				if got != tc.want[i] {
					t.Errorf("Pick(%s) = 10.0.0.%s:8080, want 10.0.0.%s:8080", k, got, tc.want[i])
				}
			}
		})
	}
}

func TestHashSameKeySameServer(t *testing.T) {
	srv := newServers(t, "a", "b", "c", "d", "e", "f", "g")
	p := mustNew(t, Hash, srv, Options{HashKey: HashKey{Kind: KeyClientIP}})
	for i := range 50 {
		ip := net.IPv4(192, 0, 2, byte(i))
		var want *Server
		for port := range 5 {
			var ctx fasthttp.RequestCtx
			var req fasthttp.Request
			ctx.Init(&req, &net.TCPAddr{IP: ip, Port: 1000 + port}, nil)
			got := p.Pick(&ctx)
			if want == nil {
				want = got
			}
			if got != want {
				t.Fatalf("Pick() from %s port %d = %s, want %s (same IP)", ip, 1000+port, name(got), name(want))
			}
		}
	}
}

// TestHashKeyKinds: each kind hashes its own part of the request, so two
// requests that differ elsewhere go to the same server.
func TestHashKeyKinds(t *testing.T) {
	srv := newServers(t, "a", "b", "c", "d", "e", "f", "g", "h")
	tests := []struct {
		name string
		key  HashKey
		same func(i int) *fasthttp.RequestCtx // same key, other parts vary
	}{
		{"client_ip", HashKey{Kind: KeyClientIP}, func(i int) *fasthttp.RequestCtx {
			return requestCtx("2001:db8::7", fmt.Sprintf("/p%d?q=%d", i, i), fmt.Sprint("u", i))
		}},
		{"path", HashKey{Kind: KeyPath}, func(i int) *fasthttp.RequestCtx {
			return requestCtx(fmt.Sprintf("10.0.0.%d", i+1), fmt.Sprintf("/img/logo.png?v=%d", i), fmt.Sprint("u", i))
		}},
		{"header", HashKey{Kind: KeyHeader, Name: "x-user"}, func(i int) *fasthttp.RequestCtx {
			return requestCtx(fmt.Sprintf("10.0.0.%d", i+1), fmt.Sprintf("/p%d", i), "alice")
		}},
		{"cookie", HashKey{Kind: KeyCookie, Name: "sid"}, func(i int) *fasthttp.RequestCtx {
			return rawCtx(fmt.Sprintf("10.0.0.%d", i+1), fmt.Sprintf("/p%d", i), "X-User", fmt.Sprint("u", i),
				"cookie", fmt.Sprintf("n=%d; sid=s3cr3t", i))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := mustNew(t, Hash, srv, Options{HashKey: tc.key, Rand: zeroRand})
			want := p.Pick(tc.same(0))
			for i := 1; i < 20; i++ {
				if got := p.Pick(tc.same(i)); got != want {
					t.Fatalf("Pick() of request %d = %s, want %s (same %s)", i, name(got), name(want), tc.key)
				}
			}
		})
	}
}

// TestHashNoKeyRoundRobin: without the header the hash policy falls back
// to round robin over the available servers, as HAProxy's hdr() does.
func TestHashNoKeyRoundRobin(t *testing.T) {
	srv := newServers(t, "a", "b", "c")
	pool := mustPool(t, Hash, srv, Options{HashKey: HashKey{Kind: KeyHeader, Name: "X-User"}, Rand: zeroRand})
	ctx := requestCtx("10.0.0.1", "/", "")
	if got, want := picks(pool, ctx, 6), "a b c a b c"; got != want {
		t.Errorf("Pick() = %s, want %s", got, want)
	}
	pool.SetServerState(srv[0], StateDown)
	if got, want := picks(pool, ctx, 4), "b c b c"; got != want {
		t.Errorf("Pick() with a down = %s, want %s", got, want)
	}
	if got := pool.Pick(nil); got == nil || got == srv[0] {
		t.Errorf("Pick(nil) = %s, want b or c", name(got))
	}
}

func TestHashInvalidKey(t *testing.T) {
	for _, k := range []HashKey{{Kind: KeyHeader}, {Kind: KeyCookie, Name: "a b"}, {Kind: 9}, {Kind: KeyPath, Name: "x"}} {
		if _, err := New(Hash, newServers(t, "a"), Options{HashKey: k}); err == nil {
			t.Errorf("New(hash, %#v) error = nil, want ErrInvalidHashKey", k)
		}
	}
}

// TestRendezvousScoreOrder: with equal weights, comparing raw hashes (the
// fast path) orders servers as the scores do.
func TestRendezvousScoreOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		a, b := r.Uint64(), r.Uint64()
		if a>>11 == b>>11 {
			continue
		}
		if (a > b) != (rendezvousScore(a, 3) > rendezvousScore(b, 3)) {
			t.Fatalf("order of %#x, %#x differs between hashes and scores", a, b)
		}
	}
}

// TestHashPruningExact: skipping the logarithm of servers that cannot win
// picks the same server as scoring every server.
func TestHashPruningExact(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for round := range 20 {
		srv := make([]*Server, 2+r.IntN(60))
		for i := range srv {
			srv[i] = NewServer(fmt.Sprintf("10.1.%d.%d:80", round, i), 1+r.IntN(1000), false, 0)
			if r.IntN(8) == 0 {
				srv[i].SetState(StateDown)
			}
		}
		p := mustNew(t, Hash, srv, Options{}).(*hashPicker)
		for range 500 {
			kh := r.Uint64()
			var want *Server
			bestScore := 0.0
			for i, s := range srv {
				if !s.Available() {
					continue
				}
				if score := rendezvousScore(mix64(kh^p.nodes[i].h), float64(s.Weight)); want == nil || score > bestScore {
					want, bestScore = s, score
				}
			}
			if got := p.pickKey(kh); got != want {
				t.Fatalf("pickKey(%#x) = %s, want %s (full scoring)", kh, name(got), name(want))
			}
		}
	}
}
