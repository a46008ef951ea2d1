"""Saving never deletes what the lab did not write, a save cut short at any step (error,
Ctrl-C, SIGKILL) leaves a loadable adapter, and a damaged adapter_config.json or weights file
is refused with the folder, the problem and the fix."""
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

import labutils as L
from labutils import folder_format as FF, io as IO
from labutils.switching import task_tensors
from conftest import make_tiny_model, trained_like


def _adapted(seed):
    return trained_like(make_tiny_model(), seed=seed)


@pytest.fixture(scope="module")
def models():
    """Three adapters told apart by their weights: the saved one, the one being saved, a later one."""
    return {"old": _adapted(1), "new": _adapted(2), "later": _adapted(3)}


def _state(model):
    return {k: v.clone() for k, v in task_tensors(model, "mrpc").items()}


def _loaded_as(folder, models):
    """Which of `models` a fresh load of `folder` reproduces exactly ("neither" if none)."""
    fresh = make_tiny_model()
    IO.load_adapter(fresh, folder)
    got = _state(fresh)
    for label, model in models.items():
        want = _state(model)
        if got.keys() == want.keys() and all(torch.equal(got[k], want[k]) for k in got):
            return label
    return "neither"


def _snapshot(root: Path) -> dict:
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


# ---------------------------------------------------------------- 1. nothing but an adapter folder is replaced

def _notes_file(tmp_path):
    path = tmp_path / "adapters"
    path.write_text("my notes")
    return path, "is a file"


def _project_folder(tmp_path):
    path = tmp_path / "project"
    (path / "data").mkdir(parents=True)
    (path / "data" / "train.tsv").write_text("a\tb\n")
    (path / "analysis.ipynb").write_text("{}")
    return path, r"2 other entries \(analysis.ipynb, data\)"


def _folder_of_adapters(tmp_path):
    path = tmp_path / "adapters"
    for task, seed in (("mrpc", 1), ("rte", 2), ("sst2", 3)):
        IO.save_adapter(_adapted(seed), path / task)
    (path / "notes.txt").write_text("lr 1e-3 was best")
    return path, r"3 adapter folders \(mrpc, rte, sst2\) and 1 other entry \(notes.txt\)"


def _peft_adapter(tmp_path):
    path = tmp_path / "lora"
    path.mkdir()
    (path / IO.CONFIG_FILE).write_text(json.dumps({"peft_type": "LORA", "r": 8}))
    (path / IO.WEIGHTS_FILE).write_bytes(b"peft weights")
    return path, "labutils did not write"


def _weights_without_config(tmp_path):
    path = tmp_path / "a"
    path.mkdir()
    (path / IO.WEIGHTS_FILE).write_bytes(b"weights")
    return path, "no adapter_config.json"


def _config_among_other_files(tmp_path):
    path = IO.save_adapter(_adapted(1), tmp_path / "a")
    (path / "eval_results.json").write_text("{}")
    return path, r"1 other entry \(eval_results.json\)"


@pytest.mark.parametrize("make", [_notes_file, _project_folder, _folder_of_adapters, _peft_adapter,
                                  _weights_without_config, _config_among_other_files])
def test_save_refuses_to_replace_what_the_lab_did_not_write(tmp_path, make, models):
    path, what = make(tmp_path)
    before = _snapshot(tmp_path)
    with pytest.raises(IO.AdapterFileError, match="will not replace") as err:
        IO.save_adapter(models["new"], path)
    message = str(err.value)
    assert f"will not replace {path.name}: it " in message
    assert str(tmp_path) not in message  # the folder by its name, not the machine's temp path
    assert re.search(what, message), message
    assert "folder of its own" in message and "delete" in message and "yourself" in message
    assert _snapshot(tmp_path) == before  # nothing deleted, no copy left beside


def test_refusal_of_a_folder_of_adapters_names_a_subfolder(tmp_path, models):
    path, _ = _folder_of_adapters(tmp_path)
    with pytest.raises(IO.AdapterFileError, match=re.escape(f"e.g. {path.name}/mrpc")):
        IO.save_adapter(models["new"], path)
    assert all(_loaded_as(path / task, {"x": _adapted(s)}) == "x" for task, s in (("mrpc", 1), ("rte", 2), ("sst2", 3)))


