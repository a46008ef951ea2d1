"""Which parameter-efficient method to use: the lab's decision tree (notebook 05, exercise 05-choose).

The answer is a row of notebook 05, or None. Grounded in 05's comparison (MRPC, 2 epochs, 3 seeds) and the papers:
- Houlsby adapters and LoRA landed within the seed noise of full fine-tuning; IA3, prefix tuning and the scaled
  parallel adapter about 3 points below, beyond the noise; prompt tuning at the majority class (Lester et al.
  2021 found it competitive only from about 10^10 parameters).
- Only updates that fold into the frozen weights leave inference at the base model's cost: LoRA's BA adds to W
  (Hu et al. 2022), IA3's vectors rescale W_k, W_v and the FFN's output projection (Liu et al. 2022). Adapters,
  prefix and prompt tuning add compute at every step (05's latency column).
- With one task and no limit on what trains, full fine-tuning (the reference) runs at the base model's latency.
Prefix tuning and the scaled parallel adapter are never chosen: LoRA costs less and scores at least as well.
Houlsby against LoRA above Houlsby's share is within the noise; the tree keeps the paper's adapter there.
"""

# Share of the base model's parameters each method trains besides the classifier head, in %:
# the upper ends over MiniLM (d = 384) and BERT-base (d = 768), notebook 05's footprints
# (Houlsby m = d/16: 1.04 / 1.67; LoRA r = 8 on query and value: 0.32 / 0.27; IA3: 0.06 / 0.05).
SHARE_PCT = {"Houlsby adapters": 1.7, "LoRA": 0.35, "IA3": 0.07}
PROMPT_TUNING_MIN_PARAMS = 1e10  # Lester et al. (2021): competitive with full fine-tuning from ~10B


def choose_method(n_tasks: int, trainable_budget_pct: float, need_base_latency: bool,
                  model_params: float = 110e6):
    """The method to use (a row name of notebook 05), or None when nothing fits.

    n_tasks share the base model; trainable_budget_pct is the most you may train and store per task, in % of
    the base model's parameters besides the head; need_base_latency: inference must cost what the base costs.
    """
    if n_tasks == 1 and trainable_budget_pct >= 100:
        return "full fine-tuning"
    mergeable = ["LoRA", "IA3"]
    order = mergeable if need_base_latency else ["Houlsby adapters", *mergeable]
    for name in order:
        if trainable_budget_pct >= SHARE_PCT[name]:
            return name
    if not need_base_latency and model_params >= PROMPT_TUNING_MIN_PARAMS:
        return "prompt tuning"
    return None
