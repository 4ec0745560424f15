package discovery

import (
	"reflect"
	"testing"

	"lb/config"
	"lb/snapshot"
)

const expandYAML = `listeners: [{address: "127.0.0.1:0"}]
routes: [{pool: web}]
pools:
  web:
    servers:
      - address: 127.0.0.1:8080
      - address: backend.test:8080
        resolve: true
        weight: 3
        drain: true
      - address: backend.test
        resolve: true
        service: http
      - address: backend.test
        resolve: true
        service: _alt._tcp
        backup: true
  other:
    servers:
      - address: BACKEND.test.:8080
        resolve: true
`

func TestExpand(t *testing.T) {
	cfg, err := config.Parse("expand.yaml", []byte(expandYAML))
	if err != nil {
		t.Fatal(err)
	}
	srcSRVAlt := Source{Name: "_alt._tcp.backend.test.", SRV: true}
	if got, want := Sources(cfg), []Source{srcA, srcSRV, srcSRVAlt}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Sources = %v, want %v (one per name, in file order)", got, want)
	}
	sets := Sets{
		srcA: {ep("127.0.0.1:8080"), ep("127.0.0.2:8080")},
		srcSRV: {
			srvEP("127.0.0.3:9001", 0, 1),    // weight 0 → 1
			srvEP("127.0.0.4:9002", 5000, 1), // → 1000
			srvEP("127.0.0.5:9003", 7, 2),    // a lower priority: backup
			srvEP("127.0.0.2:8080", 9, 1),    // found already
		},
		srcSRVAlt: {
			srvEP("127.0.0.6:9004", 2, 10), // lowest: backup, as its entry
			srvEP("127.0.0.7:9005", 2, 20), // left out
		},
	}
	got := Expand(cfg, sets)
	want := []config.Server{
		{Address: "127.0.0.1:8080", Weight: 1},
		// 127.0.0.1:8080 is written as an address: that entry wins.
		{Address: "127.0.0.2:8080", Weight: 3, Drain: true},
		{Address: "127.0.0.3:9001", Weight: 1},
		{Address: "127.0.0.4:9002", Weight: 1000},
		{Address: "127.0.0.5:9003", Weight: 7, Backup: true},
		{Address: "127.0.0.6:9004", Weight: 2, Backup: true},
	}
	if !reflect.DeepEqual(got.Pools[0].Servers, want) {
		t.Errorf("Expand: pool web servers\n%+v\nwant\n%+v", got.Pools[0].Servers, want)
	}
	if want := []config.Server{{Address: "127.0.0.1:8080", Weight: 1}, {Address: "127.0.0.2:8080", Weight: 1}}; !reflect.DeepEqual(got.Pools[1].Servers, want) {
		t.Errorf("Expand: pool other servers %+v, want %+v", got.Pools[1].Servers, want)
	}
	if len(cfg.Pools[0].Servers) != 4 || !cfg.Pools[0].Servers[1].Resolve {
		t.Errorf("Expand changed its argument: %+v", cfg.Pools[0].Servers)
	}
	if _, err := snapshot.Build(got, nil); err != nil {
		t.Errorf("snapshot.Build(Expand(...)): %v", err)
	}

	plain, err := config.Parse("plain.yaml", []byte("listeners: [{address: \"127.0.0.1:0\"}]\nroutes: [{pool: web}]\npools: {web: {servers: [{address: \"127.0.0.1:1\"}]}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if Expand(plain, nil) != plain {
		t.Error("Expand of a configuration without resolve made a copy")
	}
}

// TestPoolWithoutAnswerServes503: before its first answer, a pool of
// resolved entries only has no server, with every policy: it builds and
// picks nothing (503) rather than failing the start or a reload.
func TestPoolWithoutAnswerBuilds(t *testing.T) {
	for _, policy := range []string{"round_robin", "weighted_round_robin", "least_conn", "random_two", "hash"} {
		t.Run(policy, func(t *testing.T) {
			hashKey := ""
			if policy == "hash" {
				hashKey = ", hash_key: path"
			}
			yaml := "listeners: [{address: \"127.0.0.1:0\"}]\nroutes: [{pool: web}]\npools: {web: {policy: " + policy + hashKey +
				", sticky: {}, servers: [{address: \"backend.test:80\", resolve: true}]}}\n"
			cfg, err := config.Parse("empty.yaml", []byte(yaml))
			if err != nil {
				t.Fatal(err)
			}
			snap, err := snapshot.Build(Expand(cfg, nil), nil)
			if err != nil {
				t.Fatalf("snapshot.Build: %v", err)
			}
			pool := snap.Routes()[0].Pool.Pool
			if n := len(pool.Servers()); n != 0 {
				t.Fatalf("%d servers, want none", n)
			}
			if s := pool.Pick(nil); s != nil {
				t.Errorf("Pick = %v, want nil", s)
			}
		})
	}
}
