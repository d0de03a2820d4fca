#!/usr/bin/env bash
# Run a command while busy loops keep every core loaded (one per core, or $HOGS), then stop them:
# the suite must pass on a loaded machine as on an idle one.
#   bash scripts/with-cpu-hog.sh make test
set -euo pipefail
count=${HOGS:-$(nproc)}
hogs=()
stop_hogs() { kill "${hogs[@]}" 2>/dev/null || true; wait "${hogs[@]}" 2>/dev/null || true; }
trap stop_hogs EXIT INT TERM
for _ in $(seq "$count"); do
  python3 -c "while True: pass" &
  hogs+=($!)
done
echo "with-cpu-hog: ${count} busy loops running ($(nproc) cores): $*" >&2
"$@"
