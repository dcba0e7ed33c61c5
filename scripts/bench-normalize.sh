#!/usr/bin/env bash
# End-to-end harness: `vigil normalize` over generated files, output to /dev/null.
# Prints events/s and peak resident memory per format and worker count, and the 2-worker ratio.
# Same input for every run (two files per format, so two workers each own one).
#
#   EVENTS=2000000 bash scripts/bench-normalize.sh
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS="${EVENTS:-2000000}"
DIR="${BENCH_DIR:-${TMPDIR:-/tmp}/vigil-bench}"
FORMATS="${FORMATS:-syslog windows zeek apache}"
WORKERS="${WORKERS:-1 2}"
mkdir -p "$DIR"
cargo build --release --quiet
V=./target/release/vigil

half=$((EVENTS / 2))
printf '%-8s %-7s %12s %12s %10s %9s\n' format workers events events/s MB/s peak_MB
for fmt in $FORMATS; do
  files=()
  for part in 0 1; do
    f="$DIR/$fmt-$EVENTS-$part.log"
    [ -s "$f" ] || $V generate --quiet --events "$half" --seed "$((part + 1))" --format "$fmt" --out "$f"
    files+=("$f")
  done
  base=""
  for w in $WORKERS; do
    log="$DIR/run-$fmt-$w.log"
    /usr/bin/time -f 'peak_kb %M' $V normalize --workers "$w" --out /dev/null "${files[@]}" 2> "$log"
    line=$(grep -m1 -- '-> ' "$log")
    events=$(sed -E 's/.*-> ([0-9]+) events.*/\1/' <<<"$line")
    rate=$(sed -E 's/.*\(([0-9]+) events\/s.*/\1/' <<<"$line")
    mbs=$(sed -E 's/.*events\/s, ([0-9.]+) MB\/s.*/\1/' <<<"$line")
    peak=$(awk '/peak_kb/ {printf "%.0f", $2 / 1024}' "$log")
    printf '%-8s %-7s %12s %12s %10s %9s' "$fmt" "$w" "$events" "$rate" "$mbs" "$peak"
    if [ -z "$base" ]; then base=$rate; echo; else awk -v a="$rate" -v b="$base" 'BEGIN {printf "   x%.2f vs 1 worker\n", a / b}'; fi
  done
done
