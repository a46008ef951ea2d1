"""A BERT-base-shaped model (12 layers, hidden 768, 110M parameters) with random weights, for timing.

Speed depends on the architecture, not on the weights' values, and no machine here reaches the
Hub for the real bert-base-uncased. This writes a folder that `LAB_MODEL` / `--model` can name:
BERT-base's configuration with freshly initialised weights, and the packaged MiniLM's tokenizer
(the same uncased 30,522-token BERT vocabulary). Use it for step times, latency and memory only:
its accuracy means nothing.

Run from the repository root:  python benchmarks/random_bert.py OUT_DIR
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json")


def write_random_bert_base(out: Path, tokenizer_dir: Path, **config_overrides) -> Path:
    """BERT-base's configuration (transformers' BertConfig defaults: 12 x 768, 12 heads, FFN 3072),
    with `config_overrides` (tests make a small one), fresh weights and the given tokenizer."""
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig(**config_overrides)
    BertModel(config).save_pretrained(out)
    for name in TOKENIZER_FILES:
        if (tokenizer_dir / name).exists():
            shutil.copy2(tokenizer_dir / name, out / name)
    return out


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        raise SystemExit("usage: python benchmarks/random_bert.py OUT_DIR [LAB_MODEL names the tokenizer's folder]")
    import os

    from labutils.hub import packaged_model_dir

    tokenizer_dir = Path(os.environ["LAB_MODEL"]) if os.environ.get("LAB_MODEL") else packaged_model_dir()
    out = write_random_bert_base(Path(argv[0]), tokenizer_dir)
    print(f"random-init BERT-base (12 x 768) written to {out.name}/ (timing only)")


if __name__ == "__main__":
    main()
