"""Synthetic, seeded data for the tiny demo model: pictures of one big filled shape, two-second tones, their
captions and PandaGPT-style question/answer pairs.

Images: 224 x 224 RGB PNGs, one filled circle, square or triangle in red, green, blue or yellow on a plain light
background, with jitter of position, size, hue and background tint (12 classes); squares stand upright and triangles point up,
so that a three-block vision transformer learns the shapes in a few minutes.
Sounds: 2-second 16 kHz mono 16-bit WAVs, a low (220 Hz) or high (880 Hz) sine tone, steady or beeping (on/off at
4 Hz), with jitter of pitch (+-2 %), loudness, beep phase and a little noise (4 classes).

Everything is a function of the seed: `image_item(rng)` / `audio_item(rng)` draw labels and jitter from a
numpy Generator, `render_image` / `render_audio` turn them into pixels and samples.
"""
import io
import math
import wave

import numpy as np
from PIL import Image, ImageDraw

SHAPES = ["circle", "square", "triangle"]
COLOURS = ["red", "green", "blue", "yellow"]
PITCHES = ["low", "high"]
RHYTHMS = ["steady", "beeping"]
RGB = {"red": (215, 35, 35), "green": (35, 160, 55), "blue": (35, 75, 215), "yellow": (235, 205, 30)}
HERTZ = {"low": 220.0, "high": 880.0}
SIZE = 224
RATE = 16000
SECONDS = 2.0

IMAGE_CLASSES = [(colour, shape) for shape in SHAPES for colour in COLOURS]
AUDIO_CLASSES = [(pitch, rhythm) for pitch in PITCHES for rhythm in RHYTHMS]

# Questions in PandaGPT's style; the first of each list is the one the evaluation fixtures ask.
IMAGE_QUESTIONS = ["What is in this image?", "What do you see?", "Describe this image.", "What is shown in the picture?"]
AUDIO_QUESTIONS = ["What do you hear?", "What is this sound?", "Describe this sound.", "What can you hear in this audio?"]
BOTH_QUESTIONS = ["What do you see and hear?", "Describe the image and the sound.", "What is in this image and what do you hear?"]


def image_caption(colour, shape):
    return f"a {colour} {shape}"


def audio_caption(pitch, rhythm):
    return f"a {pitch} {rhythm} tone"


def image_answer(colour, shape):
    return f"A {colour} {shape}."


def audio_answer(pitch, rhythm):
    return f"A {pitch} {rhythm} tone."


def both_answer(colour, shape, pitch, rhythm):
    return f"A {colour} {shape} and a {pitch} {rhythm} tone."


def image_item(rng, label=None):
    """Labels and jitter of one picture (label: an index into IMAGE_CLASSES, or None for a random one)."""
    index = int(rng.integers(len(IMAGE_CLASSES))) if label is None else label
    colour, shape = IMAGE_CLASSES[index]
    radius = float(rng.uniform(42, 78))  # half the shape's extent: big, filled shapes
    margin = radius + 4
    return {
        "label": index, "colour": colour, "shape": shape,
        "centre": [float(rng.uniform(margin, SIZE - margin)), float(rng.uniform(margin, SIZE - margin))],
        "radius": radius,
        "tint": [int(v) for v in rng.integers(-18, 19, size=3)],
        "background": [int(v) for v in rng.integers(228, 252) + rng.integers(-4, 5, size=3)],
    }


