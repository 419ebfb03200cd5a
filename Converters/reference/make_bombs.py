"""Valid pictures of a few hundred bytes that declare enormous sizes: Tests/Fixtures/media/bombs/.

- wide.png: 60000 x 1 RGB (within the pixel limit; its aspect ratio made preprocessing resize to 13,440,000 x 224).
- huge.jpg: photo.jpg with its frame header rewritten to declare 60000 x 60000 (3.6 billion pixels).
Python's standard library only; run after make_media.py: python make_bombs.py [MEDIA_DIR]
"""
import os
import struct
import sys
import zlib

media = sys.argv[1] if len(sys.argv) > 1 else "Tests/Fixtures/media"
out = os.path.join(media, "bombs")
os.makedirs(out, exist_ok=True)


def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


width = 60000
row = b"\x00" + bytes(range(256)) * (3 * width // 256) + bytes(3 * width % 256)  # filter byte, then a ramp
with open(os.path.join(out, "wide.png"), "wb") as f:
    f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(row, 9)) + chunk(b"IEND", b""))

with open(os.path.join(media, "photo.jpg"), "rb") as f:
    jpeg = bytearray(f.read())
frame = jpeg.index(b"\xff\xc0")  # baseline frame header: FF C0, length, precision, height, width
jpeg[frame + 5:frame + 9] = struct.pack(">HH", 60000, 60000)
with open(os.path.join(out, "huge.jpg"), "wb") as f:
    f.write(jpeg)
print("wrote", len(os.listdir(out)), "files to", out)
