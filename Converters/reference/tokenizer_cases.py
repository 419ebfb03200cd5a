"""LLaMA's real SentencePiece model rebuilt from llama.cpp's vocabulary file, and tokenizer corpora."""
import os
import random
import shutil

import gguf
import sentencepiece
from sentencepiece import sentencepiece_model_pb2

from common import import_imagebind, save_json


def llama_tokenizer_model(vocab_gguf, path):
    """Writes tokenizer.model from ggml-vocab-llama-spm.gguf: the 32,000 LLaMA pieces with their scores and
    types, BPE with byte fallback, and LLaMA's normalizer (identity, dummy prefix, spaces kept)."""
    reader = gguf.GGUFReader(vocab_gguf)

    def array(name):
        field = reader.fields[name]
        return [field.parts[index] for index in field.data]

    model = sentencepiece_model_pb2.ModelProto()
    for piece, score, kind in zip(array("tokenizer.ggml.tokens"), array("tokenizer.ggml.scores"), array("tokenizer.ggml.token_type")):
        entry = model.pieces.add()
        entry.piece = bytes(piece).decode("utf-8")
        entry.score = float(score[0])
        entry.type = int(kind[0])  # llama.cpp's token types use SentencePiece's numbering
    spec = model.trainer_spec
    spec.model_type = sentencepiece_model_pb2.TrainerSpec.BPE
    spec.vocab_size = len(model.pieces)
    spec.byte_fallback = True
    spec.unk_id, spec.bos_id, spec.eos_id, spec.pad_id = 0, 1, 2, -1
    normalizer = model.normalizer_spec
    normalizer.name = "identity"
    normalizer.add_dummy_prefix = True
    normalizer.remove_extra_whitespaces = False
    normalizer.escape_whitespaces = True
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(model.SerializeToString())
    processor = sentencepiece.SentencePieceProcessor(model_file=path)
    # LLaMA's well-known ids: the prompt pieces PandaGPT relies on.
    assert processor.encode("Hello world") == [15043, 3186]
    assert processor.encode("###") == [835] and processor.encode("\n### Assistant:")[1:4] == [13, 2277, 29937]
    return processor


SENTENCES = [
    "Hello world", "The quick brown fox jumps over the lazy dog.", "A panda is eating bamboo in the forest.",
    "### Human: <Img>", "</Img> Describe this image in detail.\n### Assistant:", "\n###", "##", "#",
    "Café déjà vu — naïve coöperation", "Ångström, Øresund, Straße, İstanbul", "日本語のテキストです。", "熊猫在吃竹子",
    "한국어 문장입니다", "Привет, как дела?", "Γειά σου Κόσμε", "مرحبا بالعالم", "שלום עולם", "नमस्ते दुनिया", "สวัสดีชาวโลก",
    "🐼🎋 pandas!", "👩‍👩‍👧‍👦 family", "🏳️‍🌈", "e\u0301 vs é", "x\u200by zero width", "tab\tseparated\tvalues",
    "line one\nline two\r\nline three", "   leading spaces", "trailing spaces   ", "double  space", "",
    " ", "\n", "\n\n\n", "12345678901234567890", "3.14159 2.71828 -42 +7 1e-10", "$1,234.56 €99 ¥500",
    "def f(x):\n    return x ** 2  # square", "for (int i = 0; i < n; ++i) { sum += a[i]; }",
    "<html><body class=\"x\">&amp; &lt;tag&gt;</body></html>", "https://example.com/path?query=1&b=2#frag",
    "user@example.org", "**bold** _italic_ `code` [link](url)", "| a | b |\n|---|---|", "C'est l'été, n'est-ce pas ?",
    "It's, they're, we've, I'm, you'll, he'd", "ALL CAPS SENTENCE", "MiXeD cAsE", "snake_case_name camelCaseName",
    "\u0000\u0001\u0002 control", "\ufffd replacement", "\U0001F600\U0001F601\U0001F602", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "ﬁ ligature",
]
WORDS = ["panda", "bamboo", "image", "audio", "video", "describe", "the", "of", "and", "a", "in", "is", "thermal",
         "depth", "sensor", "Human", "Assistant", "###", "<Img>", "</Img>", "naïve", "東京", "🐼", "42", "3.5", "—", ",",
         ".", "!", "?", "'s", "don't", "\n", "\t", "  ", "über", "façade", "Ελλάδα", "Москва", "القاهرة"]
