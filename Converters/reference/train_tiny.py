"""Trains the tiny PandaGPT-shaped demo model on synthetic shapes and tones (synthetic.py), saves it in the original
checkpoint layouts, and writes held-out evaluation fixtures with PyTorch's answers.

  1. ImageBind: ImageBind's own ImageBindModel at tiny widths (out_embed_dim 1024, as PandaGPT's llama_proj
     expects), vision, audio and text encoders trained jointly with InfoNCE against the class captions
     ("a red circle", "a high beeping tone"); inputs preprocessed by ImageBind's data.py.
  2. Decoder: a Hugging Face LlamaForCausalLM (vocab 32,001 as Vicuna v0, LLaMA's real tokenizer.model), first
     trained as a language model on the caption texts and the conversation format (stage 1), then frozen while
     PandaGPT's llama_proj and a peft LoRA on q/k/v/o learn to answer from the ImageBind feature token (stage 2),
     with PandaGPT's prompt assembly and loss on the answer tokens only.
  3. Saves imagebind (state_dict .pth + config.json + CLIP BPE), a Hugging Face LLaMA folder (bf16 safetensors,
     config.json, tokenizer.model) and PandaGPT's delta pytorch_model.pt into OUT (outside the repository), and
     held-out images, sounds and expected.json into FIXTURES.

Usage (from Converters/reference, in the reference environment; one thread, fixed seeds):
  python train_tiny.py [--out ~/.cache/panda/tiny-demo] [--fixtures ../../Tests/Fixtures/demo] [--vocab GGUF] [--reuse]
--reuse loads stages already finished in OUT/work instead of retraining them (each stage is seeded on its own,
so the result is the same).
"""
import argparse
import json
import math
import os
import shutil
import sys
import time
from collections import OrderedDict

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import synthetic as S  # noqa: E402
from common import exact_in_bf16_and_f16, import_imagebind, save_json, save_tensors  # noqa: E402
from imagebind_cases import CONFIG as REFERENCE_IMAGEBIND_CONFIG  # noqa: E402
from preprocessing_cases import soundfile_load  # noqa: E402
from torchzip import normalize_zip  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
CACHE = os.environ.get("PANDA_CACHE", os.path.expanduser("~/.cache/panda"))
DEFAULT_VOCAB = os.path.join(CACHE, "llama_cpp_python-0.3.36/vendor/llama.cpp/models/ggml-vocab-llama-spm.gguf")

# ImageBindModel arguments: the reference fixtures' tiny configuration with wider vision, audio and text encoders
# (the ones trained here); depth, thermal and IMU stay as ImageBind initializes them.
IMAGEBIND_CONFIG = dict(REFERENCE_IMAGEBIND_CONFIG,
                        vision_embed_dim=64, vision_num_blocks=3, vision_num_heads=4,
                        audio_embed_dim=32, audio_num_blocks=2, audio_num_heads=2,
                        text_embed_dim=16, text_num_blocks=2, text_num_heads=2)
LLAMA_CONFIG = dict(vocab_size=32001, hidden_size=128, intermediate_size=344, num_hidden_layers=2, num_attention_heads=4,
                    rms_norm_eps=1e-6, rope_theta=10000.0, max_position_embeddings=2048, bos_token_id=1, eos_token_id=2,
                    tie_word_embeddings=False)
