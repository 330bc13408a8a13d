#!/usr/bin/env bash
# The load benchmark: the same workload three ways on this machine (straight to the
# upstream, through nginx as a plain reverse proxy, and through Warden's gateway with a real
# token, a real policy and the durable audit trail), for two upstreams:
#   fast       nginx answering a static body (what a proxy costs when the upstream is free);
#   realistic  bench-upstream taking 1 ms per request (a realistic API).
# Legs run interleaved (direct, nginx, warden, direct, …) and repeated, so a noisy machine
# shows as spread rather than as a skewed ratio. Prints the median and min-max of each
# figure, the ratios Warden/direct and Warden/nginx, and Warden's CPU per request.
#
#   bash bench/load.sh [--rounds 3] [--duration 10] [--connections 64] [--threads 2]
#                      [--smoke] [--perf DIR] [--before DIR]
#
# --smoke: one round of 2 s with few connections; exits non-zero unless every leg answered
# only 2xx. --perf DIR: record a CPU profile of Warden (perf record -g) during each Warden
# leg of the first round, into DIR/TARGET-UPSTREAM.perf.data. --before DIR: also run the
# `warden` binary in DIR (another build, say the commit before a change) as a fourth leg,
# "before", set up the same way and interleaved with the others, so a change is measured
# against its baseline on the same machine at the same time. Installs nginx and wrk with
# apt-get when they are missing.
set -euo pipefail

ROUNDS=3
DURATION=10
CONNECTIONS=64
THREADS="$(nproc)"
SMOKE=""
PERF_DIR=""
BEFORE_DIR=""
usage() { sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; }
while (($#)); do
    case "$1" in
    --rounds) ROUNDS="$2"; shift 2 ;;
    --duration) DURATION="$2"; shift 2 ;;
    --connections) CONNECTIONS="$2"; shift 2 ;;
    --threads) THREADS="$2"; shift 2 ;;
    --smoke) SMOKE=1; shift ;;
    --perf) PERF_DIR="$(mkdir -p "$2" && cd "$2" && pwd)"; shift 2 ;;
    --before) BEFORE_DIR="$(cd "$2" && pwd)"; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "load.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    esac
done
if [[ -n "$SMOKE" ]]; then
    ROUNDS=1 DURATION=2 CONNECTIONS=4 THREADS=1
fi
((CONNECTIONS >= THREADS)) || THREADS="$CONNECTIONS"

# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

ensure_packages nginx:nginx wrk:wrk curl:curl
build_release
NGINX="$(command -v nginx)"

# --- the upstreams and nginx -------------------------------------------------------------

start_upstream realistic --delay-ms 1
REALISTIC_ADDR="$UPSTREAM_ADDR"

STATIC_PORT="$(free_port)"
PROXY_FAST_PORT="$(free_port)"
PROXY_REALISTIC_PORT="$(free_port)"
BODY='{"ok":true,"item":"bench"}\n'
UPSTREAM_SECRET="bench-upstream-secret-$RANDOM$RANDOM"
mkdir -p "$BENCH_TMP/nginx/logs"
cat >"$BENCH_TMP/nginx/nginx.conf" <<NGINX
# Written by bench/load.sh. One instance: the static "fast" upstream, and a plain reverse
# proxy (keep-alive to its upstreams) in front of each upstream.
worker_processes $(nproc);
daemon off;
pid $BENCH_TMP/nginx/nginx.pid;
error_log $BENCH_TMP/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $BENCH_TMP/nginx/body;
    proxy_temp_path $BENCH_TMP/nginx/proxy;
    fastcgi_temp_path $BENCH_TMP/nginx/fastcgi;
    uwsgi_temp_path $BENCH_TMP/nginx/uwsgi;
    scgi_temp_path $BENCH_TMP/nginx/scgi;
    keepalive_requests 1000000;
    default_type application/json;

    upstream fast { server 127.0.0.1:$STATIC_PORT; keepalive 256; keepalive_requests 1000000; }
    upstream realistic { server $REALISTIC_ADDR; keepalive 256; keepalive_requests 1000000; }

    server {
        listen 127.0.0.1:$STATIC_PORT;
        location / { return 200 '$BODY'; }
    }
    server {
        listen 127.0.0.1:$PROXY_FAST_PORT;
        location / {
            proxy_pass http://fast;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Authorization "Bearer $UPSTREAM_SECRET";
        }
    }
    server {
        listen 127.0.0.1:$PROXY_REALISTIC_PORT;
        location / {
            proxy_pass http://realistic;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Authorization "Bearer $UPSTREAM_SECRET";
        }
    }
}
NGINX
"$NGINX" -p "$BENCH_TMP/nginx" -c "$BENCH_TMP/nginx/nginx.conf" -e "$BENCH_TMP/nginx/logs/error.log" \
    >"$BENCH_TMP/nginx/logs/stdout.log" 2>&1 &
