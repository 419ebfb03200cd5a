"""A tiny ImageBind built with ImageBind's own modules, saved like imagebind_huge.pth, with inputs and outputs."""
import math
import os
from collections import OrderedDict

import torch

from common import exact_in_f16, import_imagebind, save_json, save_tensors, seeded
from torchzip import normalize_zip

# ImageBindModel arguments: every code path of imagebind_huge() (Conv3d vision stem, add_bias_kv on audio, depth,
# thermal and IMU, the text causal mask, the postprocessor scales) at widths that keep the file small. Head
# counts differ from 1 so head splitting is exercised; out_embed_dim stays 1024, what PandaGPT projects from.
CONFIG = dict(
    video_frames=2, kernel_size=[2, 14, 14], audio_kernel_size=16, audio_stride=10, out_embed_dim=1024,
    vision_embed_dim=32, vision_num_blocks=2, vision_num_heads=4,
    audio_embed_dim=24, audio_num_blocks=2, audio_num_heads=3, audio_num_mel_bins=128, audio_target_len=204,
    audio_drop_path=0.0,
    text_embed_dim=8, text_num_blocks=2, text_num_heads=2,
    depth_embed_dim=16, depth_kernel_size=16, depth_num_blocks=2, depth_num_heads=2, depth_drop_path=0.0,
    thermal_embed_dim=24, thermal_kernel_size=16, thermal_num_blocks=1, thermal_num_heads=3, thermal_drop_path=0.0,
    imu_embed_dim=16, imu_kernel_size=8, imu_num_blocks=2, imu_num_heads=2, imu_drop_path=0.0,
)

TEXTS = ["a photo of a panda eating bamboo", "A dog barks at the mailman!", "thermal image of a person at night"]


def build_model():
    imagebind_model, _ = import_imagebind()
    arguments = dict(CONFIG, kernel_size=tuple(CONFIG["kernel_size"]))
    model = imagebind_model.ImageBindModel(**arguments).eval()
    seeded(1)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.endswith("log_logit_scale"):
                parameter.fill_(math.log(1 / 0.07) + 0.3)  # a trained-looking text scale
            elif "norm" in name and name.endswith("weight") or name.endswith(".0.weight") and parameter.dim() == 1:
                parameter.copy_(1 + 0.5 * (torch.rand_like(parameter) * 2 - 1))
            else:
                # Large enough that small input differences change the output visibly.
                parameter.copy_(torch.randn_like(parameter) * (0.5 if parameter.dim() < 2 else 1.5 / math.sqrt(parameter.shape[-1] if parameter.dim() == 2 else parameter[0].numel())))
    return model


def inputs(model, data):
    seeded(2)
    vision = exact_in_f16(torch.randn(2, 3, 224, 224))
    tokens = data.load_and_transform_text(TEXTS, "cpu")
    audio = exact_in_f16(torch.randn(2, 3, 1, 128, 204) * 0.8)
    imu = exact_in_f16(torch.randn(2, 6, 2000))
    return vision, tokens, audio, imu


def derived_inputs(vision):
    """Inputs built from the stored images rather than stored themselves (see README): a video of two clips,
    depth and thermal maps."""
    video = torch.stack([torch.stack([vision[0], vision[1]], dim=1), torch.stack([vision[1], vision[0]], dim=1)]).unsqueeze(0)
    return video, vision[:, 0:1].clone(), vision[:, 1:2].clone()


def generate(out):
    torch.set_num_threads(1)
    imagebind_model, data = import_imagebind()
    model = build_model()
    directory = os.path.join(out, "imagebind")
    os.makedirs(directory, exist_ok=True)
    state = OrderedDict((k, v.detach().clone()) for k, v in model.state_dict().items())
    path = os.path.join(directory, "imagebind_tiny.pth")
    torch.save(state, path)
    normalize_zip(path)
    save_json(os.path.join(directory, "config.json"), CONFIG)

    vision, tokens, audio, imu = inputs(model, data)
    video, depth, thermal = derived_inputs(vision)
    save_tensors(os.path.join(directory, "inputs.safetensors"), {
        "vision": vision.half(), "text": tokens.to(torch.int64), "audio": audio.half(), "imu": imu.half(),
    })
    ModalityType = imagebind_model.ModalityType
    batches = {
        "vision": {ModalityType.VISION: vision}, "video": {ModalityType.VISION: video},
        "text": {ModalityType.TEXT: tokens}, "audio": {ModalityType.AUDIO: audio},
        "depth": {ModalityType.DEPTH: depth}, "thermal": {ModalityType.THERMAL: thermal}, "imu": {ModalityType.IMU: imu},
    }
    outputs = {}
    with torch.no_grad():
        for name, batch in batches.items():
            outputs[name] = next(iter(model(batch).values()))
        # Intermediates of item 0 (a single image/clip) for debugging a port stage by stage.
        single = {"vision": vision[:1], "text": tokens[:1], "audio": audio[:1, 0], "depth": depth[:1], "thermal": thermal[:1], "imu": imu[:1]}
        for modality, value in single.items():
            preprocessed = model.modality_preprocessors[modality](**{modality: value})
            trunk_in = preprocessed["trunk"]
            head_in = preprocessed["head"]
            trunk_out = model.modality_trunks[modality](**trunk_in)
            head_out = model.modality_heads[modality](trunk_out, **head_in)
            outputs[f"{modality}.tokens"] = trunk_in["tokens"][0]
            outputs[f"{modality}.trunk"] = trunk_out[0]
            outputs[f"{modality}.head"] = head_out[0]
        # The embedding-space operations of ImageBind's README: zero-shot as softmax(x @ text.T), and cosine similarity.
        outputs["zero_shot.vision_text"] = torch.softmax(outputs["vision"] @ outputs["text"].T, dim=-1)
        outputs["zero_shot.audio_text"] = torch.softmax(outputs["audio"] @ outputs["text"].T, dim=-1)
        outputs["cosine.vision_audio"] = torch.nn.functional.cosine_similarity(outputs["vision"][:, None], outputs["audio"][None], dim=-1)
    save_tensors(os.path.join(directory, "outputs.safetensors"), outputs)
    return outputs["vision"], outputs["audio"]
