#!/usr/bin/env bash
# The test suite on a busy machine: a CPU hog on every core (stress-ng, from Debian) for as long as the tests run.
# Tests assert order and outcome, never seconds, so they must pass here as on a quiet machine.
#   bash scripts/busy-test.sh                   # the whole suite (npm test)
#   bash scripts/busy-test.sh test/integration/dropouts.test.ts   # some files (passed to mocha)
# ZKFL_TEST_TIMES=FILE writes each file's seconds there (test/count-reporter.cjs).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v stress-ng >/dev/null; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "installing stress-ng (apt)" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq stress-ng >/dev/null
fi

cores=$(nproc)
stress-ng --cpu "$cores" --quiet &
hog=$!
trap 'kill "$hog" 2>/dev/null || true; wait "$hog" 2>/dev/null || true' EXIT
echo "stress-ng: $cores CPU hogs (pid $hog) while the tests run" >&2
npx mocha "$@"
