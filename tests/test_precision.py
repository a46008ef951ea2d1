"""The training precision is chosen by the GPU's compute capability (faked here: CI has no GPU)."""
import pytest
import torch

from labutils.device import pick_precision


@pytest.mark.parametrize("capability, expected", [
    ((7, 5), "fp16"),   # T4 (free Colab): is_bf16_supported() says True, but bf16 is only emulated
    ((7, 0), "fp16"),   # V100
    ((8, 0), "bf16"),   # A100
    ((8, 6), "bf16"),   # A10 / RTX 30xx
    ((9, 0), "bf16"),   # H100
])
def test_precision_follows_compute_capability(monkeypatch, capability, expected):
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    # What torch answers on a T4 too (emulation counts), so it must not decide.
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert pick_precision("cuda") == expected
    assert pick_precision("cuda:0") == expected


def test_cpu_and_mps_train_in_fp32():
    assert pick_precision("cpu") == "fp32"
    assert pick_precision("mps") == "fp32"
