"""The PyTorch peer of `panda-bench caption`: a straightforward loop of PandaGPT's code path over a folder of
pictures with the tiny demo model's original checkpoints (train_tiny.py writes them to ~/.cache/panda/tiny-demo).

  python bench_caption.py CHECKPOINTS FOLDER THREADS MAX_NEW_TOKENS

For each picture: ImageBind's load_and_transform_vision_data, the ImageBind forward, llama_proj, PandaGPT's prompt
('### Human: <Img>' feature '</Img> What is in this image?\\n### Assistant:'), greedy generate stopping at token
2277, decode(ids[:-2]). Prints one JSON object: items, seconds (the loop), items_per_second, load_seconds."""
import json
import os
import sys
import time

import sentencepiece
import torch
from peft import LoraConfig, get_peft_model
from transformers import LlamaForCausalLM

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import import_imagebind  # noqa: E402
from llama_cases import pandagpt_answer  # noqa: E402


def main(checkpoints, folder, threads, max_new_tokens):
    torch.set_num_threads(threads)
    start = time.perf_counter()
    imagebind_model, data = import_imagebind()
    config = json.load(open(os.path.join(checkpoints, "imagebind", "config.json")))
    imagebind = imagebind_model.ImageBindModel(**{k: tuple(v) if isinstance(v, list) else v for k, v in config.items()})
    imagebind.load_state_dict(torch.load(os.path.join(checkpoints, "imagebind", "imagebind_tiny_demo.pth"), map_location="cpu"))
    imagebind.eval()
    llama = LlamaForCausalLM.from_pretrained(os.path.join(checkpoints, "vicuna"), torch_dtype=torch.float32)
    delta = torch.load(os.path.join(checkpoints, "pandagpt", "pytorch_model.pt"), map_location="cpu")
    rank = delta["llama_model.base_model.model.model.layers.0.self_attn.q_proj.lora_A.default.weight"].shape[0]
    model = get_peft_model(llama, LoraConfig(task_type="CAUSAL_LM", r=rank, lora_alpha=32, lora_dropout=0.1,
                                             target_modules=["q_proj", "k_proj", "v_proj", "o_proj"]))
    model.load_state_dict({k[len("llama_model."):]: v for k, v in delta.items() if k.startswith("llama_model.")}, strict=False)
    model.eval()
    projection = torch.nn.Linear(delta["llama_proj.weight"].shape[1], delta["llama_proj.weight"].shape[0])
    projection.load_state_dict({"weight": delta["llama_proj.weight"], "bias": delta["llama_proj.bias"]})
    processor = sentencepiece.SentencePieceProcessor(model_file=os.path.join(checkpoints, "vicuna", "tokenizer.model"))
    embed = model.get_input_embeddings()
    before = [1] + processor.encode("### Human: <Img>")
    after = processor.encode("</Img> What is in this image?\n### Assistant:")
    load_seconds = time.perf_counter() - start

    files = sorted(os.path.join(folder, name) for name in os.listdir(folder) if name.lower().endswith((".png", ".jpg", ".jpeg")))
    start = time.perf_counter()
    answers = []
    with torch.no_grad():
        for path in files:
            vision = data.load_and_transform_vision_data([path], "cpu")
            embedding = imagebind({imagebind_model.ModalityType.VISION: vision})[imagebind_model.ModalityType.VISION]
            feature = projection(embedding)
            embeds = torch.cat([embed(torch.tensor([before])), feature.view(1, 1, -1), embed(torch.tensor([after]))], dim=1)
            answers.append(pandagpt_answer(model, processor, embeds, max_new_tokens)[1])
    seconds = time.perf_counter() - start
    print(json.dumps({"items": len(files), "seconds": seconds, "items_per_second": len(files) / seconds, "load_seconds": load_seconds,
                      "answers": answers}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
