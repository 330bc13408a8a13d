#!/usr/bin/env bash
# The kill-switch benchmark: starts a bench-upstream and Warden, then runs kill-bench,
# which has many keep-alive clients of one agent hammer the gateway, kills the agent with
# POST /v1/kill, and reports how long the call took and whether anything was allowed after
# it returned (nothing may be). Extra arguments go to kill-bench, e.g. --clients 128.
#
#   bash bench/kill.sh [--clients 64] [--before-ms 2000] [--after-ms 1000]
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

ensure_packages curl:curl
build_release
start_upstream upstream
start_warden
echo "bench: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
"$BIN/kill-bench" --api "$API" --gateway "$GATEWAY" --upstream-url "http://$UPSTREAM_ADDR" "$@"
