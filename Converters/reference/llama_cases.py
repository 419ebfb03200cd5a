"""A tiny LLaMA (Hugging Face LlamaForCausalLM, Vicuna v0 layout), PEFT LoRA on it, and a PandaGPT delta."""
import json
import os
from collections import OrderedDict

import torch
from peft import LoraConfig, get_peft_model
from transformers import LlamaConfig, LlamaForCausalLM

from common import exact_in_bf16_and_f16, save_json, save_tensors, seeded
from torchzip import normalize_zip

CONFIG = dict(vocab_size=32001, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
              rms_norm_eps=1e-6, rope_theta=10000.0, max_position_embeddings=2048, bos_token_id=1, eos_token_id=2,
              tie_word_embeddings=False)
PROMPTS = ["Once upon a", "Panda 🐼 est un ours — 熊猫 lives in Sichuan.",
           "### Human: What is in this picture?\n### Assistant: A panda.\n### Human: What is it doing? Describe it in a few sentences, please.\n### Assistant:",
           "def fibonacci(n):\n    return n if n < 2 else"]
LORA = dict(r=8, lora_alpha=32, lora_dropout=0.1, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"])
PANDAGPT_PROMPTS = ["Describe this image in detail.", "What sound does this make?"]


def build_model():
    seeded(3)
    model = LlamaForCausalLM(LlamaConfig(**CONFIG, attn_implementation="eager")).eval()
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            values = 1 + 0.3 * torch.randn_like(parameter) if "norm" in name else torch.randn_like(parameter) * 0.35
            parameter.copy_(exact_in_bf16_and_f16(values))
    return model


def greedy(model, length, **inputs):
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=length, min_new_tokens=length, do_sample=False, eos_token_id=None, pad_token_id=0)
    return out[0, -length:].tolist()


