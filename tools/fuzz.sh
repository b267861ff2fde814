#!/usr/bin/env bash
# Runs every cargo-fuzz target for SECONDS each (default 60) on the stable
# toolchain (`--sanitizer none`: plain `cargo fuzz run` needs nightly) and
# prints one line per target: executions, exec/s, coverage (`cov`) and
# features (`ft`) from libFuzzer's final `#N DONE`/status line, and whether
# it crashed. Corpora grow in fuzz/corpus/TARGET (git-ignored), seeded from
# fuzz/seeds/TARGET and testdata/; crashes land in fuzz/artifacts/TARGET.
#
# Usage: tools/fuzz.sh [SECONDS] [TARGET...]
#   TARGETS default to every target `cargo fuzz list` knows.
# Exit status: 1 if any target crashed, else 0.
set -uo pipefail
cd "$(dirname "$0")/../fuzz"

secs="${1:-60}"
shift || true
if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi

cargo fuzz build --sanitizer none >/dev/null || exit 2

seed() { # target → fills fuzz/corpus/target once from committed seeds and testdata
    local t="$1" c="corpus/$1"
    mkdir -p "$c"
    [ -d "seeds/$t" ] && cp -n seeds/"$t"/* "$c"/ 2>/dev/null
    case "$t" in
        input_records)
            for f in ../testdata/inputs/* ../testdata/bad/*; do
                [ -f "$f" ] && head -c 16384 "$f" > "$c/td-$(basename "$f")"
            done ;;
        feed_reader)
            # A real feed file: the sample exports compiled with the example
            # config (without one the reader never gets past the magic).
            if ! ls "$c"/*.taxii >/dev/null 2>&1; then
                ( cd .. && cargo run --quiet -- compile --config testdata/example.toml \
                    --out "fuzz/$c/example.taxii" >/dev/null 2>&1 ) \
                    || echo "feed_reader: could not compile a seed feed" >&2
                rm -f "$c"/*.tmp* 2>/dev/null
            fi ;;
        pattern_build)
            # Indicator values from the sample exports, one per seed.
            grep -ho '"value": *"[^"]*"' ../testdata/inputs/*.ndjson 2>/dev/null | head -50 \
                | sed 's/.*: *"//; s/"$//' | nl -nln | while read -r n v; do
                    printf '%s' "$v" > "$c/td-$n"; done ;;
    esac
}

crashed=0
printf '%-20s %12s %10s %8s %8s  %s\n' target executions exec/s cov ft result
for t in "${targets[@]}"; do
    seed "$t"
    log="artifacts/$t.log"
    mkdir -p "artifacts/$t"
    cargo fuzz run --sanitizer none "$t" "corpus/$t" -- \
        -max_total_time="$secs" -print_final_stats=1 \
        -artifact_prefix="artifacts/$t/" >"$log" 2>&1
    rc=$?
    # The last status line looks like "#123456 DONE cov: 812 ft: 2300 corp: ... exec/s: 9000 ...".
    line=$(grep -E '^#[0-9]+' "$log" | tail -1)
    n=$(sed -nE 's/^#([0-9]+).*/\1/p' <<<"$line")
    cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$line")
    ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$line")
    eps=$(sed -nE 's/.*exec\/s: ([0-9]+).*/\1/p' <<<"$line")
    if [ "$rc" -eq 0 ]; then
        result=ok
    else
        result="CRASH (rc $rc, see $log and artifacts/$t/)"
        crashed=1
    fi
    printf '%-20s %12s %10s %8s %8s  %s\n' "$t" "${n:-?}" "${eps:-?}" "${cov:-?}" "${ft:-?}" "$result"
done
exit "$crashed"
