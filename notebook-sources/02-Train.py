# %% [raw]
# # ASSIGNMENT CONFIG
# name: 02-Train
# init_cell: false
# check_all_cell: false
# export_cell: false
# run_tests: false
# tests:
#   files: true
#   ok_format: false
# generate: true

# %% [markdown]
# # 02 · Train: adapters versus full fine-tuning on MRPC
#
# **Adapter Layers lab**, notebook 2 of 6. You will
# 1. write where the adapter goes in a BERT layer (Exercise 1), then put Houlsby adapters into
#    every layer,
# 2. write the freezing rule (Exercise 2): only the adapters, the LayerNorms and the
#    classifier head train (under 2% of the parameters),
# 3. train on MRPC, watch dev accuracy and F1 epoch by epoch, and check the result against the
#    floor any model must beat (Exercise 3),
# 4. train the *full fine-tuning* baseline on the same model and data, and compare:
#    parameters, accuracy, F1, time, memory, and what must be stored per task,
# 5. save the adapter as a small file (notebook 03 loads it).
#
# In the `full` profile this trains on all of MRPC with the offline default model: about half an
# hour on a 2-core CPU (the comparison table near the end gives this run's times), a few minutes
# on a GPU. The `quick` profile trains on a small subset for a few steps, only to check that
# everything runs.

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

# %% tags=["nbval-ignore-output"]
import labutils as L

profile = L.notebook.start(PROFILE)
print(profile)
print(L.notebook.hardware())

# %% [markdown]
# Your exercises are checked as you go by `grader.check("...")` (tests in `exercise-tests/`);
# a check never stops the notebook, and the lesson goes on with the library either way.

# %%
import otter

grader = otter.Notebook(tests_dir="exercise-tests")

# %% [markdown]
# ## Model and data
# The same resolution as in notebook 01: `bert-base-uncased` online, the packaged
# all-MiniLM-L6-v2 offline. The classifier head on top is new and untrained either way.

# %% tags=["nbval-ignore-output"]
from datasets import DatasetDict

choice = L.resolve_model()
print(choice.banner())
mrpc, source = L.load_glue("mrpc")
label_names = mrpc["train"].features["label"].names
raw = DatasetDict(train=L.subsample(mrpc["train"], profile.train_rows, seed=0),
                  validation=L.subsample(mrpc["validation"], profile.eval_rows, seed=0))
model, tokenizer = L.load_base_model(choice, label_names)
data = L.tokenize(raw, tokenizer, "mrpc", max_length=profile.max_length)
print(f"data from {source}: {len(data['train'])} training pairs, {len(data['validation'])} dev pairs")

# %% [markdown]
# ## Where the adapter goes
# Each BERT layer has two sublayers, attention and the feed-forward block, and each ends in the
# same *output* module (`BertSelfOutput`, `BertOutput`): a projection `dense`, `dropout`, then
# the residual connection and a LayerNorm, `LayerNorm(dropout(dense(x)) + residual)`. Houlsby et
# al. put the adapter **after the projection and its dropout, before the residual is added and
# the LayerNorm applied**. There it sees only what the sublayer computed, and at init, when
# the adapter is the identity, the layer computes exactly what the pretrained layer did.

# %% [raw]
# # BEGIN QUESTION
# name: 02-placement
# points: 4

# %% [markdown]
# **Exercise 1 (4 points).** Write the forward pass of a sublayer output with an adapter in
# Houlsby's place. `hidden_states` is what the sublayer computed (the attention's context, or
# the feed-forward block's intermediate activations), `input_tensor` the sublayer's input (the
# residual); `dense`, `dropout`, `layer_norm` and `adapter` are modules to call. The check
# compares your function with the library's `L.AdapterSublayerOutput` on the same weights.

# %% [raw]
# # BEGIN SOLUTION

# %%
def sublayer_with_adapter(hidden_states, input_tensor, dense, dropout, layer_norm, adapter):
    # BEGIN SOLUTION
    h = dropout(dense(hidden_states))
    return layer_norm(adapter(h) + input_tensor)
    # END SOLUTION

# %% [raw]
# # END SOLUTION

# %% [raw]
# # BEGIN TESTS

