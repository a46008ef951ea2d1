"""benchmarks/gpu_kit.py: the float16 model it packs loads back as the same float32 network."""
import importlib.util
from pathlib import Path

import pytest
import torch

import labutils as L

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def gpu_kit():
    spec = importlib.util.spec_from_file_location("gpu_kit", ROOT / "benchmarks" / "gpu_kit.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_kit_model_is_half_the_size_and_loads_as_float32(gpu_kit, tmp_path):
    folder = gpu_kit.write_model(tmp_path)
    packaged = L.hub.packaged_model_dir()
    assert (folder / "model.safetensors").stat().st_size < 0.55 * (packaged / "model.safetensors").stat().st_size
    kit, tokenizer = L.load_base_model(L.resolve_model(str(folder)))
    ref, _ = L.load_base_model(L.resolve_model("offline"))
    assert {p.dtype for p in kit.parameters()} == {torch.float32}
    kit_sd, ref_sd = kit.state_dict(), ref.state_dict()
    encoder = [k for k in ref_sd if not k.startswith("classifier")]
    assert set(encoder) <= set(kit_sd)
    # float16 keeps 11 significant bits: every weight equals the original up to that rounding
    for k in encoder:
        assert torch.allclose(kit_sd[k], ref_sd[k], rtol=2 ** -10, atol=1e-7), k
    assert tokenizer("a test")["input_ids"] == L.load_tokenizer(L.resolve_model("offline"))("a test")["input_ids"]


def test_kit_copies_mrpc_and_names_a_missing_folder(gpu_kit, glue_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_DATA_DIR", str(glue_dir))
    out = gpu_kit.copy_mrpc(tmp_path / "kit")
    ds, _ = L.load_glue("mrpc", data_dir=str(out))
    assert len(ds["train"]) == len(L.load_glue("mrpc", data_dir=str(glue_dir))[0]["train"])
    monkeypatch.delenv("LAB_DATA_DIR")
    with pytest.raises(SystemExit, match="LAB_DATA_DIR is not set"):
        gpu_kit.copy_mrpc(tmp_path / "kit2")


def test_pinned_versions_come_from_requirements(gpu_kit):
    versions = gpu_kit.pinned_versions(("transformers", "peft"))
    requirements = (ROOT / "requirements.txt").read_text()
    assert all(f"{name}=={v}" in requirements for name, v in versions.items())
