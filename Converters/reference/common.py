"""Helpers shared by the fixture generators: seeded randomness, rounding, deterministic writers."""
import json
import os
import sys

import numpy as np
import torch
from safetensors.torch import save_file


def import_imagebind():
    """ImageBind's data.py imports pytorchvideo, which imports a torchvision module that no longer exists."""
    import torchvision.transforms.functional as functional

    sys.modules["torchvision.transforms.functional_tensor"] = functional
    import imagebind.data
    from imagebind.models import imagebind_model

    return imagebind_model, imagebind.data


def exact_in_bf16_and_f16(tensor):
    """Rounds to bf16, then zeroes magnitudes below f16's normal range, so the value is exact in f16 and bf16:
    a checkpoint stored in either dtype then describes the same f32 model."""
    rounded = tensor.to(torch.bfloat16).to(torch.float32)
    rounded[rounded.abs() < 2.0**-14] = 0
    assert torch.equal(rounded.half().float(), rounded) and torch.equal(rounded.bfloat16().float(), rounded)
    return rounded


def exact_in_f16(tensor):
    return tensor.half().float()


def save_tensors(path, tensors):
    """A safetensors file of contiguous tensors (f32 unless given otherwise), written deterministically."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    save_file({name: value.detach().contiguous() for name, value in tensors.items()}, path)


def save_json(path, value):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f, ensure_ascii=False, indent=1, sort_keys=True)
        f.write("\n")


def seeded(seed):
    torch.manual_seed(seed)
    return np.random.default_rng(seed)
