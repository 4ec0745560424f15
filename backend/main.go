// Command backend is the reference service of the farm behind lb: it uses
// every core, keeps its state in Redis (sessions) and PostgreSQL (items),
// and drains without losing a request when it is replaced. The HTTP
// service is package backend/service; this file is flags and wiring.
//
//	backend -addr 127.0.0.1:9001 -id backend-1 \
//	    -redis redis://127.0.0.1:6379/0 \
//	    -database postgres://app@db1/app -replicas postgres://app@db2/app
//
// Without -redis (REDIS_URL) or -database (DATABASE_URL) it keeps that
// state in process memory, which serves one instance only.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"lb/backend/data"
	"lb/backend/service"
	"lb/backend/session"
	"lb/backend/work"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9001", "listen address (SO_REUSEPORT: a new process may bind it while the old one drains)")
	id := flag.String("id", "", "instance ID (default: host name and PID)")
	compress := flag.Bool("compress", false, "compress responses when the client accepts it (as a backend without lb in front would)")
	redisURL := flag.String("redis", os.Getenv("REDIS_URL"), "Redis URL for sessions (env REDIS_URL); empty: in-process sessions")
	redisPool := flag.Int("redis-pool", 16, "most Redis connections")
	sessionTTL := flag.Duration("session-ttl", 24*time.Hour, "sessions end after this long unused")
	dbURL := flag.String("database", os.Getenv("DATABASE_URL"), "PostgreSQL primary DSN (env DATABASE_URL); empty: in-process items")
	replicas := flag.String("replicas", os.Getenv("DATABASE_REPLICA_URLS"), "comma-separated replica DSNs (env DATABASE_REPLICA_URLS)")
	dbConns := flag.Int("db-conns", 8, "most connections per database server")
	stmtTimeout := flag.Duration("statement-timeout", 5*time.Second, "PostgreSQL statement_timeout")
	workers := flag.Int("work-workers", runtime.GOMAXPROCS(0), "CPU workers for /work")
	workQueue := flag.Int("work-queue", 64, "most /work jobs waiting for a worker; more get 503")
	importBatch := flag.Int("import-batch", 1000, "items per transaction in /import")
	readTimeout := flag.Duration("read-timeout", 5*time.Minute, "reading one request, a streamed /import body included")
	drainGrace := flag.Duration("drain-grace", 3*time.Second, "on SIGTERM, answer readiness 503 this long before closing the listener (more than lb's health interval × fall)")
	shutdownTimeout := flag.Duration("shutdown-timeout", 20*time.Second, "then wait this long for requests in flight")
	flag.Parse()
	if *id == "" {
		host, _ := os.Hostname()
		*id = fmt.Sprintf("%s-%d", host, os.Getpid())
	}

	var warnings []string
	var sessions session.Store
	if *redisURL == "" {
		sessions = session.NewMemory(*sessionTTL)
		warnings = append(warnings, "WARNING: no REDIS_URL: sessions live in this instance only; behind lb a user is logged out whenever another backend answers (use lb's sticky cookie, or Redis)")
	} else {
		s, err := session.NewRedis(*redisURL, *sessionTTL, *redisPool)
		if err != nil {
			log.Fatalf("backend: %v", err)
		}
		sessions = s
	}
	var items data.Store
	if *dbURL == "" {
		items = data.NewMemory()
		warnings = append(warnings, "WARNING: no DATABASE_URL: items live in this instance only; every backend has its own")
	} else {
		var reps []string
		for r := range strings.SplitSeq(*replicas, ",") {
			if r = strings.TrimSpace(r); r != "" {
				reps = append(reps, r)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		d, err := data.NewPostgres(ctx, data.Config{Primary: *dbURL, Replicas: reps, MaxConns: int32(*dbConns),
			StatementTimeout: *stmtTimeout, HealthInterval: time.Second})
		cancel()
		if err != nil {
			log.Fatalf("backend: %v", err)
		}
		items = d
	}
	pool := work.New(*workers, *workQueue)
	svc := service.New(service.Config{ID: *id, Sessions: sessions, Data: items, Work: pool, ImportBatch: *importBatch})
	srv := svc.Server(service.ServerConfig{ReadTimeout: *readTimeout, WriteTimeout: 60 * time.Second,
		IdleTimeout: 90 * time.Second, Compress: *compress})

	// SIGTERM is caught before "listening on" tells anyone this process
	// exists, so a stop sent at once still drains.
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	ln, err := service.Listen(*addr)
	if err != nil {
		log.Fatalf("backend: %v", err)
	}
	// lb's tests and scripts read "listening on ADDR" from the first line.
	// GOMAXPROCS follows the container's CPU quota by itself (Go ≥ 1.25):
	// no library needed.
	log.Printf("backend %s listening on %s (GOMAXPROCS=%d of %d CPUs, following any cgroup CPU quota; /work: %d workers, queue %d)",
		*id, ln.Addr(), runtime.GOMAXPROCS(0), runtime.NumCPU(), pool.Workers(), *workQueue)
	log.Printf("sessions: %s; items: %s", describe(sessions.Shared(), "redis "+redact(*redisURL), "in process"),
		describe(*dbURL != "", fmt.Sprintf("postgres primary + %d replicas", len(strings.FieldsFunc(*replicas, func(r rune) bool { return r == ',' }))), "in process"))
	for _, w := range warnings {
		log.Print(w)
	}

	stopped := make(chan error, 1)
	go func() {
		<-sig
		log.Printf("draining: readiness 503 for %v, then up to %v for requests in flight", *drainGrace, *shutdownTimeout)
		go func() { <-sig; log.Print("second signal: exiting now"); os.Exit(1) }()
		stopped <- svc.Drain(srv, *drainGrace, *shutdownTimeout)
	}()
	if err := srv.Serve(ln); err != nil {
		log.Fatalf("backend: %v", err)
	}
	if err := <-stopped; err != nil {
		log.Printf("graceful stop: %v (requests still in flight were cut)", err)
	}
	pool.Close()
	items.Close()
	_ = sessions.Close()
	log.Print("stopped")
}

func describe(ok bool, yes, no string) string {
	if ok {
		return yes
	}
	return no
}

// redact drops a password from a URL for the log.
func redact(u string) string {
	if at := strings.LastIndexByte(u, '@'); at >= 0 {
		if scheme := strings.Index(u, "://"); scheme >= 0 && scheme < at {
			return u[:scheme+3] + "…" + u[at:]
		}
	}
	return u
}
