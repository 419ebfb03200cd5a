#!/usr/bin/env bash
# Builds one libFuzzer target and runs it for a time budget:  Tests/Fuzz/run.sh TARGET SECONDS [libFuzzer flags]
# TARGET: unpickler, zip, safetensors, panda or npy. PandaFormat and PandaConvert's readers (and, for npy, PandaMedia's
# NPYArray.swift with MediaError.swift and MediaFile.swift, which need nothing else) are compiled here with
# -sanitize=fuzzer,address (coverage-guided only if the code under test is instrumented), apart from the
# SwiftPM build, which never sees these targets. Crashing inputs land in .build/fuzz/findings/TARGET/.
set -euo pipefail
target=${1:?usage: run.sh TARGET SECONDS}
seconds=${2:?usage: run.sh TARGET SECONDS}
shift 2
root=$(cd "$(dirname "$0")/../.." && pwd)
fuzz="$root/Tests/Fuzz"
out="$root/.build/fuzz"
flags=(-sanitize=fuzzer,address -parse-as-library -Onone -g -enable-testing)
mkdir -p "$out/findings/$target" "$out/corpus/$target"

# Converter.swift is left out: it writes files and needs PandaKernels and swift-crypto, and reads nothing hostile.
swiftc "${flags[@]}" -emit-library -static -emit-module -module-name PandaFormat -I "$root/Sources/CZstd" \
    "$root"/Sources/PandaFormat/*.swift -emit-module-path "$out/PandaFormat.swiftmodule" -o "$out/libPandaFormat.a"
swiftc "${flags[@]}" -emit-library -static -emit-module -module-name PandaConvert -I "$out" -I "$root/Sources/CZstd" \
    $(ls "$root"/Sources/PandaConvert/*.swift | grep -v /Converter.swift) \
    -emit-module-path "$out/PandaConvert.swiftmodule" -o "$out/libPandaConvert.a"
media=()
if [ "$target" = npy ]; then
    swiftc "${flags[@]}" -emit-library -static -emit-module -module-name PandaMedia \
        "$root/Sources/PandaMedia/NPYArray.swift" "$root/Sources/PandaMedia/MediaError.swift" "$root/Sources/PandaMedia/MediaFile.swift" \
        -emit-module-path "$out/PandaMedia.swiftmodule" -o "$out/libPandaMedia.a"
    media=("$out/libPandaMedia.a")
fi
swiftc "${flags[@]}" -I "$out" -I "$root/Sources/CZstd" "$fuzz/Targets/$target.swift" "$fuzz/Targets/FileInput.swift" \
    "${media[@]}" "$out/libPandaConvert.a" "$out/libPandaFormat.a" -lzstd -o "$out/fuzz-$target"

# Seeds: the committed fixtures of the target's format, copied so that libFuzzer's additions stay out of the tree.
case $target in
    unpickler) for pt in "$root"/Tests/Fixtures/checkpoints/state-protocol*.pt; do
                   unzip -p "$pt" '*/data.pkl' > "$out/corpus/$target/$(basename "$pt").pkl"; done ;;
    zip) cp "$root"/Tests/Fixtures/checkpoints/*.pt "$out/corpus/$target/" ;;
    safetensors) cp "$root"/Tests/Fixtures/checkpoints/state.safetensors "$out/corpus/$target/" ;;
    panda) cp "$root"/Weights/tiny-*.panda "$out/corpus/$target/" 2>/dev/null || true ;;
    npy) cp "$root"/Tests/Fixtures/media/npy/*.npy "$root"/Tests/Fixtures/media/*.npy "$out/corpus/$target/" ;;
esac

cd "$out/findings/$target"
"$out/fuzz-$target" -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
    "$@" "$out/corpus/$target"