def test_messages_name_a_folder_below_the_working_folder_by_its_relative_path(tmp_path, monkeypatch, models):
    monkeypatch.chdir(tmp_path)
    path, _ = _folder_of_adapters(tmp_path / "outputs")
    with pytest.raises(IO.AdapterFileError, match=re.escape("will not replace outputs/adapters: it holds")) as err:
        IO.save_adapter(models["new"], path)
    assert "e.g. outputs/adapters/mrpc" in str(err.value)
    with pytest.raises(IO.AdapterFileError, match=re.escape("outputs/nowhere does not exist")):
        IO.read_adapter_config(tmp_path / "outputs" / "nowhere")


@pytest.mark.skipif(os.name == "nt", reason="symbolic links need privileges on Windows")
def test_save_refuses_a_symbolic_link(tmp_path, models):
    target = IO.save_adapter(models["old"], tmp_path / "real")
    link = tmp_path / "link"
    link.symlink_to(target)
    with pytest.raises(IO.AdapterFileError, match="symbolic link"):
        IO.save_adapter(models["new"], link)
    assert link.is_symlink() and _loaded_as(target, models) == "old"


@pytest.mark.parametrize("existing", ["empty folder", "adapter folder"])
def test_save_replaces_an_empty_or_adapter_folder(tmp_path, existing, models):
    folder = tmp_path / "a"
    if existing == "empty folder":
        folder.mkdir()
    else:
        IO.save_adapter(models["old"], folder)
    IO.save_adapter(models["new"], folder)
    assert _loaded_as(folder, models) == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["a"]


# ---------------------------------------------------------------- 2. a save cut short at any step

# The file-system steps of a save over an existing adapter, in order (checked below).
STEPS = ["save_file", "write_json", "replace folder->old", "replace new->folder", "rmtree old"]


class StepFailure:
    """Make the k-th step of a save raise `exc` (and, if `persistent`, every later step too)."""

    def __init__(self, monkeypatch, k=None, exc=OSError, persistent=False):
        self.k, self.exc, self.persistent, self.calls = k, exc, persistent, []
        import safetensors.torch as st
        for owner, attr, label in ((st, "save_file", "save_file"), (FF, "_write_json", "write_json"),
                                   (os, "replace", "replace"), (shutil, "rmtree", "rmtree")):
            monkeypatch.setattr(owner, attr, self._wrap(getattr(owner, attr), label))

    def _wrap(self, real, label):
        def step(*args, **kwargs):
            self.calls.append(label)
            n = len(self.calls)
            if self.k is not None and (n == self.k or (self.persistent and n > self.k)):
                raise self.exc(f"injected at step {n} ({label})")
            return real(*args, **kwargs)
        return step


def test_the_steps_are_as_the_failure_tests_assume(tmp_path, monkeypatch, models):
    folder = IO.save_adapter(models["old"], tmp_path / "a")
    recorder = StepFailure(monkeypatch)
    IO.save_adapter(models["new"], folder)
    assert recorder.calls == ["save_file", "write_json", "replace", "replace", "rmtree"]


def _invariant_holds(folder):
    """The name holds a complete adapter, or a complete copy waits beside it."""
    beside = [p for p in folder.parent.iterdir() if p.name.startswith(f".{folder.name}.")]
    return IO.ADAPTER_FOLDER.is_complete(folder) or any(IO.ADAPTER_FOLDER.is_complete(p) for p in beside)


# (exception, persistent) -> what a load finds after a failure at each step. An error undoes the save
# (the previous adapter stays) unless the new one was already in place; Ctrl-C after the new copy was
# complete finishes the swap; a failure that also blocks the roll-back leaves both copies beside the
# name and the next load puts back the newest.
EXPECTED = {
    (OSError, False): ["old", "old", "old", "old", "new"],
    (OSError, True): ["old", "old", "old", "new", "new"],
    (KeyboardInterrupt, False): ["old", "old", "new", "new", "new"],
    (KeyboardInterrupt, True): ["old", "old", "old", "new", "new"],
}


