#!/usr/bin/env bash
# make run: three demo backends and lb in front of them. Ctrl-C stops all.
set -euo pipefail
cd "$(dirname "$0")/.."

pids=()
stop() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop INT TERM EXIT

for i in 1 2 3; do
  ./bin/backend -addr "127.0.0.1:900$i" -id "backend-$i" &
  pids+=($!)
done

./bin/lb -check -config config.yaml
cat <<MSG

  lb is starting on http://localhost:8080 in front of backend-1..3.
  Try:   curl localhost:8080/            (repeat: each backend answers in turn)
         for i in 1 2 3 4 5 6; do curl -s localhost:8080/; done
  Stop:  Ctrl-C

MSG
./bin/lb -config config.yaml &
pids+=($!)
wait -n "${pids[@]}" || true
