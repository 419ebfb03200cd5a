"""Writes Tests/Fixtures/reference/: tiny models in the original checkpoint layouts and the outputs the original
PyTorch code computes from them. See README.md for every file. Run through regenerate.sh.
Usage: python generate.py OUT_DIR VOCAB_GGUF [MEDIA_DIR]"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import imagebind_cases  # noqa: E402
import llama_cases  # noqa: E402
import preprocessing_cases  # noqa: E402
import quantization_cases  # noqa: E402
import tokenizer_cases  # noqa: E402

out, vocab = sys.argv[1], sys.argv[2]
media = sys.argv[3] if len(sys.argv) > 3 else os.path.join(os.path.dirname(os.path.abspath(out)), "media")
vision, audio = imagebind_cases.generate(out)
tokenizer_path = os.path.join(out, "llama", "tokenizer.model")
processor = tokenizer_cases.llama_tokenizer_model(vocab, tokenizer_path)
tokenizer_cases.generate(out, processor)
media_embeddings = preprocessing_cases.generate(out, media)
llama_cases.generate(out, processor, vision[0], audio[0], media_embeddings)
quantization_cases.generate(out)
