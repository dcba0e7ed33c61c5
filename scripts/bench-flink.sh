#!/usr/bin/env bash
# vigil against Apache Flink 2.3 (Flink SQL on its local mini-cluster, through PyFlink) on the
# same generated Windows Security events, in one run: a threshold (Sigma `event_count` against
# Flink's TUMBLE) and a sequence (Sigma `temporal_ordered` against MATCH_RECOGNIZE). Prints
# events per CPU-second of each side (CPU of every process and thread each one started, from
# `perf stat`), after taking away the fixed start-up of each (its run on the first START_EVENTS
# events), the ratio, wall seconds, peak RSS summed over each side's processes, and whether the
# two found the same alerts.
#
#   EVENTS=5000000 bash scripts/bench-flink.sh
#
# Needs a JDK 17 (`apt-get install openjdk-17-jdk-headless`) and perf (`apt-get install
# linux-perf`); PyFlink is installed into FLINK_VENV (default ~/.cache/vigil/flink-venv) on the
# first run (`pip install apache-flink==2.3.0`, about 850 MB).
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS="${EVENTS:-5000000}"
START_EVENTS="${START_EVENTS:-10000}"
DIR="${BENCH_DIR:-${TMPDIR:-/tmp}/vigil-bench-flink}"
FLINK_VENV="${FLINK_VENV:-$HOME/.cache/vigil/flink-venv}"
command -v java >/dev/null || { echo "java not found: apt-get install openjdk-17-jdk-headless" >&2; exit 2; }
command -v perf >/dev/null || { echo "perf not found: apt-get install linux-perf" >&2; exit 2; }
if [ ! -x "$FLINK_VENV/bin/python" ] || ! "$FLINK_VENV/bin/python" -c 'import pyflink' 2>/dev/null; then
  echo "installing PyFlink 2.3.0 into $FLINK_VENV" >&2
  python3 -m venv "$FLINK_VENV"
  "$FLINK_VENV/bin/pip" install --quiet apache-flink==2.3.0
fi
cargo build --release --quiet
V="${CARGO_TARGET_DIR:-target}/release/vigil"
mkdir -p "$DIR"

events="$DIR/windows-$EVENTS.json"
start="$DIR/windows-start.json"
[ -s "$events" ] || "$V" generate --quiet --events "$EVENTS" --format windows --inject --out "$events"
head -n "$START_EVENTS" "$events" >"$start"
echo "events: $EVENTS generated Windows Security records ($(du -m "$events" | cut -f1) MB); start-up measured on the first $START_EVENTS"

# Peak RSS in KB of a process and all its descendants, summed.
tree_rss() {
  ps -e -o pid=,ppid=,rss= | awk -v root="$1" '
    { parent[$1] = $2; rss[$1] = $3 }
    END {
      for (p in rss) {
        for (q = p; q != "" && q != 0 && q != 1; q = parent[q]) if (q == root) { total += rss[p]; break }
      }
      print total + 0
    }'
}

# Runs a command (stdout to $1) and prints "cpu_seconds wall_seconds peak_mb".
measure() {
  local out=$1
  shift
  local t0 peak=0 rss pid
  t0=$(date +%s.%N)
  perf stat -x, -e task-clock -o "$DIR/perf" -- "$@" >"$out" 2>"$DIR/stderr" &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    rss=$(tree_rss "$pid")
    ((rss > peak)) && peak=$rss
    sleep 0.2
  done
  wait "$pid" || {
    echo "failed: $*" >&2
    grep -v '^\s*at ' "$DIR/stderr" | tail -8 >&2
    return 1
  }
  awk -F, -v t0="$t0" -v t1="$(date +%s.%N)" -v peak="$peak" \
    '$3 == "task-clock" {printf "%.2f %.2f %.0f\n", $1 / 1000, t1 - t0, peak / 1024}' "$DIR/perf"
}

# perf runs programs, not shell functions: the two command lines, QUERY EVENTS OUT to follow.
flink=("$FLINK_VENV/bin/python" scripts/flink/windows_logons.py)
vigil=("$V" replay --quiet --lateness 5s --workers 1 --rules)

# Events per CPU-second once the run on the first START_EVENTS is taken away.
rate() { awk -v n="$EVENTS" -v s="$START_EVENTS" -v big="$1" -v small="$2" 'BEGIN {printf "%.0f", (n - s) / (big - small)}'; }

compare() {
  local query=$1 name=$2
  local rules="scripts/flink/rules/$query.yml"
  read -r vsc vsw _ < <(measure /dev/null "${vigil[@]}" "$rules" --output "$DIR/vigil-start.json" "$start")
  read -r vc vw vmb < <(measure /dev/null "${vigil[@]}" "$rules" --output "$DIR/vigil-$query.json" "$events")
  read -r fsc fsw _ < <(measure /dev/null "${flink[@]}" "$query" "$start" "$DIR/flink-start.tsv")
  read -r fc fw fmb < <(measure /dev/null "${flink[@]}" "$query" "$events" "$DIR/flink-$query.tsv")
  local vr fr
  vr=$(rate "$vc" "$vsc")
  fr=$(rate "$fc" "$fsc")
  printf '\n%s\n' "$name"
  printf '  %-6s %8s CPU-s %7s s wall %9s events/CPU-s %6s MB peak  (start-up run: %s CPU-s, %s s wall)\n' \
    vigil "$vc" "$vw" "$vr" "$vmb" "$vsc" "$vsw" flink "$fc" "$fw" "$fr" "$fmb" "$fsc" "$fsw"
  awk -v a="$vr" -v b="$fr" -v m="$vmb" -v f="$fmb" \
    'BEGIN {printf "  ratio  x%.1f events per CPU-second (vigil / flink), memory x%.3f\n", a / b, m / f}'
  printf '  alerts: vigil %s, flink %s\n' "$(wc -l <"$DIR/vigil-$query.json")" "$(wc -l <"$DIR/flink-$query.tsv")"
}

compare threshold "threshold: 5 network logon failures from one address in 5 minutes (event_count / TUMBLE)"
# TUMBLE counts in aligned 5-minute buckets, vigil in a window sliding since the key's last alert
# (src/correlate/mod.rs), so their alerts differ by design; the same rule as a pattern in Flink
# (query `sliding`, not timed) must then find exactly vigil's alerts.
"${flink[@]}" sliding "$events" "$DIR/flink-sliding.tsv" >/dev/null 2>"$DIR/stderr"
printf '  same semantics in Flink (MATCH_RECOGNIZE, F{5} within 5 minutes): '
"$FLINK_VENV/bin/python" scripts/flink/compare_alerts.py "$DIR/vigil-threshold.json" "$DIR/flink-sliding.tsv"

compare sequence "sequence: a logon failure then a success of the same account within 10 minutes (temporal_ordered / MATCH_RECOGNIZE)"
printf '  same alerts: '
"$FLINK_VENV/bin/python" scripts/flink/compare_alerts.py "$DIR/vigil-sequence.json" "$DIR/flink-sequence.tsv"
