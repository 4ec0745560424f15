package balancer

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/valyala/fasthttp"
)

// allPolicies lists every policy, in the order tests and benchmarks run
// them.
var allPolicies = []Name{RoundRobin, WeightedRoundRobin, LeastConn, RandomTwo, Hash}

// newServers returns up servers named by specs "name" or "name:weight"
// (weight 1 by default).
func newServers(t testing.TB, specs ...string) []*Server {
	t.Helper()
	out := make([]*Server, len(specs))
	for i, spec := range specs {
		name, w, ok := strings.Cut(spec, ":")
		weight := 1
		if ok {
			if _, err := fmt.Sscan(w, &weight); err != nil {
				t.Fatalf("bad spec %q: %v", spec, err)
			}
		}
		out[i] = NewServer(name, weight, false, 0)
	}
	return out
}

// zeroRand always returns 0: counters start at position 0.
func zeroRand(int) int { return 0 }

// scriptRand returns the given values in turn, failing the test when one
// is out of range or the script runs out. Not safe for concurrent use.
func scriptRand(t testing.TB, values ...int) func(int) int {
	return func(n int) int {
		t.Helper()
		if len(values) == 0 {
			t.Fatalf("Rand(%d) called after the script ran out", n)
			return 0
		}
		v := values[0]
		values = values[1:]
		if v < 0 || v >= n {
			t.Fatalf("scripted Rand value %d out of [0, %d)", v, n)
		}
		return v
	}
}

func mustNew(t testing.TB, name Name, servers []*Server, opts Options) Picker {
	t.Helper()
	p, err := New(name, servers, opts)
	if err != nil {
		t.Fatalf("New(%q) error: %v", name, err)
	}
	return p
}

func mustPool(t testing.TB, policy Name, servers []*Server, opts Options) *Pool {
	t.Helper()
	p, err := NewPool("test", policy, servers, opts)
	if err != nil {
		t.Fatalf("NewPool(%q) error: %v", policy, err)
	}
	return p
}

// picks returns the names of k successive picks, "-" for nil.
func picks(p interface {
	Pick(*fasthttp.RequestCtx) *Server
}, ctx *fasthttp.RequestCtx, k int) string {
	names := make([]string, k)
	for i := range names {
		names[i] = name(p.Pick(ctx))
	}
	return strings.Join(names, " ")
}

func name(s *Server) string {
	if s == nil {
		return "-"
	}
	return s.Addr
}

// requestCtx returns a request from ip with the header X-User: user.
func requestCtx(ip, uri, user string) *fasthttp.RequestCtx {
	if user == "" {
		return rawCtx(ip, uri)
	}
	return rawCtx(ip, uri, "X-User", user)
}

// rawCtx returns a request for uri from ip with the given header name and
// value pairs, parsed from the wire with names kept as written, as lb's
// server does: the hash keys read header fields as received.
func rawCtx(ip, uri string, headers ...string) *fasthttp.RequestCtx {
	raw := "GET " + uri + " HTTP/1.1\r\nHost: example.com\r\n"
	for i := 0; i+1 < len(headers); i += 2 {
		raw += headers[i] + ": " + headers[i+1] + "\r\n"
	}
	var req fasthttp.Request
	req.Header.DisableNormalizing()
	if err := req.Read(bufio.NewReader(strings.NewReader(raw + "\r\n"))); err != nil {
		panic(err)
	}
	ctx := new(fasthttp.RequestCtx)
	ctx.Init(&req, &net.TCPAddr{IP: net.ParseIP(ip), Port: 40000}, nil)
	return ctx
}

// parsedCtx returns a request parsed from raw, as the server parses it, from
// ip. Unlike a request built with Header.Set("Cookie", ...), its cookies
// stay raw until something collects them.
func parsedCtx(t testing.TB, ip, raw string) *fasthttp.RequestCtx {
	t.Helper()
	var req fasthttp.Request
	if err := req.Read(bufio.NewReader(strings.NewReader(raw))); err != nil {
		t.Fatalf("parsing the request: %v", err)
	}
	ctx := new(fasthttp.RequestCtx)
	ctx.Init(&req, &net.TCPAddr{IP: net.ParseIP(ip), Port: 40000}, nil)
	return ctx
}

func TestNewUnknownPolicy(t *testing.T) {
	_, err := New("fastest", newServers(t, "a"), Options{})
	if !errors.Is(err, ErrUnknownPolicy) {
		t.Fatalf("New(fastest) error = %v, want ErrUnknownPolicy", err)
	}
	if got, want := err.Error(), `balancer: unknown policy "fastest"`; got != want {
		t.Errorf("New(fastest) error = %q, want %q", got, want)
	}
	if _, err := NewPool("p", "fastest", newServers(t, "a"), Options{}); !errors.Is(err, ErrUnknownPolicy) {
		t.Errorf("NewPool(fastest) error = %v, want ErrUnknownPolicy", err)
	}
}

func TestNewNilServer(t *testing.T) {
	for _, policy := range allPolicies {
		t.Run(string(policy), func(t *testing.T) {
			_, err := New(policy, []*Server{NewServer("a", 1, false, 0), nil}, Options{})
			if !errors.Is(err, ErrNilServer) {
				t.Errorf("New() error = %v, want ErrNilServer", err)
			}
		})
	}
}