def render_image(item):
    image = Image.new("RGB", (SIZE, SIZE), tuple(item["background"]))
    draw = ImageDraw.Draw(image)
    fill = tuple(int(np.clip(c + t, 0, 255)) for c, t in zip(RGB[item["colour"]], item["tint"]))
    (x, y), r = item["centre"], item["radius"]
    if item["shape"] == "circle":
        draw.ellipse([x - r, y - r, x + r, y + r], fill=fill)
    else:
        corners = 4 if item["shape"] == "square" else 3
        # Corner distances chosen so that each shape stays within about r of its centre.
        reach = r * (0.85 * math.sqrt(2) if corners == 4 else 1.1)
        start = math.pi / 4 if corners == 4 else -math.pi / 2
        points = [(x + reach * math.cos(start + 2 * math.pi * k / corners), y + reach * math.sin(start + 2 * math.pi * k / corners))
                  for k in range(corners)]
        if corners == 3:  # centre the triangle's bounding box vertically on the centre
            top, bottom = min(p[1] for p in points), max(p[1] for p in points)
            shift = y - (top + bottom) / 2
            points = [(px, py + shift) for px, py in points]
        draw.polygon(points, fill=fill)
    return image


def png_bytes(image):
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def audio_item(rng, label=None):
    index = int(rng.integers(len(AUDIO_CLASSES))) if label is None else label
    pitch, rhythm = AUDIO_CLASSES[index]
    return {
        "label": index, "pitch": pitch, "rhythm": rhythm,
        "hertz": HERTZ[pitch] * float(rng.uniform(0.98, 1.02)),
        "amplitude": float(rng.uniform(0.25, 0.6)),
        "phase": float(rng.uniform(0, 2 * math.pi)),
        "beat_phase": float(rng.uniform(0, 1)),
        "noise": float(rng.uniform(0.0, 0.01)),
        "noise_seed": int(rng.integers(2**31)),
    }


def render_audio(item):
    """Float samples in [-1, 1], mono, RATE Hz, SECONDS long."""
    t = np.arange(int(RATE * SECONDS)) / RATE
    signal = np.sin(2 * math.pi * item["hertz"] * t + item["phase"])
    if item["rhythm"] == "beeping":  # 4 Hz: 125 ms on, 125 ms off, with 5 ms ramps against clicks
        cycle = (t * 4 + item["beat_phase"]) % 1.0
        ramp = 0.005 * 4
        gate = np.clip(np.minimum(cycle / ramp, (0.5 - cycle) / ramp), 0, 1)
        signal = signal * gate
    signal = item["amplitude"] * signal + item["noise"] * np.random.default_rng(item["noise_seed"]).standard_normal(t.shape)
    return np.clip(signal, -1, 1)


def wav_bytes(samples):
    pcm = np.round(samples * 32767).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(RATE)
        f.writeframes(pcm.tobytes())
    return buffer.getvalue()


def balanced_labels(rng, count, classes):
    """count labels cycling through every class, shuffled: each class equally often (up to one)."""
    labels = np.arange(count) % classes
    rng.shuffle(labels)
    return [int(v) for v in labels]


def write_items(directory, seed, count, prefix, classes, draw, render, encode, extension):
    """count files named prefix-NNNN.extension, labels balanced over `classes`; returns their items (with "file")."""
    import os

    os.makedirs(directory, exist_ok=True)
    rng = np.random.default_rng(seed)
    items = []
    for number, label in enumerate(balanced_labels(rng, count, len(classes))):
        item = draw(rng, label)
        item["file"] = f"{prefix}-{number:04d}.{extension}"
        with open(os.path.join(directory, item["file"]), "wb") as f:
            f.write(encode(render(item)))
        items.append(item)
    return items


def write_images(directory, seed, count, prefix="image"):
    """count PNGs named prefix-NNNN.png; returns their items (with "file")."""
    return write_items(directory, seed, count, prefix, IMAGE_CLASSES, image_item, render_image, png_bytes, "png")


def write_sounds(directory, seed, count, prefix="sound"):
    """count WAVs named prefix-NNNN.wav; returns their items (with "file")."""
    return write_items(directory, seed, count, prefix, AUDIO_CLASSES, audio_item, render_audio, wav_bytes, "wav")


if __name__ == "__main__":  # a quick look: python synthetic.py OUT_DIR
    import sys

    out = sys.argv[1]
    print(len(write_images(out, 0, 24)), "images,", len(write_sounds(out, 0, 8)), "sounds in", out)
