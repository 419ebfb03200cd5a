#!/usr/bin/env bash
# Runs a job as a 4-task Slurm job array on a single-node Slurm started here (Debian's slurm-wlm, as root), merges
# the shards with `panda-run merge`, and checks the merged records equal a single-process run's.
# Usage: Tests/Integration/slurm-array.sh   (from the repository; builds panda-run and panda-convert first)
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
work="$(mktemp -d /tmp/panda-slurm.XXXXXX)"
export SLURM_CONF="$work/slurm.conf"

command -v slurmctld >/dev/null || { echo "installing slurm-wlm …"; DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends slurm-wlm munge >/dev/null; }

stop() {
    [ -f "$work/slurmd.pid" ] && kill "$(cat "$work/slurmd.pid")" 2>/dev/null || true
    [ -f "$work/slurmctld.pid" ] && kill "$(cat "$work/slurmctld.pid")" 2>/dev/null || true
    sleep 1
    rm -rf "$work" 2>/dev/null || true
}
trap stop EXIT
[ -n "${KEEP:-}" ] && trap - EXIT

cd "$repo"
swift build --product panda-run >/dev/null
swift build --product panda-convert >/dev/null
bin="$(swift build --show-bin-path)"
fixtures="$repo/Tests/Fixtures/reference"
"$bin/panda-convert" convert "$fixtures/imagebind/imagebind_tiny.pth" "$fixtures/imagebind/config.json" \
    "$fixtures/imagebind/bpe_simple_vocab_16e6.txt.gz" -o "$work/imagebind.panda" >/dev/null
"$bin/panda-convert" convert "$fixtures/llama/hf-safetensors" "$fixtures/llama/tokenizer.model" --dtype f32 -o "$work/decoder.panda" >/dev/null
"$bin/panda-convert" convert "$fixtures/pandagpt/pytorch_model.pt" -o "$work/delta.panda" >/dev/null

texts=$(python3 -c 'import json; w=["panda","bamboo","river","mountain","city","night","rain","forest"]; print(json.dumps([f"a photo of a {w[i % 8]} number {i}" for i in range(40)]))')
cat > "$work/job.yaml" <<YAML
models: {imagebind: imagebind.panda, decoder: decoder.panda, adapter: delta.panda}
inputs:
  notes: {text: $texts}
cells:
  words: {encode: text}
  topic: {classify: {embedding: words, labels: [animal, place, weather]}}
  answer: {generate: {embedding: words, prompt: "Is it about {{cells.topic.label}}?", max_tokens: 6}}
  save: {write: {jsonl: results.jsonl, csv: results.csv}}
YAML

echo "single process …"
"$bin/panda-run" "$work/job.yaml" -o "$work/single" --quiet --threads 1

echo "starting a single-node Slurm …"
mkdir -p "$work/state" "$work/spool" /run/munge
chown munge:munge /run/munge 2>/dev/null || true
pgrep -x munged >/dev/null || munged --force 2>/dev/null || sudo -u munge munged
node="$(hostname -s)"
cat > "$SLURM_CONF" <<CONF
ClusterName=panda
SlurmctldHost=$node
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
NodeName=$node CPUs=$(nproc) State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
slurmctld -f "$SLURM_CONF"
slurmd -f "$SLURM_CONF"
for _ in $(seq 30); do sinfo -h -o %t 2>/dev/null | grep -q idle && break; sleep 1; done

cat > "$work/array.sh" <<SCRIPT
#!/bin/bash
exec "$bin/panda-run" "$work/job.yaml" -o "$work/sharded" --quiet --threads 1
SCRIPT
chmod +x "$work/array.sh"
echo "4-task job array …"
sbatch --wait --array=0-3 --cpus-per-task=1 --output="$work/task-%a.log" "$work/array.sh" >/dev/null
ls "$work/sharded/.panda/" | grep -c 'records.shard-.*-of-4.jsonl' | grep -qx 4 || { cat "$work"/task-*.log; echo "FAIL: expected 4 shard logs"; exit 1; }
"$bin/panda-run" merge "$work/job.yaml" -o "$work/sharded" >/dev/null

python3 - "$work/single/results.jsonl" "$work/sharded/results.jsonl" <<'PY'
import json, sys
def same(a, b):
    """Equal, except timings, and floats within 1e-4 relative: items batched differently (as shards batch them) get
    embeddings equal only to float rounding."""
    if isinstance(a, dict) and isinstance(b, dict):
        keys = (set(a) | set(b)) - {"seconds"}
        return all(k in a and k in b and same(a[k], b[k]) for k in keys)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) or isinstance(b, float):
        return abs(a - b) <= 1e-4 * max(1.0, abs(a), abs(b))
    return a == b
single = [json.loads(line) for line in open(sys.argv[1])]
merged = [json.loads(line) for line in open(sys.argv[2])]
assert len(single) == 40 and len(merged) == 40 and len({r["id"] for r in merged}) == 40, (len(single), len(merged))
different = [(a["id"], b["id"]) for a, b in zip(single, merged) if not same(a, b)]
assert not different, different
print("merged output of the 4-task Slurm array equals the single-process output (40 records)")
PY
