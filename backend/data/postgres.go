package data

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Config says where the database is and how hard to use it.
type Config struct {
	Primary          string        // DSN (URL or key=value) of the primary
	Replicas         []string      // DSNs of streaming replicas, possibly none
	MaxConns         int32         // per pool; default 2*GOMAXPROCS
	StatementTimeout time.Duration // set on every connection; default 5s
	HealthInterval   time.Duration // replica health check period; default 1s
	// OnHealth, if set, is called when a replica turns healthy or
	// unhealthy (on transitions only; from the health loop or the read
	// that found it failing). An addition to the agreed Config.
	OnHealth func(replica Source, healthy bool)
}

const schema = `CREATE TABLE IF NOT EXISTS items (
	id      bigserial PRIMARY KEY,
	name    text UNIQUE NOT NULL,
	value   jsonb,
	version bigint NOT NULL DEFAULT 1,
	created timestamptz NOT NULL DEFAULT now(),
	updated timestamptz NOT NULL DEFAULT now()
)`

// schemaLock is the pg_advisory_xact_lock key serialising schema set-up:
// concurrent CREATE TABLE IF NOT EXISTS from backends starting together
// can otherwise fail on pg_type's unique index.
const schemaLock = 0x6c62_6974_656d73 // "lbitems"

const cols = `id, name, value, version, created, updated`

// unknownPos is returned when a write succeeded but its WAL position
// could not be read: no replica ever reaches it, so reads given it go to
// the primary, which is always fresh.
const unknownPos = Position("FFFFFFFF/FFFFFFFF")

// pg is the PostgreSQL Store. Safe for concurrent use.
type pg struct {
	primary  *pgxpool.Pool
	replicas []*replica
	rr       atomic.Uint64 // round-robin counter over replicas
	stop     context.CancelFunc
	wg       sync.WaitGroup // health loops
}

// replica is one read pool and what the health loop last learned of it.
type replica struct {
	pool     *pgxpool.Pool
	source   Source
	healthy  atomic.Bool   // answered and is in recovery at the last check
	replay   atomic.Uint64 // last known pg_last_wal_replay_lsn()
	onHealth func(Source, bool)
	// hc is the health loop's own connection, so a pool saturated by
	// reads cannot make the check time out and the replica flap. Only
	// the health loop goroutine uses it.
	hc *pgx.Conn
}

// setHealthy records the replica's state and reports a change.
func (r *replica) setHealthy(h bool) {
	if r.healthy.CompareAndSwap(!h, h) && r.onHealth != nil {
		r.onHealth(r.source, h)
	}
}

var _ Store = (*pg)(nil)

// NewPostgres connects pools to the primary and the replicas, sets up
// the schema on the primary (idempotent, serialised by an advisory lock)
// and starts one health loop per replica. It fails if the primary cannot
// be reached within ctx; replicas may be down and join when they answer.
func NewPostgres(ctx context.Context, cfg Config) (Store, error) {
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = int32(2 * runtime.GOMAXPROCS(0))
	}
	if cfg.StatementTimeout <= 0 {
		cfg.StatementTimeout = 5 * time.Second
	}
	if cfg.HealthInterval <= 0 {
		cfg.HealthInterval = time.Second
	}
	p := &pg{}
	var err error
	if p.primary, err = newPool(ctx, cfg.Primary, cfg); err != nil {
		return nil, err
	}
	for _, dsn := range cfg.Replicas {
		pool, err := newPool(ctx, dsn, cfg)
		if err != nil {
			p.closePools()
			return nil, err
		}
		cc := pool.Config().ConnConfig
		src := Source("replica:" + net.JoinHostPort(cc.Host, strconv.Itoa(int(cc.Port))))
		p.replicas = append(p.replicas, &replica{pool: pool, source: src, onHealth: cfg.OnHealth})
	}
	if err := p.setupSchema(ctx); err != nil {
		p.closePools()
		return nil, err
	}
	hctx, cancel := context.WithCancel(context.Background())
	p.stop = cancel
	for _, r := range p.replicas {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			r.healthLoop(hctx, cfg.HealthInterval)
		}()
	}
	return p, nil
}

func newPool(ctx context.Context, dsn string, cfg Config) (*pgxpool.Pool, error) {
	pc, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("data: dsn: %w", err)
	}
	pc.MaxConns = cfg.MaxConns
	if pc.ConnConfig.ConnectTimeout == 0 {
		pc.ConnConfig.ConnectTimeout = 2 * time.Second
	}
	pc.ConnConfig.RuntimeParams["statement_timeout"] = strconv.FormatInt(cfg.StatementTimeout.Milliseconds(), 10)
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("data: pool: %w", err)
	}
	return pool, nil
}

func (p *pg) setupSchema(ctx context.Context) error {
	err := pgx.BeginFunc(ctx, p.primary, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(schemaLock)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, schema)
		return err
	})
	if err != nil {
		return fmt.Errorf("data: schema: %w", classify(err))
	}
	return nil
}

