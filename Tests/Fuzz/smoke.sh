#!/usr/bin/env bash
# A short run of every fuzz target, as CI runs it: each must build and find nothing in its budget.
#   Tests/Fuzz/smoke.sh [SECONDS per target, default 15]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
for target in unpickler zip safetensors panda npy; do
    echo "fuzz smoke: $target"
    bash "$here/run.sh" "$target" "${1:-15}" > /dev/null 2> >(tail -n 3 >&2)
done
echo "fuzz smoke: 5 targets, no findings"