LORA = dict(r=16, lora_alpha=32, lora_dropout=0.1, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"])

# Seeds: data sets (synthetic.py) and each training stage.
SEEDS = dict(train_images=1000, val_images=1001, train_sounds=2000, val_sounds=2001, demo_images=3000, demo_sounds=3001,
             demo_pairs=3002, imagebind=10, llama=20, pandagpt=30)
COUNTS = dict(train_images=2400, val_images=240, train_sounds=400, val_sounds=80, demo_images=200, demo_sounds=36, demo_pairs=4)
MAX_NEW_TOKENS = 24
STOP_ID = 2277  # '##': PandaGPT stops once it is generated and drops the last two ids

IMAGE_CAPTIONS = [S.image_caption(c, s) for c, s in S.IMAGE_CLASSES]
AUDIO_CAPTIONS = [S.audio_caption(p, r) for p, r in S.AUDIO_CLASSES]
START = time.process_time()


def stage(path, reuse, build, train):
    """A training stage's model and report: with --reuse, loaded from PATH and PATH.json if an earlier run saved
    them; otherwise TRAIN() -> (model, report) runs, its CPU time is added to the report, and both are saved."""
    if reuse and os.path.exists(path):
        model = build()
        model.load_state_dict(torch.load(path))
        model.eval()
        with open(path + ".json", encoding="utf-8") as f:
            return model, json.load(f)
    started = time.process_time()
    model, report = train()
    report["cpu_seconds"] = round(time.process_time() - started, 1)
    torch.save(model.state_dict(), path)
    save_json(path + ".json", report)
    return model, report


def log(*parts):
    print(f"[{time.process_time() - START:7.1f}s cpu]", *parts, flush=True)


# ----------------------------------------------------------------------------------------------------------------
# Data: files written by synthetic.py, preprocessed by ImageBind's data.py


def preprocess_images(data, directory, items, chunk=100):
    paths = [os.path.join(directory, item["file"]) for item in items]
    return torch.cat([data.load_and_transform_vision_data(paths[i:i + chunk], "cpu") for i in range(0, len(paths), chunk)])


def preprocess_sounds(data, directory, items, chunk=50):
    paths = [os.path.join(directory, item["file"]) for item in items]
    return torch.cat([data.load_and_transform_audio_data(paths[i:i + chunk], "cpu") for i in range(0, len(paths), chunk)])


def dataset(data, work, name, kind, reuse):
    """Writes the seeded files of one set into work/name and returns (items, preprocessed tensors)."""
    cached = os.path.join(work, f"{name}.pt")
    if reuse and os.path.exists(cached):
        return torch.load(cached, weights_only=False)
    directory = os.path.join(work, name)
    shutil.rmtree(directory, ignore_errors=True)
    if kind == "image":
        items = S.write_images(directory, SEEDS[name], COUNTS[name])
        tensors = preprocess_images(data, directory, items)
    else:
        items = S.write_sounds(directory, SEEDS[name], COUNTS[name])
        tensors = preprocess_sounds(data, directory, items)
    torch.save((items, tensors), cached)
    log(f"{name}: {len(items)} {kind}s preprocessed, {tuple(tensors.shape)}")
    return items, tensors


# ----------------------------------------------------------------------------------------------------------------
# ImageBind


def build_imagebind():
    imagebind_model, _ = import_imagebind()
    return imagebind_model.ImageBindModel(**dict(IMAGEBIND_CONFIG, kernel_size=tuple(IMAGEBIND_CONFIG["kernel_size"])))


def embed(model, modality, tensors, batch=64):
    with torch.no_grad():
        return torch.cat([model({modality: tensors[i:i + batch]})[modality] for i in range(0, len(tensors), batch)])


def zero_shot(model, text_tokens, modality, tensors):
    """ImageBind's zero-shot classification: argmax over the captions of embedding @ text embeddings.T."""
    text = embed(model, "text", text_tokens)
    return (embed(model, modality, tensors) @ text.T).argmax(dim=-1)


def contrastive(embeddings, text, labels, classes):
    """InfoNCE between a batch and the caption bank, both ways: each item against every caption, and each caption
    present in the batch against the batch (its items are equally positive)."""
    logits = F.normalize(embeddings, dim=-1) @ text.T  # text carries ImageBind's learnable logit scale
    to_text = F.cross_entropy(logits, labels)
    positives = (labels[None, :] == torch.arange(classes)[:, None]).float()
    present = positives.sum(1) > 0
    to_items = -(F.log_softmax(logits.T, dim=1) * positives / positives.sum(1, keepdim=True).clamp(min=1)).sum(1)[present].mean()
    return (to_text + to_items) / 2


def train_imagebind(data, train_images, train_sounds, val_images, val_sounds, text_tokens, batch=32, audio_batch=16,
                    max_epochs=16, target=0.99):
    torch.manual_seed(SEEDS["imagebind"])
    rng = np.random.default_rng(SEEDS["imagebind"])
    model = build_imagebind()
    (image_items, images), (sound_items, sounds) = train_images, train_sounds
    image_labels = torch.tensor([item["label"] for item in image_items])
    sound_labels = torch.tensor([item["label"] for item in sound_items])
    sounds = sounds[:, :1]  # a 2 s file gives three identical clips; one is enough for training
    image_tokens, audio_tokens = text_tokens[:len(IMAGE_CAPTIONS)], text_tokens[len(IMAGE_CAPTIONS):]
    trained = [p for name, p in model.named_parameters()
               if name.split(".")[1] in ("vision", "audio", "text")]  # depth, thermal and IMU keep their initialization
    steps_per_epoch = len(images) // batch
    optimizer = torch.optim.AdamW(trained, lr=2e-3, weight_decay=0.05)
    total = steps_per_epoch * max_epochs
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / 50) * 0.5 * (1 + math.cos(math.pi * min(step, total) / total)))
    step = 0
    for epoch in range(max_epochs):
        model.train()
        order = rng.permutation(len(images))
        for i in range(steps_per_epoch):
            index = torch.from_numpy(order[i * batch:(i + 1) * batch])
            audio_index = torch.from_numpy(rng.choice(len(sounds), audio_batch, replace=False))
            out = model({"vision": images[index], "audio": sounds[audio_index], "text": text_tokens})
            text = out["text"]
            loss = (contrastive(out["vision"], text[:len(IMAGE_CAPTIONS)], image_labels[index], len(IMAGE_CAPTIONS))
                    + contrastive(out["audio"], text[len(IMAGE_CAPTIONS):], sound_labels[audio_index], len(AUDIO_CAPTIONS)))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            step += 1
            if step % 25 == 0:
                log(f"imagebind epoch {epoch} step {step}: loss {loss.item():.4f}")
        model.eval()
        image_accuracy = (zero_shot(model, image_tokens, "vision", val_images[1]) == torch.tensor([it["label"] for it in val_images[0]])).float().mean().item()
        sound_accuracy = (zero_shot(model, audio_tokens, "audio", val_sounds[1]) == torch.tensor([it["label"] for it in val_sounds[0]])).float().mean().item()
        log(f"imagebind epoch {epoch}: held-out zero-shot images {image_accuracy:.3f}, sounds {sound_accuracy:.3f}")
        if image_accuracy >= target and sound_accuracy >= target:
            break
    return model.eval(), {"epochs": epoch + 1, "steps": step, "val_image_zero_shot": image_accuracy, "val_sound_zero_shot": sound_accuracy}


