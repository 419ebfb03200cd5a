"""Tiny .npy files, one per dtype and header version, for the NPY reader's tests: Tests/Fixtures/media/npy/.

Each holds a 2x3 array whose values are exact in its dtype, written by numpy itself (np.save, or
np.lib.format.write_array for header versions 2 and 3), so the reader is checked against numpy's own bytes.
Also a Fortran-ordered array and two arrays the reader must refuse (big-endian, structured).
Run with the reference environment: python make_npy_cases.py OUT_DIR
"""
import os
import sys

import numpy as np

out = sys.argv[1] if len(sys.argv) > 1 else "Tests/Fixtures/media/npy"
os.makedirs(out, exist_ok=True)

cases = {
    "f4": np.array([[-1.5, 0.0, 2.25], [3.0, 0.125, 65504.0]], dtype="<f4"),
    "f8": np.array([[-1.5, 0.0, 2.25], [3.0, 0.125, 1e30]], dtype="<f8"),
    "f2": np.array([[-1.5, 0.0, 2.25], [3.0, 0.125, 65504.0]], dtype="<f2"),
    "i2": np.array([[-32768, -1, 0], [1, 2, 32767]], dtype="<i2"),
    "i4": np.array([[-2147483648, -1, 0], [1, 2, 16777216]], dtype="<i4"),
    "i8": np.array([[-(2**40), -1, 0], [1, 2, 2**40]], dtype="<i8"),
    "u1": np.array([[0, 1, 2], [127, 128, 255]], dtype="|u1"),
    "u2": np.array([[0, 1, 2], [32768, 40000, 65535]], dtype="<u2"),
    "b1": np.array([[True, False, True], [False, False, True]], dtype="|b1"),
}
for name, array in cases.items():
    np.save(os.path.join(out, f"{name}.npy"), array)

# Fortran order: the same values as f4, stored column by column.
np.save(os.path.join(out, "f4-fortran.npy"), np.asfortranarray(cases["f4"]))
# Header versions 2 (4-byte header length) and 3 (UTF-8 header).
for version in (2, 3):
    with open(os.path.join(out, f"f4-v{version}.npy"), "wb") as f:
        np.lib.format.write_array(f, cases["f4"], version=(version, 0))
# Zero-dimensional and empty arrays.
np.save(os.path.join(out, "scalar.npy"), np.array(7.5, dtype="<f4"))
np.save(os.path.join(out, "empty.npy"), np.zeros((0, 6), dtype="<f4"))
# To be refused with a clear message.
np.save(os.path.join(out, "big-endian.npy"), cases["f4"].astype(">f4"))
np.save(os.path.join(out, "structured.npy"), np.zeros(2, dtype=[("x", "<f4"), ("y", "<i2")]))
print("wrote", len(os.listdir(out)), "files to", out)
