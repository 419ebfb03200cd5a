"""The PyTorch peer of `panda-bench caption-huge`: PandaGPT's code path at real size with random weights.

  python bench_caption_huge.py make DIR HIDDEN LAYERS   writes DIR/pandagpt/pytorch_model.pt (PandaGPT's delta:
                                                        llama_proj 1024 -> HIDDEN and LoRA r 32 on q/k/v/o of
                                                        LAYERS layers, seeded) and DIR/pictures/*.jpg (32 seeded
                                                        1024x768 pictures)
  python bench_caption_huge.py run IMAGEBIND_PTH VICUNA_DIR DELTA FOLDER THREADS MAX_NEW_TOKENS ITEMS
                                                        ImageBind huge (f32) and the decoder in bf16 through
                                                        transformers + peft, PandaGPT's prompt, greedy answers
                                                        stopping as PandaGPT does; prints one JSON object

The loop is bench_caption.py's, per item: load_and_transform_vision_data, ImageBind's forward, llama_proj,
'### Human: <Img>' feature '</Img> What is in this image?\\n### Assistant:', generate. Stage times are wall times
summed over items (decode: ImageBind's preprocessing; imagebind; generate: prompt and answer together)."""
import json
import os
import sys
import time

import numpy
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import import_imagebind  # noqa: E402

RANK = 32


def make(directory, hidden, layers):
    from PIL import Image, ImageDraw
    generator = torch.Generator().manual_seed(7)
    delta = {"llama_proj.weight": torch.randn(hidden, 1024, generator=generator) * 0.02,
             "llama_proj.bias": torch.randn(hidden, generator=generator) * 0.02}
    for layer in range(layers):
        for projection in "qkvo":
            prefix = f"llama_model.base_model.model.model.layers.{layer}.self_attn.{projection}_proj."
            delta[prefix + "lora_A.default.weight"] = torch.randn(RANK, hidden, generator=generator) * 0.02
            delta[prefix + "lora_B.default.weight"] = torch.randn(hidden, RANK, generator=generator) * 0.02
    os.makedirs(os.path.join(directory, "pandagpt"), exist_ok=True)
    torch.save(delta, os.path.join(directory, "pandagpt", "pytorch_model.pt"))
    pictures = os.path.join(directory, "pictures")
    os.makedirs(pictures, exist_ok=True)
    rng = numpy.random.default_rng(3)
    for index in range(32):
        # A photo-like picture: a smooth gradient, a few shapes, sensor noise; JPEG-compressed like a camera's.
        y, x = numpy.mgrid[0:768, 0:1024]
        base = numpy.stack([(x * rng.uniform(0.1, 0.25) + y * rng.uniform(0, 0.2) + rng.uniform(0, 80)) % 256 for _ in range(3)], axis=-1)
        image = Image.fromarray(numpy.clip(base + rng.normal(0, 6, base.shape), 0, 255).astype(numpy.uint8))
        draw = ImageDraw.Draw(image)
        for _ in range(6):
            x0, y0 = int(rng.integers(0, 900)), int(rng.integers(0, 650))
            draw.ellipse([x0, y0, x0 + int(rng.integers(40, 300)), y0 + int(rng.integers(40, 300))], fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
        image.save(os.path.join(pictures, f"picture-{index:02d}.jpg"), quality=90)


def run(imagebind_path, vicuna, delta_path, folder, threads, max_new_tokens, items):
    import sentencepiece
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaForCausalLM
    from llama_cases import pandagpt_answer

    torch.set_num_threads(threads)
    start = time.perf_counter()
    imagebind_model, data = import_imagebind()
    imagebind = imagebind_model.imagebind_huge(pretrained=False)
    imagebind.load_state_dict(torch.load(imagebind_path, map_location="cpu"))
    imagebind.eval()
    llama = LlamaForCausalLM.from_pretrained(vicuna, torch_dtype=torch.bfloat16)
    delta = torch.load(delta_path, map_location="cpu")
    model = get_peft_model(llama, LoraConfig(task_type="CAUSAL_LM", r=RANK, lora_alpha=32, lora_dropout=0.1,
                                             target_modules=["q_proj", "k_proj", "v_proj", "o_proj"]))
    model.load_state_dict({k[len("llama_model."):]: v.to(torch.bfloat16) for k, v in delta.items() if k.startswith("llama_model.")}, strict=False)
    model.eval()
    projection = torch.nn.Linear(1024, delta["llama_proj.weight"].shape[0])
    projection.load_state_dict({"weight": delta["llama_proj.weight"], "bias": delta["llama_proj.bias"]})
    processor = sentencepiece.SentencePieceProcessor(model_file=os.path.join(vicuna, "tokenizer.model"))
    embed = model.get_input_embeddings()
    before = [1] + processor.encode("### Human: <Img>")
    after = processor.encode("</Img> What is in this image?\n### Assistant:")
    load_seconds = time.perf_counter() - start

    files = sorted(os.path.join(folder, name) for name in os.listdir(folder) if name.lower().endswith(".jpg"))[:items]
    stages = {"decode": 0.0, "imagebind": 0.0, "generate": 0.0}
    tokens = []
    start = time.perf_counter()
    with torch.no_grad():
        for path in files:
            t0 = time.perf_counter()
            vision = data.load_and_transform_vision_data([path], "cpu")
            t1 = time.perf_counter()
            embedding = imagebind({imagebind_model.ModalityType.VISION: vision})[imagebind_model.ModalityType.VISION]
            t2 = time.perf_counter()
            feature = projection(embedding).to(torch.bfloat16)
            embeds = torch.cat([embed(torch.tensor([before])), feature.view(1, 1, -1), embed(torch.tensor([after]))], dim=1)
            ids, _ = pandagpt_answer(model, processor, embeds, max_new_tokens)
            t3 = time.perf_counter()
            tokens.append(len(ids))
            stages["decode"] += t1 - t0
            stages["imagebind"] += t2 - t1
            stages["generate"] += t3 - t2
    seconds = time.perf_counter() - start
    print(json.dumps({"items": len(files), "seconds": seconds, "items_per_second": len(files) / seconds, "load_seconds": load_seconds,
                      "stage_seconds": stages, "tokens": tokens}))


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        run(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], int(sys.argv[6]), int(sys.argv[7]), int(sys.argv[8]))
