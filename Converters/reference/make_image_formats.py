"""The same small picture in the formats the FFmpeg image path reads: Tests/Fixtures/media/formats/.

Cropped from photo.jpg as Pillow decodes it (so the generator needs nothing but the committed fixture), saved by
Pillow as BMP, uncompressed and LZW TIFF, lossless and lossy WebP, GIF (adaptive palette, no dithering), and a
CMYK JPEG (Pillow writes it Adobe-inverted, as Photoshop does).
Run with the reference environment after make_media.py: python make_image_formats.py [MEDIA_DIR]
"""
import os
import sys

from PIL import Image

media = sys.argv[1] if len(sys.argv) > 1 else "Tests/Fixtures/media"
out = os.path.join(media, "formats")
os.makedirs(out, exist_ok=True)
picture = Image.open(os.path.join(media, "photo.jpg")).convert("RGB").crop((100, 40, 164, 88))  # 64x48
picture.save(os.path.join(out, "scene.bmp"))
picture.save(os.path.join(out, "scene.tiff"))
picture.save(os.path.join(out, "scene-lzw.tiff"), compression="tiff_lzw")
picture.save(os.path.join(out, "scene-lossless.webp"), lossless=True)
picture.quantize(colors=64, dither=Image.Dither.NONE).save(os.path.join(out, "scene.gif"))
# Lossy WebP (VP8, YUV 4:2:0), at an even and an odd size so both edge cases of the chroma upsampling are read.
picture.save(os.path.join(out, "scene.webp"), quality=80)
picture.crop((0, 0, 63, 47)).save(os.path.join(out, "scene-odd.webp"), quality=80)
picture.convert("CMYK").save(os.path.join(out, "scene-cmyk.jpg"), quality=90)
print("wrote", len(os.listdir(out)), "files to", out)
