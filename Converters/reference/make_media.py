"""Small media files for the decoder and preprocessing tests: Tests/Fixtures/media/.

Pictures are drawn with numpy and saved with Pillow; sound is synthesized with numpy and written with
soundfile; video, AAC, MP3 and Vorbis go through the ffmpeg command line with -bitexact and one thread.
Everything derives from a fixed seed, so a rerun with the pinned versions (requirements.txt, and Debian's
ffmpeg) writes the same bytes. Broken files (truncated, empty, a video without a video stream) are made here too.
Run with the reference environment: python make_media.py OUT_DIR
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
import soundfile
from PIL import Image

out = sys.argv[1] if len(sys.argv) > 1 else "Tests/Fixtures/media"
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(20261123)


def path(name):
    return os.path.join(out, name)


def picture(width, height):
    """A colourful scene with edges, gradients and texture, so resampling and colour conversion errors show."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    red = 127.5 + 127.5 * np.sin(x / width * 5.0 * np.pi)
    green = 255.0 * y / (height - 1)
    blue = 255.0 * ((x // 16 + y // 16) % 2)
    image = np.stack([red, green, blue], axis=-1)
    disc = (x - width * 0.62) ** 2 + (y - height * 0.45) ** 2 < (height * 0.22) ** 2
    image[disc] = [250, 220, 30]
    image += rng.normal(0.0, 6.0, image.shape)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


# Landscape photo, 4:2:0 JPEG as cameras write it.
photo = picture(320, 240)
Image.fromarray(photo).save(path("photo.jpg"), quality=90, subsampling=2)

# The same scene stored rotated with EXIF Orientation 6 ("rotate 90° clockwise to display"):
# a viewer that honours the tag shows exactly photo.jpg's scene.
rotated = Image.fromarray(np.ascontiguousarray(np.rot90(photo, k=1)))
exif = Image.Exif()
exif[0x0112] = 6
rotated.save(path("photo-exif-rotated.jpg"), quality=90, subsampling=2, exif=exif.tobytes())

# Portrait greyscale JPEG (one component), and an RGBA PNG decoded through FFmpeg.
Image.fromarray(picture(200, 260)[:, :, 1]).save(path("gray-portrait.jpg"), quality=85)
alpha = np.linspace(0, 255, 160 * 120, dtype=np.float64).reshape(120, 160)
rgba = np.dstack([picture(160, 120), np.rint(alpha).astype(np.uint8)])
Image.fromarray(rgba, mode="RGBA").save(path("overlay.png"), optimize=False, compress_level=9)

# Thermal: 8-bit single-channel PNG. Depth: 16-bit PNG in millimetres and the same scene as float32 metres (.npy).
thermal = picture(256, 192)[:, :, 0]
Image.fromarray(thermal, mode="L").save(path("thermal.png"), compress_level=9)
yy, xx = np.mgrid[0:120, 0:160]
depth_mm = (800 + 12 * xx + 8 * yy + 300 * np.sin(xx / 10.0)).astype(np.uint16)
Image.fromarray(depth_mm).save(path("depth.png"), compress_level=9)
np.save(path("depth.npy"), depth_mm.astype(np.float32) / 1000.0)

# IMU: 6 x 2000 (accelerometer xyz then gyroscope xyz), and a shorter recording.
t = np.arange(2000) / 200.0
imu = np.stack([np.sin(2 * np.pi * f * t + p) * a for f, p, a in
                [(1.0, 0.0, 9.8), (1.5, 0.3, 2.0), (0.5, 1.0, 1.0), (3.0, 0.2, 0.5), (2.0, 0.7, 0.3), (0.7, 1.3, 0.2)]])
imu = (imu + rng.normal(0, 0.05, imu.shape)).astype(np.float32)
np.save(path("imu.npy"), imu)
np.save(path("imu-short.npy"), imu[:, :1500].copy())
np.savetxt(path("imu.csv"), imu.T, fmt="%.6f", delimiter=",", header="ax,ay,az,gx,gy,gz", comments="")

# Audio: 3.5 s stereo at 22.05 kHz (so the 16 kHz resampler and the channel rules are exercised) and a
# 2.5 s mono 16 kHz FLAC.
def tone(seconds, rate, channels):
    time = np.arange(int(seconds * rate)) / rate
    chirp = np.sin(2 * np.pi * (200 * time + 400 * time ** 2))
    beat = 0.5 * np.sin(2 * np.pi * 660 * time) * (np.sin(2 * np.pi * 1.5 * time) > 0)
    mix = [0.6 * chirp + 0.2 * beat, 0.3 * chirp + 0.5 * beat][:channels]
    signal = np.stack(mix, axis=1) + rng.normal(0, 0.02, (len(time), channels))
    return np.clip(signal, -1, 1)


soundfile.write(path("stereo-22k.wav"), tone(3.5, 22050, 2), 22050, subtype="PCM_16")
soundfile.write(path("speech-16k.flac"), tone(2.5, 16000, 1), 16000, subtype="PCM_16")


# Video: 4 s of a moving scene, 160x120 at 10 fps, MPEG-4 part 2 with an AAC track, from raw frames.
def ffmpeg(*arguments):
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *arguments], check=True)


