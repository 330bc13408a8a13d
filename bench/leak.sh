#!/usr/bin/env bash
# The leak-to-refusal benchmark: starts a bench-upstream and Warden, then runs kill-bench
# with `--stop leak`: many keep-alive clients of one agent hammer the gateway, the agent's
# client secret is reported leaked with POST /v1/leaks and `revoke`, and kill-bench reports
# how long the report took, when the first refusal arrived (the leak-to-refusal time, goal
# at most 1 s) and whether anything was allowed after the report returned (nothing may
# be). Extra arguments go to kill-bench, e.g. --clients 128.
#
#   bash bench/leak.sh [--clients 64] [--before-ms 2000] [--after-ms 1000]
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

ensure_packages curl:curl
build_release
start_upstream upstream
start_warden
echo "bench: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
"$BIN/kill-bench" --api "$API" --gateway "$GATEWAY" --upstream-url "http://$UPSTREAM_ADDR" \
    --stop leak --agent leak-agent --upstream leak-upstream --owner leak-owner@bench.example "$@"
