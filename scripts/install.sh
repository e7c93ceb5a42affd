#!/usr/bin/env bash
# Installs what zkfl needs on a fresh Debian machine: the Fashion-MNIST data set (Debian package) and the npm
# dependencies from the lock file. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] && [ -z "${ZKFL_FASHION_MNIST:-}" ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "installing dataset-fashion-mnist (apt)" >&2
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq dataset-fashion-mnist >/dev/null
fi

echo "installing npm dependencies (npm ci)" >&2
npm ci --no-audit --no-fund --loglevel=error