# %%
""" # BEGIN TEST CONFIG
points: 1
failure_message: "not done yet: sublayer_with_adapter must return a tensor shaped like input_tensor"
""" # END TEST CONFIG
def test_done(sublayer_with_adapter):
    import torch
    from labutils.exercises import sublayer_case
    m, hs, it = sublayer_case("attention")
    try:
        out = sublayer_with_adapter(hs, it, m.dense, m.dropout, m.LayerNorm, m.adapters["task"])
    except (NameError, TypeError, AttributeError) as err:
        assert False, f"not done yet: {err}"
    assert isinstance(out, torch.Tensor) and out.shape == it.shape, "not done yet: no tensor of input_tensor's shape"

# %%
""" # BEGIN TEST CONFIG
points: 1
failure_message: "with an identity adapter this must be BERT's own sublayer, LayerNorm(dropout(dense(x)) + residual)"
""" # END TEST CONFIG
def test_bert_sublayer(sublayer_with_adapter):
    import torch
    from labutils.exercises import relative_error, sublayer_case
    m, hs, it = sublayer_case("attention", seed=1)
    m.skip = True  # the library's sublayer without its adapter: BERT's own
    out = sublayer_with_adapter(hs, it, m.dense, m.dropout, m.LayerNorm, torch.nn.Identity())
    assert isinstance(out, torch.Tensor), "not done yet"
    err = relative_error(out, m(hs, it))
    print(f"identity adapter: relative error vs BERT's sublayer {err:.1e} (must be < 1e-6)")
    assert err < 1e-6

# %%
""" # BEGIN TEST CONFIG
points: 1
failure_message: "differs from L.AdapterSublayerOutput: the adapter goes after dense and dropout, before the residual and the LayerNorm"
""" # END TEST CONFIG
def test_equals_library(sublayer_with_adapter):
    from labutils.exercises import relative_error, sublayer_case
    import torch
    m, hs, it = sublayer_case("attention", seed=2)
    out = sublayer_with_adapter(hs, it, m.dense, m.dropout, m.LayerNorm, m.adapters["task"])
    assert isinstance(out, torch.Tensor), "not done yet"
    err = relative_error(out, m(hs, it))
    print(f"relative error vs L.AdapterSublayerOutput: {err:.1e} (must be < 1e-6)")
    assert err < 1e-6

# %%
""" # BEGIN TEST CONFIG
hidden: true
points: 1
""" # END TEST CONFIG
def test_ffn_sublayer(sublayer_with_adapter):
    from labutils.exercises import relative_error, sublayer_case
    m, hs, it = sublayer_case("ffn", hidden=48, bottleneck=6, seed=3)
    out = sublayer_with_adapter(hs, it, m.dense, m.dropout, m.LayerNorm, m.adapters["task"])
    assert relative_error(out, m(hs, it)) < 1e-6

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [markdown]
# ## Inserting the adapters
# `L.add_adapter` replaces the two sublayer outputs of every transformer layer
# (`attention.output` and `output`) by `L.AdapterSublayerOutput`, which runs the adapter in the
# place Exercise 1 is about, and adds a `BottleneckAdapter` to each. The reduction factor 16
# gives a bottleneck of $m = d/16$. Print one layer to see the adapters in place:
#
# > **Where the handout is wrong:** its code starts with `from peft import AdapterConfig`.
# > peft has no bottleneck adapters and no `AdapterConfig` (checked with the peft 0.21 installed
# > here): the import fails with `ImportError: cannot import name 'AdapterConfig' from 'peft'`.
# > (peft's `AdaptionPromptConfig` is LLaMA-Adapter, a prompt method, not a bottleneck.) In the
# > Hugging Face world bottleneck adapters come from AdapterHub's separate `adapters` package;
# > this lab writes its own. Beware the name: the lab's class below is *also* called
# > `AdapterConfig` (`L.AdapterConfig`, from `labutils.config`), which may be why the handout's
# > line looks right. It is the lab's, not peft's, and so are its fields (`reduction_factor`,
# > `placement`, `mode`, ...).

# %% tags=["nbval-ignore-output"]
config = L.AdapterConfig(reduction_factor=profile.reduction_factor, placement="houlsby")
L.add_adapter(model, "mrpc", config)
print(L.encoder_layers(model)[0])

# %% [markdown]
# Notebooks get re-run cell by cell. Running the injection again must not wrap a layer twice or
# add a second set of adapters: `add_adapter` sees the adapter is already there with the same
# config and does nothing.