def save_imagebind(model, directory, data):
    os.makedirs(directory, exist_ok=True)
    state = OrderedDict((k, v.detach().clone()) for k, v in model.state_dict().items())
    path = os.path.join(directory, "imagebind_tiny_demo.pth")
    torch.save(state, path)
    normalize_zip(path)
    save_json(os.path.join(directory, "config.json"), IMAGEBIND_CONFIG)
    shutil.copyfile(data.return_bpe_path(), os.path.join(directory, "bpe_simple_vocab_16e6.txt.gz"))


# ----------------------------------------------------------------------------------------------------------------
# Decoder: PandaGPT's prompt assembly


class Prompts:
    def __init__(self, processor):
        self.processor = processor
        self.before = [1] + processor.encode("### Human: <Img>")
        assert processor.encode("A red circle.\n###")[-3:] == [13, STOP_ID, 29937]

    def after(self, question):
        return self.processor.encode("</Img> " + question + "\n### Assistant:")

    def answer(self, text):
        return self.processor.encode(text + "\n###")


def random_conversation(rng, kind):
    """A question and answer about random labels (for stage 1), as (question, answer, labels)."""
    colour, shape = S.IMAGE_CLASSES[rng.integers(len(S.IMAGE_CLASSES))]
    pitch, rhythm = S.AUDIO_CLASSES[rng.integers(len(S.AUDIO_CLASSES))]
    if kind == "image":
        return S.IMAGE_QUESTIONS[rng.integers(len(S.IMAGE_QUESTIONS))], S.image_answer(colour, shape)
    if kind == "audio":
        return S.AUDIO_QUESTIONS[rng.integers(len(S.AUDIO_QUESTIONS))], S.audio_answer(pitch, rhythm)
    return S.BOTH_QUESTIONS[rng.integers(len(S.BOTH_QUESTIONS))], S.both_answer(colour, shape, pitch, rhythm)


def build_llama():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(SEEDS["llama"])
    return LlamaForCausalLM(LlamaConfig(**LLAMA_CONFIG, attn_implementation="eager"))


