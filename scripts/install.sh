#!/usr/bin/env bash
# Installs what zkfl and its tests need on a fresh Debian machine, and nothing else: from Debian, the Fashion-MNIST
# data set (the demo's and the tests' data), chromium (the browser tests drive it through playwright-core), and the
# PostgreSQL and Redis servers (the tests start throwaway ones of their own); from npm, the dependencies in the lock
# file. Safe to run again: what is there already is kept.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=()
if [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] && [ -z "${ZKFL_FASHION_MNIST:-}" ]; then
  packages+=(dataset-fashion-mnist)
fi
[ -x "${ZKFL_CHROMIUM:-/usr/bin/chromium}" ] || packages+=(chromium)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || [ -n "${ZKFL_PG_BIN:-}" ] || packages+=(postgresql)
[ -x "${ZKFL_REDIS_SERVER:-/usr/bin/redis-server}" ] || packages+=(redis-server)

if [ ${#packages[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "installing ${packages[*]} (apt)" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${packages[@]}" >/dev/null
fi

echo "installing npm dependencies (npm ci)" >&2
npm ci --no-audit --no-fund --loglevel=error