func (p *pg) closePools() {
	for _, r := range p.replicas {
		r.pool.Close()
	}
	p.primary.Close()
}

// Close stops the health loops and closes every pool.
func (p *pg) Close() {
	p.stop()
	p.wg.Wait()
	p.closePools()
}

// healthFall is how many checks in a row must fail before the health
// loop marks a replica down (HAProxy's `fall`): one slow answer on a
// loaded machine is not an outage. A failed read marks it down at once.
const healthFall = 2

// healthLoop checks the replica every interval until ctx ends. Each
// check may take up to max(interval, 1s).
func (r *replica) healthLoop(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	defer r.closeHC()
	timeout := max(interval, time.Second)
	fails := healthFall - 1 // a replica that fails its first check is down at once
	for {
		switch ok := r.check(ctx, timeout); {
		case ctx.Err() != nil:
			return // shutting down: the answer means nothing
		case ok:
			fails = 0
			r.setHealthy(true)
		default:
			if fails++; fails >= healthFall {
				r.setHealthy(false)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (r *replica) closeHC() {
	if r.hc != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = r.hc.Close(ctx)
		cancel()
		r.hc = nil
	}
}

// check asks the replica whether it is in recovery and how far it has
// replayed, and reports whether it can serve reads: it answered and is
// still a standby (a promoted replica is not one).
func (r *replica) check(ctx context.Context, timeout time.Duration) bool {
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var inRecovery bool
	var lsn *string
	var err error
	if r.hc == nil {
		r.hc, err = pgx.ConnectConfig(cctx, r.pool.Config().ConnConfig)
	}
	if err == nil {
		err = r.hc.QueryRow(cctx, `SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text`).Scan(&inRecovery, &lsn)
	}
	if err != nil {
		r.closeHC()
		return false
	}
	if !inRecovery || lsn == nil {
		return false
	}
	if v, err := ParseLSN(*lsn); err == nil {
		r.storeReplay(v)
	}
	return true
}

// storeReplay raises the cached replay position (it never goes back).
func (r *replica) storeReplay(v uint64) {
	for {
		old := r.replay.Load()
		if v <= old || r.replay.CompareAndSwap(old, v) {
			return
		}
	}
}

// caughtUp reports whether the replica has replayed want, asking it
// only when the cached position is behind.
func (r *replica) caughtUp(ctx context.Context, want uint64) bool {
	if r.replay.Load() >= want {
		return true
	}
	var lsn *string
	if err := r.pool.QueryRow(ctx, `SELECT pg_last_wal_replay_lsn()::text`).Scan(&lsn); err != nil || lsn == nil {
		return false
	}
	v, err := ParseLSN(*lsn)
	if err != nil {
		return false
	}
	r.storeReplay(v)
	return v >= want
}

// reader picks where a read runs: the next healthy replica (round robin,
// bounded by the number of replicas) that has replayed after, else the
// primary. A replica is returned so a failure can mark it unhealthy.
func (p *pg) reader(ctx context.Context, after Position) (*pgxpool.Pool, Source, *replica) {
	n := uint64(len(p.replicas))
	if n == 0 {
		return p.primary, SourcePrimary, nil
	}
	var want uint64
	if after != "" {
		v, err := ParseLSN(string(after))
		if err != nil {
			return p.primary, SourcePrimary, nil
		}
		want = v
	}
	start := p.rr.Add(1)
	for i := range n {
		r := p.replicas[(start+i)%n]
		if !r.healthy.Load() {
			continue
		}
		if want == 0 || r.caughtUp(ctx, want) {
			return r.pool, r.source, r
		}
	}
	return p.primary, SourcePrimary, nil
}

// read runs fn on the chosen source. If a replica fails (other than
// with ErrNotFound, or because the caller's context ended) fn runs again
// on the primary; a replica that was unreachable is also marked
// unhealthy. The other failures are mostly queries cancelled by a
// conflict with recovery (SQLSTATE 40001), which the primary never has.
func (p *pg) read(ctx context.Context, after Position, fn func(q *pgxpool.Pool) error) (Source, error) {
	q, src, r := p.reader(ctx, after)
	err := classify(fn(q))
	if r != nil && err != nil && !errors.Is(err, ErrNotFound) && ctx.Err() == nil {
		if errors.Is(err, ErrUnavailable) {
			r.setHealthy(false)
		}
		src = SourcePrimary
		err = classify(fn(p.primary))
	}
	return src, err
}

// position returns the primary's current WAL write position. Called
// after a write committed, so it is at or past the commit record.
func (p *pg) position(ctx context.Context) Position {
	var s string
	if err := p.primary.QueryRow(ctx, `SELECT pg_current_wal_lsn()::text`).Scan(&s); err != nil {
		return unknownPos
	}
	return Position(s)
}

// classify maps driver errors onto the package's sentinels.
func classify(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNotFound
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "23505": // unique_violation
			return fmt.Errorf("%w: %s", ErrConflict, pe.Detail)
		case strings.HasPrefix(pe.Code, "22"), strings.HasPrefix(pe.Code, "23"): // data exception, integrity
			return fmt.Errorf("%w: %s", ErrInvalid, pe.Message)
		case strings.HasPrefix(pe.Code, "08"), strings.HasPrefix(pe.Code, "53"),
			strings.HasPrefix(pe.Code, "57"), strings.HasPrefix(pe.Code, "58"):
			// connection, resources, operator intervention (shutdown,
			// statement timeout), system error
			return fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
		return fmt.Errorf("data: %w", err)
	}
	// Dial failures, broken connections, timeouts, closed pools.
	return fmt.Errorf("%w: %v", ErrUnavailable, err)
}

// jsonArg passes a value to a jsonb parameter: NULL when empty.
func jsonArg(v []byte) any {
	if len(v) == 0 {
		return nil
	}
	return v
}

func scanItem(row pgx.Row) (Item, error) {
	var it Item
	var v []byte
	if err := row.Scan(&it.ID, &it.Name, &v, &it.Version, &it.Created, &it.Updated); err != nil {
		return Item{}, err
	}
	if v != nil {
		it.Value = v
	}
	it.Created, it.Updated = it.Created.UTC(), it.Updated.UTC()
	return it, nil
}

func (p *pg) Create(ctx context.Context, in NewItem) (Item, Position, error) {
	if err := validate(in); err != nil {
		return Item{}, "", err
	}
	it, err := scanItem(p.primary.QueryRow(ctx,
		`INSERT INTO items (name, value) VALUES ($1, $2) RETURNING `+cols, in.Name, jsonArg(in.Value)))
	if err != nil {
		return Item{}, "", classify(err)
	}
	return it, p.position(ctx), nil
}

func (p *pg) Get(ctx context.Context, id int64, after Position) (Item, Source, error) {
	var it Item
	src, err := p.read(ctx, after, func(q *pgxpool.Pool) error {
		var err error
		it, err = scanItem(q.QueryRow(ctx, `SELECT `+cols+` FROM items WHERE id = $1`, id))
		return err
	})
	return it, src, err
}

func (p *pg) List(ctx context.Context, limit int, after Position) ([]Item, Source, error) {
	limit = clampLimit(limit)
	var out []Item
	src, err := p.read(ctx, after, func(q *pgxpool.Pool) error {
		out = out[:0]
		rows, err := q.Query(ctx, `SELECT `+cols+` FROM items ORDER BY id LIMIT $1`, limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			it, err := scanItem(rows)
			if err != nil {
				return err
			}
			out = append(out, it)
		}
		return rows.Err()
	})
	if out == nil && err == nil {
		out = []Item{}
	}
	return out, src, err
}

func (p *pg) Update(ctx context.Context, id int64, in NewItem, version int64) (Item, Position, error) {
	if err := validate(in); err != nil {
		return Item{}, "", err
	}
	it, err := scanItem(p.primary.QueryRow(ctx,
		`UPDATE items SET name = $2, value = $3, version = version + 1, updated = now()
		 WHERE id = $1 AND ($4::bigint = 0 OR version = $4) RETURNING `+cols,
		id, in.Name, jsonArg(in.Value), version))
	if errors.Is(err, pgx.ErrNoRows) {
		if version == 0 {
			return Item{}, "", ErrNotFound
		}
		var exists bool
		if err := p.primary.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM items WHERE id = $1)`, id).Scan(&exists); err != nil {
			return Item{}, "", classify(err)
		}
		if exists {
			return Item{}, "", fmt.Errorf("%w: version is not %d", ErrConflict, version)
		}
		return Item{}, "", ErrNotFound
	}
	if err != nil {
		return Item{}, "", classify(err)
	}
	return it, p.position(ctx), nil
}

func (p *pg) Delete(ctx context.Context, id int64) (Position, error) {
	tag, err := p.primary.Exec(ctx, `DELETE FROM items WHERE id = $1`, id)
	if err != nil {
		return "", classify(err)
	}
	if tag.RowsAffected() == 0 {
		return "", ErrNotFound
	}
	return p.position(ctx), nil
}

// InsertBatch copies the items with COPY, one statement and so one
// transaction: a duplicate anywhere aborts all of it.
func (p *pg) InsertBatch(ctx context.Context, items []NewItem) (Position, error) {
	if len(items) == 0 {
		return "", nil
	}
	for _, it := range items {
		if err := validate(it); err != nil {
			return "", err
		}
	}
	_, err := p.primary.CopyFrom(ctx, pgx.Identifier{"items"}, []string{"name", "value"},
		pgx.CopyFromSlice(len(items), func(i int) ([]any, error) {
			return []any{items[i].Name, jsonArg(items[i].Value)}, nil
		}))
	if err != nil {
		return "", classify(err)
	}
	return p.position(ctx), nil
}

func (p *pg) Ping(ctx context.Context) error {
	if err := p.primary.Ping(ctx); err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return nil
}
