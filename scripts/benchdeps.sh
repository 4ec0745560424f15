#!/usr/bin/env bash
# Installs what make bench needs beyond the build: Nginx, HAProxy and wrk
# from Debian's packages, and taskset (util-linux).
set -euo pipefail
need=()
for tool in nginx haproxy wrk taskset; do
  if ! command -v "$tool" >/dev/null 2>&1 && ! [ -x "/usr/sbin/$tool" ]; then
    case "$tool" in taskset) need+=(util-linux) ;; *) need+=("$tool") ;; esac
  fi
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi
