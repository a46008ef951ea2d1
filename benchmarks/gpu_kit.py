"""Pack what `make bench` needs on a lent GPU machine into one ignored folder (default `.carry/`).

The GPU machine reaches no network and is sent only the repository plus up to 64 MiB of carried
paths. It has torch, peft, accelerate and an older transformers, but neither `datasets` nor the
packaged offline model. This script writes:

  .carry/all-MiniLM-L6-v2-fp16/   the offline default model, weights stored in float16 (44 MiB
                                  instead of 91; `load_base_model` loads them back as float32)
  .carry/glue/MRPC/               MRPC's train and dev TSVs, copied from LAB_DATA_DIR
  .carry/whl/                     wheels of the versions requirements.txt pins that the image
                                  lacks or has at another version (transformers, peft, datasets
                                  and its dill / multiprocess), for CPython 3.12 on x86-64 Linux

and prints the one command to run there: `bash benchmarks/gpu_run.sh`, with `.carry` carried.
The float16 storage rounds each weight to 11 significant bits: fine for speed, and the model
is the same network, but its accuracy numbers are not the committed runs' to the decimal.

Run from the repository root:  python benchmarks/gpu_kit.py [--out .carry] [--no-wheels]
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MODEL_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json")
WHEELS = ("transformers", "peft", "datasets", "dill", "multiprocess")
CARRY_LIMIT_MIB = 64


def pinned_versions(names=WHEELS) -> dict:
    """The versions requirements.txt pins, and those of the pins' own needs from this venv."""
    from importlib.metadata import version

    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        name, sep, ver = line.split("#")[0].strip().partition("==")
        if sep:
            pins[name.lower()] = ver
    return {n: pins.get(n) or version(n) for n in names}


def write_model(out: Path) -> Path:
    """The packaged MiniLM as a transformers folder with float16 weights."""
    import torch
    from safetensors.torch import load_file, save_file

    from labutils.hub import packaged_model_dir

    src = packaged_model_dir()
    dst = out / "all-MiniLM-L6-v2-fp16"
    dst.mkdir(parents=True, exist_ok=True)
    for name in MODEL_FILES:
        if (src / name).exists():
            shutil.copy2(src / name, dst / name)
    tensors = load_file(src / "model.safetensors")
    half = {k: v.to(torch.float16) if v.is_floating_point() else v for k, v in tensors.items()}
    save_file(half, dst / "model.safetensors", metadata={"format": "pt"})
    return dst


def copy_mrpc(out: Path) -> Path:
    """MRPC's TSVs from LAB_DATA_DIR (the GLUE layout), for bench_padding.py."""
    from labutils.data import DATA_DIR_ENV, resolve_data_dir

    glue = resolve_data_dir()
    if glue is None:
        raise SystemExit(f"{DATA_DIR_ENV} is not set: point it at the GLUE folder (e.g. ../shared/data/glue).")
    dst = out / "glue" / "MRPC"
    dst.mkdir(parents=True, exist_ok=True)
    for name in ("train.tsv", "dev.tsv"):
        if not (glue / "MRPC" / name).is_file():
            raise SystemExit(f"MRPC/{name} is missing under {DATA_DIR_ENV}; expected the GLUE layout.")
        shutil.copy2(glue / "MRPC" / name, dst / name)
    return dst.parent


def download_wheels(out: Path) -> Path:
    dst = out / "whl"
    shutil.rmtree(dst, ignore_errors=True)
    dst.mkdir(parents=True)
    platforms = [f"--platform={p}" for p in ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64",
                                               "manylinux2014_x86_64", "manylinux1_x86_64")]
    specs = [f"{n}=={v}" for n, v in pinned_versions().items()]
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                    "--python-version=3.12", "--implementation=cp", *platforms, "-d", str(dst), *specs], check=True)
    return dst


def size_mib(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=".carry", help="Folder to write (git-ignored).")
    parser.add_argument("--no-wheels", action="store_true", help="Skip the wheels (a machine whose packages already match).")
    args = parser.parse_args(argv)
    out = (ROOT / args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    print("model:", write_model(out).relative_to(ROOT))
    print("data: ", copy_mrpc(out).relative_to(ROOT))
    if not args.no_wheels:
        print("wheels:", ", ".join(sorted(p.name for p in download_wheels(out).iterdir())))
    total = size_mib(out)
    print(f"{args.out}: {total:.1f} MiB (the device carries {CARRY_LIMIT_MIB} MiB with the repository)")
    if total > CARRY_LIMIT_MIB - 4:
        raise SystemExit(f"{args.out} is too large to carry; try --no-wheels.")
    print(f"On the GPU machine (device run, carry [\"{args.out}\"]):  bash benchmarks/gpu_run.sh {args.out}")


if __name__ == "__main__":
    main()
