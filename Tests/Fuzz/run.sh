#!/usr/bin/env bash
# Builds one libFuzzer target and runs it for a time budget:  Tests/Fuzz/run.sh TARGET SECONDS [libFuzzer flags]
# TARGET: unpickler, zip, safetensors, panda, panda-sealed (PandaFormat and PandaConvert); npy, jpeg, image, sound
# (PandaMedia); job (PandaJobs). The modules under test are compiled here with -sanitize=fuzzer,address
# (coverage-guided only if the code under test is instrumented), apart from the SwiftPM build, which never sees
# these targets; `job` links PandaJobs' dependencies from the SwiftPM debug build, so `swift build` must have run.
# Crashing inputs land in .build/fuzz/findings/TARGET/ (PANDA_FUZZ_BUILD names another folder than .build/fuzz).
set -euo pipefail
target=${1:?usage: run.sh TARGET SECONDS}
seconds=${2:?usage: run.sh TARGET SECONDS}
shift 2
root=$(cd "$(dirname "$0")/../.." && pwd)
fuzz="$root/Tests/Fuzz"
out=${PANDA_FUZZ_BUILD:-$root/.build/fuzz}
flags=(-sanitize=fuzzer,address -parse-as-library -Onone -g -enable-testing)
corpus="$out/corpus/$target"
mkdir -p "$out/findings/$target" "$corpus"