def pad(sequences, value):
    length = max(len(s) for s in sequences)
    return torch.tensor([list(s) + [value] * (length - len(s)) for s in sequences])


def train_llama(prompts, steps=300, batch=16):
    """Stage 1: the whole decoder as a language model on caption texts and text-only conversations (the feature
    token left out), so it knows the words and the '### Human: ... ### Assistant: ...\\n###' format."""
    rng = np.random.default_rng(SEEDS["llama"])
    model = build_llama()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / 20) * 0.5 * (1 + math.cos(math.pi * s / steps)))
    model.train()
    for step in range(steps):
        sequences = []
        for _ in range(batch):
            kind = ["image", "audio", "both", "caption"][rng.integers(4)]
            if kind == "caption":
                caption = (IMAGE_CAPTIONS + AUDIO_CAPTIONS)[rng.integers(len(IMAGE_CAPTIONS) + len(AUDIO_CAPTIONS))]
                sequences.append([1] + prompts.processor.encode(caption))
            else:
                question, answer = random_conversation(rng, kind)
                sequences.append(prompts.before + prompts.after(question) + prompts.answer(answer))
        ids = pad(sequences, 0)
        mask = pad([[1] * len(s) for s in sequences], 0)
        labels = ids.masked_fill(mask == 0, -100)
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        if (step + 1) % 25 == 0:
            log(f"llama stage 1 step {step + 1}: loss {loss.item():.4f}")
    with torch.no_grad():  # the decoder is stored in bf16: make the f32 model exactly that one
        for parameter in model.parameters():
            parameter.copy_(exact_in_bf16_and_f16(parameter))
    return model.eval()


def feature(projection, embeddings):
    """PandaGPT's one feature token: llama_proj of each modality's embedding, summed."""
    return sum(projection(e) for e in embeddings)


def assemble(peft_model, prompts, projection, embeddings, question, answer_ids=()):
    embed_tokens = peft_model.get_input_embeddings()
    pieces = [embed_tokens(torch.tensor(prompts.before)), feature(projection, embeddings).view(1, -1),
              embed_tokens(torch.tensor(prompts.after(question)))]
    if answer_ids:
        pieces.append(embed_tokens(torch.tensor(list(answer_ids))))
    return torch.cat(pieces)


def training_item(rng, pools):
    """An image, a sound or both from the precomputed ImageBind embeddings, with a random question."""
    kind = ["image", "image", "audio", "both"][rng.integers(4)]
    embeddings, parts = [], []
    if kind in ("image", "both"):
        i = rng.integers(len(pools["image"][0]))
        embeddings.append(pools["image"][1][i])
        parts.append(pools["image"][0][i])
    if kind in ("audio", "both"):
        i = rng.integers(len(pools["audio"][0]))
        embeddings.append(pools["audio"][1][i])
        parts.append(pools["audio"][0][i])
    question, answer = question_and_answer(kind, parts, rng)
    return embeddings, question, answer


def question_and_answer(kind, parts, rng=None):
    """The question asked (random in training, the first of each list otherwise) and the true answer."""
    def pick(questions):
        return questions[0] if rng is None else questions[rng.integers(len(questions))]

    if kind == "image":
        return pick(S.IMAGE_QUESTIONS), S.image_answer(parts[0]["colour"], parts[0]["shape"])
    if kind == "audio":
        return pick(S.AUDIO_QUESTIONS), S.audio_answer(parts[0]["pitch"], parts[0]["rhythm"])
    return pick(S.BOTH_QUESTIONS), S.both_answer(parts[0]["colour"], parts[0]["shape"], parts[1]["pitch"], parts[1]["rhythm"])


def pandagpt_answer(model, processor, embeds):
    """llama_cases.pandagpt_answer with the demo's token budget: greedy, stop once 2277 appears (or EOS), decode
    all but the last two ids."""
    from llama_cases import pandagpt_answer as answer

    return answer(model, processor, embeds.unsqueeze(0), MAX_NEW_TOKENS)


def answer_is_right(ids, text, kind, parts):
    expected = question_and_answer(kind, parts)[1]
    return STOP_ID in ids and text == expected