@pytest.mark.parametrize("exc, persistent", list(EXPECTED), ids=["error", "error-always", "ctrl-c", "ctrl-c-always"])
@pytest.mark.parametrize("k", range(1, len(STEPS) + 1), ids=STEPS)
def test_a_save_cut_short_at_any_step_leaves_a_loadable_adapter(tmp_path, monkeypatch, models, exc, persistent, k):
    folder = IO.save_adapter(models["old"], tmp_path / "a")
    with monkeypatch.context() as patch:
        StepFailure(patch, k, exc, persistent)
        cleanup_only = exc is OSError and STEPS[k - 1] == "rmtree old"
        if cleanup_only:  # the new adapter is in place; only the old copy could not be removed
            with pytest.warns(UserWarning, match="could not be removed"):
                IO.save_adapter(models["new"], folder)
        else:
            with pytest.raises(exc, match="injected"):
                IO.save_adapter(models["new"], folder)
    assert _invariant_holds(folder)
    assert _loaded_as(folder, models) == EXPECTED[(exc, persistent)][k - 1]
    assert [p.name for p in tmp_path.iterdir()] == ["a"]  # the load cleared the leftovers
    IO.save_adapter(models["later"], folder)
    assert _loaded_as(folder, models) == "later"
    assert [p.name for p in tmp_path.iterdir()] == ["a"]


def test_a_first_save_that_fails_leaves_nothing(tmp_path, monkeypatch, models):
    with monkeypatch.context() as patch:
        StepFailure(patch, 3, OSError)  # save_file, write_json, then the rename into place
        with pytest.raises(OSError, match="injected"):
            IO.save_adapter(models["new"], tmp_path / "a")
    assert list(tmp_path.iterdir()) == []


CHILD = textwrap.dedent("""
    import os, signal, sys
    sys.path[:0] = sys.argv[3:]
    from labutils import io as IO
    from conftest import make_tiny_model, trained_like

    model = make_tiny_model()
    IO.load_adapter(model, sys.argv[1])
    real, calls = os.replace, []

    def dying(src, dst):
        calls.append(src)
        if len(calls) == 2:  # the old folder is aside, the new copy not yet in place
            os.kill(os.getpid(), signal.SIGKILL)
        return real(src, dst)

    os.replace = dying
    IO.save_adapter(model, sys.argv[2])
""")


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_a_save_killed_between_the_renames_loses_nothing(tmp_path, models):
    ref = IO.save_adapter(models["new"], tmp_path / "ref" / "mrpc")
    folder = IO.save_adapter(models["old"], tmp_path / "out" / "mrpc")
    here = Path(__file__).parent
    child = subprocess.run([sys.executable, "-c", CHILD, str(ref), str(folder), str(here.parent), str(here)],
                           capture_output=True, text=True, timeout=120)
    assert child.returncode == -signal.SIGKILL, child.stderr
    assert not folder.exists() and _invariant_holds(folder)  # killed exactly at the dangerous moment
    assert _loaded_as(folder, models) == "new"  # the newest complete copy was put back
    assert [p.name for p in folder.parent.iterdir()] == ["mrpc"]
    IO.save_adapter(models["later"], folder)
    assert _loaded_as(folder, models) == "later"
    assert [p.name for p in folder.parent.iterdir()] == ["mrpc"]


def test_leftovers_of_earlier_versions_are_recovered(tmp_path, models):
    # What the previous labutils left when killed between its renames: `.a.old-<pid>`, `.a.tmp-<random>`.
    IO.save_adapter(models["old"], tmp_path / "x")
    IO.save_adapter(models["new"], tmp_path / "y")
    os.replace(tmp_path / "x", tmp_path / ".a.old-4194999")  # above Linux's pid_max: no such process
    os.replace(tmp_path / "y", tmp_path / ".a.tmp-k2j4_x9q")
    assert IO.read_adapter_config(tmp_path / "a")["adapter_name"] == "mrpc"
    assert _loaded_as(tmp_path / "a", models) == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["a"]


def test_leftovers_stay_while_the_name_is_not_complete(tmp_path, models):
    folder = IO.save_adapter(models["new"], tmp_path / "a")
    spare = IO.save_adapter(models["old"], tmp_path / "b")
    os.replace(spare, tmp_path / ".a.old-4194999-abcd1234")
    weights = folder / IO.WEIGHTS_FILE
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01
    weights.write_bytes(bytes(data))
    with pytest.raises(IO.AdapterFileError, match="checksum"):
        IO.load_adapter(make_tiny_model(), folder)
    assert IO.ADAPTER_FOLDER.is_complete(tmp_path / ".a.old-4194999-abcd1234")  # the only good copy is kept