func TestNames(t *testing.T) {
	got := Names()
	want := slices.Clone(allPolicies)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("Names() = %v, want %v", got, want)
	}
}

func TestPickEmpty(t *testing.T) {
	ctx := requestCtx("10.0.0.1", "/", "u")
	for _, policy := range allPolicies {
		t.Run(string(policy), func(t *testing.T) {
			p := mustNew(t, policy, nil, Options{})
			if got := p.Pick(ctx); got != nil {
				t.Errorf("Pick() = %s, want nil", name(got))
			}
		})
	}
}

// TestPickSkipsUnavailable: every policy skips down, draining and full
// servers, and returns nil when no server is available.
func TestPickSkipsUnavailable(t *testing.T) {
	for _, policy := range allPolicies {
		t.Run(string(policy), func(t *testing.T) {
			srv := newServers(t, "a", "b:3", "c", "d")
			srv[1].MaxConns = 2
			srv[1].Acquire()
			srv[1].Acquire() // b is full
			srv[2].SetState(StateDown)
			srv[3].SetState(StateDraining)
			p := mustNew(t, policy, srv, Options{})
			for i := range 200 {
				ctx := requestCtx(fmt.Sprintf("10.0.%d.%d", i/250, i%250), fmt.Sprintf("/p/%d", i), fmt.Sprint("user", i))
				if got := p.Pick(ctx); got != srv[0] {
					t.Fatalf("Pick() = %s, want a (b full, c down, d draining)", name(got))
				}
			}
			srv[0].SetState(StateDown)
			if got := p.Pick(requestCtx("10.0.0.1", "/", "u")); got != nil {
				t.Errorf("Pick() = %s with every server unavailable, want nil", name(got))
			}
			srv[1].Release() // b has a free slot again
			if got := p.Pick(requestCtx("10.0.0.1", "/", "u")); got != srv[1] {
				t.Errorf("Pick() = %s after b's release, want b", name(got))
			}
		})
	}
}

// TestInflightReturnsToZero: a concurrent burst of picks, each paired with
// Acquire and a deferred Release, leaves every in-flight counter at zero and
// counts every request once.
func TestInflightReturnsToZero(t *testing.T) {
	const workers, perWorker = 16, 500
	for _, policy := range allPolicies {
		t.Run(string(policy), func(t *testing.T) {
			srv := newServers(t, "a:3", "b:2", "c", "d")
			srv[3].Backup = true
			srv[0].MaxConns = 4
			pool := mustPool(t, policy, srv, Options{})
			var wg sync.WaitGroup
			var mu sync.Mutex
			var none int
			for w := range workers {
				wg.Go(func() {
					ctx := requestCtx(fmt.Sprintf("10.1.0.%d", w+1), "/", "")
					for i := range perWorker {
						if w == 0 && i%50 == 0 { // flap c off the request path
							pool.SetServerState(srv[2], State(i/50%2))
						}
						func() {
							s := pool.Pick(ctx)
							if s == nil {
								mu.Lock()
								none++
								mu.Unlock()
								return
							}
							s.Acquire()
							defer s.Release()
						}()
					}
				})
			}
			wg.Wait()
			var total uint64
			for _, s := range srv {
				if n := s.InFlight(); n != 0 {
					t.Errorf("%s.InFlight() = %d after the burst, want 0", s.Addr, n)
				}
				total += s.Requests()
			}
			if want := uint64(workers*perWorker - none); total != want {
				t.Errorf("sum of Requests() = %d, want %d", total, want)
			}
		})
	}
}

// TestPickAllocs: a pick allocates nothing, for every policy and key kind.
func TestPickAllocs(t *testing.T) {
	ctx := parsedCtx(t, "10.0.0.7", "GET /users/42?x=1 HTTP/1.1\r\nHost: example.com\r\n"+
		"X-User: alice\r\nCookie: theme=dark; sid=\"abc123\"\r\n\r\n")
	type tc struct {
		name   string
		policy Name
		key    HashKey
	}
	var cases []tc
	for _, p := range allPolicies {
		cases = append(cases, tc{string(p), p, HashKey{}})
	}
	cases = append(cases,
		tc{"hash/path", Hash, HashKey{Kind: KeyPath}},
		tc{"hash/header", Hash, HashKey{Kind: KeyHeader, Name: "X-User"}},
		tc{"hash/cookie", Hash, HashKey{Kind: KeyCookie, Name: "sid"}},
		tc{"hash/absent-header", Hash, HashKey{Kind: KeyHeader, Name: "X-None"}},
	)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := newServers(t, "a:2", "b", "c:3", "d")
			srv[3].Backup = true
			pool := mustPool(t, c.policy, srv, Options{HashKey: c.key})
			if n := testing.AllocsPerRun(200, func() { pool.Pick(ctx) }); n != 0 {
				t.Errorf("Pool.Pick() allocates %v times per call, want 0", n)
			}
			srv[0].SetState(StateDown) // exercise the probing paths too
			srv[1].SetState(StateDown)
			srv[2].SetState(StateDown)
			if n := testing.AllocsPerRun(200, func() { pool.Pick(ctx) }); n != 0 {
				t.Errorf("Pool.Pick() to a backup allocates %v times per call, want 0", n)
			}
		})
	}
}

func splitWords(s string) []string { return strings.Fields(s) }
