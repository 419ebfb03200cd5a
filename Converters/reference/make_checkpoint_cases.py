"""Small PyTorch and safetensors checkpoints that exercise the converter's readers.

Writes Tests/Fixtures/checkpoints/: real torch.save files (protocol 2 and 4, shared storages, strided and offset
views, Parameters, bf16/f16/f32/i64, nested dicts, a non-tensor entry), the expected values as JSON, a legacy
(non-zip) file, a truncated one, and pickles that name forbidden globals (os.system, builtins.eval,
subprocess.Popen) inside an otherwise valid torch zip. Deterministic: fixed seed, fixed zip timestamps.
Run with the reference environment: python make_checkpoint_cases.py OUT_DIR
"""
import json
import os
import pickle
import sys
import zipfile
from collections import OrderedDict

import torch
from safetensors.torch import save_file

from torchzip import normalize_zip

out = sys.argv[1] if len(sys.argv) > 1 else "Tests/Fixtures/checkpoints"
os.makedirs(out, exist_ok=True)
torch.manual_seed(0)


base = torch.randn(4, 6)
big = torch.randn(10, 3)
tied = torch.randn(3, 2)
state = OrderedDict()
state["a.f32"] = torch.randn(3, 4)
state["b.f16"] = torch.randn(5).half()
state["c.bf16"] = torch.randn(2, 3).bfloat16()
state["param"] = torch.nn.Parameter(torch.randn(4))
state["tied.x"] = tied
state["tied.y"] = tied
state["base"] = base
state["base.transposed"] = base.t()
state["sliced"] = big[2:5]
state["scalar"] = torch.tensor(3.5)
state["ids"] = torch.arange(6, dtype=torch.int64).reshape(2, 3)
state["epoch"] = 7
state["inner"] = {"w": torch.randn(2, 2)}

expected = {}
for key, value in state.items():
    if isinstance(value, torch.Tensor):
        expected[key] = {"dtype": str(value.dtype).replace("torch.", ""), "shape": list(value.shape),
                         "values": value.detach().float().flatten().tolist()}
expected["inner.w"] = {"dtype": "float32", "shape": [2, 2], "values": state["inner"]["w"].flatten().tolist()}
with open(os.path.join(out, "state.expected.json"), "w") as f:
    json.dump(expected, f, indent=1, sort_keys=True)

for protocol in (2, 4):
    path = os.path.join(out, f"state-protocol{protocol}.pt")
    torch.save(state, path, pickle_protocol=protocol)
    normalize_zip(path)

tensors_only = {k: v.detach().contiguous() for k, v in state.items() if isinstance(v, torch.Tensor) and k != "tied.y"}
save_file(tensors_only, os.path.join(out, "state.safetensors"))

# The head of a legacy (pre-1.6) torch file, as torch.serialization's legacy _save writes it. (A whole legacy file
# names its storages by memory address, so it differs on every run; the head is what identifies the format.)
with open(os.path.join(out, "legacy.pt"), "wb") as f:
    for value in (torch.serialization.MAGIC_NUMBER, torch.serialization.PROTOCOL_VERSION,
                  {"protocol_version": 1001, "little_endian": True, "type_sizes": {"short": 2, "int": 4, "long": 4}}):
        pickle.dump(value, f, protocol=2)

with open(os.path.join(out, "state-protocol2.pt"), "rb") as f:
    whole = f.read()
with open(os.path.join(out, "truncated.pt"), "wb") as f:
    f.write(whole[: len(whole) // 2])


class Evil:
    def __init__(self, function, argument):
        self.function, self.argument = function, argument

    def __reduce__(self):
        return (self.function, (self.argument,))


import builtins  # noqa: E402
import subprocess  # noqa: E402

for name, function, argument in [
    ("evil-os-system.pt", os.system, "touch /tmp/panda-pwned"),
    ("evil-eval.pt", builtins.eval, "__import__('os').system('touch /tmp/panda-pwned')"),
    ("evil-subprocess.pt", subprocess.Popen, ["touch", "/tmp/panda-pwned"]),
]:
    path = os.path.join(out, name)
    torch.save({"w": torch.ones(2)}, path)
    payload = pickle.dumps(OrderedDict([("w", Evil(function, argument))]), protocol=2)
    with zipfile.ZipFile(path) as source:
        entries = [(info.filename, source.read(info.filename)) for info in source.infolist()]
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as target:
        for entry, data in entries:
            info = zipfile.ZipInfo(entry, date_time=(2024, 1, 1, 0, 0, 0))
            target.writestr(info, payload if entry.endswith("data.pkl") else data)
print("wrote", sorted(os.listdir(out)))
