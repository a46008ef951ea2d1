"""The Colab cell of every notebook, labutils.colab.setup behind it, and README's badge table.

Colab itself is faked: a `google.colab` module in sys.modules whose `drive.mount` makes a folder
under tmp_path appear as Google Drive.
"""
import importlib.metadata
import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from labutils import colab, notebook

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
from build_notebooks import parse  # noqa: E402
import colab_badges  # noqa: E402

SOURCES = sorted((ROOT / "notebook-sources").glob("*.py"))
DRIVE_LINE = 'DRIVE = "/content/drive"'
# A stand-in lab: its setup only records how it was called and from where.
FAKE_SETUP = ("import json, os\n"
              "def setup(**kwargs):\n"
              "    with open(os.environ['COLAB_TEST_LOG'], 'a') as fh:\n"
              "        fh.write(json.dumps({'cwd': os.getcwd(), **kwargs}) + '\\n')\n")


def colab_cell(source: Path) -> str:
    """The code cell right after the parameters cell."""
    cells = parse(source.read_text())
    first = next(i for i, c in enumerate(cells) if "parameters" in c.metadata.get("tags", []))
    return next(c for c in cells[first + 1:] if c.cell_type == "code").source


def fake_lab(folder: Path) -> Path:
    (folder / "labutils").mkdir(parents=True)
    (folder / "labutils" / "colab.py").write_text(FAKE_SETUP)
    return folder


@pytest.fixture
def fake_colab(monkeypatch, tmp_path):
    """Fake Colab: a Drive under tmp_path/drive (holding what `drive_content` names appears on
    mount), /content as tmp_path/content, and a log of mounts and setup calls."""
    state = types.SimpleNamespace(root=tmp_path / "drive", mounts=[], drive_content=lambda mydrive: None,
                                  log=tmp_path / "setup.log")

    def mount(path):
        state.mounts.append(path)
        (Path(path) / "MyDrive").mkdir(parents=True, exist_ok=True)
        state.drive_content(Path(path) / "MyDrive")

    drive = types.ModuleType("google.colab.drive")
    drive.mount = mount
    module = types.ModuleType("google.colab")
    module.drive = drive
    monkeypatch.setitem(sys.modules, "google.colab", module)
    monkeypatch.setitem(sys.modules, "google.colab.drive", drive)
    monkeypatch.setenv("COLAB_TEST_LOG", str(state.log))
    monkeypatch.delenv("LAB_OUTPUT_DIR", raising=False)
    content = tmp_path / "content"
    content.mkdir()
    monkeypatch.chdir(content)
    return state


def run_cell(state, url: str = ""):
    source = colab_cell(SOURCES[0])
    assert source.count(DRIVE_LINE) == 1 and source.count('LAB_REPO_URL = ""') == 1
    source = source.replace(DRIVE_LINE, f"DRIVE = {str(state.root)!r}").replace('LAB_REPO_URL = ""', f"LAB_REPO_URL = {url!r}")
    exec(compile(source, "colab-cell", "exec"), {})
    return [json.loads(line) for line in state.log.read_text().splitlines()] if state.log.exists() else []


# --- the cell -------------------------------------------------------------------------------------

def test_every_notebook_has_the_same_colab_cell_after_its_parameters():
    cells = {source.name: colab_cell(source) for source in SOURCES}
    assert len(cells) == 6
    assert all("google.colab" in cell and "colab.setup(keep_outputs_on_drive=True" in cell for cell in cells.values())
    assert len(set(cells.values())) == 1, "the Colab cells differ: copy 01-Setup's to the others"


def test_cell_does_nothing_off_colab(monkeypatch, tmp_path, capsys):
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.chdir(tmp_path)
    environ = dict(os.environ)
    exec(compile(colab_cell(SOURCES[0]), "colab-cell", "exec"), {})
    assert Path.cwd() == tmp_path and dict(os.environ) == environ
    assert capsys.readouterr() == ("", "")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("folders, chosen", [
    (["my-course-copy"], "my-course-copy"),                     # a lab folder by another name
    (["a-copy", "adapter-layers-lab"], "adapter-layers-lab"),   # the lab's own name first
])
def test_cell_finds_the_lab_on_drive_and_calls_setup(fake_colab, folders, chosen):
    fake_colab.drive_content = lambda mydrive: [fake_lab(mydrive / f) for f in folders]
    calls = run_cell(fake_colab)
    lab = fake_colab.root / "MyDrive" / chosen
    assert fake_colab.mounts == [str(fake_colab.root)]  # the lab appears only once Drive is mounted
    assert Path.cwd() == lab
    assert calls == [{"cwd": str(lab), "keep_outputs_on_drive": True, "drive_root": str(fake_colab.root)}]