def train_pandagpt(base, prompts, pools, validation, steps=900, batch=32):
    """Stage 2, as PandaGPT: the decoder frozen, llama_proj (Linear 1024 -> hidden, with bias) and LoRA on
    q/k/v/o trained, the loss on the answer tokens only ('A red circle.\\n###')."""
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(SEEDS["pandagpt"])
    rng = np.random.default_rng(SEEDS["pandagpt"])
    peft_model = get_peft_model(base, LoraConfig(task_type="CAUSAL_LM", **LORA))
    projection = torch.nn.Linear(1024, LLAMA_CONFIG["hidden_size"])
    trained = [p for p in peft_model.parameters() if p.requires_grad] + list(projection.parameters())
    optimizer = torch.optim.AdamW(trained, lr=2e-3, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / 30) * 0.5 * (1 + math.cos(math.pi * s / steps)))
    llama = peft_model.base_model.model  # LlamaForCausalLM with LoRA layers
    result = {}
    for step in range(steps):
        peft_model.train()
        rows, targets, positions = [], [], []
        for b in range(batch):
            embeddings, question, answer = training_item(rng, pools)
            answer_ids = prompts.answer(answer)
            row = assemble(peft_model, prompts, projection, embeddings, question, answer_ids)
            start = len(row) - len(answer_ids)
            positions += [(b, p) for p in range(start - 1, len(row) - 1)]  # position p predicts token p + 1
            targets += answer_ids
            rows.append(row)
        length = max(len(r) for r in rows)
        embeds = torch.stack([F.pad(r, (0, 0, 0, length - len(r))) for r in rows])
        mask = torch.tensor([[1] * len(r) + [0] * (length - len(r)) for r in rows])
        hidden = llama.model(inputs_embeds=embeds, attention_mask=mask).last_hidden_state
        index = torch.tensor(positions)
        logits = llama.lm_head(hidden[index[:, 0], index[:, 1]])  # only where the loss is taken
        loss = F.cross_entropy(logits, torch.tensor(targets))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        if (step + 1) % 25 == 0:
            log(f"pandagpt stage 2 step {step + 1}: loss {loss.item():.4f}")
        if (step + 1) % 150 == 0 or step + 1 == steps:
            peft_model.eval()
            right = 0
            with torch.no_grad():
                for kind, embeddings, parts in validation:
                    question = question_and_answer(kind, parts)[0]
                    ids, text = pandagpt_answer(peft_model, prompts.processor, assemble(peft_model, prompts, projection, embeddings, question))
                    right += answer_is_right(ids, text, kind, parts)
            accuracy = right / len(validation)
            log(f"pandagpt stage 2 step {step + 1}: held-out exact answers {accuracy:.3f} (e.g. {text!r})")
            result = {"steps": step + 1, "val_exact_answers": accuracy}
            if accuracy >= 0.995 and step + 1 >= 300:
                break
    peft_model.eval()
    return peft_model, projection, result


def save_llama(model, directory, processor_path):
    os.makedirs(directory, exist_ok=True)
    config = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_act": "silu", "torch_dtype": "bfloat16",
              **LLAMA_CONFIG}
    save_tensors(os.path.join(directory, "model.safetensors"), {name: value.bfloat16() for name, value in model.state_dict().items()})
    save_json(os.path.join(directory, "config.json"), config)
    if os.path.abspath(processor_path) != os.path.abspath(os.path.join(directory, "tokenizer.model")):
        shutil.copyfile(processor_path, os.path.join(directory, "tokenizer.model"))


def save_delta(peft_model, projection, directory):
    os.makedirs(directory, exist_ok=True)
    delta = OrderedDict([("llama_proj.weight", projection.weight.detach().clone()), ("llama_proj.bias", projection.bias.detach().clone())])
    for name, parameter in peft_model.named_parameters():
        if "lora_" in name:
            delta["llama_model." + name] = parameter.detach().clone()
    path = os.path.join(directory, "pytorch_model.pt")
    torch.save(delta, path)
    normalize_zip(path)
    return list(delta)


# ----------------------------------------------------------------------------------------------------------------
# Evaluation fixtures


