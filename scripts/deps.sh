#!/usr/bin/env bash
# Installs what lb's build and tests need on a fresh Debian machine with Go.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests run for real (curl: the end-to-end
# compression test; chromium: the stats page browser test).
need=()
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
# redis-server and postgresql: the backend's session and data stores
# (internal/testsvc); PostgreSQL's programs live off PATH.
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
{ [ -x "$(pg_config --bindir 2>/dev/null)/initdb" ] || compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; } || need+=(postgresql)
# iproute2: the multi-host test's network namespaces (ip netns, veth).
command -v ip >/dev/null 2>&1 || need+=(iproute2)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi

go mod download