SCALAR_RANGES = [(0x20, 0x7E), (0xA0, 0x24F), (0x370, 0x3FF), (0x400, 0x4FF), (0x590, 0x6FF), (0x900, 0x97F),
                 (0x3040, 0x30FF), (0x4E00, 0x9FFF), (0xAC00, 0xD7A3), (0x1F300, 0x1F6FF), (0x2000, 0x206F)]


# Text that exercises each of ftfy's fixes and html.unescape's rules, which CLIP's cleaning applies before BPE.
FTFY_CASES = [
    "\uff2c\uff2f\uff35\uff24\u3000\uff2e\uff2f\uff29\uff33\uff25\uff33", "Broken text&hellip; it&#x2019;s \ufb02ubberi\ufb01c!",
    "&macr;\\_(\u00e3\x83\x84)_/&macr;", "P&EACUTE;REZ and BUNDESSTRA&SZLIG;E", "voil\u00c3 le travail", "s\u00c3\u00b3",
    "\u00e2\u20ac\u0153quoted\u00e2\u20ac\x9d", "\x1b[36;44mcolored\x1b[0m text", "this&not that", "&#128512; &#x1F600; &#0; &#xD800; &#99999999999;",
    "&amp;lt;double&amp;gt; &amp;amp;", "&notit; &notin; &copy &COPY; &ntilde; &NTILDE; &nTILDE;", "\u2018single\u2019 \u201cdouble\u201d \u02bcn",
    "caf\u00e9 \u2014 \u00e9l\u00e8ve", "\u0420\u045f\u0421\u0402\u0420\u0451\u0420\u0406\u0420\u00b5\u0421\u201a", "\u00c3\u00a9t\u00c3\u00a9 \u00c3\u00a0 Paris",
    "line\u2028separator\u2029paragraph\x85next", "C1 \x80 controls \x9f here", "\ufeffbyte order mark", "tab\tand\x0bvertical\x0cfeed",
    "<p>&amp; in markup</p> &amp; outside", "\u0130stanbul \u03a3\u039f\u03a6\u039f\u03a3 \u1e9e", "\u00bd \u00b2 \u2460 \u0663\u0664",
]


def corpus(seed, count):
    """Hand-written strings, then seeded combinations of words and random code points from many scripts."""
    rng = random.Random(seed)
    texts = list(SENTENCES)
    while len(texts) < count:
        if rng.random() < 0.5:
            texts.append(" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 12))) * rng.randint(1, 2))
        else:
            texts.append("".join(chr(rng.randint(*rng.choice(SCALAR_RANGES))) if rng.random() < 0.85 else rng.choice(" \n\t  ")
                                 for _ in range(rng.randint(1, 40))))
    return texts


def generate(out, processor):
    texts = corpus(7, 1200)
    save_json(os.path.join(out, "tokenizers", "llama-corpus.json"), [
        {"text": text, "ids": processor.encode(text), "decoded": processor.decode(processor.encode(text))} for text in texts])

    _, data = import_imagebind()
    from imagebind.models.multimodal_preprocessors import SimpleTokenizer

    bpe_path = os.path.join(os.path.dirname(data.__file__), "bpe", "bpe_simple_vocab_16e6.txt.gz")
    tokenizer = SimpleTokenizer(bpe_path=bpe_path)
    clip_texts = corpus(11, 600) + ["&amp; &lt;b&gt; html entities &quot;quoted&quot;", "mojibake: cafÃ© and donâ€™t",
                                      "word " * 100, "UPPER lower MiXeD", "it's they're we've I'm you'll he'd",
                                      "!!!???... ---", "a photo of a panda."] + FTFY_CASES
    save_json(os.path.join(out, "tokenizers", "clip-corpus.json"), [
        {"text": text, "bpe": tokenizer.encode(text), "ids": tokenizer(text).tolist()} for text in clip_texts])
    shutil.copyfile(bpe_path, os.path.join(out, "imagebind", "bpe_simple_vocab_16e6.txt.gz"))