with tempfile.TemporaryDirectory() as scratch:
    base = picture(200, 120)
    frames = np.stack([np.roll(base, shift=4 * i, axis=1)[:, :160] for i in range(40)])
    frames[:, 10:30, 10:30] = (np.arange(40)[:, None, None, None] * 6).astype(np.uint8)
    raw = os.path.join(scratch, "frames.rgb")
    frames.tofile(raw)
    wav = os.path.join(scratch, "track.wav")
    soundfile.write(wav, tone(4.0, 16000, 1), 16000, subtype="PCM_16")
    common = ["-threads", "1", "-fflags", "+bitexact", "-flags:v", "+bitexact", "-flags:a", "+bitexact",
              "-map_metadata", "-1"]
    ffmpeg("-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "160x120", "-r", "10", "-i", raw, "-i", wav,
           *common, "-c:v", "mpeg4", "-q:v", "4", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "32k",
           path("clip.mp4"))
    ffmpeg("-i", wav, *common, "-c:a", "aac", "-b:a", "32k", path("audio-only.mp4"))
    # The FLAC's sound as MP3 (LAME) and Ogg Vorbis, the compressed formats libsndfile reads.
    ffmpeg("-i", path("speech-16k.flac"), *common, "-c:a", "libmp3lame", "-b:a", "32k", path("speech.mp3"))
    ffmpeg("-i", path("speech-16k.flac"), *common, "-c:a", "libvorbis", "-q:a", "2", path("speech.ogg"))
    # Cut short: an M4A with its sample tables first (faststart), right after its 32nd of 64 packets, so what is
    # left decodes cleanly; and the MP3 (whose LAME header states the length) in the middle of a frame.
    faststart = os.path.join(scratch, "faststart.m4a")
    ffmpeg("-i", path("audio-only.mp4"), *common, "-c", "copy", "-movflags", "+faststart", faststart)
    packets = subprocess.run(["ffprobe", "-loglevel", "error", "-show_entries", "packet=pos,size", "-of", "csv=p=0", faststart],
                             check=True, capture_output=True, text=True).stdout.split()
    size, position = (int(field) for field in packets[31].split(",")[:2])  # ffprobe prints size before pos
    for source, name, length in [(faststart, "truncated.m4a", position + size), (path("speech.mp3"), "truncated.mp3", None)]:
        with open(source, "rb") as f:
            whole = f.read()
        with open(path(name), "wb") as f:
            f.write(whole[: length or len(whole) // 2])

# Broken inputs.
with open(path("photo.jpg"), "rb") as f:
    jpeg = f.read()
with open(path("truncated.jpg"), "wb") as f:
    f.write(jpeg[: len(jpeg) // 2])
open(path("empty.wav"), "wb").close()
soundfile.write(path("no-samples.wav"), np.zeros((0, 1)), 16000, subtype="PCM_16")
with open(path("not-an-image.jpg"), "wb") as f:
    f.write(b"This is a text file with a .jpg name.\n")
print("wrote", len(os.listdir(out)), "files to", out)