# %% tags=["nbval-check-output"]
n_before = sum(p.numel() for p in model.parameters())
L.add_adapter(model, "mrpc", config)  # as if this cell ran twice
n_adapter = sum(p.numel() for n, p in model.named_parameters() if ".adapters.mrpc." in n)
L.notebook.check("second injection changed nothing", n_before == sum(p.numel() for p in model.parameters()))
L.notebook.check("adapter parameters equal layers x 2 x (2dm + d + m)", n_adapter == L.adapter_parameter_count(model, "mrpc"))

# %% [markdown]
# ## Freezing the base
# The paper trains the adapters, the LayerNorm parameters and the task's head; everything else
# keeps its pretrained value. A model can hold several tasks' adapters (notebook 03 does), and
# only the task being trained has its adapter train.

# %% [raw]
# # BEGIN QUESTION
# name: 02-freeze
# points: 3

# %% [markdown]
# **Exercise 2 (3 points).** Write the paper's rule as a function of a parameter's name:
# `trains(name, task)` is True for the adapter of `task` (its names contain
# `.adapters.<task>.`), every LayerNorm, and the classifier head (`classifier.weight`,
# `classifier.bias`); False for everything else, other tasks' adapters and the pooler included.
# Print `model`'s parameter names to see them. The check applies your rule to a small BERT with
# two adapters and counts what trains, against `L.freeze_for_adapters`.

# %% [raw]
# # BEGIN SOLUTION

# %%
def trains(name: str, task: str = "mrpc") -> bool:
    # BEGIN SOLUTION
    if ".adapters." in name:
        return f".adapters.{task}." in name
    return "LayerNorm" in name or name.split(".")[0] == "classifier"
    # END SOLUTION

# %% [raw]
# # END SOLUTION

# %% [raw]
# # BEGIN TESTS

# %%
""" # BEGIN TEST CONFIG
points: 1
failure_message: "not done yet: trains(name, task) must return True or False"
""" # END TEST CONFIG
def test_done(trains):
    try:
        answer = trains("classifier.weight", "mrpc")
    except (NameError, TypeError, AttributeError) as err:
        assert False, f"not done yet: {err}"
    assert isinstance(answer, bool), "not done yet: trains returns no True/False"

# %%
""" # BEGIN TEST CONFIG
points: 1
failure_message: "your rule does not train what L.freeze_for_adapters trains: the active adapter, every LayerNorm and the classifier"
""" # END TEST CONFIG
def test_same_as_library(trains):
    import labutils as L
    from labutils.exercises import freezing_case
    assert isinstance(trains("classifier.weight", "mrpc"), bool), "not done yet"
    model, names, ref = freezing_case("mrpc")
    mine = {n for n in names if trains(n, "mrpc")}
    yours = sum(p.numel() for n, p in model.named_parameters() if n in mine)
    print(f"your rule trains {yours:,} parameters of the small BERT, "
          f"L.parameter_report {L.parameter_report(model)['trainable']:,}")
    for n in sorted(mine - ref)[:3]:
        print("  trains but should not:", n)
    for n in sorted(ref - mine)[:3]:
        print("  should train but does not:", n)
    assert mine == ref

# %%
""" # BEGIN TEST CONFIG
hidden: true
points: 1
""" # END TEST CONFIG
def test_other_task(trains):
    from labutils.exercises import freezing_case
    model, names, ref = freezing_case("sst2", seed=1)
    assert {n for n in names if trains(n, "sst2")} == ref

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [markdown]
# The lab freezes with `L.freeze_for_adapters`, the same rule with one choice left to the model:
# the pooler under the head (a dense layer over the `[CLS]` token) trains only where the
# model's rule says so: frozen on `bert-base-uncased`, as in the paper (it was pretrained on
# next-sentence prediction), and trained on the packaged MiniLM, whose pooler never learned a
# sentence-level task. Notebook 04 measures both.

# %% tags=["nbval-ignore-output"]
L.freeze_for_adapters(model)  # the pooler as the model's rule says; train_pooler=True/False overrides
adapter_report = L.parameter_report(model)
print(choice.pooler_note())
print(L.format_parameter_report(adapter_report))

# %% tags=["nbval-check-output"]
groups_training = {g for g, c in adapter_report["groups"].items() if c["trainable"]}
print("groups that train:", sorted(groups_training))
L.notebook.check("every pretrained weight frozen", adapter_report["groups"]["base"]["trainable"] == 0)
base_before = L.base_checksum(model)