def test_cell_rerun_in_the_lab_folder_only_calls_setup(fake_colab, monkeypatch):
    lab = fake_lab(Path.cwd() / "adapter-layers-lab")  # cloned by the cell's first run
    monkeypatch.chdir(lab)
    assert len(run_cell(fake_colab)) == 1 and fake_colab.mounts == [] and Path.cwd() == lab


def test_cell_clones_lab_repo_url_when_drive_has_no_lab(fake_colab, monkeypatch):
    clones = []

    def fake_run(args, **kwargs):
        clones.append(args)
        fake_lab(Path(args[-1]))

    monkeypatch.setattr(subprocess, "run", fake_run)
    calls = run_cell(fake_colab, url="https://example.org/lab.git")
    assert clones == [["git", "clone", "-q", "https://example.org/lab.git", "adapter-layers-lab"]]
    assert len(calls) == 1 and Path(calls[0]["cwd"]).name == "adapter-layers-lab"


def test_cell_with_the_real_setup_installs_nothing_twice_and_keeps_outputs_on_drive(fake_colab, pip, capsys):
    """The cell loads labutils/colab.py by its path, outside the package: it must stand alone."""
    def copy_lab(mydrive):
        (mydrive / "adapter-layers-lab" / "labutils").mkdir(parents=True)
        for name in ("labutils/colab.py", "requirements-colab.txt"):
            (mydrive / "adapter-layers-lab" / name).write_text((ROOT / name).read_text())

    fake_colab.drive_content = copy_lab
    run_cell(fake_colab)
    lab = fake_colab.root / "MyDrive" / "adapter-layers-lab"
    assert pip == [] and os.environ["LAB_OUTPUT_DIR"] == str((lab / "outputs").resolve())
    assert capsys.readouterr().out.count("Colab: ") == 2


def test_cell_without_a_lab_or_url_says_what_to_do(fake_colab):
    with pytest.raises(FileNotFoundError, match="MyDrive/adapter-layers-lab.*LAB_REPO_URL"):
        run_cell(fake_colab)


# --- labutils.colab.setup --------------------------------------------------------------------------

def requirements(tmp_path: Path, transformers: str) -> Path:
    path = tmp_path / "requirements-colab.txt"
    path.write_text(f"# what Colab lacks\ntransformers=={transformers}\npeft==0.21.2\n")
    return path


@pytest.fixture
def pip(monkeypatch):
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda args, **kwargs: calls.append(args))
    return calls


def test_setup_does_nothing_off_colab(monkeypatch, tmp_path, pip, capsys):
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    environ = dict(os.environ)
    colab.setup(keep_outputs_on_drive=True, drive_root=tmp_path, requirements=tmp_path / "missing.txt")
    assert pip == [] and dict(os.environ) == environ and capsys.readouterr() == ("", "")


def test_setup_skips_the_install_when_the_pinned_transformers_is_installed(fake_colab, tmp_path, pip, capsys):
    installed = importlib.metadata.version("transformers")
    colab.setup(keep_outputs_on_drive=False, requirements=requirements(tmp_path, installed))
    assert pip == []
    assert f"transformers {installed} is installed" in capsys.readouterr().out


def test_setup_installs_when_transformers_differs(fake_colab, tmp_path, pip, monkeypatch):
    monkeypatch.delitem(sys.modules, "transformers", raising=False)  # as on a fresh runtime: not imported yet
    reqs = requirements(tmp_path, "9.9.9")
    colab.setup(keep_outputs_on_drive=False, requirements=reqs)
    assert pip == [[sys.executable, "-m", "pip", "install", "-q", "-r", str(reqs)]]


@pytest.mark.parametrize("installed, installs", [("4.0.0", 1), ("9.9.9", 0)])  # first run; re-run, no restart
def test_setup_asks_for_a_restart_when_an_old_transformers_was_imported(fake_colab, tmp_path, pip, monkeypatch,
                                                                       installed, installs):
    monkeypatch.setattr(colab, "installed_version", lambda package: installed)
    monkeypatch.setitem(sys.modules, "transformers", types.SimpleNamespace(__version__="4.0.0"))  # Colab's own
    with pytest.raises(RuntimeError, match=r"restart the runtime \(Runtime > Restart session\) and re-run"):
        colab.setup(keep_outputs_on_drive=False, requirements=requirements(tmp_path, "9.9.9"))
    assert len(pip) == installs


def test_requirements_without_a_transformers_pin_are_refused(tmp_path):
    (tmp_path / "r.txt").write_text("peft==0.21.2\n")
    with pytest.raises(ValueError, match="r.txt pins no transformers version: add a line"):
        colab.pinned_transformers(tmp_path / "r.txt")


