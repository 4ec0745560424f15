package discovery

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"

	"lb/config"
	"lb/internal/dnstest"
)

func ep(addr string) Endpoint { return Endpoint{Addr: netip.MustParseAddrPort(addr)} }

func srvEP(addr string, weight, prio uint16) Endpoint {
	return Endpoint{Addr: netip.MustParseAddrPort(addr), Weight: weight, Priority: prio}
}

func testResolver(servers ...*dnstest.Server) *Resolver {
	r := &Resolver{Timeout: time.Second} // generous for a loopback server on a loaded machine; the silent-server cases wait it out
	for _, s := range servers {
		r.Servers = append(r.Servers, s.Addr)
	}
	return r
}

func lookup(t *testing.T, r *Resolver, src Source) ([]Endpoint, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return r.Lookup(ctx, src)
}

func TestLookupA(t *testing.T) {
	d := dnstest.Start(t)
	d.SetAddrs("backend.test.", "127.0.0.3", "127.0.0.1", "::1", "127.0.0.2", "127.0.0.1")
	got, err := lookup(t, testResolver(d), Source{Name: "backend.test.", Port: 8080})
	if err != nil {
		t.Fatal(err)
	}
	want := []Endpoint{ep("127.0.0.1:8080"), ep("127.0.0.2:8080"), ep("127.0.0.3:8080"), ep("[::1]:8080")}
	if !slices.Equal(got, want) {
		t.Errorf("Lookup = %v, want %v", got, want)
	}
}

func TestLookupSRV(t *testing.T) {
	for _, glue := range []bool{true, false} {
		t.Run(fmt.Sprintf("glue=%v", glue), func(t *testing.T) {
			d := dnstest.Start(t)
			d.SetAddrs("b1.backend.test.", "127.0.0.1")
			d.SetAddrs("b2.backend.test.", "127.0.0.2", "::1")
			d.SetSRV("_http._tcp.backend.test.", glue,
				dnstest.SRV{Target: "b1.backend.test.", Port: 9001, Weight: 10, Priority: 1},
				dnstest.SRV{Target: "b2.backend.test.", Port: 9002, Weight: 0, Priority: 2},
				dnstest.SRV{Target: ".", Port: 9003}, // "no service"
			)
			got, err := lookup(t, testResolver(d), Source{Name: "_http._tcp.backend.test.", SRV: true})
			if err != nil {
				t.Fatal(err)
			}
			want := []Endpoint{srvEP("127.0.0.1:9001", 10, 1), srvEP("127.0.0.2:9002", 0, 2), srvEP("[::1]:9002", 0, 2)}
			if !slices.Equal(got, want) {
				t.Errorf("Lookup = %v, want %v", got, want)
			}
		})
	}
}

// TestLookupFailures pins what counts as a failed lookup, and that a
// server that does not answer, or answers SERVFAIL, hands the query to
// the next one while NXDOMAIN ends it.
func TestLookupFailures(t *testing.T) {
	d := dnstest.Start(t)
	d.SetAddrs("backend.test.", "127.0.0.1")
	d.SetSRV("_http._tcp.srv-only.test.", false, dnstest.SRV{Target: "gone.test.", Port: 80})
	d.SetAddrs("broken.test.", "127.0.0.1")
	d.SetRcode("broken.test.", dns.RcodeServerFailure)
	dead := dnstest.Start(t)
	dead.SetSilent(true)
	failing := dnstest.Start(t)
	failing.SetAddrs("backend.test.", "127.0.0.9")
	failing.SetRcode("backend.test.", dns.RcodeServerFailure)

	tests := []struct {
		name    string
		r       *Resolver
		src     Source
		want    []Endpoint
		wantErr error // nil: any error
		ok      bool
	}{
		{"nxdomain", testResolver(d), Source{Name: "nope.test.", Port: 80}, nil, ErrNotFound, false},
		{"no A records", testResolver(d), Source{Name: "_http._tcp.srv-only.test.", Port: 80}, nil, ErrNoRecords, false},
		{"SRV target gone", testResolver(d), Source{Name: "_http._tcp.srv-only.test.", SRV: true}, nil, ErrNotFound, false},
		{"servfail", testResolver(d), Source{Name: "broken.test.", Port: 80}, nil, nil, false},
		{"timeout", testResolver(dead), Source{Name: "backend.test.", Port: 80}, nil, nil, false},
		{"no servers", &Resolver{}, Source{Name: "backend.test.", Port: 80}, nil, ErrNoServers, false},
		{"dead then good", testResolver(dead, d), Source{Name: "backend.test.", Port: 80}, []Endpoint{ep("127.0.0.1:80")}, nil, true},
		{"servfail then good", testResolver(failing, d), Source{Name: "backend.test.", Port: 80}, []Endpoint{ep("127.0.0.1:80")}, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := lookup(t, tc.r, tc.src)
			switch {
			case tc.ok && err != nil:
				t.Fatalf("Lookup: %v", err)
			case tc.ok && !slices.Equal(got, tc.want):
				t.Errorf("Lookup = %v, want %v", got, tc.want)
			case !tc.ok && err == nil:
				t.Fatalf("Lookup = %v, nil; want an error", got)
			case !tc.ok && tc.wantErr != nil && !errors.Is(err, tc.wantErr):
				t.Errorf("Lookup error = %v, want %v", err, tc.wantErr)
			}
		})
	}
}

// TestTruncatedAnswerAskedAgainOverTCP: an answer too large for UDP
// arrives whole over TCP.
func TestTruncatedAnswerAskedAgainOverTCP(t *testing.T) {
	d := dnstest.Start(t)
	var ips []string
	for i := 1; i <= 200; i++ {
		ips = append(ips, fmt.Sprintf("127.0.%d.%d", i/100, i%100+1))
	}
	d.SetAddrs("big.test.", ips...)
	d.SetTruncate(true)
	got, err := lookup(t, testResolver(d), Source{Name: "big.test.", Port: 80})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 200 {
		t.Errorf("Lookup found %d endpoints, want 200", len(got))
	}
}

func TestNewResolver(t *testing.T) {
	r, err := newResolver(config.Resolver{Addresses: []string{"10.96.0.10:53"}, Timeout: time.Second}, "/nonexistent")
	if err != nil || !slices.Equal(r.Servers, []string{"10.96.0.10:53"}) || r.Timeout != time.Second {
		t.Errorf("newResolver(addresses) = %+v, %v", r, err)
	}
	conf := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(conf, []byte("search default.svc.cluster.local\nnameserver 10.96.0.10\nnameserver fd00::10\noptions ndots:5\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err = newResolver(config.Resolver{Timeout: time.Second}, conf)
	if want := []string{"10.96.0.10:53", "[fd00::10]:53"}; err != nil || !slices.Equal(r.Servers, want) {
		t.Errorf("newResolver(resolv.conf) = %+v, %v; want servers %v", r, err, want)
	}
	if _, err := newResolver(config.Resolver{}, "/nonexistent"); err == nil {
		t.Error("newResolver without addresses or resolv.conf: no error")
	}
	empty := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(empty, []byte("search x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := newResolver(config.Resolver{}, empty); !errors.Is(err, ErrNoServers) {
		t.Errorf("newResolver(resolv.conf without nameservers) error = %v, want ErrNoServers", err)
	}
}
