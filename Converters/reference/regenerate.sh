#!/usr/bin/env bash
# Regenerates every committed test fixture from fixed seeds and checks the result against
# Tests/Fixtures/MANIFEST.sha256.
#   Converters/reference/regenerate.sh           regenerate, then rewrite the manifest
#   Converters/reference/regenerate.sh --check   regenerate into a scratch folder; exit 1 if any byte differs
# The Python environment lives outside the repository, in $PANDA_REFENV (default ~/.cache/panda/refenv), and is
# created on first use; llama.cpp's LLaMA vocabulary comes from the llama-cpp-python sdist, cached in $PANDA_CACHE.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cache="${PANDA_CACHE:-$HOME/.cache/panda}"
venv="${PANDA_REFENV:-$cache/refenv}"
llama_cpp_python=0.3.36
llama_cpp_python_sha256=832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e
mkdir -p "$cache"

if ! (cd "$here" && "$venv/bin/python" -c "import common; common.import_imagebind()") 2>/dev/null; then
    echo "Creating the reference environment in $venv …"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet -r "$here/requirements.txt"
    "$venv/bin/pip" install --quiet --no-deps -r "$here/requirements-nodeps.txt"
fi

vocab="$cache/llama_cpp_python-$llama_cpp_python/vendor/llama.cpp/models/ggml-vocab-llama-spm.gguf"
if [ ! -f "$vocab" ]; then
    echo "Fetching the llama-cpp-python $llama_cpp_python sdist for LLaMA's vocabulary …"
    # The source distribution through pip, checked against its known SHA-256. Only this package is kept from
    # wheels: with `--no-binary :all:` pip would also build its build requirements (cmake) from source to read
    # its metadata, which takes many minutes.
    pin="$(mktemp)"
    echo "llama-cpp-python==$llama_cpp_python --hash=sha256:$llama_cpp_python_sha256" > "$pin"
    "$venv/bin/pip" download --quiet --no-deps --no-binary llama-cpp-python --require-hashes -r "$pin" -d "$cache"
    rm -f "$pin"
    tar -xzf "$cache/llama_cpp_python-$llama_cpp_python.tar.gz" -C "$cache" \
        "llama_cpp_python-$llama_cpp_python/vendor/llama.cpp/models/ggml-vocab-llama-spm.gguf"
fi

fixtures="$repo/Tests/Fixtures"
target="$fixtures"
if [ "${1:-}" = "--check" ]; then
    target="$(mktemp -d)"
    trap 'rm -rf "$target"' EXIT
fi
cd "$here"
"$venv/bin/python" make_media.py "$target/media"
"$venv/bin/python" make_npy_cases.py "$target/media/npy"
"$venv/bin/python" make_image_formats.py "$target/media"
"$venv/bin/python" make_bombs.py "$target/media"
"$venv/bin/python" make_checkpoint_cases.py "$target/checkpoints"
rm -rf "$target/reference"
"$venv/bin/python" generate.py "$target/reference" "$vocab" "$target/media" 2> >(grep -v -i warn >&2)

# The manifest also lists fuzz/, the committed inputs that fuzzing found (not generated, so not checked here).
generated='media checkpoints reference'
manifest() { local directory="$1"; shift; (cd "$directory" && find "$@" -type f | LC_ALL=C sort | xargs sha256sum); }
if [ "${1:-}" = "--check" ]; then
    committed="$(mktemp)"
    grep -E '^[0-9a-f]{64}  (media|checkpoints|reference)/' "$fixtures/MANIFEST.sha256" > "$committed"
    # The paths whose bytes differ, or that exist on one side only.
    differing="$({ diff <(manifest "$target" $generated) "$committed" || true; } | sed -n 's/^[<>] [0-9a-f]\{64\}  //p' | LC_ALL=C sort -u)"
    rm -f "$committed"
    if [ -z "$differing" ]; then
        echo "All fixtures regenerated bit-identically."
    elif "$venv/bin/python" compare_outputs.py "$target" "$fixtures" $differing; then
        echo "The inputs regenerated bit-identically; PyTorch's outputs above differ in the last bits (this CPU runs other kernels than the one that wrote them) and are within tolerance."
    else
        echo "Fixtures differ from Tests/Fixtures/MANIFEST.sha256 (above)." >&2
        exit 1
    fi
else
    manifest "$fixtures" $generated fuzz > "$fixtures/MANIFEST.sha256"
    echo "Fixtures written; $(wc -l < "$fixtures/MANIFEST.sha256") files in Tests/Fixtures/MANIFEST.sha256."
fi
