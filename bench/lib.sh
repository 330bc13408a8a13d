# Shared by bench/load.sh and bench/kill.sh: building the binaries, starting processes in
# a temporary directory, and stopping every one of them on exit. Sourced, not run.

BENCH_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH_TMP="$(mktemp -d "${TMPDIR:-/tmp}/warden-bench.XXXXXX")"
BENCH_PIDS=()
BENCH_KEEP_TMP="${BENCH_KEEP_TMP:-}"

bench_cleanup() {
    local pid
    for pid in "${BENCH_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${BENCH_PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    if [[ -n "$BENCH_KEEP_TMP" ]]; then
        echo "bench: kept $BENCH_TMP" >&2
    else
        rm -rf "$BENCH_TMP"
    fi
}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

die() {
    echo "bench: $*" >&2
    exit 1
}

# Installs the Debian packages named when their command is missing ("command:package").
ensure_packages() {
    local missing=() pair
    for pair in "$@"; do
        command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
    done
    ((${#missing[@]} == 0)) && return 0
    echo "bench: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q "${missing[@]}" >"$BENCH_TMP/apt.log" 2>&1 ||
        { apt-get update -q >>"$BENCH_TMP/apt.log" 2>&1 &&
            apt-get install -y -q "${missing[@]}" >>"$BENCH_TMP/apt.log" 2>&1; } ||
        { cat "$BENCH_TMP/apt.log" >&2; die "cannot install ${missing[*]}"; }
}

# Builds warden and the bench tools in release mode; sets BIN to their directory.
build_release() {
    echo "bench: cargo build --release --locked -p warden -p warden-bench" >&2
    (cd "$BENCH_ROOT" && cargo build --release --locked --quiet -p warden -p warden-bench) ||
        die "the release build failed"
    BIN="${CARGO_TARGET_DIR:-$BENCH_ROOT/target}/release"
    [[ "$BIN" = /* ]] || BIN="$BENCH_ROOT/$BIN"
}

# Waits until FILE has a line matching REGEX (up to 30 s) and prints the first match.
wait_for_line() {
    local file="$1" regex="$2" pid="$3" deadline=$((SECONDS + 30)) line
    while ((SECONDS < deadline)); do
        line="$(grep -m1 -E "$regex" "$file" 2>/dev/null || true)"
        if [[ -n "$line" ]]; then
            echo "$line"
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || die "process $pid exited early; see $file"
        sleep 0.05
    done
    die "timed out waiting for /$regex/ in $file"
}

# A TCP port on 127.0.0.1 that nothing answers on (for nginx, which cannot bind port 0).
free_port() {
    # Below the kernel's ephemeral range: a port in it can be taken by an outgoing
    # connection (wrk's, Warden's to an upstream) between this check and the bind.
    local port low
    low="$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)"
    ((low > 12000)) || low=32768
    for _ in $(seq 1 200); do
        port=$((10000 + RANDOM % (low - 10000)))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return 0
        fi
    done
    die "no free port found"
}

# Starts bench-upstream NAME with extra arguments; sets UPSTREAM_ADDR.
start_upstream() {
    local name="$1"
    shift
    "$BIN/bench-upstream" --listen 127.0.0.1:0 "$@" >"$BENCH_TMP/$name.out" 2>"$BENCH_TMP/$name.err" &
    BENCH_PIDS+=($!)
    UPSTREAM_ADDR="$(wait_for_line "$BENCH_TMP/$name.out" '^127\.0\.0\.1:[0-9]+$' $!)"
}

# A fresh admin token for the bench's Warden nodes, exported as WARDEN_TOKEN.
new_admin_token() {
    export WARDEN_TOKEN="warden_admin_bench_$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
}

# Starts `warden serve` on ephemeral ports with a fresh data directory; sets WARDEN_PID, API,
# GATEWAY and exports WARDEN_ADDR and WARDEN_TOKEN for the CLI.
start_warden() {
    new_admin_token
    start_warden_node warden
    export WARDEN_ADDR="$API"
}

# Starts `warden serve` NAME (data directory $BENCH_TMP/NAME-data, log NAME.out/NAME.err)
# with extra arguments, bootstrapped with $WARDEN_TOKEN; sets WARDEN_PID, API and GATEWAY.
# Runs $WARDEN_BIN when set (another build), else the one just built.
start_warden_node() {
    local name="$1"
    shift
    WARDEN_BOOTSTRAP_TOKEN="$WARDEN_TOKEN" "${WARDEN_BIN:-$BIN/warden}" serve \
        --data-dir "$BENCH_TMP/$name-data" \
        --api-listen 127.0.0.1:0 --gateway-listen 127.0.0.1:0 "$@" \
        >"$BENCH_TMP/$name.out" 2>"$BENCH_TMP/$name.err" &
    BENCH_PIDS+=($!)
    local pid=$!
    WARDEN_PID=$pid
    API="$(wait_for_line "$BENCH_TMP/$name.out" '^warden: api listening on http://' "$pid")"
    API="${API##* }"
    GATEWAY="$(wait_for_line "$BENCH_TMP/$name.out" '^warden: gateway listening on http://' "$pid")"
    GATEWAY="${GATEWAY##* }"
}

# A client_credentials token for CLIENT_ID/CLIENT_SECRET bound to upstream RESOURCE.
get_token() {
    local client_id="$1" client_secret="$2" resource="$3" body
    body="$(curl -sS --fail-with-body "$API/oauth/token" \
        --data-urlencode grant_type=client_credentials \
        --data-urlencode "client_id=$client_id" \
        --data-urlencode "client_secret=$client_secret" \
        --data-urlencode "resource=$resource")" || die "no token for $resource: $body"
    sed -E 's/.*"access_token":"([^"]+)".*/\1/' <<<"$body"
}

# The value of a string field in a one-object JSON document.
json_field() {
    sed -nE "s/.*\"$1\": *\"([^\"]*)\".*/\1/p" <<<"$2" | head -n1
}
