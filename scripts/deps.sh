#!/usr/bin/env bash
# Installs what lb's build and tests need on a fresh Debian machine with Go.
set -euo pipefail
cd "$(dirname "$0")/.."
go mod download
