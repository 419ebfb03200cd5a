#!/usr/bin/env bash
# A short run of every fuzz target, as CI runs it after the tests (the job target links the SwiftPM debug build):
# each must build and find nothing in its budget.   Tests/Fuzz/smoke.sh [SECONDS per target, default 8]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
targets=(unpickler zip safetensors panda panda-sealed npy jpeg image sound job)
for target in "${targets[@]}"; do
    echo "fuzz smoke: $target"
    bash "$here/run.sh" "$target" "${1:-8}" > /dev/null 2> >(tail -n 3 >&2)
done
echo "fuzz smoke: ${#targets[@]} targets, no findings"
