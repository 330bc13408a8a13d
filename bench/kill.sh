#!/usr/bin/env bash
# The kill-switch benchmark: starts a bench-upstream and Warden, then runs kill-bench,
# which has many keep-alive clients of one agent hammer the gateway, kills the agent with
# POST /v1/kill, and reports how long the call took and whether anything was allowed after
# it returned (nothing may be). Extra arguments go to kill-bench, e.g. --clients 128.
#
# With --nodes 2 it starts two nodes on a fresh database of the local PostgreSQL (sharing
# keys, issuer and gateway URL, as a deployment of several nodes must), kills on the first
# while the clients call the second, and reports at p50/p99 when each kill took hold on the
# second node and how soon an agent created on the first could use the second.
#
#   bash bench/kill.sh [--nodes 1|2] [--clients 64] [--before-ms 2000] [--after-ms 1000]
#   WARDEN_BENCH_POSTGRES=postgres://postgres@127.0.0.1:5432 bash bench/kill.sh --nodes 2 --rounds 50
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

nodes=1
args=()
while (($#)); do
    case "$1" in
        --nodes)
            nodes="${2:?--nodes needs 1 or 2}"
            shift 2
            ;;
        *)
            args+=("$1")
            shift
            ;;
    esac
done
[[ "$nodes" == 1 || "$nodes" == 2 ]] || die "--nodes takes 1 or 2, not $nodes"

ensure_packages curl:curl
build_release
start_upstream upstream
echo "bench: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2

if [[ "$nodes" == 1 ]]; then
    start_warden
    "$BIN/kill-bench" --api "$API" --gateway "$GATEWAY" --upstream-url "http://$UPSTREAM_ADDR" \
        ${args[@]+"${args[@]}"}
    exit
fi

ensure_packages psql:postgresql-client
server="${WARDEN_BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432}"
database="warden_bench_$$_$RANDOM"
psql -q "$server/postgres" -c "CREATE DATABASE $database" ||
    die "cannot create a database on $server (set WARDEN_BENCH_POSTGRES)"
drop_database() {
    psql -q "$server/postgres" -c "DROP DATABASE IF EXISTS $database WITH (FORCE)" >/dev/null 2>&1 || true
}
# Stop the nodes first (bench_cleanup), then drop what they used.
trap 'bench_cleanup; drop_database' EXIT

export WARDEN_TOKEN="warden_admin_bench_$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
cat >"$BENCH_TMP/first.toml" <<EOF
database_url = "$server/$database"

[credentials]
public_url = "http://warden.bench"
EOF
start_warden_node first --config "$BENCH_TMP/first.toml"
FIRST_API="$API" FIRST_GATEWAY="$GATEWAY"
# The second node shares the first's keys, issuer and gateway URL (tokens name it).
mkdir -p "$BENCH_TMP/second-data"
cp -a "$BENCH_TMP/first-data/keys" "$BENCH_TMP/second-data/"
cat >"$BENCH_TMP/second.toml" <<EOF
database_url = "$server/$database"

[credentials]
public_url = "http://warden.bench"
gateway_url = "$FIRST_GATEWAY"
EOF
start_warden_node second --config "$BENCH_TMP/second.toml"
export WARDEN_ADDR="$FIRST_API"
"$BIN/kill-bench" --api "$FIRST_API" --gateway "$FIRST_GATEWAY" \
    --second-api "$API" --second-gateway "$GATEWAY" \
    --upstream-url "http://$UPSTREAM_ADDR" ${args[@]+"${args[@]}"}
