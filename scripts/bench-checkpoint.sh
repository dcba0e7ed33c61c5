#!/usr/bin/env bash
# What checkpoints cost, in one run: the default topology over generated mixed traffic, replayed
# without checkpoints and with `--state-dir` every INTERVAL, alternating, ROUNDS times each;
# prints the median wall seconds of each and their ratio (events/s with checkpoints against
# without), the checkpoints taken, their size (and per live correlation key), the longest one
# (pause to manifest), the peak RSS of each, and the recovery: a run killed with SIGKILL right
# after a checkpoint and started again, timed from its start until it has restored the state
# and re-read its inputs to the checkpoint's positions (its first progress past the cut), with
# the bytes of its output checked against the uninterrupted run.
#
#   EVENTS=3000000 INTERVAL=10s bash scripts/bench-checkpoint.sh
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS="${EVENTS:-3000000}"
INTERVAL="${INTERVAL:-10s}"
ROUNDS="${ROUNDS:-2}"
DIR="${BENCH_DIR:-${TMPDIR:-/tmp}/vigil-bench-checkpoint}"
cargo build --release --quiet
V="${CARGO_TARGET_DIR:-target}/release/vigil"
mkdir -p "$DIR"
traffic="$DIR/traffic-$EVENTS"
[ -s "$traffic/conn.log" ] || "$V" generate --quiet --events "$EVENTS" --format mixed --inject --split-dir "$traffic"
inputs=("$traffic/access.log" "$traffic/conn.log" "$traffic/sshd.log" "$traffic/windows.json")
args=(replay --topology topologies/default.yaml --year 2024 "${inputs[@]}")
echo "events: $EVENTS generated mixed records ($(du -cm "${inputs[@]}" | tail -1 | cut -f1) MB), checkpoint interval $INTERVAL, $ROUNDS rounds"

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
plain=(); ckpt=(); plain_rss=0; ckpt_rss=0; summary=""
for r in $(seq "$ROUNDS"); do
  /usr/bin/time -f "%e %M" -o "$DIR/time" "$V" -q "${args[@]}" --output "$DIR/plain.json"
  read -r s m <"$DIR/time"; plain+=("$s"); plain_rss=$((m > plain_rss ? m : plain_rss))
  rm -rf "$DIR/state"
  /usr/bin/time -f "%e %M" -o "$DIR/time" "$V" "${args[@]}" --output "$DIR/ckpt.json" --state-dir "$DIR/state" --checkpoint-interval "$INTERVAL" 2>"$DIR/ckpt.log"
  read -r s m <"$DIR/time"; ckpt+=("$s"); ckpt_rss=$((m > ckpt_rss ? m : ckpt_rss))
  summary="$(grep -E 'checkpoints:|live key' "$DIR/ckpt.log" || true)"
  cmp -s "$DIR/plain.json" "$DIR/ckpt.json" || { echo "the checkpointed run wrote other incidents" >&2; exit 1; }
done
p=$(printf '%s\n' "${plain[@]}" | median); c=$(printf '%s\n' "${ckpt[@]}" | median)
echo "without checkpoints: ${p} s (runs: ${plain[*]}), peak RSS $((plain_rss / 1024)) MB"
echo "with checkpoints:    ${c} s (runs: ${ckpt[*]}), peak RSS $((ckpt_rss / 1024)) MB"
awk -v p="$p" -v c="$c" 'BEGIN {printf "throughput with checkpoints every '"$INTERVAL"': %.2f of without\n", p / c}'
echo "$summary" | sed 's/^ */  /'
bytes=$(echo "$summary" | sed -n 's/.*largest \([0-9]*\) bytes.*/\1/p')
keys=$(echo "$summary" | sed -n 's/.*at most \([0-9]*\) live key.*/\1/p')
[ -n "$bytes" ] && [ -n "$keys" ] && [ "$keys" -gt 0 ] && echo "  largest checkpoint's bytes per live correlation key (all state, exchanges and baselines included): $((bytes / keys))"

# Recovery: kill right after the first checkpoint past the middle of the run, then resume. (The
# last checkpoint of a finished run holds its end states: the largest is the one to size.)
rm -rf "$DIR/state" "$DIR/resumed.json"
half=$(awk -v c="$c" 'BEGIN {print c / 2}')
"$V" -q "${args[@]}" --output "$DIR/resumed.json" --state-dir "$DIR/state" --checkpoint-interval 1s &
pid=$!
start=$(date +%s.%N)
while kill -0 "$pid" 2>/dev/null; do
  n=$( (find "$DIR/state" -name MANIFEST 2>/dev/null || true) | wc -l)
  el=$(awk -v s="$start" -v n="$(date +%s.%N)" 'BEGIN {print n - s}')
  if [ "$n" -ge 1 ] && awk -v e="$el" -v h="$half" 'BEGIN {exit !(e >= h)}'; then
    kill -9 "$pid"; break
  fi
  sleep 0.05
done
wait "$pid" 2>/dev/null || true
"$V" checkpoints "$DIR/state" | sed -n '1,/^$/p' | sed 's/^/  /'
/usr/bin/time -f "%e %M" -o "$DIR/time" "$V" "${args[@]}" --output "$DIR/resumed.json" --state-dir "$DIR/state" --checkpoint-interval 1h 2>"$DIR/resume.log"
read -r s m <"$DIR/time"
grep -E "resuming" "$DIR/resume.log" | sed 's/^/  /'
events_after=$(sed -n 's/.*-> \([0-9]*\) events.*/\1/p' "$DIR/resume.log")
echo "resumed run: ${s} s wall for the $events_after events after the cut plus restoring and re-reading to the positions; peak RSS $((m / 1024)) MB"
cmp -s "$DIR/plain.json" "$DIR/resumed.json" && echo "  resumed output: identical to the uninterrupted run" || { echo "  resumed output DIFFERS from the uninterrupted run" >&2; exit 1; }