def write_fixtures(fixtures, data, imagebind, text_tokens, peft_model, projection, prompts):
    """Fresh held-out images and sounds (their own seeds), ImageBind's zero-shot label and PyTorch's greedy
    PandaGPT answer for each, and a few image+audio pairs."""
    shutil.rmtree(fixtures, ignore_errors=True)
    image_dir, sound_dir = os.path.join(fixtures, "images"), os.path.join(fixtures, "audio")
    images = S.write_images(image_dir, SEEDS["demo_images"], COUNTS["demo_images"])
    sounds = S.write_sounds(sound_dir, SEEDS["demo_sounds"], COUNTS["demo_sounds"])
    vision = embed(imagebind, "vision", preprocess_images(data, image_dir, images))
    audio = embed(imagebind, "audio", preprocess_sounds(data, sound_dir, sounds))
    text = embed(imagebind, "text", text_tokens)
    image_labels = (vision @ text[:len(IMAGE_CAPTIONS)].T).argmax(-1).tolist()
    audio_labels = (audio @ text[len(IMAGE_CAPTIONS):].T).argmax(-1).tolist()
    rng = np.random.default_rng(SEEDS["demo_pairs"])
    pairs = [(int(i), int(j)) for i, j in zip(rng.choice(len(images), COUNTS["demo_pairs"], replace=False),
                                              rng.choice(len(sounds), COUNTS["demo_pairs"], replace=False))]

    def record(kind, files, parts, embeddings, zero_shot_labels):
        question, truth = question_and_answer(kind, parts)
        with torch.no_grad():
            ids, answer = pandagpt_answer(peft_model, prompts.processor, assemble(peft_model, prompts, projection, embeddings, question))
        entry = {"files": files, "labels": {k: parts[n][k] for n in range(len(parts)) for k in ("colour", "shape", "pitch", "rhythm") if k in parts[n]},
                 "question": question, "true_answer": truth, "generated": ids, "answer": answer,
                 "stopped": STOP_ID in ids, "answer_correct": STOP_ID in ids and answer == truth}
        if zero_shot_labels is not None:
            entry["caption"] = (S.image_caption(parts[0]["colour"], parts[0]["shape"]) if kind == "image"
                                else S.audio_caption(parts[0]["pitch"], parts[0]["rhythm"]))
            entry["zero_shot"] = zero_shot_labels
            entry["zero_shot_correct"] = entry["caption"] == zero_shot_labels
        return entry

    facts = {"images": [], "audio": [], "pairs": []}
    for n, item in enumerate(images):
        facts["images"].append(record("image", ["images/" + item["file"]], [item], [vision[n]], IMAGE_CAPTIONS[image_labels[n]]))
    for n, item in enumerate(sounds):
        facts["audio"].append(record("audio", ["audio/" + item["file"]], [item], [audio[n]], AUDIO_CAPTIONS[audio_labels[n]]))
    for i, j in pairs:
        facts["pairs"].append(record("both", ["images/" + images[i]["file"], "audio/" + sounds[j]["file"]], [images[i], sounds[j]],
                                     [vision[i], audio[j]], None))

    def rate(entries, key):
        return sum(e[key] for e in entries) / len(entries)

    def names_labels(entry):
        return STOP_ID in entry["generated"] and all(f" {value} " in f" {entry['answer'].lower().rstrip('.')} "
                                                     for value in entry["labels"].values())

    accuracy = {
        "imagebind_zero_shot_images": rate(facts["images"], "zero_shot_correct"),
        "imagebind_zero_shot_audio": rate(facts["audio"], "zero_shot_correct"),
        "exact_answers_images": rate(facts["images"], "answer_correct"),
        "exact_answers_audio": rate(facts["audio"], "answer_correct"),
        "exact_answers_pairs": rate(facts["pairs"], "answer_correct"),
        "answers_naming_labels_images": sum(map(names_labels, facts["images"])) / len(images),
        "answers_naming_labels_audio": sum(map(names_labels, facts["audio"])) / len(sounds),
        "answers_stopped": rate(facts["images"] + facts["audio"] + facts["pairs"], "stopped"),
    }
    facts["accuracy"] = accuracy
    facts["zero_shot_captions"] = {"images": IMAGE_CAPTIONS, "audio": AUDIO_CAPTIONS}
    facts["generation"] = {"max_new_tokens": MAX_NEW_TOKENS, "decoding": "greedy", "stop": "token 2277 or EOS; answer = decode(generated[:-2])",
                           "prompt": "BOS + '### Human: <Img>' + feature + '</Img> ' + question + '\\n### Assistant:'"}
    save_json(os.path.join(fixtures, "expected.json"), facts)
    # A few embeddings for parity tests of the encoders on these files.
    save_tensors(os.path.join(fixtures, "expected.safetensors"), {
        "vision": vision[:8], "audio": audio[:4], "text": text,
        "feature.image0": feature(projection, [vision[0]]).detach(),
    })
    return accuracy


