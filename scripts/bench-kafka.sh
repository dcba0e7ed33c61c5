#!/usr/bin/env bash
# End-to-end Kafka benchmark: `vigil run` (default topology) against the broker-bound limit.
#
# Starts a private tansu broker (memory storage, a free port), loads the default topology's four
# topics with `vigil generate --format mixed --inject`, then in one run on the same data measures:
#   - bare:  examples/count_topic.rs, BaseConsumers with vigil's client settings that only count
#            the messages of all four topics (rate from the first to the last message received),
#            with 1 consumer and with one consumer per vigil worker (the same static split);
#   - vigil: `vigil run --stop-when-idle ${IDLE}s` with 1 worker, then 2 workers (a fresh consumer
#            group each time, so each run reads every topic from the beginning); then the same
#            with --exactly-once (checkpoints every ${INTERVAL}, a fresh state directory), and
#            the ratio of the two.
# Both are measured once per set of librdkafka client properties (CLIENTS), given alike to the
# bare consumers (-X) and to vigil ([kafka.client]):
#   - default: librdkafka's defaults. tansu 0.6 answers every fetch only after sleeping half of
#     the request's max wait (250 ms of the default fetch.wait.max.ms=500), so each connection
#     gets one fetch response (a few MB) per 250 ms whoever consumes: a limit of tansu's, not one
#     a Kafka broker would impose;
#   - fetch.wait.max.ms=10: tansu answers within ~10 ms, the bare consumer is no longer slow; but
#     when vigil is the slower side, librdkafka's prefetch queue fills up and librdkafka then waits
#     fetch.queue.backoff.ms (default 1000 ms) before fetching that partition again, while vigil
#     drains the queue and idles;
#   - fetch.wait.max.ms=10 fetch.queue.backoff.ms=10: neither wait; what is left is vigil's own cost.
# Then, as a reference without Kafka, `vigil replay` over the same records written to files.
#
# vigil's rate excludes the --stop-when-idle wait: events / (end - launch - idle), where the end
# is when its last timely worker thread ended (sampled every 10 ms from /proc), so start-up and
# the final window close, incident delivery and commit are included. The rate from vigil's own
# summary line, events / (elapsed - idle), is printed too; that elapsed also waits for the
# metrics exporter thread, which wakes once a second, so it overstates the time by up to 1 s.
#
#   EVENTS=2000000 bash scripts/bench-kafka.sh
#
# Environment: EVENTS (records generated, default 2000000), WORKERS (default "1 2"), MODES
# ("plain exactly-once" by default; either alone), INTERVAL (checkpoint interval, default 10s), IDLE
# (seconds, default 2), CLIENTS (';'-separated sets of space-separated librdkafka property=value,
# "default" for none; default "default;fetch.wait.max.ms=10;fetch.wait.max.ms=10
# fetch.queue.backoff.ms=10"), BARE_RUNS (runs of each bare
# consumer per set, one before and the others after the vigil runs; the best is the limit;
# default 2), REPLAY=0 (skip the replay reference), PARTITIONS (per topic, default 4), PERF=1
# (`perf record -g` each vigil run into the work directory), KEEP=1 (keep the work directory),
# BROKER=host:port (use this broker, whose topics are already created, instead of starting
# tansu), LOAD=0 (do not load the topics: they already hold the data), VIGIL_CACHE (default
# ~/.cache/vigil; tansu at $VIGIL_CACHE/tools/bin/tansu, or TANSU).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

CACHE="${VIGIL_CACHE:-$HOME/.cache/vigil}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CACHE/target}"
TANSU="${TANSU:-$CACHE/tools/bin/tansu}"
EVENTS="${EVENTS:-2000000}"
WORKERS="${WORKERS:-1 2}"
MODES="${MODES:-plain exactly-once}"
INTERVAL="${INTERVAL:-10s}"
IDLE="${IDLE:-2}"
BARE_RUNS="${BARE_RUNS:-2}"
PARTITIONS="${PARTITIONS:-4}"
TOPICS=(logs.auth logs.web logs.zeek logs.windows)

[ -n "${BROKER:-}" ] || [ -x "$TANSU" ] || { echo "tansu not found at $TANSU: cargo install tansu --version 0.6.0 --locked --features dynostore,libsql --root $CACHE/tools" >&2; exit 1; }
TIME=/usr/bin/time
if ! "$TIME" -v true >/dev/null 2>&1; then
  echo "GNU time is missing: installing it (apt-get install time)" >&2
  { apt-get install -y -qq time >/dev/null 2>&1 || sudo apt-get install -y -qq time >/dev/null 2>&1; } || { echo "cannot install GNU time" >&2; exit 1; }
