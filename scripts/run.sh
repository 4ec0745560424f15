#!/usr/bin/env bash
# make run: the whole farm on this machine — Redis (sessions), PostgreSQL
# primary + streaming replica (items), three backends on 127.0.0.1:9001-9003
# and lb on :8080 in front of them — then a short tour. Ctrl-C stops all
# and removes the temporary folder.
#
# Where redis-server or PostgreSQL is missing (scripts/deps.sh installs
# them on Debian), the backends keep sessions and items in process and lb's
# sticky cookie keeps each client on one backend; the script says so.
# STORES=memory skips Redis and PostgreSQL even when they are installed.
# Ports: REDIS_PORT (16379), PG_PORT (15432), PG_REPLICA_PORT (15433).
set -euo pipefail
cd "$(dirname "$0")/.."

REDIS_PORT=${REDIS_PORT:-16379}
PG_PORT=${PG_PORT:-15432}
PG_REPLICA_PORT=${PG_REPLICA_PORT:-15433}
STORES=${STORES:-}

dir=$(mktemp -d /tmp/lb-run.XXXXXX)
chmod 755 "$dir"
pids=()
pg_dirs=()
as_pg=()
stop() {
  trap - INT TERM EXIT
  echo
  echo "stopping (the backends drain for a few seconds)..."
  # Ctrl-C reached the whole process group already: a second signal
  # would make lb and the backends exit without draining.
  if [ "$1" != INT ]; then
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  fi
  wait 2>/dev/null || true
  # Replica first, then the primary.
  for ((i = ${#pg_dirs[@]} - 1; i >= 0; i--)); do
    "${as_pg[@]}" "$pg_bin/pg_ctl" -D "${pg_dirs[$i]}" -m fast -w stop >/dev/null 2>&1 || true
  done
  rm -rf "$dir"
}
trap "stop INT" INT
trap "stop TERM" TERM EXIT

# --- Redis -------------------------------------------------------------
redis_url=
if [ "$STORES" != memory ] && command -v redis-server >/dev/null 2>&1; then
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
    --dir "$dir" --logfile "$dir/redis.log" --daemonize no &
  pids+=($!)
  for _ in $(seq 50); do
    if redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then redis_url="redis://127.0.0.1:$REDIS_PORT/0"; break; fi
    sleep 0.1
  done
  [ -n "$redis_url" ] || echo "redis-server did not start (see $dir/redis.log)" >&2
fi

# --- PostgreSQL primary + streaming replica ------------------------------
db_url=
replica_url=
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
if [ "$STORES" != memory ] && [ -n "$pg_bin" ] && [ -x "$pg_bin/initdb" ]; then
  # initdb refuses to run as root: run PostgreSQL as its own user.
  if [ "$(id -u)" -eq 0 ]; then as_pg=(runuser -u postgres --); else as_pg=(env); fi
  pg="$dir/pg"
  mkdir -p "$pg"
  [ "$(id -u)" -eq 0 ] && chown postgres: "$pg"
  if "${as_pg[@]}" "$pg_bin/initdb" -D "$pg/primary" -A trust -U postgres -E UTF8 --no-sync >"$dir/initdb.log" 2>&1; then
    cat >>"$pg/primary/postgresql.conf" <<CONF
wal_level = replica
max_wal_senders = 4
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$pg'
CONF
    echo "host replication all 127.0.0.1/32 trust" >>"$pg/primary/pg_hba.conf"
    if "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$pg/primary" -l "$pg/primary.log" -w start >/dev/null; then
      pg_dirs+=("$pg/primary")
      db_url="postgres://postgres@127.0.0.1:$PG_PORT/postgres?sslmode=disable"
      if "${as_pg[@]}" "$pg_bin/pg_basebackup" -h 127.0.0.1 -p "$PG_PORT" -U postgres -D "$pg/replica" -R -X stream -c fast >>"$dir/initdb.log" 2>&1; then
        echo "port = $PG_REPLICA_PORT" >>"$pg/replica/postgresql.conf"
        if "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$pg/replica" -l "$pg/replica.log" -w start >/dev/null; then
          pg_dirs+=("$pg/replica")
          replica_url="postgres://postgres@127.0.0.1:$PG_REPLICA_PORT/postgres?sslmode=disable"
        fi
      fi
    fi
  fi
  [ -n "$db_url" ] || echo "PostgreSQL did not start (see $dir/initdb.log, $pg/primary.log)" >&2
fi

# --- lb's configuration ------------------------------------------------
config=config.yaml
if [ -z "$redis_url" ]; then
  # Sessions in process: keep each client on one backend with lb's
  # sticky cookie (HAProxy: cookie lb insert).
  config="$dir/lb.yaml"
  sed '/^  web:/a\    sticky: {cookie: lb}' config.yaml >"$config"
fi

# --- the farm ----------------------------------------------------------
export REDIS_URL="$redis_url" DATABASE_URL="$db_url" DATABASE_REPLICA_URLS="$replica_url"
for i in 1 2 3; do
  ./bin/backend -addr "127.0.0.1:900$i" -id "backend-$i" 2>"$dir/backend-$i.log" &
  pids+=($!)
done
sleep 0.5
./bin/lb -check -config "$config"

if [ -n "$redis_url" ]; then sessions="Redis on 127.0.0.1:$REDIS_PORT (shared by all backends)"
else sessions="IN PROCESS (no Redis): lb's sticky cookie keeps each client on one backend"; fi
if [ -n "$db_url" ]; then items="PostgreSQL primary :$PG_PORT${replica_url:+ + streaming replica :$PG_REPLICA_PORT}"
else items="IN PROCESS (no PostgreSQL): each backend has its own items"; fi
jar="$dir/cookies"
cat <<MSG

  lb on http://localhost:8080 in front of backend-1..3 (127.0.0.1:9001-9003)
    stats:    http://127.0.0.1:9090/ (drain/enable buttons; metrics at /metrics)
    sessions: $sessions
    items:    $items
    logs:     $dir

  Each backend answers in turn:
    for i in 1 2 3 4; do curl -s localhost:8080/whoami; done
  Log in, and stay logged in whichever backend answers:
    curl -s -c $jar -d '{"user":"ann"}' localhost:8080/login
    for i in 1 2 3; do curl -s -b $jar -c $jar localhost:8080/me; done
  Write an item, read it back at once through the next backend
  (X-Data-Source: the replica once it has the write, else the primary):
    curl -s -b $jar -c $jar -d '{"name":"hello","value":{"n":1}}' localhost:8080/items
    curl -s -i -b $jar -c $jar localhost:8080/items/1
  A read with no session needs no freshness: the replica serves it:
    curl -s -i 'localhost:8080/items?limit=10'
  CPU work on a bounded pool (503 + Retry-After when full), a streamed import:
    curl -s 'localhost:8080/work?cost=200000'
    curl -s -d '[{"name":"a"},{"name":"b"}]' localhost:8080/import
  Stop: Ctrl-C

MSG
./bin/lb -config "$config" &
pids+=($!)
wait -n "${pids[@]}" || true
