"""recipes.saved_adapter_matches: reuse a saved adapter only for the same base weights and config."""
import labutils as L
from labutils.recipes import saved_adapter_matches

from conftest import make_tiny_model


def test_a_saved_adapter_is_reused_only_by_the_same_base(tmp_path, tiny_choice, tokenizer):
    config = L.AdapterConfig(bottleneck=4)
    model, _ = L.load_base_model(tiny_choice)
    L.add_adapter(model, "mrpc", config)
    folder = L.save_adapter(model, tmp_path / "adapters" / "mrpc")
    assert saved_adapter_matches(folder, tiny_choice, config)
    assert not saved_adapter_matches(folder, tiny_choice, L.AdapterConfig(bottleneck=8))
    assert not saved_adapter_matches(tmp_path / "adapters" / "none", tiny_choice, config)

    # Another model whose folder has the same name ("tiny-bert") but other weights.
    other = tmp_path / "elsewhere" / "tiny-bert"
    make_tiny_model(seed=1, layers=3).save_pretrained(other)
    tokenizer.save_pretrained(other)
    other_choice = L.ModelChoice(str(other), "tiny-bert", False, "test")
    assert not saved_adapter_matches(folder, other_choice, config)