# ----------------------------------------------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=os.path.join(CACHE, "tiny-demo"))
    parser.add_argument("--fixtures", default=os.path.join(HERE, "..", "..", "Tests", "Fixtures", "demo"))
    parser.add_argument("--vocab", default=DEFAULT_VOCAB)
    parser.add_argument("--reuse", action="store_true", help="load finished stages from OUT/work")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    import torchaudio

    torchaudio.load = soundfile_load  # torchaudio without torchcodec, as preprocessing_cases.py
    _, data = import_imagebind()
    out, work = os.path.abspath(args.out), os.path.join(os.path.abspath(args.out), "work")
    os.makedirs(work, exist_ok=True)
    report = {"seeds": SEEDS, "counts": COUNTS, "imagebind_config": IMAGEBIND_CONFIG, "llama_config": LLAMA_CONFIG, "lora": LORA}

    # 1. ImageBind
    sets = {name: dataset(data, work, name, "image" if "image" in name else "sound", args.reuse)
            for name in ("train_images", "val_images", "train_sounds", "val_sounds")}
    text_tokens = data.load_and_transform_text(IMAGE_CAPTIONS + AUDIO_CAPTIONS, "cpu")
    imagebind_path = os.path.join(work, "imagebind.pt")
    imagebind, report["imagebind"] = stage(imagebind_path, args.reuse, build_imagebind, lambda: train_imagebind(
        data, sets["train_images"], sets["train_sounds"], sets["val_images"], sets["val_sounds"], text_tokens))
    save_imagebind(imagebind, os.path.join(out, "imagebind"), data)
    log("imagebind:", report["imagebind"])

    # 2. Decoder
    import tokenizer_cases

    tokenizer_path = os.path.join(out, "vicuna", "tokenizer.model")
    processor = tokenizer_cases.llama_tokenizer_model(args.vocab, tokenizer_path)
    prompts = Prompts(processor)
    llama_path = os.path.join(work, "llama-stage1.pt")
    base, report["llama_stage1"] = stage(llama_path, args.reuse, build_llama, lambda: (train_llama(prompts), {}))
    save_llama(base, os.path.join(out, "vicuna"), tokenizer_path)

    pools = {"image": (sets["train_images"][0], embed(imagebind, "vision", sets["train_images"][1])),
             "audio": (sets["train_sounds"][0], embed(imagebind, "audio", sets["train_sounds"][1]))}
    val_vision = embed(imagebind, "vision", sets["val_images"][1][:60])
    val_audio = embed(imagebind, "audio", sets["val_sounds"][1][:20])
    val_images, val_sounds = sets["val_images"][0], sets["val_sounds"][0]
    validation = ([("image", [val_vision[n]], [val_images[n]]) for n in range(60)]
                  + [("audio", [val_audio[n]], [val_sounds[n]]) for n in range(20)]
                  + [("both", [val_vision[n], val_audio[n]], [val_images[n], val_sounds[n]]) for n in range(20)])
    log("ImageBind embeddings of the training sets computed")
    started = time.process_time()
    peft_model, projection, report["pandagpt"] = train_pandagpt(base, prompts, pools, validation)
    report["pandagpt"]["cpu_seconds"] = round(time.process_time() - started, 1)
    report["pandagpt"]["delta_keys"] = save_delta(peft_model, projection, os.path.join(out, "pandagpt"))
    log("pandagpt:", {k: v for k, v in report["pandagpt"].items() if k != "delta_keys"})

    # 3. Held-out fixtures
    report["demo"] = write_fixtures(os.path.abspath(args.fixtures), data, imagebind, text_tokens, peft_model, projection, prompts)
    report["cpu_seconds"] = round(time.process_time() - START, 1)
    save_json(os.path.join(out, "report.json"), report)
    log("done:", json.dumps(report["demo"], indent=1))


if __name__ == "__main__":
    main()