# %% [markdown]
# ## Training the adapters
# `Trainer` from Hugging Face runs the loop: AdamW, linear warm-up and decay, evaluation on the
# dev set after every epoch, mixed precision on GPUs, and several GPUs under `accelerate launch`
# with no change here. Batches are grouped by length and padded per batch (dynamic padding).
# Adapters start near the identity and learn from scratch, so they take a much larger learning
# rate than full fine-tuning. Houlsby et al. swept the learning rate over
# $\{3\cdot10^{-5}, 3\cdot10^{-4}, 3\cdot10^{-3}\}$ on GLUE (with BERT-Large), together with
# adapter sizes $\{8, 64, 256\}$ and 3 or 20 epochs, at batch size 32. The small offline model's
# 24-wide bottleneck gets $2\cdot10^{-3}$ in the `full` profile, for 10 epochs at batch size 32.

# %% tags=["nbval-ignore-output"]
L.set_seed(0)
steps_per_epoch = -(-len(data["train"]) // profile.batch_size)
adapter_args = L.training_arguments(
    str(L.notebook.output_dir("runs", "02-adapter")), epochs=profile.adapter_epochs,
    learning_rate=profile.adapter_lr, batch_size=profile.batch_size, seed=0,
    logging_steps=max(1, steps_per_epoch // 4))
adapter_result = L.train(model, tokenizer, data["train"], data["validation"], adapter_args)
print(f"adapters: dev accuracy {adapter_result.metrics['eval_accuracy']:.3f}, F1 {adapter_result.metrics['eval_f1']:.3f}, "
      f"{adapter_result.train_seconds:.0f} s on {adapter_result.device} ({adapter_result.precision})")

# %% [markdown]
# **How good is that?** On MRPC a model that always answers "equivalent" is right on about two
# thirds of the dev pairs, so an accuracy means something only above that floor.

# %% [raw]
# # BEGIN QUESTION
# name: 02-trained
# points: 2

# %% [markdown]
# **Exercise 3 (2 points).** Compute `majority_acc`, the dev accuracy of always answering the
# most frequent label of `raw["validation"]` (a float between 0 and 1). The check then compares
# the adapters' dev accuracy with it: in the `full` profile they must beat it by **at least 5
# points** (measured: 79.2-79.4% against 68.4% with the offline MiniLM; `bert-base-uncased` does
# better), a margin that holds on CPU and GPU and across seeds. The `quick` profile trains a
# few steps on 192 pairs, so there the check only confirms that training ran and evaluated.

# %% [raw]
# # BEGIN SOLUTION

# %%
import numpy as np

majority_acc = float(np.bincount(list(raw["validation"]["label"])).max() / len(raw["validation"]))  # SOLUTION

# %% [raw]
# # END SOLUTION

# %% [raw]
# # BEGIN TESTS

# %%
""" # BEGIN TEST CONFIG
points: 1
failure_message: "not done yet: majority_acc must be the share of the most frequent label among the dev pairs"
""" # END TEST CONFIG
def test_majority(majority_acc, raw):
    import numpy as np
    assert isinstance(majority_acc, float), "not done yet: majority_acc is not a float"
    labels = np.asarray(list(raw["validation"]["label"]))
    want = max(np.mean(labels == k) for k in np.unique(labels))
    print(f"majority_acc = {majority_acc:.4f}, the dev labels give {want:.4f}")
    assert abs(majority_acc - want) < 1e-9

# %%
""" # BEGIN TEST CONFIG
points: 1
failure_message: "the adapters did not beat the majority class by 5 points of dev accuracy (full profile), or training did not run"
""" # END TEST CONFIG
def test_beats_the_floor(majority_acc, adapter_result, profile):
    assert isinstance(majority_acc, float), "not done yet: majority_acc is not a float"
    acc = adapter_result.metrics["eval_accuracy"]
    assert adapter_result.history, "training recorded no history"
    if profile.name != "full":
        print(f"profile {profile.name}: this check only checks that training ran (dev accuracy {acc:.3f})")
        return
    print(f"adapters: dev accuracy {acc:.3f}, majority class {majority_acc:.3f}, need at least {majority_acc + 0.05:.3f}")
    assert acc >= majority_acc + 0.05

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [markdown]
# Did training leave the pretrained weights alone? Compare a checksum of every frozen
# parameter with the one taken before training.

# %% tags=["nbval-check-output"]
L.notebook.check("pretrained weights bit-identical after training", L.base_checksum(model) == base_before)

# %% tags=["nbval-ignore-output"]
L.plots.plot_training_curves({"Houlsby adapters": adapter_result}, title="Adapter training on MRPC");

# %% [markdown]
# **Read the dev loss, not only the accuracy.** In the `full` profile the adapter's dev loss
# (in `Trainer`'s per-epoch output above, and in the history the results file keeps) reaches
# its lowest after a few epochs and then climbs, while the training loss keeps falling and dev
# accuracy barely moves. That is overfitting, showing in the loss before it shows in the
# accuracy: the model grows over-confident. By the last epoch the dev pairs it gets wrong, it
# gets wrong with probabilities near 1 (notebook 03 lists the most confident of them), which the
# cross-entropy loss punishes hard, while the number of pairs on the right side of 0.5 hardly
# changes. The usual answer is to keep the best checkpoint instead of the last one: with
# `Trainer`, `save_strategy="epoch"`, `load_best_model_at_end=True` and
# `metric_for_best_model="eval_loss"` (or `"accuracy"`), or early stopping. This lab keeps the
# last epoch, for simplicity and reproducibility: every run ends at the same, fixed point, and
# notebook 03 loads exactly this model. (Picking the epoch on the dev set would also make the
# dev accuracy reported here a little optimistic, since it would be chosen on the very pairs it
# is measured on.)
#
# ## The baseline: full fine-tuning
# Same model, same data, same batch size and seed, every parameter trained, with the learning
# rate that suits full fine-tuning of BERT-style models ($5\cdot10^{-5}$, the top of the BERT
# paper's GLUE grid). The BERT paper trains 3 epochs; the `full` profile gives the small offline
# model 5, because with 3 its dev loss was still falling steeply at the end.

# %% tags=["nbval-ignore-output"]
L.set_seed(0)
full_model, _ = L.load_base_model(choice, label_names)
L.unfreeze_all(full_model)
full_report = L.parameter_report(full_model)
full_args = L.training_arguments(
    str(L.notebook.output_dir("runs", "02-full")), epochs=profile.full_epochs,
    learning_rate=profile.full_lr, batch_size=profile.batch_size, seed=0,
    logging_steps=max(1, steps_per_epoch // 4))
full_result = L.train(full_model, tokenizer, data["train"], data["validation"], full_args)
print(f"full fine-tuning: dev accuracy {full_result.metrics['eval_accuracy']:.3f}, F1 {full_result.metrics['eval_f1']:.3f}, "
      f"{full_result.train_seconds:.0f} s")

# %% [markdown]
# ## Saving the adapter alone
# A task's adapter file holds the adapter weights, the LayerNorms and the head (all that
# training changed) in safetensors, plus a JSON config that records the base model, sizes and
# placement, so loading it into the wrong model fails loudly. Full fine-tuning must store the
# whole model for every task.

# %% tags=["nbval-ignore-output"]
adapter_dir = L.save_adapter(model, L.notebook.output_dir("adapters") / "mrpc", task="mrpc")
adapter_bytes = L.io.adapter_file_size(adapter_dir)
full_bytes = L.io.model_file_size(full_model)
print(f"adapter folder {L.notebook.shown(adapter_dir)}: {adapter_bytes / 1e6:.2f} MB")
print(f"full fine-tuned model:            {full_bytes / 1e6:.1f} MB  ({full_bytes / adapter_bytes:.0f}x larger)")

# %% tags=["nbval-check-output"]
L.notebook.check("adapter file under 5% of the full model", adapter_bytes < 0.05 * full_bytes)

# %% [markdown]
# ## Side by side
# Read the train-time column together with the `epochs` column: in the `full` profile the
# adapters train for 10 epochs and full fine-tuning for 5, so the totals compare unlike runs and
# do not say which method trains faster. Compare the `time per epoch (s)` column instead. (One
# run's wall clock on a shared CPU can swing by more than the difference between the two;
# notebook 05 gives every method the same 2 epochs and several seeds.) The stored run's times
# per epoch, 105.2 s against 145.4 s (1.38x), lie between a quiet earlier run of the same
# kind of 2-core machine (88.9 s against 116.9 s, 1.32x) and a slow one earlier the same day
# (123.3 s against 157.4 s, 1.28x): the machines are shared, and the wall clock swings by up
# to 40% from run to run while the ratio stays between 1.28x and 1.38x.
#
# > **Where the handout is wrong:** it says adapters train 7-15x faster than full fine-tuning.
# > Measured at equal work, they are at best about 1.1-1.4x faster: see the time per epoch in the
# > table below (one run each), 252-283 s against 377 s for the same 2 epochs in notebook 05
# > (the adapter methods against full fine-tuning, 1.3-1.5x, means of three seeds), and
# > 1.14-1.38x per training step in `make bench`, where the two
# > take turns (`benchmarks/RESULTS.md`); on an H100 at this batch size adapters were no faster
# > at all (0.87-0.92x per step: the GPU waits on kernel launches, not arithmetic). The
# > arithmetic caps the gain near 1.5x. The frozen
# > base still runs its forward pass, and its backward pass too, because the adapters in the
# > lowest layer need the gradient passed down through every layer above them; freezing saves
# > only the gradients *of the frozen weights*. For $N$ weights that is about $6N$ FLOPs per
# > token with full fine-tuning (forward $2N$, gradients of the activations $2N$, of the weights
# > $2N$) against about $4N$ with adapters. Where adapters do win by large factors is what is
# > trained and stored: 92 against 347 MiB of weights, gradients and Adam state, and a per-task
# > file 59x smaller (table below).

# %% tags=["nbval-ignore-output"]
import pandas as pd

comparison = pd.DataFrame([
    L.summary_row("Houlsby adapters", adapter_result, adapter_report, adapter_bytes),
    L.summary_row("full fine-tuning", full_result, full_report, full_bytes),
]).set_index("method")
comparison

# %% tags=["nbval-ignore-output"]
L.plots.plot_training_curves({"Houlsby adapters": adapter_result, "full fine-tuning": full_result},
                             title=f"MRPC, {choice.display_name}, profile {profile.name}");

# %% tags=["nbval-ignore-output"]
acc_a, acc_f = (100 * r.metrics["eval_accuracy"] for r in (adapter_result, full_result))
f1_a, f1_f = (100 * r.metrics["eval_f1"] for r in (adapter_result, full_result))
print(f"Adapters, training {adapter_report['trainable_pct_of_base']:.2f}% of the parameters: dev accuracy "
      f"{acc_a:.1f}% against {acc_f:.1f}% for full fine-tuning ({acc_a - acc_f:+.1f} points), F1 {f1_a:.1f} "
      f"against {f1_f:.1f} ({f1_a - f1_f:+.1f}); each task stores {full_bytes / adapter_bytes:.0f}x less.")

# %% [markdown]
# ## Results for the instructor
# Everything above, as JSON in `outputs/results/02-train.json`.

# %% tags=["nbval-ignore-output"]
results = {
    "notebook": "02-Train", "profile": profile.to_dict(), "model": choice.display_name,
    "offline_default": choice.offline_default, "data": source, "hardware": L.notebook.hardware(),
    "adapter": {"config": config.to_dict(), **comparison.loc["Houlsby adapters"].to_dict(),
                "metrics": adapter_result.metrics, "history": adapter_result.history},
    "full_finetuning": {**comparison.loc["full fine-tuning"].to_dict(), "metrics": full_result.metrics,
                        "history": full_result.history},
}
print("wrote", L.notebook.shown(L.notebook.write_results("02-train", results)))

# %% [markdown]
# ## Further exercises (not graded)
# 1. Put the adapter after the LayerNorm instead (`LayerNorm(dropout(dense(x)) + residual)`,
#    then the adapter). Is the layer still the pretrained one at init? What does the LayerNorm
#    no longer do for the adapter's output?
# 2. Freeze the LayerNorms too (`L.freeze_for_adapters(model, train_layernorm=False)`) and
#    train again. How many parameters does that save, and what does it cost in dev accuracy?
# 3. The adapter's dev loss rose after a few epochs. Train with `load_best_model_at_end=True`
#    and `metric_for_best_model="eval_loss"`: which epoch wins, and why is its dev accuracy a
#    little optimistic?

# %% [markdown]
# **Next:** `03-Inference.ipynb` loads the saved adapter into a fresh base model, checks that it
# predicts exactly as the trained one, and serves several tasks from one frozen base.
