#!/usr/bin/env bash
# The detection pipeline against its own floor, in one run: `vigil replay` with the default
# topology against `vigil normalize` (parse, order, encode; no rules) of the same generated
# files, per format and mixed, on 1 and 2 workers. Prints events/s, peak memory and the ratios
# the performance targets are stated in:
#   replay / normalize per format (target >= 0.8), mixed replay on 1 worker (target 1 M events/s),
#   2 workers / 1 worker (target >= 1.8).
# The machine is shared and noisy: compare the ratios of one run, not absolute figures.
#
#   EVENTS=1000000 bash scripts/bench-replay.sh
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS="${EVENTS:-1000000}"
DIR="${BENCH_DIR:-${TMPDIR:-/tmp}/vigil-bench-replay}"
WORKERS="${WORKERS:-1 2}"
TOPOLOGY="${TOPOLOGY:-topologies/default.yaml}"
cargo build --release --quiet
V="${CARGO_TARGET_DIR:-target}/release/vigil"

data="$DIR/mixed-$EVENTS"
if [ ! -s "$data/sshd.log" ]; then
  mkdir -p "$data"
  "$V" generate --quiet --events "$EVENTS" --format mixed --inject --split-dir "$data"
fi

# run KIND WORKERS FILES...: prints "events rate peak_mb"
run() {
  local kind=$1 workers=$2
  shift 2
  local log="$DIR/run.log"
  if [ "$kind" = normalize ]; then
    /usr/bin/time -f 'peak_kb %M' "$V" normalize --workers "$workers" --out /dev/null "$@" 2>"$log"
  else
    /usr/bin/time -f 'peak_kb %M' "$V" replay --topology "$TOPOLOGY" --workers "$workers" --output /dev/null "$@" 2>"$log"
  fi
  local line
  line=$(grep -m1 -- '-> ' "$log")
  printf '%s %s %s\n' "$(sed -E 's/.*-> ([0-9]+) events.*/\1/' <<<"$line")" \
    "$(sed -E 's/.*\(([0-9]+) events\/s.*/\1/' <<<"$line")" \
    "$(awk '/peak_kb/ {printf "%.0f", $2 / 1024}' "$log")"
}

printf '%-8s %-3s %9s %12s %12s %8s %9s %9s\n' input w events normalize/s replay/s ratio norm_MB replay_MB
declare -A one
for input in sshd.log access.log conn.log windows.json mixed; do
  if [ "$input" = mixed ]; then files=("$data"/*); else files=("$data/$input"); fi
  for w in $WORKERS; do
    read -r n nrate npeak < <(run normalize "$w" "${files[@]}")
    read -r _ rrate rpeak < <(run replay "$w" "${files[@]}")
    ratio=$(awk -v a="$rrate" -v b="$nrate" 'BEGIN {printf "%.2f", a / b}')
    printf '%-8s %-3s %9s %12s %12s %8s %9s %9s' "${input%%.*}" "$w" "$n" "$nrate" "$rrate" "$ratio" "$npeak" "$rpeak"
    if [ "$w" = 1 ]; then
      one[$input]=$rrate
      echo
    else
      awk -v a="$rrate" -v b="${one[$input]}" 'BEGIN {printf "   replay x%.2f vs 1 worker\n", a / b}'
    fi
  done
done
awk -v a="${one[mixed]}" 'BEGIN {printf "\nmixed replay on 1 worker: %.2f of the 1,000,000 events/s target\n", a / 1000000}'
