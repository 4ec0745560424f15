package balancer

import (
	"fmt"
	"net"
	"sync/atomic"
	"testing"

	"github.com/valyala/fasthttp"
)

// BenchmarkPick measures one Pool.Pick per operation, in parallel over
// GOMAXPROCS goroutines, for every policy and pool size. Each goroutine has
// its own request (the hash policy hashes its client IP); weights vary
// from 1 to 5.
func BenchmarkPick(b *testing.B) {
	for _, policy := range allPolicies {
		for _, n := range []int{2, 16, 256} {
			b.Run(fmt.Sprintf("%s/%d", policy, n), func(b *testing.B) {
				srv := make([]*Server, n)
				for i := range srv {
					srv[i] = NewServer(fmt.Sprintf("10.0.%d.%d:8080", i/256, i%256), 1+i%5, false, 0)
				}
				pool, err := NewPool("bench", policy, srv, Options{})
				if err != nil {
					b.Fatal(err)
				}
				var id atomic.Uint32
				b.ReportAllocs()
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					i := id.Add(1)
					var ctx fasthttp.RequestCtx
					var req fasthttp.Request
					req.SetRequestURI("/")
					ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(192, 0, byte(i>>8), byte(i)), Port: 4000}, nil)
					for pb.Next() {
						if pool.Pick(&ctx) == nil {
							b.Error("Pick() = nil, want a server")
							return
						}
					}
				})
			})
		}
	}
}

// BenchmarkWRRBuild measures a schedule rebuild, the cost of one state
// transition in a weighted round robin pool.
func BenchmarkWRRBuild(b *testing.B) {
	for _, n := range []int{16, 256} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			srv := make([]*Server, n)
			for i := range srv {
				srv[i] = NewServer(fmt.Sprint("s", i), 1000-i, false, 0) // coprime-ish: a long period
			}
			p := mustNew(b, WeightedRoundRobin, srv, Options{}).(*wrr)
			b.ReportAllocs()
			for b.Loop() {
				p.rebuild()
			}
			b.ReportMetric(float64(len(p.sched.Load().order)), "entries")
		})
	}
}
