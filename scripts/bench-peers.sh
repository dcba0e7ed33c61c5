#!/usr/bin/env bash
# vigil against rsigma (Rust streaming Sigma) on the same events and the same rules, in one run,
# each pinned to one core: events/s, peak memory, their ratio, and which rules fired on each
# side (every difference listed; rsigma ignores `logsource`, vigil filters by it).
#
# Events: the OTRF PurpleSharp AD playbook recording (real Windows Security and Sysmon events,
# ../shared/data), repeated COPIES times so a run lasts long enough to time. Rules: vigil's
# default Windows rules, then the whole SigmaHQ rules/windows folder (about 2,400 rules).
#
#   COPIES=8 bash scripts/bench-peers.sh
#
# rsigma 0.26 needs rustc 1.96: `cargo +nightly install rsigma --version 0.26.0 --root DIR`;
# RSIGMA names the binary (default: ~/.cache/vigil/tools/rsigma/bin/rsigma, then PATH).
set -euo pipefail
cd "$(dirname "$0")/.."
COPIES="${COPIES:-8}"
DIR="${BENCH_DIR:-${TMPDIR:-/tmp}/vigil-bench-peers}"
DATA="${DATA:-../shared/data}"
RSIGMA="${RSIGMA:-$HOME/.cache/vigil/tools/rsigma/bin/rsigma}"
[ -x "$RSIGMA" ] || RSIGMA=$(command -v rsigma || true)
if [ -z "$RSIGMA" ]; then
  echo "rsigma not found: cargo +nightly install rsigma --version 0.26.0 --root ~/.cache/vigil/tools/rsigma" >&2
  exit 2
fi
[ -d "$DATA/otrf-purplesharp-ad-playbook-1" ] || { echo "$DATA/otrf-purplesharp-ad-playbook-1 is missing" >&2; exit 2; }
cargo build --release --quiet
V="${CARGO_TARGET_DIR:-target}/release/vigil"
mkdir -p "$DIR"

events="$DIR/purplesharp-x$COPIES.jsonl"
[ -s "$DIR/one.jsonl" ] || unzip -p "$DATA/otrf-purplesharp-ad-playbook-1/purplesharp_ad_playbook_I_host_full.zip" >"$DIR/one.jsonl"
if [ ! -s "$events" ]; then
  for _ in $(seq "$COPIES"); do cat "$DIR/one.jsonl"; done >"$events"
fi
n=$(wc -l <"$events")
mb=$(du -m "$events" | cut -f1)
echo "events: $n records, $mb MB ($COPIES copies of the PurpleSharp recording)"

# Wall seconds and peak MB of a command (stdout to $2), pinned to core 0.
timed() {
  local out=$1
  shift
  /usr/bin/time -f '%e %M' -o "$DIR/time" taskset -c 0 "$@" >"$out" 2>"$DIR/stderr" || {
    echo "failed: $*" >&2
    tail -5 "$DIR/stderr" >&2
    return 1
  }
  awk '{printf "%s %.0f\n", $1, $2 / 1024}' "$DIR/time"
}

compare() {
  local name=$1 rules=$2
  # The copies repeat event times, so vigil is told that nothing is late; detection rules do
  # not wait for the watermark, so this costs nothing.
  read -r vs vmb < <(timed "$DIR/vigil.json" "$V" replay --quiet --rules "$rules" --lateness 3650d --workers 1 "$events")
  read -r rs rmb < <(timed "$DIR/rsigma.json" "$RSIGMA" engine eval -r "$rules" -e "@$events")
  local vr rr
  vr=$(awk -v n="$n" -v s="$vs" 'BEGIN {printf "%.0f", n / s}')
  rr=$(awk -v n="$n" -v s="$rs" 'BEGIN {printf "%.0f", n / s}')
  printf '\n%s\n' "$name"
  printf '  %-7s %8s s %10s events/s %6s MB peak\n' vigil "$vs" "$vr" "$vmb" rsigma "$rs" "$rr" "$rmb"
  awk -v a="$vr" -v b="$rr" -v m="$vmb" -v r="$rmb" 'BEGIN {printf "  ratio   x%.2f events/s (vigil / rsigma), memory x%.2f\n", a / b, m / r}'
  # What fired, compared on one copy of the recording (vigil writes an incident once however
  # many copies repeat it; rsigma reports every copy): vigil, rsigma, and vigil again with
  # --ignore-logsource, which runs every rule on every event as rsigma does. Every difference
  # is then either logsource (vigil with --ignore-logsource agrees with rsigma), a correlation's
  # alerting (rsigma alerts on every event past the threshold, vigil once per group and window),
  # or listed as unexplained.
  "$V" replay --quiet --rules "$rules" --lateness 3650d --workers 1 "$DIR/one.jsonl" >"$DIR/vigil-one.json" 2>"$DIR/stderr"
  "$V" replay --quiet --ignore-logsource --rules "$rules" --lateness 3650d --workers 1 "$DIR/one.jsonl" >"$DIR/vigil-all.json" 2>"$DIR/stderr"
  "$RSIGMA" engine eval -r "$rules" -e "@$DIR/one.jsonl" >"$DIR/rsigma-one.json" 2>"$DIR/stderr"
  python3 - "$DIR/vigil-one.json" "$DIR/vigil-all.json" "$DIR/rsigma-one.json" <<'PY'
import json, sys, collections
def read(path, pick):
    c, kinds = collections.Counter(), {}
    for line in open(path, encoding="utf-8", errors="replace"):
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            o = json.loads(line)
            t = pick(o)
        except (ValueError, KeyError, TypeError):
            continue
        c[t] += 1
        kinds[t] = ((o.get("vigil") or {}).get("correlation") or {}).get("type", "detection")
    return c, kinds
v, kinds = read(sys.argv[1], lambda o: o["rule"]["name"])
a, kinds_all = read(sys.argv[2], lambda o: o["rule"]["name"])
kinds.update({k: x for k, x in kinds_all.items() if k not in kinds})
r, _ = read(sys.argv[3], lambda o: o.get("rule_title") or o.get("title") or o["rule"]["title"])
print(f"  one copy: vigil {len(v)} rules ({sum(v.values())} incidents), rsigma {len(r)} rules ({sum(r.values())} matches)")
why = collections.Counter()
for t in sorted(set(v) | set(r)):
    if v[t] == r[t]:
        why["same"] += 1
        continue
    if kinds.get(t, "detection") != "detection":
        reason = "correlation: rsigma alerts on every event past the threshold, vigil once per group and window"
    elif a[t] == r[t]:
        reason = "logsource: rsigma ignores it; vigil --ignore-logsource gives rsigma's count"
    else:
        reason = f"UNEXPLAINED (vigil --ignore-logsource: {a[t]})"
    why[reason.split(":")[0]] += 1
    print(f"    {t}: vigil {v[t]}, rsigma {r[t]} ({reason})")
print("  rules: " + ", ".join(f"{n} {k}" for k, n in sorted(why.items())))
PY
}

compare "vigil's Windows rules (topologies/rules/windows_credential_access.yml)" topologies/rules/windows_credential_access.yml
compare "SigmaHQ rules/windows ($(find "$DATA/sigmahq-rules/rules/windows" -name '*.yml' | wc -l) files)" "$DATA/sigmahq-rules/rules/windows"
