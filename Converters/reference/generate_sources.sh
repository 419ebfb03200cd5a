#!/usr/bin/env bash
# Regenerates the generated Swift sources in Sources/PandaModels/Generated (see the README there):
#   TextCleaningTables.swift     from Python's html module and ftfy 6.3.1, in the reference environment
#   sentencepiece_model.pb.swift from sentencepiece_model.proto, with protoc and swift-protobuf's plugin
# Needs protoc (Debian: protobuf-compiler) and the reference environment of regenerate.sh ($PANDA_REFENV).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
generated="$repo/Sources/PandaModels/Generated"
venv="${PANDA_REFENV:-${PANDA_CACHE:-$HOME/.cache/panda}/refenv}"

command -v protoc >/dev/null || { echo "protoc is missing: apt-get install protobuf-compiler" >&2; exit 1; }
[ -x "$venv/bin/python" ] || { echo "no reference environment in $venv: run Converters/reference/regenerate.sh once" >&2; exit 1; }

"$venv/bin/python" "$here/make_text_tables.py" "$generated/TextCleaningTables.swift"

# The plugin from the swift-protobuf version Package.swift pins, built in the package's own build folder.
swift build --package-path "$repo" --product protoc-gen-swift
protoc --plugin="protoc-gen-swift=$(swift build --package-path "$repo" --show-bin-path)/protoc-gen-swift" \
    --proto_path="$generated" --swift_out="$generated" "$generated/sentencepiece_model.proto"