def save_checkpoints(model, directory):
    """As the original Vicuna releases: f16 .bin shards with an index (and the rotary inv_freq buffers those
    files carry), and as a bf16 model.safetensors."""
    config = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_act": "silu", "torch_dtype": "float16",
              **{k: v for k, v in CONFIG.items()}}
    state = model.state_dict()
    head_dim = CONFIG["hidden_size"] // CONFIG["num_attention_heads"]
    inv_freq = 1.0 / (CONFIG["rope_theta"] ** (torch.arange(0, head_dim, 2).float() / head_dim))
    tensors = OrderedDict()
    for name, value in state.items():
        tensors[name] = value.half()
        if name.endswith("self_attn.o_proj.weight"):
            tensors[name.replace("o_proj.weight", "rotary_emb.inv_freq")] = inv_freq.clone()
    bin_directory = os.path.join(directory, "hf-bin")
    os.makedirs(bin_directory, exist_ok=True)
    names = list(tensors)
    halves = [names[: len(names) // 2], names[len(names) // 2:]]
    weight_map = {}
    for index, part in enumerate(halves):
        file = f"pytorch_model-{index + 1:05d}-of-{len(halves):05d}.bin"
        path = os.path.join(bin_directory, file)
        torch.save(OrderedDict((name, tensors[name]) for name in part), path)
        normalize_zip(path)
        weight_map.update({name: file for name in part})
    total = sum(t.numel() * t.element_size() for t in tensors.values())
    save_json(os.path.join(bin_directory, "pytorch_model.bin.index.json"), {"metadata": {"total_size": total}, "weight_map": weight_map})
    save_json(os.path.join(bin_directory, "config.json"), config)
    safetensors_directory = os.path.join(directory, "hf-safetensors")
    save_tensors(os.path.join(safetensors_directory, "model.safetensors"), {name: value.bfloat16() for name, value in state.items()})
    save_json(os.path.join(safetensors_directory, "config.json"), dict(config, torch_dtype="bfloat16"))


def pandagpt_answer(model, processor, embeds, max_new_tokens):
    """openllama.py generate with greedy decoding: stop once token 2277 ('##') has been generated, or at EOS, and
    return decode(ids[:-2]) as PandaGPT does (it drops the last two ids however generation ended)."""
    from transformers import StoppingCriteria, StoppingCriteriaList

    class StopAt2277(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            return bool((input_ids[0] == 2277).sum() >= 1)

    with torch.no_grad():
        out = model.generate(inputs_embeds=embeds, max_new_tokens=max_new_tokens, do_sample=False, eos_token_id=2, pad_token_id=0,
                             stopping_criteria=StoppingCriteriaList([StopAt2277()]))
    ids = out[0].tolist()
    return ids, processor.decode(ids[:-2])


def generate(out, processor, vision_embedding, audio_embedding, media_embeddings):
    torch.set_num_threads(1)
    directory = os.path.join(out, "llama")
    model = build_model()
    save_checkpoints(model, directory)

    tensors, facts = {}, {"prompts": []}
    with torch.no_grad():
        for index, prompt in enumerate(PROMPTS):
            ids = [1] + processor.encode(prompt)
            logits = model(torch.tensor([ids])).logits[0]
            # All positions for the first prompt; the last position for the others keeps the file small.
            tensors[f"prompt{index}.logits"] = logits if index == 0 else logits[-1:]
            facts["prompts"].append({"text": prompt, "ids": ids, "greedy64": greedy(model, 64, input_ids=torch.tensor([ids]))})
        # PandaGPT-style prompt with one raw embedding vector at position 3.
        seeded(4)
        ids = [1] + processor.encode("Look: X and tell me what you see.")
        embeds = model.model.embed_tokens(torch.tensor([ids])).clone()
        inserted = torch.randn(CONFIG["hidden_size"])
        embeds[0, 3] = inserted
        tensors["embeds.inserted"] = inserted
        tensors["embeds.logits"] = model(inputs_embeds=embeds).logits[0, -1:]
        facts["embeds"] = {"ids": ids, "position": 3, "greedy32": greedy(model, 32, inputs_embeds=embeds)}
    save_tensors(os.path.join(directory, "expected.safetensors"), tensors)
    save_json(os.path.join(directory, "expected.json"), facts)

    peft_model = get_peft_model(model, LoraConfig(task_type="CAUSAL_LM", **LORA)).eval()
    seeded(5)
    lora = OrderedDict()
    with torch.no_grad():
        for name, parameter in peft_model.named_parameters():
            if "lora_" in name:
                parameter.copy_(torch.randn_like(parameter) * 0.2)  # PEFT starts B at zero; these must matter
                lora[name] = parameter.detach().clone()
    lora_tensors, lora_facts = {}, {"config": LORA, "prompts": []}
    with torch.no_grad():
        for index, prompt in enumerate(PROMPTS[:2]):
            ids = [1] + processor.encode(prompt)
            lora_tensors[f"prompt{index}.logits"] = peft_model(input_ids=torch.tensor([ids])).logits[0, -1:]
            lora_facts["prompts"].append({"text": prompt, "ids": ids, "greedy32": greedy(peft_model, 32, input_ids=torch.tensor([ids]))})

        # PandaGPT's delta: llama_proj plus the LoRA factors, saved by name as agent.save_model does.
        seeded(6)
        projection = torch.nn.Linear(1024, CONFIG["hidden_size"])
        projection.weight.copy_(torch.randn_like(projection.weight) * 0.1)
        projection.bias.copy_(torch.randn_like(projection.bias) * 0.1)
        delta = OrderedDict([("llama_proj.weight", projection.weight.detach().clone()), ("llama_proj.bias", projection.bias.detach().clone())])
        for name, value in lora.items():
            delta["llama_model." + name] = value  # peft names: base_model.model.model.layers.N.self_attn.q_proj.lora_A.default.weight
        pandagpt_directory = os.path.join(out, "pandagpt")
        os.makedirs(pandagpt_directory, exist_ok=True)
        path = os.path.join(pandagpt_directory, "pytorch_model.pt")
        torch.save(delta, path)
        normalize_zip(path)

        # Prompt assembly as openllama.py prepare_generation_embedding: BOS, '### Human: <Img>', the projected
        # ImageBind embedding, then '</Img> ' + prompt + '\n### Assistant:', the text pieces tokenized separately.
        embed = peft_model.get_input_embeddings()
        pandagpt_tensors, pandagpt_facts = {}, {"cases": []}
        features = {"image": projection(vision_embedding), "image+audio": projection(vision_embedding) + projection(audio_embedding)}
        for case, (feature_name, feature) in enumerate([(name, value) for name, value in features.items()]):
            prompt = PANDAGPT_PROMPTS[min(case, len(PANDAGPT_PROMPTS) - 1)]
            before = processor.encode("### Human: <Img>")
            after = processor.encode("</Img> " + prompt + "\n### Assistant:")
            embeds = torch.cat([embed(torch.tensor([[1] + before])), feature.view(1, 1, -1), embed(torch.tensor([after]))], dim=1)
            pandagpt_tensors[f"case{case}.feature"] = feature
            pandagpt_tensors[f"case{case}.logits"] = peft_model(inputs_embeds=embeds).logits[0, -1:]
            pandagpt_facts["cases"].append({"modalities": feature_name, "prompt": prompt, "ids_before": [1] + before, "ids_after": after,
                                            "greedy48": greedy(peft_model, 48, inputs_embeds=embeds)})
        # `panda-run ask` on the committed media: photo.jpg alone, and with stereo-22k.wav.
        pandagpt_facts["media"] = []
        for files, embeddings in [(["photo.jpg"], [media_embeddings["vision"][0]]),
                                  (["photo.jpg", "stereo-22k.wav"], [media_embeddings["vision"][0], media_embeddings["audio"][0]])]:
            question = "What is in this picture?"
            feature = sum(projection(embedding) for embedding in embeddings)
            before = processor.encode("### Human: <Img>")
            after = processor.encode("</Img> " + question + "\n### Assistant:")
            embeds = torch.cat([embed(torch.tensor([[1] + before])), feature.view(1, 1, -1), embed(torch.tensor([after]))], dim=1)
            ids, answer = pandagpt_answer(peft_model, processor, embeds, 40)
            pandagpt_facts["media"].append({"files": files, "question": question, "generated": ids, "answer": answer})
        pandagpt_tensors["imagebind.vision"] = vision_embedding
        pandagpt_tensors["imagebind.audio"] = audio_embedding
        save_tensors(os.path.join(pandagpt_directory, "expected.safetensors"), pandagpt_tensors)
        save_json(os.path.join(pandagpt_directory, "expected.json"), pandagpt_facts)

        merged = peft_model.merge_and_unload()
        for index, prompt in enumerate(PROMPTS[:2]):
            ids = [1] + processor.encode(prompt)
            lora_tensors[f"prompt{index}.merged_logits"] = merged(input_ids=torch.tensor([ids])).logits[0, -1:]
    save_tensors(os.path.join(out, "lora", "expected.safetensors"), lora_tensors)
    save_json(os.path.join(out, "lora", "expected.json"), lora_facts)
