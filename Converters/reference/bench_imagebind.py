"""The PyTorch peer of `panda-bench imagebind`: ImageBind huge with random weights, eager CPU.

  python bench_imagebind.py make DIR            writes DIR/imagebind_huge.pth (random, seeded, f32 state_dict)
                                                and DIR/inputs/{vision,audio}.npy (8 items each, seeded)
  python bench_imagebind.py run DIR THREADS REPEATS [f32|bf16]
                                                loads the checkpoint, times vision and audio at batch 1 and 8,
                                                prints one JSON object; bf16 casts the model and the inputs to
                                                torch.bfloat16 first (its CPU matmuls then run through oneDNN)

Images/s counts images; audio clips/s counts 2-second clips (an audio item is 3 clips, as data.py makes them)."""
import json
import os
import resource
import shutil
import sys
import time

import numpy
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import import_imagebind  # noqa: E402


def make(directory):
    imagebind_model, data = import_imagebind()
    torch.manual_seed(0)
    model = imagebind_model.imagebind_huge(pretrained=False)
    os.makedirs(os.path.join(directory, "inputs"), exist_ok=True)
    torch.save(model.state_dict(), os.path.join(directory, "imagebind_huge.pth"))
    shutil.copyfile(os.path.join(os.path.dirname(data.__file__), "bpe", "bpe_simple_vocab_16e6.txt.gz"),
                    os.path.join(directory, "bpe_simple_vocab_16e6.txt.gz"))
    generator = torch.Generator().manual_seed(1)
    numpy.save(os.path.join(directory, "inputs", "vision.npy"), torch.randn(8, 3, 224, 224, generator=generator).numpy())
    numpy.save(os.path.join(directory, "inputs", "audio.npy"), torch.randn(8, 3, 1, 128, 204, generator=generator).numpy())


def run(directory, threads, repeats, dtype):
    torch.set_num_threads(threads)
    imagebind_model, _ = import_imagebind()
    ModalityType = imagebind_model.ModalityType
    start = time.perf_counter()
    model = imagebind_model.imagebind_huge(pretrained=False)
    model.load_state_dict(torch.load(os.path.join(directory, "imagebind_huge.pth"), map_location="cpu", mmap=True))
    model.eval()
    if dtype == "bf16":
        model = model.to(torch.bfloat16)
    load_seconds = time.perf_counter() - start
    inputs = {name: torch.from_numpy(numpy.load(os.path.join(directory, "inputs", f"{name}.npy"))) for name in ["vision", "audio"]}
    results = {"load_seconds": load_seconds, "threads": threads, "torch": torch.__version__}
    with torch.no_grad():
        for name, modality, per_item in [("vision", ModalityType.VISION, 1), ("audio", ModalityType.AUDIO, 3)]:
            for batch in (1, 8):
                x = inputs[name][:batch].to(torch.bfloat16 if dtype == "bf16" else torch.float32)
                model({modality: x})  # warm-up
                best = float("inf")
                for _ in range(repeats):
                    start = time.perf_counter()
                    output = model({modality: x})[modality]
                    best = min(best, time.perf_counter() - start)
                results[f"{name}_batch{batch}_per_second"] = batch * per_item / best
                prefix = "torch" if dtype == "f32" else f"torch_{dtype}"
                numpy.save(os.path.join(directory, f"{prefix}_{name}_batch{batch}.npy"), output.float().numpy())
    results["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps(results))


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2])
    else:
        run(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5] if len(sys.argv) > 5 else "f32")
