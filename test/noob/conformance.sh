#!/usr/bin/env bash
# Runs noob's own test graphs, unchanged, from a noob checkout, on tubular's runners,
# and checks the values noob's pytest tests assert. One line per case and runner, then totals.
#   test/noob/conformance.sh PATH_TO_NOOB_CHECKOUT [--runner local|zmq] [--case SUBSTRING]
set -euo pipefail
if [ $# -lt 1 ]; then
  echo "usage: $0 PATH_TO_NOOB_CHECKOUT [--runner local|zmq] [--case SUBSTRING]" >&2
  exit 2
fi
here="$(cd "$(dirname "$0")" && pwd)"
exec node --import tsx "$here/conformance.ts" "$@"
