#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it (.ci/run calls this script):
# formatting, lints, then unit, integration and property tests, ending with one summary line.
#
# Build outputs are cached outside the clone (VIGIL_CACHE, default ~/.cache/vigil) so a second
# run on the same machine reuses them. Nothing here needs a network beyond crates.io.
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE="${VIGIL_CACHE:-$HOME/.cache/vigil}"
mkdir -p "$CACHE"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CACHE/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

step() { printf '\n== %s (%s)\n' "$1" "$(date +%H:%M:%S)"; }

step "toolchain"
cargo --version
rustc --version

step "rustfmt"
cargo fmt --all -- --check

step "clippy"
cargo clippy --locked --all-targets -- -D warnings

step "tests"
log="$CARGO_TARGET_DIR/test-output.log"
set +e
# --no-fail-fast: a failing test binary must not hide the results of the ones after it.
cargo test --locked --all-targets --no-fail-fast 2>&1 | tee "$log"
status=${PIPESTATUS[0]}

# Tests against a real Kafka broker: tansu (Apache Kafka compatible, from crates.io), installed
# once into the cache (15 to 35 minutes cold on 2 cores), and kafka-python as the independent
# client, in a virtualenv in the cache. The broker runs on a free loopback port for this run only.
step "kafka broker"
TOOLS="$CACHE/tools"
TANSU="$TOOLS/bin/tansu"
if [ ! -x "$TANSU" ]; then
  echo "installing tansu 0.6.0 into $TOOLS (once; later runs reuse it)"
  cargo install tansu --version 0.6.0 --locked --features dynostore,libsql --root "$TOOLS" 2>&1 | tail -n 3
fi
VENV="$CACHE/venv"
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import kafka' 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check kafka-python==3.0.12
fi
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BROKER_LOG="$CARGO_TARGET_DIR/tansu.log"
"$TANSU" broker --listener-url "tcp://127.0.0.1:$PORT" --advertised-listener-url "tcp://127.0.0.1:$PORT" \
  --storage-engine memory://tansu/ >"$BROKER_LOG" 2>&1 &
BROKER_PID=$!
trap 'kill "$BROKER_PID" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  python3 -c "import socket; socket.create_connection(('127.0.0.1', $PORT), 0.2)" 2>/dev/null && break
  sleep 0.1
done
echo "tansu $("$TANSU" --version 2>/dev/null | head -n 1) on 127.0.0.1:$PORT (log: $BROKER_LOG)"
VIGIL_TEST_BROKER="127.0.0.1:$PORT" VIGIL_TEST_PYTHON="$VENV/bin/python" VIGIL_TEST_TANSU="$TANSU" \
  cargo test --locked --test kafka -- --ignored --test-threads 2 2>&1 | tee -a "$log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1

# The public datasets live beside the repository (../shared/data), not in it: when they are
# there, every one of them must normalize completely.
step "public datasets"
if [ -d ../shared/data ]; then
  cargo test --locked --test shared_data -- --ignored --nocapture 2>&1 | tee -a "$log"
  [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
  # Users load the SigmaHQ rule set as it is: every file must compile.
  cargo test --locked --test sigma_hq -- --ignored 2>&1 | tee -a "$log"
  [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
else
  echo "../shared/data is not here: the public-dataset check (tests/shared_data.rs) did not run"
fi
set -e

# cargo prints one "test result:" line per test binary; add them up into one closing line.
count() { grep -E '^test result:' "$log" | grep -oE "[0-9]+ $1" | awk '{s += $1} END {print s + 0}'; }
passed=$(count passed)
failed=$(count failed)
ignored=$(count ignored)
binaries=$(grep -cE '^test result:' "$log" || true)
echo
echo "test binaries: ${binaries:-0}, ignored: ${ignored:-0}"
echo "${passed:-0} passed, ${failed:-0} failed"
if [ "$status" -ne 0 ] || [ "${failed:-0}" -ne 0 ] || [ "${passed:-0}" -eq 0 ]; then
  exit 1
fi