# library NAME [INPUT...] -- [swiftc arguments]: Sources/NAME as a static library and module, instrumented; kept
# while neither a source nor an INPUT (a library or folder it was built against) is newer. Converter.swift is left
# out of PandaConvert: it writes files and needs PandaKernels and swift-crypto, and reads nothing hostile.
library() {
    local name=$1 sources inputs=()
    shift
    while [[ $1 != -- ]]; do inputs+=("$1"); shift; done
    shift
    sources=$(ls "$root/Sources/$name"/*.swift | grep -v /Converter.swift)
    if [[ -f $out/lib$name.a && -z $(find $sources "${inputs[@]}" -newer "$out/lib$name.a" | head -1) ]]; then return; fi
    swiftc "${flags[@]}" -emit-library -static -emit-module -module-name "$name" -I "$out" "$@" $sources \
        -emit-module-path "$out/$name.swiftmodule" -o "$out/lib$name.a"
}
# kernels: CPandaKernels (PandaFormat's block codecs) as a plain, uninstrumented C library with a module map, kept
# while no C source is newer.
kernels() {
    local sources=("$root"/Sources/CPandaKernels/*.c) objects=()
    mkdir -p "$out/CPandaKernels"
    printf 'module CPandaKernels {\n    header "%s"\n    export *\n}\n' "$root/Sources/CPandaKernels/include/panda_kernels.h" \
        > "$out/CPandaKernels/module.modulemap"
    if [[ -f $out/libCPandaKernels.a && -z $(find "$root/Sources/CPandaKernels" -newer "$out/libCPandaKernels.a" | head -1) ]]; then return; fi
    for source in "${sources[@]}"; do
        objects+=("$out/CPandaKernels/$(basename "$source" .c).o")
        clang -O2 -c "$source" -I "$root/Sources/CPandaKernels/include" -I "$root/Sources/CPandaKernels" -o "${objects[-1]}"
    done
    rm -f "$out/libCPandaKernels.a"
    ar rcs "$out/libCPandaKernels.a" "${objects[@]}"
}
format=(-I "$root/Sources/CZstd" -I "$out/CPandaKernels")
formatLibraries=("$out/libPandaFormat.a" "$out/libCPandaKernels.a" -lzstd -lmvec)
media=(-I "$root/Sources/CJPEG" -I "$root/Sources/CSndfile" -I "$root/Sources/CFFmpeg")
harness=("$fuzz/Targets/FileInput.swift")
case $target in
    unpickler | zip | safetensors | panda | panda-sealed)
        kernels
        library PandaFormat "$out/libCPandaKernels.a" -- "${format[@]}"
        library PandaConvert "$out/libPandaFormat.a" -- "${format[@]}"
        # panda-sealed is panda.swift with SEAL_INDEX: the header is made to agree with each mutated file.
        harness+=("$fuzz/Targets/${target%-sealed}.swift" "${format[@]}" "$out/libPandaConvert.a" "${formatLibraries[@]}")
        if [[ $target == panda-sealed ]]; then harness+=(-D SEAL_INDEX); fi ;;
    npy | jpeg | image | sound)
        kernels
        library PandaFormat "$out/libCPandaKernels.a" -- "${format[@]}"
        library PandaMedia "$out/libPandaFormat.a" -- "${media[@]}" "${format[@]}"
        harness+=("$fuzz/Targets/$target.swift" "${media[@]}" "${format[@]}" "$out/libPandaMedia.a" "${formatLibraries[@]}") ;;
    job)
        # PandaJobs alone is instrumented; what it imports comes from the SwiftPM debug build, its objects
        # gathered in one archive so that the linker takes only those needed.
        debug=$(cd "$root" && swift build --show-bin-path)
        clang=(-I "$debug/Modules")
        for map in "$root"/Sources/C*/module.modulemap "$debug"/*.build/module.modulemap "$root"/.build/checkouts/*/Sources/*/include/module.modulemap; do
            clang+=(-Xcc -fmodule-map-file="$map" -Xcc -I -Xcc "$(dirname "$map")")
        done
        clang+=(-Xcc -I -Xcc "$root/Sources/CPandaKernels/include" -I /usr/include/x86_64-linux-gnu/openblas-pthread)
        rm -f "$out/libJobDependencies.a"
        find "$debug"/{PandaInputs,PandaModels,PandaMedia,PandaKernels,CPandaKernels,PandaFormat,Yams,CYaml,Crypto,CryptoBoringWrapper,CCryptoBoringSSL,CCryptoBoringSSLShims,Logging,SwiftProtobuf,HeapModule,InternalCollectionsUtilities}.build \
            -name '*.o' -print0 | xargs -0 ar rcs "$out/libJobDependencies.a"
        library PandaJobs "$debug/Modules" -- "${clang[@]}"
        harness+=("$fuzz/Targets/job.swift" "${clang[@]}" "$out/libPandaJobs.a" "$out/libJobDependencies.a"
            -lopenblas -ldnnl -lzstd -lz -ljpeg -lsndfile -lavformat -lavcodec -lavutil -lswscale -lswresample -lmvec) ;;
    *) echo "run.sh: unknown target '$target'" >&2; exit 2 ;;
esac
swiftc "${flags[@]}" -I "$out" "${harness[@]}" -o "$out/fuzz-$target"

# Seeds: the committed fixtures of the target's format (and Tests/Fuzz/Seeds, small ones made for fuzzing), copied
# so that libFuzzer's additions stay out of the tree.
fixtures="$root/Tests/Fixtures"
case $target in
    unpickler) for pt in "$fixtures"/checkpoints/state-protocol*.pt; do
                   unzip -p "$pt" '*/data.pkl' > "$corpus/$(basename "$pt").pkl"; done ;;
    zip) cp "$fixtures"/checkpoints/*.pt "$corpus/" ;;
    safetensors) cp "$fixtures"/checkpoints/state.safetensors "$corpus/" ;;
    # The model files are megabytes, past -max_len: small ones are written by the harness itself.
    panda | panda-sealed) PANDA_FUZZ_SEEDS="$corpus" "$out/fuzz-$target" -runs=0 > /dev/null 2>&1 ;;
    npy) cp "$fixtures"/media/npy/*.npy "$fixtures"/media/imu-short.npy "$corpus/" ;;
    jpeg) cp "$fixtures"/media/*.jpg "$fixtures"/media/formats/*.jpg "$corpus/" ;;
    image) cp "$fixtures"/media/{depth,thermal,overlay}.png "$fixtures"/media/bombs/wide.png "$fixtures"/media/formats/* "$corpus/"
           rm -f "$corpus"/*.jpg ;;
    sound) cp "$fuzz"/Seeds/sound/* "$fixtures"/media/{speech.ogg,speech.mp3,speech-16k.flac,truncated.m4a,no-samples.wav} "$corpus/" ;;
    job) cp "$root"/Jobs/*.yaml "$corpus/" ;;
esac

cd "$out/findings/$target"
"$out/fuzz-$target" -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
    "$@" "$corpus"
