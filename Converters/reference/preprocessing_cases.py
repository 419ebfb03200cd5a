"""ImageBind's (and PandaGPT's) own preprocessing applied to the committed media files."""
import os
from fractions import Fraction

import av
import numpy
import soundfile
import torch
import torchaudio
from PIL import Image
from torchvision import transforms

from common import import_imagebind, save_json, save_tensors


def soundfile_load(path, *args, **kwargs):
    """torchaudio.load without torchcodec: the same [channels, samples] float32 tensor in [-1, 1] and the rate."""
    samples, rate = soundfile.read(path, dtype="float32", always_2d=True)
    return torch.from_numpy(samples.T.copy()), rate


def generate(out, media):
    torch.set_num_threads(1)
    _, data = import_imagebind()
    directory = os.path.join(out, "preprocessing")
    tensors, facts = {}, {}

    # Images: PIL decoding, Resize(224, bicubic) on the PIL image, then crop and CLIP normalization.
    images = [os.path.join(media, "photo.jpg"), os.path.join(media, "gray-portrait.jpg")]
    # f16 errors are 1/1000 of the 1/255 tolerance; one item of each is enough to keep the files small.
    vision = data.load_and_transform_vision_data(images, "cpu")
    tensors["vision.photo"] = vision[0].half()
    tensors["vision.gray-portrait.center"] = vision[1, :, 80:144, 80:144].half()
    with Image.open(images[0]) as image:
        rgb = image.convert("RGB")
        tensors["photo.decoded"] = torch.from_numpy(numpy.asarray(rgb).copy())
        resized = transforms.Resize(224, interpolation=transforms.InterpolationMode.BICUBIC)(rgb)
        tensors["photo.resized"] = torch.from_numpy(numpy.asarray(resized).copy())
    # Thermal, as PandaGPT's data.py load_and_transform_thermal_data: greyscale, resize, crop, no normalization.
    thermal = transforms.Compose([transforms.Resize(224, interpolation=transforms.InterpolationMode.BICUBIC),
                                  transforms.CenterCrop(224), transforms.ToTensor()])
    with Image.open(os.path.join(media, "thermal.png")) as image:
        tensors["thermal"] = thermal(image.convert("L"))

    # Audio through ImageBind's loader with a soundfile-based torchaudio.load.
    torchaudio.load = soundfile_load
    sounds = [os.path.join(media, "stereo-22k.wav"), os.path.join(media, "speech-16k.flac")]
    audio = data.load_and_transform_audio_data(sounds, "cpu")
    tensors["audio.stereo-22k"], tensors["audio.speech-16k.clip1"] = audio[0], audio[1, 1]
    waveform, rate = soundfile_load(sounds[0])
    resampled = torchaudio.functional.resample(waveform, orig_freq=rate, new_freq=16000)
    tensors["stereo-22k.resampled"] = resampled[:, :16000]
    facts["stereo-22k.resampled_length"] = resampled.shape[1]
    clip = resampled[:, 0:32000]
    clip = clip - clip.mean()
    tensors["stereo-22k.fbank0"] = torchaudio.compliance.kaldi.fbank(
        clip, htk_compat=True, sample_frequency=16000, use_energy=False, window_type="hanning", num_mel_bins=128,
        dither=0.0, frame_length=25, frame_shift=10).transpose(0, 1)

    # Video: ImageBind's loader with PyAV in place of decord (not installed), and the frames it chose.
    from pytorchvideo.data.encoded_video import EncodedVideo

    original = EncodedVideo.from_path.__func__

    def with_pyav(cls, path, decode_audio=True, decoder="pyav", **kwargs):
        return original(cls, path, decode_audio=decode_audio, decoder="pyav")

    EncodedVideo.from_path = classmethod(with_pyav)
    video_path = os.path.join(media, "clip.mp4")
    video = data.load_and_transform_video_data([video_path], "cpu")[0]
    # Clip 0, first frame: the centre crop whole, and of the side crops the 32-pixel strip at their outer edge.
    tensors["video.clip0.frame0.center"] = video[1, :, 0].half()
    tensors["video.clip0.frame0.left"] = video[0, :, 0, :, :32].half()
    tensors["video.clip0.frame0.right"] = video[2, :, 0, :, -32:].half()
    facts["video.shape"] = list(video.shape)
    facts["video.clips"] = video_clips(data, video_path)
    save_tensors(os.path.join(directory, "expected.safetensors"), tensors)
    save_json(os.path.join(directory, "expected.json"), facts)
    return media_embeddings(out, media, data, vision, video, audio, tensors["thermal"])


MEDIA_TEXTS = ["a photo of a panda", "a dog barking", "rain on a window"]


def media_embeddings(out, media, data, vision, video, audio, thermal):
    """The tiny ImageBind's forward on the committed media, preprocessed by data.py as above: what `panda-run embed`
    must print for those files. Depth and IMU have no loader in ImageBind; their .npy fixtures are model inputs."""
    import numpy
    import imagebind_cases

    ModalityType = imagebind_cases.import_imagebind()[0].ModalityType
    model = imagebind_cases.build_model()
    imu = torch.from_numpy(numpy.load(os.path.join(media, "imu.npy")).astype("float32"))
    batches = {
        "vision": {ModalityType.VISION: vision}, "video": {ModalityType.VISION: video[None]},
        "audio": {ModalityType.AUDIO: audio}, "thermal": {ModalityType.THERMAL: thermal[None]},
        "imu": {ModalityType.IMU: imu[None]}, "text": {ModalityType.TEXT: data.load_and_transform_text(MEDIA_TEXTS, "cpu")},
    }
    with torch.no_grad():
        embeddings = {name: next(iter(model(batch).values())) for name, batch in batches.items()}
    save_tensors(os.path.join(out, "imagebind", "media_embeddings.safetensors"), embeddings)
    save_json(os.path.join(out, "imagebind", "media_embeddings.json"), {
        "vision": ["photo.jpg", "gray-portrait.jpg"], "video": ["clip.mp4"], "audio": ["stereo-22k.wav", "speech-16k.flac"],
        "thermal": ["thermal.png"], "imu": ["imu.npy"], "text": MEDIA_TEXTS})
    return embeddings


def video_clips(data, path):
    """The frames ImageBind's loader takes: the clips of its ConstantClipsPerVideoSampler(2 s, 5 clips) — which
    pytorchvideo 0.1.5 spaces (duration − 2) / clips_per_video apart, not / (clips − 1) — the frames whose time
    lies in [start, end), and UniformTemporalSubsample(2) of those (the first and the last)."""
    from pytorchvideo.data.clip_sampling import ConstantClipsPerVideoSampler

    with av.open(path) as container:
        stream = container.streams.video[0]
        times = [float(frame.pts * stream.time_base) for frame in container.decode(stream)]
        duration = Fraction(stream.duration * stream.time_base)
    sampler = ConstantClipsPerVideoSampler(clip_duration=2, clips_per_video=5)
    clips = []
    for start, end in data.get_clip_timepoints(sampler, duration):
        inside = [t for t in times if float(start) <= t < float(end)]
        picks = torch.linspace(0, len(inside) - 1, 2).clamp(0, len(inside) - 1).long().tolist()
        clips.append({"start": float(start), "end": float(end), "frame_times": [inside[i] for i in picks]})
    return clips
