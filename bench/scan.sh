#!/usr/bin/env bash
# The leak-scanner benchmark: generates a corpus of its own (planted secrets of every kind
# `warden scan` knows, decoys, and tens of megabytes of source-like noise), then runs
# `warden scan` and Kingfisher (`--no-validate`, so nothing leaves the machine) on it in the
# same run, and prints recall, decoys reported, other findings and wall time for both.
# Kingfisher is installed from PyPI (`kingfisher-bin`) into a venv under the target dir if
# it is missing. Neither tool's output is printed: it contains the planted values.
#
#   bash bench/scan.sh [--megabytes 40]
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

MEGABYTES=40
while (($#)); do
    case "$1" in
    --megabytes) MEGABYTES="$2"; shift 2 ;;
    *) die "unknown argument $1 (use --megabytes N)" ;;
    esac
done

echo "bench: cargo build --release --locked -p warden" >&2
(cd "$BENCH_ROOT" && cargo build --release --locked --quiet -p warden) || die "the release build failed"
TARGET="${CARGO_TARGET_DIR:-$BENCH_ROOT/target}"
[[ "$TARGET" = /* ]] || TARGET="$BENCH_ROOT/$TARGET"
WARDEN="$TARGET/release/warden"

KINGFISHER="$(command -v kingfisher || true)"
if [[ -z "$KINGFISHER" ]]; then
    VENV="$TARGET/bench-venv"
    if [[ ! -x "$VENV/bin/kingfisher" ]]; then
        echo "bench: installing kingfisher-bin into $VENV" >&2
        python3 -m venv "$VENV" && "$VENV/bin/pip" install -q kingfisher-bin >&2 ||
            die "cannot install kingfisher-bin"
    fi
    KINGFISHER="$VENV/bin/kingfisher"
fi

CORPUS="$BENCH_TMP/corpus"
python3 "$BENCH_ROOT/bench/scan_corpus.py" generate "$CORPUS" "$MEGABYTES" >"$BENCH_TMP/manifest.json"
echo "bench: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)," \
    "corpus $(du -sm "$CORPUS" | cut -f1) MB" >&2

time_run() { # NAME OUTFILE COMMAND…: runs it, records wall seconds in $BENCH_TMP/NAME.time
    local name="$1" out="$2" start end
    shift 2
    start=$(date +%s.%N)
    "$@" >"$out" 2>"$BENCH_TMP/$name.stderr" || true
    end=$(date +%s.%N)
    python3 -c "print($end - $start)" >"$BENCH_TMP/$name.time"
}

# One warm-up of each (file cache), then the measured runs.
"$WARDEN" scan "$CORPUS" --format json >/dev/null 2>&1 || true
"$KINGFISHER" scan "$CORPUS" --no-validate --no-update-check --format json >/dev/null 2>&1 || true
time_run warden "$BENCH_TMP/warden.json" "$WARDEN" scan "$CORPUS" --format json
time_run kingfisher "$BENCH_TMP/kingfisher.json" \
    "$KINGFISHER" scan "$CORPUS" --no-validate --no-update-check --format json

python3 "$BENCH_ROOT/bench/scan_corpus.py" score "$BENCH_TMP/manifest.json" \
    warden "$BENCH_TMP/warden.json" "$(cat "$BENCH_TMP/warden.time")" \
    kingfisher "$BENCH_TMP/kingfisher.json" "$(cat "$BENCH_TMP/kingfisher.time")"
