"""torch.save files made byte-identical from run to run."""
import io
import zipfile

import torch


def normalize_zip(path):
    """Rewrite a torch zip with fixed timestamps and a fixed serialization id, keeping torch's layout
    (stored entries, 64-byte aligned data) so reruns are byte-identical and still load with torch.load."""
    with zipfile.ZipFile(path) as source:
        entries = [(info.filename, source.read(info.filename)) for info in source.infolist()]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as target:
        for name, data in entries:
            if name.endswith(".data/serialization_id"):
                data = b"0" * len(data)
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_STORED
            # Pad the local header's extra field so the data starts on a 64-byte boundary, as torch does.
            data_start = buffer.tell() + 30 + len(name.encode()) + 4
            padding = -data_start % 64
            info.extra = b"FB" + padding.to_bytes(2, "little") + b"Z" * padding
            target.writestr(info, data)
    with open(path, "wb") as f:
        f.write(buffer.getvalue())
    torch.load(path, weights_only=False)  # still a valid checkpoint (weights_only refuses protocol 4's FRAME)