def test_colab_pins_the_lab_s_transformers():
    lab = [line for line in (ROOT / "requirements.txt").read_text().splitlines() if line.startswith("transformers==")]
    assert lab == [f"transformers=={colab.pinned_transformers(ROOT / 'requirements-colab.txt')}"]
    assert colab.OUTPUT_ENV == notebook.OUTPUT_ENV


def test_setup_keeps_outputs_on_drive_and_leaves_local_outputs(fake_colab, tmp_path, pip, capsys):
    installed = importlib.metadata.version("transformers")
    (Path("outputs") / "adapters").mkdir(parents=True)
    (Path("outputs") / "adapters" / "mine.txt").write_text("a student's adapter")
    colab.setup(keep_outputs_on_drive=True, drive_root=fake_colab.root, requirements=requirements(tmp_path, installed))
    drive_outputs = fake_colab.root / "MyDrive" / "adapter-layers-lab" / "outputs"
    assert os.environ["LAB_OUTPUT_DIR"] == str(drive_outputs.resolve()) and drive_outputs.is_dir()
    assert notebook.output_dir("adapters").resolve() == drive_outputs.resolve() / "adapters"
    assert (Path("outputs") / "adapters" / "mine.txt").read_text() == "a student's adapter"
    assert "stay there, untouched" in capsys.readouterr().out
    assert fake_colab.mounts == [str(fake_colab.root)]


def test_setup_with_the_lab_on_drive_uses_its_own_outputs(fake_colab, tmp_path, pip, monkeypatch):
    lab = fake_colab.root / "MyDrive" / "course" / "lab"
    lab.mkdir(parents=True)
    monkeypatch.chdir(lab)
    colab.setup(drive_root=fake_colab.root, requirements=requirements(tmp_path, importlib.metadata.version("transformers")))
    assert os.environ["LAB_OUTPUT_DIR"] == str((lab / "outputs").resolve())
    assert fake_colab.mounts == []  # Drive was there already: no second authorisation prompt


def test_setup_keeps_a_lab_output_dir_the_student_set(fake_colab, tmp_path, pip, monkeypatch, capsys):
    monkeypatch.setenv("LAB_OUTPUT_DIR", str(tmp_path / "mine"))
    colab.setup(drive_root=fake_colab.root, requirements=requirements(tmp_path, importlib.metadata.version("transformers")))
    assert os.environ["LAB_OUTPUT_DIR"] == str(tmp_path / "mine")
    assert "already set: kept" in capsys.readouterr().out


# --- README's badge table ---------------------------------------------------------------------------

def badge_root(tmp_path: Path) -> Path:
    for name in ("01-Setup.ipynb", "02-Train.ipynb", "10-Extra.ipynb", "scratch.ipynb"):
        (tmp_path / name).write_text("{}")
    (tmp_path / "README.md").write_text("# Lab\n\n## Open in Colab\n\n<!-- colab-badges -->\nsoon\n"
                                        "<!-- /colab-badges -->\n\n## Next\nkept\n")
    return tmp_path


def test_badges_one_row_per_numbered_notebook_and_idempotent(tmp_path):
    root = badge_root(tmp_path)
    assert colab_badges.write_badges(root, "some-org/adapter-lab", "dev")
    text = (root / "README.md").read_text()
    rows = [line for line in text.splitlines() if "colab-badge.svg" in line]
    assert [row.split("|")[1].strip() for row in rows] == ["01-Setup", "02-Train", "10-Extra"]
    assert ("(https://colab.research.google.com/github/some-org/adapter-lab/blob/dev/02-Train.ipynb)"
            in rows[1])
    assert text.startswith("# Lab\n\n## Open in Colab\n\n<!-- colab-badges -->\n| notebook |")
    assert text.endswith("|\n<!-- /colab-badges -->\n\n## Next\nkept\n") and "soon" not in text
    assert not colab_badges.write_badges(root, "some-org/adapter-lab", "dev")
    assert (root / "README.md").read_text() == text


@pytest.mark.parametrize("readme, repo, message", [
    ("no markers\n", "org/lab", "needs the two lines"),
    ("<!-- colab-badges -->\n<!-- /colab-badges -->\n", "https://github.com/org/lab", "is not OWNER/NAME"),
])
def test_badges_refuse_bad_input(tmp_path, readme, repo, message):
    root = badge_root(tmp_path)
    (root / "README.md").write_text(readme)
    with pytest.raises(SystemExit, match=message):
        colab_badges.write_badges(root, repo)
    assert (root / "README.md").read_text() == readme


def test_readme_has_the_badge_markers_once():
    text = (ROOT / "README.md").read_text()
    assert text.count(colab_badges.START) == 1 and text.count(colab_badges.END) == 1
