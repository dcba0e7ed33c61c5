#!/usr/bin/env bash
# A distributed password-guessing attack against the default topology, in one run: N failed
# root logins on one host at 50 a second (N = 2,000,000 is 11 hours), each from a new address
# (the spray), against the same number of failures from 1,000 addresses taking turns. Prints
# events/s of both, their ratio (target >= 0.7), peak memory, and vigil's own account of its
# correlation state (live keys at once, bytes per key: target <= 256) and key-cap evictions.
#
#   EVENTS=2000000 bash scripts/bench-spray.sh
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS="${EVENTS:-2000000}"
DIR="${BENCH_DIR:-${TMPDIR:-/tmp}/vigil-bench-spray}"
TOPOLOGY="${TOPOLOGY:-topologies/default.yaml}"
cargo build --release --quiet
V="${CARGO_TARGET_DIR:-target}/release/vigil"
mkdir -p "$DIR"

# write FILE ATTACKERS: N failures, 50 per second from 2024-01-15 00:00:00, source address i mod
# ATTACKERS (0 for one address per failure), as sshd writes them to auth.log.
write() {
  python3 - "$1" "$EVENTS" "$2" <<'EOF'
import sys, datetime
path, n, attackers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
start = datetime.datetime(2024, 1, 15)
with open(path, "w") as out:
    for i in range(n):
        t = start + datetime.timedelta(milliseconds=20 * i)
        a = i if attackers == 0 else i % attackers
        ip = f"{11 + (a >> 24) % 200}.{(a >> 16) & 255}.{(a >> 8) & 255}.{a & 255}"
        out.write(f"{t:%b %d %H:%M:%S} web-01 sshd[{1000 + i % 30000}]: Failed password for root from {ip} port {1024 + i % 60000} ssh2\n")
EOF
}
[ -s "$DIR/spray-$EVENTS.log" ] || write "$DIR/spray-$EVENTS.log" 0
[ -s "$DIR/few-$EVENTS.log" ] || write "$DIR/few-$EVENTS.log" 1000

# run FILE: prints "rate peak_mb" and keeps the summary in $DIR/FILE.summary
run() {
  local name
  name=$(basename "$1" .log)
  /usr/bin/time -f 'peak_kb %M' "$V" replay --topology "$TOPOLOGY" --year 2024 --workers 1 --output "$DIR/$name.incidents" "$1" 2>"$DIR/$name.summary"
  printf '%s %s\n' "$(sed -nE 's/.*\(([0-9]+) events\/s.*/\1/p' "$DIR/$name.summary" | head -1)" "$(awk '/peak_kb/ {printf "%.0f", $2 / 1024}' "$DIR/$name.summary")"
}

read -r few_rate few_mb < <(run "$DIR/few-$EVENTS.log")
read -r spray_rate spray_mb < <(run "$DIR/spray-$EVENTS.log")
printf '%-28s %12s %9s %10s\n' input events/s peak_MB incidents
printf '%-28s %12s %9s %10s\n' "1,000 attackers" "$few_rate" "$few_mb" "$(wc -l <"$DIR/few-$EVENTS.incidents")"
printf '%-28s %12s %9s %10s\n' "one address per failure" "$spray_rate" "$spray_mb" "$(wc -l <"$DIR/spray-$EVENTS.incidents")"
awk -v a="$spray_rate" -v b="$few_rate" 'BEGIN {printf "spray / 1,000 attackers: %.2f of the rate (target >= 0.7)\n", a / b}'
for f in few spray; do
  echo "$f:"
  grep -E 'correlation state|evicted' "$DIR/$f-$EVENTS.summary" | sed 's/^/  /' || true
done
