package testsvc

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// TestRedisStopStartKeepsKeys pins what session tests rely on: Stop
// closes the port, Start brings back the same port with the same keys.
func TestRedisStopStartKeepsKeys(t *testing.T) {
	r := Redis(t)
	ctx := context.Background()
	c := redis.NewClient(&redis.Options{Addr: r.Addr(), MaxRetries: -1, DialTimeout: time.Second})
	defer c.Close()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	r.Stop()
	if err := c.Ping(ctx).Err(); err == nil {
		t.Fatal("Ping() after Stop = nil, want an error")
	}
	r.Start()
	got, err := c.Get(ctx, "k").Result()
	if err != nil || got != "v" {
		t.Fatalf("Get(k) after restart = %q, %v; want v", got, err)
	}
	o, err := redis.ParseURL(r.URL())
	if err != nil || o.Addr != r.Addr() {
		t.Fatalf("URL() = %q parses to %v, %v", r.URL(), o, err)
	}
}

func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func inRecovery(t *testing.T, c *pgx.Conn) bool {
	t.Helper()
	var b bool
	if err := c.QueryRow(context.Background(), `SELECT pg_is_in_recovery()`).Scan(&b); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestPostgresPrimaryReplica checks the cluster is what it claims: the
// primary is not in recovery, the replica is, and a row written on the
// primary shows up on the replica, also after the replica restarts.
func TestPostgresPrimaryReplica(t *testing.T) {
	start := time.Now()
	c := Postgres(t)
	t.Logf("primary %s + replica %s up in %v", c.PrimaryAddr(), c.ReplicaAddr(), time.Since(start))
	ctx := context.Background()
	p := connect(t, c.PrimaryDSN())
	if inRecovery(t, p) {
		t.Fatal("primary: pg_is_in_recovery() = true, want false")
	}
	if !inRecovery(t, connect(t, c.ReplicaDSN())) {
		t.Fatal("replica: pg_is_in_recovery() = false, want true")
	}
	waitRow := func(want int) {
		t.Helper()
		r := connect(t, c.ReplicaDSN())
		deadline := time.Now().Add(10 * time.Second)
		for {
			var n int
			err := r.QueryRow(ctx, `SELECT count(*) FROM t`).Scan(&n)
			if err == nil && n == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("replica: count(*) = %d, %v; want %d", n, err, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if _, err := p.Exec(ctx, `CREATE TABLE t (x int); INSERT INTO t VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	waitRow(1)
	c.StopReplica()
	if _, err := p.Exec(ctx, `INSERT INTO t VALUES (2)`); err != nil {
		t.Fatal(err)
	}
	c.StartReplica()
	waitRow(2)
}

// TestRedisPortTakenIsReported: a port taken before the bind makes start
// fail with "in use", the case Redis retries on another port.
func TestRedisPortTakenIsReported(t *testing.T) {
	bin, err := lookPath("redis-server")
	if err != nil {
		need(t, "redis-server", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	r := &RedisServer{tb: t, bin: bin, dir: t.TempDir(), port: l.Addr().(*net.TCPAddr).Port}
	t.Cleanup(r.kill)
	if err := r.start(); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("start() on a taken port = %v, want an error saying the address is in use", err)
	}
}