def test_a_copy_a_running_process_is_writing_is_left_alone(tmp_path, models):
    folder = IO.save_adapter(models["old"], tmp_path / "a")
    busy = tmp_path / f".a.new-{os.getppid()}-abcd1234"  # the parent process is alive
    shutil.copytree(folder, busy)
    assert _loaded_as(folder, models) == "old"
    assert busy.is_dir()


# ---------------------------------------------------------------- 3. a damaged adapter_config.json

def _edit(key_or_fn):
    def edit(meta):
        if callable(key_or_fn):
            return key_or_fn(meta)
        del meta[key_or_fn]
        return json.dumps(meta).encode()
    return edit


@pytest.mark.parametrize("edit, problem", [
    (_edit("label_names"), r"lacks \['label_names'\]"),
    (_edit("adapter_name"), r"lacks \['adapter_name'\]"),
    (_edit("sha256"), r"lacks \['sha256'\].*would go unnoticed"),
    (_edit("format"), "format None, expected 'labutils-adapter'"),
    (lambda meta: json.dumps({**meta, "format_version": "1"}).encode(), "format_version '1' is not 1"),
    (lambda meta: b"[]", "holds a JSON list, not an object"),
    (lambda meta: b'"labutils-adapter"', "holds a JSON str"),
    (lambda meta: b"\xff\xfe\x00\x81binary", "not text .byte 0 is not UTF-8."),
    (lambda meta: json.dumps({**meta, "label_names": "equivalent"}).encode(), "label_names is 'equivalent'"),
    (lambda meta: json.dumps({**meta, "adapter": [4]}).encode(), r"adapter is \[4\], not a JSON dict"),
    (lambda meta: json.dumps({**meta, "label_names": [0, 1]}).encode(), "not all strings"),
], ids=["no-label_names", "no-adapter_name", "no-sha256", "no-format", "version-str", "array", "string", "binary", "labels-str", "adapter-list",
        "labels-ints"])
def test_a_damaged_config_is_refused_with_folder_problem_and_fix(tmp_path, models, edit, problem):
    folder = IO.save_adapter(models["old"], tmp_path / "a")
    config = folder / IO.CONFIG_FILE
    config.write_bytes(edit(json.loads(config.read_text())))
    model = make_tiny_model()
    keys = list(model.state_dict())
    for read in (lambda: IO.read_adapter_config(folder), lambda: IO.load_adapter(model, folder)):
        with pytest.raises(IO.AdapterFileError, match=problem) as err:
            read()
        assert f"{folder.name}/{IO.CONFIG_FILE}" in str(err.value) and "save the adapter again" in str(err.value).lower()
        assert str(tmp_path) not in str(err.value)
    assert list(model.state_dict()) == keys and not L.adapter_configs(model)


# ---------------------------------------------------------------- 4. changed weights that still parse

def test_a_changed_byte_in_the_weights_is_caught_by_the_checksum(tmp_path, models):
    """Fails if load_adapter stops checking the recorded sha256 (safetensors alone accepts the file)."""
    from safetensors.torch import load_file

    folder = IO.save_adapter(models["old"], tmp_path / "a")
    weights = folder / IO.WEIGHTS_FILE
    data = bytearray(weights.read_bytes())
    header_len = struct.unpack("<Q", data[:8])[0]
    data[8 + header_len + 5] ^= 0x40  # inside the first tensor's bytes, past the JSON header
    before = {k: v.clone() for k, v in load_file(str(weights)).items()}  # not views of the mapped file
    weights.write_bytes(bytes(data))
    after = load_file(str(weights))  # still a valid safetensors file...
    assert any(not torch.equal(before[k], after[k]) for k in before)  # ...with one changed number
    model = make_tiny_model()
    keys = list(model.state_dict())
    with pytest.raises(IO.AdapterFileError, match="does not match its recorded checksum"):
        IO.load_adapter(model, folder)
    assert list(model.state_dict()) == keys and not L.adapter_configs(model)