BENCH_PIDS+=($!)
NGINX_PID=$!
for _ in $(seq 1 200); do
    curl -sf -o /dev/null "http://127.0.0.1:$PROXY_REALISTIC_PORT/items/1" && break
    kill -0 "$NGINX_PID" 2>/dev/null || { cat "$BENCH_TMP/nginx/logs/error.log" >&2; die "nginx did not start"; }
    sleep 0.05
done

# --- Warden ---------------------------------------------------------------------------------

cat >"$BENCH_TMP/routes.toml" <<'TOML'
[[route]]
method = "GET"
path = "/items/{id}"
action = "bench.read"
resource = "Item::{id}"
TOML
cat >"$BENCH_TMP/bench.cedar" <<'CEDAR'
permit(principal == Agent::"bench-agent", action == Action::"bench.read", resource);
CEDAR
export BENCH_UPSTREAM_SECRET="$UPSTREAM_SECRET"

# Per Warden target (warden, and before with --before): its process, addresses and agent.
declare -A TARGET_PID TARGET_API TARGET_GATEWAY TARGET_CLIENT_ID TARGET_CLIENT_SECRET
# Starts the `warden` at WARDEN_BIN as TARGET and registers the bench setup on it.
setup_warden() {
    local target="$1" agent
    start_warden_node "$target"
    export WARDEN_ADDR="$API"
    {
        "$WARDEN_BIN" owner add bench@bench.example --name "Bench"
        "$WARDEN_BIN" upstream add fast --url "http://127.0.0.1:$STATIC_PORT" --kind http \
            --auth bearer --secret-env BENCH_UPSTREAM_SECRET --routes "$BENCH_TMP/routes.toml"
        "$WARDEN_BIN" upstream add realistic --url "http://$REALISTIC_ADDR" --kind http \
            --auth bearer --secret-env BENCH_UPSTREAM_SECRET --routes "$BENCH_TMP/routes.toml"
        "$WARDEN_BIN" policy add "$BENCH_TMP/bench.cedar"
    } >"$BENCH_TMP/setup-$target.log" 2>&1 ||
        { cat "$BENCH_TMP/setup-$target.log" >&2; die "registering the bench setup on $target failed"; }
    agent="$("$WARDEN_BIN" agent create bench-agent --owner bench@bench.example -o json)" ||
        die "cannot create the bench agent on $target"
    TARGET_PID[$target]="$WARDEN_PID"
    TARGET_API[$target]="$API"
    TARGET_GATEWAY[$target]="$GATEWAY"
    TARGET_CLIENT_ID[$target]="$(json_field client_id "$agent")"
    TARGET_CLIENT_SECRET[$target]="$(json_field client_secret "$agent")"
    [[ -n "${TARGET_CLIENT_ID[$target]}" && -n "${TARGET_CLIENT_SECRET[$target]}" ]] ||
        die "no client credentials from $target in: $agent"
}

new_admin_token
TARGETS=(direct nginx warden)
WARDEN_BIN="$BIN/warden" setup_warden warden
if [[ -n "$BEFORE_DIR" ]]; then
    TARGETS+=(before)
    WARDEN_BIN="$BEFORE_DIR/warden" setup_warden before
fi

# --- the runs -------------------------------------------------------------------------------

cat >"$BENCH_TMP/report.lua" <<'LUA'
-- One machine-readable line per run; latencies in microseconds.
done = function(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
        "WRK requests=%d duration_us=%d connect=%d read=%d write=%d status=%d timeout=%d p50=%.1f p99=%.1f p999=%.1f\n",
        summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
        latency:percentile(50), latency:percentile(99), latency:percentile(99.9)))
end
LUA

url_for() { # UPSTREAM TARGET
    case "$2" in
    direct) [[ "$1" == fast ]] && echo "http://127.0.0.1:$STATIC_PORT/items/1" || echo "http://$REALISTIC_ADDR/items/1" ;;
    nginx) [[ "$1" == fast ]] && echo "http://127.0.0.1:$PROXY_FAST_PORT/items/1" || echo "http://127.0.0.1:$PROXY_REALISTIC_PORT/items/1" ;;
    warden | before) echo "${TARGET_GATEWAY[$2]}/$1/items/1" ;;
    esac
}

