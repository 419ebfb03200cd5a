"""Compares regenerated PyTorch outputs with the committed ones when their bytes differ: PyTorch picks its kernels
by CPU, so another machine computes the same fixtures' outputs with differences in the last bits. Every tensor must
have the same name, shape and dtype, integers must be equal and floats within TOLERANCE of the committed values,
relative to the tensor's largest magnitude.
Usage: python compare_outputs.py GENERATED_DIR COMMITTED_DIR RELATIVE_PATH..."""
import os
import sys

import numpy
from safetensors.numpy import load_file

TOLERANCE = 1e-3


def compare(generated, committed):
    new, old = load_file(generated), load_file(committed)
    if new.keys() != old.keys():
        return [f"tensors differ: {sorted(new.keys() ^ old.keys())}"], 0.0
    problems, worst = [], 0.0
    for name in sorted(old):
        a, b = new[name], old[name]
        if a.shape != b.shape or a.dtype != b.dtype:
            problems.append(f"{name}: {a.dtype}{list(a.shape)} against {b.dtype}{list(b.shape)}")
        elif not numpy.issubdtype(b.dtype, numpy.floating):
            if not numpy.array_equal(a, b):
                problems.append(f"{name}: integers differ")
        else:
            a64, b64 = a.astype(numpy.float64), b.astype(numpy.float64)
            scale = max(float(numpy.abs(b64).max(initial=0)), 1e-30)
            relative = float(numpy.abs(a64 - b64).max(initial=0)) / scale
            worst = max(worst, relative)
            if not relative <= TOLERANCE:
                problems.append(f"{name}: differs by {relative:.2e} of its largest value")
    return problems, worst


def main():
    generated, committed, paths = sys.argv[1], sys.argv[2], sys.argv[3:]
    failed = False
    for path in paths:
        if not path.endswith(".safetensors") or not path.startswith("reference/"):
            print(f"{path}: not a computed output, and its bytes differ")
            failed = True
            continue
        problems, worst = compare(os.path.join(generated, path), os.path.join(committed, path))
        for problem in problems:
            print(f"{path}: {problem}")
        failed |= bool(problems)
        if not problems:
            print(f"{path}: within {worst:.1e} of the committed values")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