fi

echo "== build (release)" >&2
cargo build --release --quiet --bin vigil --example count_topic
V="$CARGO_TARGET_DIR/release/vigil"
COUNT="$CARGO_TARGET_DIR/release/examples/count_topic"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/vigil-bench-kafka.XXXXXX")
BROKER_PID=""
cleanup() {
  if [ -n "$BROKER_PID" ]; then
    kill "$BROKER_PID" 2>/dev/null || true
    wait "$BROKER_PID" 2>/dev/null || true
  fi
  if [ "${KEEP:-0}" = 1 ]; then echo "work directory kept: $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -n "${BROKER:-}" ]; then
  echo "== broker $BROKER (given), work directory $WORK" >&2
else
  # A free port: bind port 0 and give it back.
  PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  BROKER="127.0.0.1:$PORT"
  echo "== tansu on $BROKER (memory storage), work directory $WORK" >&2
  (cd "$WORK" && exec "$TANSU" broker --listener-url "tcp://$BROKER" --advertised-listener-url "tcp://$BROKER" --storage-engine memory://tansu/ >"$WORK/tansu.log" 2>&1) &
  BROKER_PID=$!
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then break; fi
    kill -0 "$BROKER_PID" 2>/dev/null || { echo "tansu exited:" >&2; tail -20 "$WORK/tansu.log" >&2; exit 1; }
    sleep 0.1
  done
  for t in "${TOPICS[@]}"; do
    "$TANSU" topic create --broker "tcp://$BROKER" --partitions "$PARTITIONS" "$t" >/dev/null
  done
  "$TANSU" topic create --broker "tcp://$BROKER" --partitions 2 vigil.incidents >/dev/null
  "$TANSU" topic create --broker "tcp://$BROKER" --partitions 1 vigil.dead-letter >/dev/null
fi

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
if [ "${LOAD:-1}" = 1 ]; then
  echo "== load: $EVENTS records, --format mixed --inject" >&2
  "$V" generate --kafka "$BROKER" --topic logs --format mixed --inject --events "$EVENTS" 2>"$WORK/generate.log"
  grep -m1 '^vigil generate' "$WORK/generate.log" >&2
else
  "$V" generate --format mixed --inject --events 1 --split-dir "$WORK/year" 2>"$WORK/generate.log" >/dev/null
fi
YEAR=$(sed -nE 's/.*normalize with --year ([0-9]+).*/\1/p' "$WORK/generate.log" | head -1)
YEAR="${YEAR:-2024}"

# The default topology with absolute rule paths and the generator's syslog year.
TOPOLOGY="$WORK/topology.yaml"
sed -E -e "s#^  - rules/ .*#  - $ROOT/topologies/rules/#" -e "s#^(    topic: logs.auth)\$#\1\n    year: $YEAR#" topologies/default.yaml >"$TOPOLOGY"
grep -q "year: $YEAR" "$TOPOLOGY" && grep -q "$ROOT/topologies/rules/" "$TOPOLOGY" || { echo "could not derive the topology from topologies/default.yaml" >&2; exit 1; }

topic_list=$(IFS=,; echo "${TOPICS[*]}")
CONSUMERS=$(printf '%s\n' 1 $WORKERS | sort -n -u | tr '\n' ' ')

# One bare-consumer run with $2 consumers: keeps the best rate per consumer count.
bare() {
  local n=$1 c=$2 log="$WORK/bare-$SET-$1-$2.log"
  echo "== [$SET] bare consumer, $c consumer(s), run $n" >&2
  "$COUNT" --brokers "$BROKER" --topics "$topic_list" --idle-secs "$IDLE" --consumers "$c" "${XARGS[@]}" >"$log" 2>&1 || { cat "$log" >&2; exit 1; }
  local line rate
  line=$(grep '^count_topic: consumers=' "$log")
  echo "   $(grep -m1 ' messages, ' "$log")" >&2
  BARE_MSGS=$(sed -E 's/.* messages=([0-9]+).*/\1/' <<<"$line")
  BARE_BYTES=$(sed -E 's/.* bytes=([0-9]+).*/\1/' <<<"$line")
  rate=$(sed -E 's/.*msgs_per_s=([0-9]+).*/\1/' <<<"$line")
  bare_rates[$c]="${bare_rates[$c]:-}${bare_rates[$c]:+ }$rate"
  if [ "$rate" -gt "${bare_best[$c]:-0}" ]; then
    bare_best[$c]=$rate
    bare_secs[$c]=$(sed -E 's/.* secs=([0-9.]+).*/\1/' <<<"$line")
    bare_wall[$c]=$(sed -E 's/.* secs=([0-9.]+) .* first_after_s=([0-9.]+).*/\1 \2/' <<<"$line" | awk '{printf "%.2f", $1 + $2}')
  fi
}

# Until every timely worker thread of process $1 has ended: prints "first last" ($EPOCHREALTIME
# of the first and the last sample that saw one). Samples every 10 ms without forking.
watch_workers() {
  local pid=$1 first="" last="" seen n f fd
  exec {fd}<> <(:)
  while [ -d "/proc/$pid" ]; do
    seen=0
    for f in /proc/"$pid"/task/*/comm; do
      read -r n <"$f" 2>/dev/null || continue
      if [[ $n == timely:work* ]]; then seen=1; break; fi
    done
    if [ "$seen" = 1 ]; then last=$EPOCHREALTIME; first=${first:-$last}; fi
    read -r -t 0.01 -u "$fd" || true
  done
  exec {fd}>&-
  echo "${first:-0} ${last:-0}"
}

# The vigil process under /usr/bin/time (and perf): the first descendant named vigil.
find_vigil() {
  local pid=$1 comm kids
  for _ in $(seq 1 500); do
    read -r comm <"/proc/$pid/comm" 2>/dev/null || return 1
    if [ "$comm" = vigil ]; then echo "$pid"; return 0; fi
    kids=$(cat "/proc/$pid/task/$pid/children" 2>/dev/null || true)
    if [ -n "$kids" ]; then pid=${kids%% *}; else read -r -t 0.005 <> <(:) || true; fi
  done
  return 1
}

# One `vigil run` with $1 workers in mode $2 (plain or exactly-once), from the beginning of
# every topic (a fresh group and state directory); its figures are kept under the key "$1 $2".
vigil_run() {
  local w=$1 mode=$2 log="$WORK/vigil-$SET-$1-$2.log" cfg="$WORK/vigil-$SET-$1-$2.toml"
  local group="bench-$SET-$w-$mode-$$-$(date +%s%N)"
  printf '[kafka]\nbrokers = "%s"\ngroup_id = "%s"\n[kafka.client]\n%s[topics]\nincidents = "vigil.incidents"\ndead_letter = "vigil.dead-letter"\n[metrics]\naddress = ""\n[state]\ndir = "%s"\n' "$BROKER" "$group" "$CLIENT_TOML" "$WORK/state-$SET-$w-$mode" >"$cfg"
  echo "== [$SET] vigil run --workers $w, $mode (group $group)" >&2
  local cmd=("$V" run --config "$cfg" --topology "$TOPOLOGY" --workers "$w" --stop-when-idle "${IDLE}s")
  if [ "$mode" = exactly-once ]; then
    cmd+=(--exactly-once --checkpoint-interval "$INTERVAL")
  fi
  local key="$w $mode"
  if [ "${PERF:-0}" = 1 ]; then
    cmd=(perf record -g -o "$WORK/perf-$SET-$1-$2.data" -- "${cmd[@]}")
  fi
  local t0=$EPOCHREALTIME
  "$TIME" -v "${cmd[@]}" >"$WORK/vigil-$SET-$1-$2.out" 2>"$log" &
  local tpid=$! vpid span="" first last
  if vpid=$(find_vigil "$tpid"); then span=$(watch_workers "$vpid"); fi
  wait "$tpid" || { tail -30 "$log" >&2; exit 1; }
  local line
  line=$(grep -m1 '^vigil run: [0-9]* events from' "$log")
  echo "   $line" >&2
  vig_events[$key]=$(sed -E 's/^vigil run: ([0-9]+) events.*/\1/' <<<"$line")
  vig_elapsed[$key]=$(sed -E 's/.* bytes in ([0-9.]+) s .*/\1/' <<<"$line")
  vig_incidents[$key]=$(sed -E 's/.*; incidents ([0-9]+);.*/\1/' <<<"$line")
  vig_sum_rate[$key]=$(awk -v e="${vig_events[$key]}" -v s="${vig_elapsed[$key]}" -v i="$IDLE" 'BEGIN {d = s - i; if (d <= 0) d = 1e-9; printf "%.0f", e / d}')
  vig_peak[$key]=$(awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2 / 1024}' "$log")
  vig_cpu[$key]=$(awk -F': ' '/User time/ {u = $2} /System time/ {s = $2} END {printf "%.1f", u + s}' "$log")
  read -r first last <<<"${span:-0 0}"
  if [ "$last" != 0 ]; then
    vig_secs[$key]=$(awk -v b="$last" -v t="$t0" -v i="$IDLE" 'BEGIN {printf "%.2f", b - t - i}')
    vig_rate[$key]=$(awk -v e="${vig_events[$key]}" -v s="${vig_secs[$key]}" 'BEGIN {if (s <= 0) s = 1e-9; printf "%.0f", e / s}')
  else
    vig_secs[$key]="?"
    vig_rate[$key]=0
    echo "   (could not watch the worker threads: only the summary's rate is known)" >&2
  fi
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2f", a / b; else printf "-"}'; }
ROW='%-24s %8s %8s %9s %10s %10s %10s %8s %11s %9s %8s\n'

# The whole comparison for one set of client properties ($1: "default" or "prop=value ...").
measure() {
  SET=$1
  local client=$1 kv w c n
  [ "$client" = default ] && client=""
  XARGS=()
  CLIENT_TOML=""
  for kv in $client; do
    case "$kv" in *=*) ;; *) echo "CLIENTS: $kv is not property=value" >&2; exit 2 ;; esac
    XARGS+=(-X "$kv")
    CLIENT_TOML+="\"${kv%%=*}\" = \"${kv#*=}\""$'\n'
  done
  SET=$(tr -c 'A-Za-z0-9.=\n' '_' <<<"$SET")
  unset bare_best bare_rates bare_secs bare_wall vig_events vig_rate vig_secs vig_sum_rate vig_elapsed vig_peak vig_incidents vig_cpu
  declare -gA bare_best bare_rates bare_secs bare_wall vig_events vig_rate vig_secs vig_sum_rate vig_elapsed vig_peak vig_incidents vig_cpu
  for c in $CONSUMERS; do bare 1 "$c"; done
  for m in $MODES; do for w in $WORKERS; do vigil_run "$w" "$m"; done; done
  for n in $(seq 2 "$BARE_RUNS"); do for c in $CONSUMERS; do bare "$n" "$c"; done; done

  {
    echo
    echo "client properties (bare consumers and vigil alike): ${client:-librdkafka defaults}"
    echo "bare consumer: $BARE_MSGS messages, $BARE_BYTES bytes; best of $BARE_RUNS runs (msgs/s of each run:$(for c in $CONSUMERS; do printf ' %s consumer(s): %s;' "$c" "${bare_rates[$c]}"; done))"
    # shellcheck disable=SC2059
    printf "$ROW" run events secs events/s "vs bare 1" "vs bare N" "vs 1 wall" "wall s" "summary e/s" incidents peak_MB
    for c in $CONSUMERS; do
      # shellcheck disable=SC2059
      printf "$ROW" "bare, $c consumer(s)" "$BARE_MSGS" "${bare_secs[$c]}" "${bare_best[$c]}" "$(ratio "${bare_best[$c]}" "${bare_best[1]}")" 1.00 \
        "$(ratio "${bare_wall[1]}" "${bare_wall[$c]}")" "${bare_wall[$c]}" - - -
    done
    for m in $MODES; do for w in $WORKERS; do
      k="$w $m"
      # shellcheck disable=SC2059
      printf "$ROW" "vigil run, $w worker(s)${m/plain/}" "${vig_events[$k]}" "${vig_secs[$k]}" "${vig_rate[$k]}" "$(ratio "${vig_rate[$k]}" "${bare_best[1]}")" \
        "$(ratio "${vig_rate[$k]}" "${bare_best[$w]}")" "$(ratio "${bare_wall[1]}" "${vig_secs[$k]}")" "${vig_secs[$k]}" "${vig_sum_rate[$k]}" "${vig_incidents[$k]}" "${vig_peak[$k]}"
    done; done
    for m in $MODES; do
      first=""
      for w in $WORKERS; do
        k="$w $m"
        echo "vigil run, $w worker(s), $m: ${vig_cpu[$k]} s of CPU (user + system) for ${vig_events[$k]} events; its own summary said ${vig_elapsed[$k]} s"
        if [ "${vig_events[$k]}" != "$BARE_MSGS" ]; then
          echo "note: vigil with $w worker(s), $m, counted ${vig_events[$k]} events for $BARE_MSGS messages (unparsable records or multi-line messages differ)"
        fi
        if [ -z "$first" ]; then first=$w; else echo "vigil run, $m, $w workers vs $first: x$(ratio "${vig_rate[$k]}" "${vig_rate[$first $m]}")"; fi
      done
    done
    for w in $WORKERS; do
      if [ -n "${vig_rate[$w plain]:-}" ] && [ -n "${vig_rate[$w exactly-once]:-}" ]; then
        echo "vigil run, $w worker(s): exactly once (checkpoints every $INTERVAL) vs plain: x$(ratio "${vig_rate[$w exactly-once]}" "${vig_rate[$w plain]}") events/s, peak $(ratio "${vig_peak[$w exactly-once]}" "${vig_peak[$w plain]}")x memory; $(grep -m1 'checkpoints:' "$WORK/vigil-$SET-$w-exactly-once.log" | sed 's/^ *//')"
      fi
    done
  } >>"$WORK/report.txt"
}

# vigil without Kafka: the same records from files (the generator writes the same lines with
# --split-dir), `vigil replay` over the topology's sources with paths, incidents to /dev/null.
replay_rows() {
  local dir="$WORK/files" w log line
  echo "== replay reference: the same $EVENTS records from files" >&2
  "$V" generate --quiet --format mixed --inject --events "$EVENTS" --split-dir "$dir"
  local topo="$WORK/topology-files.yaml"
  sed -E -e "s#^(    topic: logs.auth)\$#\1\n    path: $dir/sshd.log#" -e "s#^(    topic: logs.web)\$#\1\n    path: $dir/access.log#" \
    -e "s#^(    topic: logs.zeek)\$#\1\n    path: $dir/conn.log#" -e "s#^(    topic: logs.windows)\$#\1\n    path: $dir/windows.json#" "$TOPOLOGY" >"$topo"
  {
    echo
    echo "reference without Kafka: vigil replay --topology (the same records from 4 files; rate from its own summary, no idle wait in it)"
  } >>"$WORK/report.txt"
  for w in $WORKERS; do
    log="$WORK/replay-$w.log"
    echo "== vigil replay --workers $w" >&2
    "$TIME" -v "$V" replay --topology "$topo" --workers "$w" --output /dev/null 2>"$log" >/dev/null || { tail -30 "$log" >&2; exit 1; }
    line=$(grep -m1 -- ' events in ' "$log")
    echo "   $line" >&2
    awk -v w="$w" -v l="$line" -F': ' '/Maximum resident set size/ {printf "vigil replay, %s worker(s): %s; peak %.0f MB\n", w, l, $2 / 1024}' "$log" >>"$WORK/report.txt"
  done
}

IFS=';' read -r -a SETS <<<"${CLIENTS:-default;fetch.wait.max.ms=10;fetch.wait.max.ms=10 fetch.queue.backoff.ms=10}"
: >"$WORK/report.txt"
for set in "${SETS[@]}"; do measure "$set"; done
if [ "${REPLAY:-1}" = 1 ]; then replay_rows; fi

echo
if [ "${LOAD:-1}" = 1 ]; then what="$EVENTS records (mixed, with attacks)"; else what="the records already there"; fi
rev=$(git rev-parse --short HEAD 2>/dev/null || true)
if [ -n "$rev" ] && ! git diff --quiet HEAD -- src Cargo.toml Cargo.lock 2>/dev/null; then rev="$rev with uncommitted changes"; fi
echo "Kafka end to end: $what, ${#TOPICS[@]} topics x $PARTITIONS partitions on tansu (memory storage); vigil ${rev:-(not a git checkout)}; $(nproc) cores, load before the runs $LOAD_BEFORE"
echo "  bare:  examples/count_topic.rs; secs = first to last message received (no start-up, no idle wait)"
echo "  vigil: secs = from launch until its last timely worker thread ended, minus the ${IDLE} s --stop-when-idle wait"
echo "         (start-up, the final window close, incident delivery and the final commit are in it)"
echo "  vs bare 1: events/s over one bare consumer's msgs/s (the issue's target: >= 0.80 with 1 worker)"
echo "  vs bare N: over N bare consumers' msgs/s (one consumer per worker, the same partitions each)"
echo "  vs 1 wall: one bare consumer's launch-to-last-message time over this row's (start-up counted on both sides)"
echo "  summary e/s: events / (elapsed - ${IDLE} s) from vigil's own summary line; that elapsed also waits for the"
echo "         metrics exporter thread, which wakes once a second, so it can be up to 1 s too long"
cat "$WORK/report.txt"
if [ "${PERF:-0}" = 1 ]; then echo "perf recordings (peak_MB includes perf itself): $WORK/perf-*.data (KEEP=1 keeps them)"; fi
