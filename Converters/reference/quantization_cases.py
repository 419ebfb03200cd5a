"""GGML's q8_0 and q4_0 blocks as llama.cpp's own Python package (gguf-py, a port of ggml-quants.c's reference
quantizers) writes and reads them, for the block codecs of the .panda format."""
import os

import gguf
import numpy
import torch

from common import save_tensors


def generate(out):
    rows, columns = 16, 128
    rng = numpy.random.default_rng(18)
    x = rng.standard_normal((rows, columns)).astype(numpy.float32)
    x *= (10.0 ** rng.uniform(-3, 3, (rows, 1))).astype(numpy.float32)  # scales from 1e-3 to 1e3
    x[0] = 0  # all-zero blocks: scale 0
    x[1, :32] = numpy.arange(-15.5, 16.5, dtype=numpy.float32)  # ties: q8_0's d = 16.5 / 127 …
    x[1, 32:64] = numpy.linspace(-127, 127, 32, dtype=numpy.float32).round() + 0.5  # … and d ≈ 1, x · id near k + ½
    x[1, 64:96] = -8 * numpy.arange(32, dtype=numpy.float32) / 31  # q4_0's extreme negative: d = 1, id = 1
    x[1, 96:] = 8 * numpy.arange(32, dtype=numpy.float32) / 31  # … and positive: q = 16 clipped to 15
    x[2] *= numpy.float32(1e-7)  # scales below f16's normal range
    x[3, 5] = -x[3, 5] * 1000  # one element far larger than its block (sign kept by q4_0's d)
    tensors = {"input": torch.from_numpy(x)}
    for name, qtype in (("q8_0", gguf.GGMLQuantizationType.Q8_0), ("q4_0", gguf.GGMLQuantizationType.Q4_0)):
        blocks = gguf.quants.quantize(x, qtype)
        tensors[name] = torch.from_numpy(numpy.ascontiguousarray(blocks).reshape(-1))
        tensors[name + ".dequantized"] = torch.from_numpy(gguf.quants.dequantize(blocks, qtype).astype(numpy.float32))
    save_tensors(os.path.join(out, "quantization", "blocks.safetensors"), tensors)