# The CPU a process has used so far (user and system), in clock ticks.
CLOCK_TICKS="$(getconf CLK_TCK)"
cpu_ticks() {
    awk '{ print $14 + $15 }' "/proc/$1/stat"
}

RESULTS="$BENCH_TMP/results"
: >"$RESULTS"
FAILED=0

# Runs one leg; appends "UPSTREAM TARGET ROUND rps p50 p99 p999 cpu" (latencies in ms; cpu:
# Warden's CPU in µs per request, 0 for the other legs) to
# RESULTS, or "UPSTREAM TARGET ROUND refused CODE" when the first request is refused.
run_leg() {
    local upstream="$1" target="$2" round="$3" duration="$4" url token status body code out
    url="$(url_for "$upstream" "$target")"
    # Every leg carries the same agent token, so request sizes match; only Warden reads it.
    local issuer=warden
    [[ "$target" != before ]] || issuer=before
    token="$(API="${TARGET_API[$issuer]}" get_token "${TARGET_CLIENT_ID[$issuer]}" \
        "${TARGET_CLIENT_SECRET[$issuer]}" "$upstream")"
    body="$BENCH_TMP/probe.body"
    status="$(curl -sS -o "$body" -w '%{http_code}' -H "Authorization: Bearer $token" "$url" || echo 000)"
    if [[ "$status" != 2* ]]; then
        code="$(json_field error "$(cat "$body" 2>/dev/null)")"
        echo "$upstream $target $round refused ${code:-http_$status}" >>"$RESULTS"
        echo "bench: $upstream/$target round $round: $target refused: ${code:-http_$status} ($status)" >&2
        FAILED=1
        return 0
    fi
    # The Warden process behind this leg, if it has one (direct and nginx legs have none).
    local perf_pid="" cpu_before=0 pid="${TARGET_PID[$target]:-}"
    if [[ -n "$PERF_DIR" && -n "$pid" && "$round" == 1 ]]; then
        perf record -F 999 -g -p "$pid" -o "$PERF_DIR/$target-$upstream.perf.data" \
            -- sleep "$duration" >"$BENCH_TMP/perf-$target-$upstream.log" 2>&1 &
        perf_pid=$!
    fi
    [[ -z "$pid" ]] || cpu_before="$(cpu_ticks "$pid")"
    out="$(wrk --latency -t "$THREADS" -c "$CONNECTIONS" -d "${duration}s" -s "$BENCH_TMP/report.lua" \
        -H "Authorization: Bearer $token" "$url")"
    # Warden's own CPU over the leg (user and system, all threads), per request carried:
    # a figure that a noisy machine moves much less than throughput.
    local cpu_ticks_used=0
    [[ -z "$pid" ]] || cpu_ticks_used=$(($(cpu_ticks "$pid") - cpu_before))
    [[ -z "$perf_pid" ]] || wait "$perf_pid" || echo "bench: perf record failed; see $BENCH_TMP/perf-$target-$upstream.log" >&2
    local line kv
    local -A w=()
    line="$(grep '^WRK ' <<<"$out")" || die "wrk printed no summary: $out"
    for kv in ${line#WRK }; do
        w[${kv%%=*}]="${kv#*=}"
    done
    if ((w[requests] == 0 || w[status] != 0 || w[connect] + w[read] + w[write] + w[timeout] != 0)); then
        echo "bench: $upstream/$target round $round: ${w[requests]} requests, ${w[status]} non-2xx," \
            "errors connect=${w[connect]} read=${w[read]} write=${w[write]} timeout=${w[timeout]}" >&2
        FAILED=1
    fi
    awk -v u="$upstream" -v t="$target" -v r="$round" -v n="${w[requests]}" -v d="${w[duration_us]}" \
        -v a="${w[p50]}" -v b="${w[p99]}" -v c="${w[p999]}" -v k="$cpu_ticks_used" -v hz="$CLOCK_TICKS" \
        'BEGIN { printf "%s %s %s %.0f %.3f %.3f %.3f %.1f\n", u, t, r, n / (d / 1e6), a / 1000, b / 1000, c / 1000, (n > 0 ? k * 1e6 / hz / n : 0) }' >>"$RESULTS"
}

echo "bench: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); $ROUNDS round(s) of ${DURATION}s, $CONNECTIONS connections, $THREADS wrk threads" >&2
if [[ -z "$SMOKE" ]]; then
    echo "bench: warming up" >&2
    RESULTS="$BENCH_TMP/warmup"
    for upstream in fast realistic; do
        for target in "${TARGETS[@]}"; do
            run_leg "$upstream" "$target" 0 1
        done
    done
    RESULTS="$BENCH_TMP/results"
    FAILED=0
fi
for round in $(seq 1 "$ROUNDS"); do
    for upstream in fast realistic; do
        for target in "${TARGETS[@]}"; do
            echo "bench: round $round: $upstream via $target" >&2
            run_leg "$upstream" "$target" "$round" "$DURATION"
        done
    done
done

# --- the report -----------------------------------------------------------------------------

# "median (min–max)" of column COL for UPSTREAM TARGET, or the refusal.
summary() {
    local upstream="$1" target="$2" col="$3" fmt="$4"
    local refused
    refused="$(awk -v u="$upstream" -v t="$target" '$1==u && $2==t && $4=="refused" {print $5; exit}' "$RESULTS")"
    if [[ -n "$refused" ]]; then
        [[ "$col" == 4 ]] && echo "gateway refused: $refused" || echo "-"
        return
    fi
    awk -v u="$upstream" -v t="$target" '$1==u && $2==t {print $'"$col"'}' "$RESULTS" | sort -g |
        awk -v fmt="$fmt" '{ v[NR] = $1 } END {
            if (NR == 0) { print "-"; exit }
            m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
            printf fmt " (" fmt "-" fmt ")\n", m, v[1], v[NR] }'
}
median() {
    awk -v u="$1" -v t="$2" '$1==u && $2==t && $4!="refused" {print $'"$3"'}' "$RESULTS" | sort -g |
        awk '{ v[NR] = $1 } END { if (NR) print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

echo
echo "Load benchmark: $(nproc) cores, $ROUNDS round(s) of ${DURATION}s, $CONNECTIONS connections, $THREADS wrk threads"
echo "Each cell: median (min-max) over the rounds; latencies in ms."
echo
printf '%-10s %-7s %-34s %-22s %-22s %-22s\n' upstream via "req/s" p50 p99 p99.9
for upstream in fast realistic; do
    for target in "${TARGETS[@]}"; do
        printf '%-10s %-7s %-34s %-22s %-22s %-22s\n' "$upstream" "$target" \
            "$(summary "$upstream" "$target" 4 '%.0f')" \
            "$(summary "$upstream" "$target" 5 '%.3f')" \
            "$(summary "$upstream" "$target" 6 '%.3f')" \
            "$(summary "$upstream" "$target" 7 '%.3f')"
    done
done
echo
for upstream in fast realistic; do
    direct="$(median "$upstream" direct 4)"
    nginx="$(median "$upstream" nginx 4)"
    warden="$(median "$upstream" warden 4)"
    if [[ -z "$warden" || -z "$direct" || -z "$nginx" ]]; then
        echo "$upstream: no ratios (a leg has no figures)"
        continue
    fi
    awk -v u="$upstream" -v d="$direct" -v n="$nginx" -v w="$warden" \
        -v dp="$(median "$upstream" direct 6)" -v wp="$(median "$upstream" warden 6)" \
        'BEGIN { printf "%-10s warden/direct %.2fx   warden/nginx %.2fx   p99 added vs direct %+.3f ms\n", u, w / d, w / n, wp - dp }'
done
echo
for upstream in fast realistic; do
    echo "$upstream: Warden's CPU per request, us: $(summary "$upstream" warden 8 '%.1f')"
    if [[ -n "$BEFORE_DIR" ]]; then
        echo "$upstream: the build before, CPU per request, us: $(summary "$upstream" before 8 '%.1f')"
        awk -v u="$upstream" -v w="$(median "$upstream" warden 4)" -v b="$(median "$upstream" before 4)" \
            'BEGIN { if (b > 0) printf "%-10s warden/before %.2fx\n", u, w / b }'
    fi
done
echo
echo "Targets: fast warden/nginx >= 1.00x; realistic warden/direct >= 0.80x with p99 added <= 0.5 ms."

if [[ -n "$SMOKE" ]]; then
    ((FAILED == 0)) || die "smoke: a leg did not answer 2xx throughout (see above)"
    echo "bench: smoke pass: every leg answered 2xx" >&2
fi
