"""The committed notebooks: built from their sources, clean to open, and safe for nbval."""
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
from build_notebooks import parse  # noqa: E402

NOTEBOOKS = sorted(ROOT.glob("[0-9][0-9]-*.ipynb"))
MACHINE_PATH = re.compile(r"/(work|tmp|root|home|Users|content)/[^\s\"']*")


def test_every_notebook_has_a_source():
    assert {p.stem for p in NOTEBOOKS} == {p.stem for p in (ROOT / "notebook-sources").glob("*.py")}
    assert len(NOTEBOOKS) >= 3


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_code_cells_match_their_source(path):
    nb = json.loads(path.read_text())
    fresh = parse((ROOT / "notebook-sources" / f"{path.stem}.py").read_text())
    code = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
    assert code == [c.source for c in fresh if c.cell_type == "code"], \
        "notebook and notebook-sources/ source differ: rebuild with tools/build_notebooks.py and re-run"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_clean_to_open(path):
    nb = json.loads(path.read_text())
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    tags = [t for c in nb["cells"] for t in c.get("metadata", {}).get("tags", [])]
    assert tags.count("parameters") == 1
    assert "nbval-check-output" in tags  # nbval --nbval-lax checks something in every notebook
    for i, cell in enumerate(nb["cells"]):
        for out in cell.get("outputs", []):
            assert out["output_type"] != "error", f"cell {i} stores an error"
            text = json.dumps({k: v for k, v in out.get("data", {}).items() if not k.startswith("image/")})
            text += json.dumps(out.get("text", ""))
            assert not MACHINE_PATH.search(text), f"cell {i} shows a machine path"
            if out.get("name") == "stderr":
                assert "Warning" not in text and "Traceback" not in text, f"cell {i} has a warning on stderr"


def test_the_builder_refuses_an_unknown_option(tmp_path):
    # A mistyped --markdown-only once fell through to a plain build, which empties every executed
    # notebook's outputs. Run a copy in an empty lab folder, so a regression cannot touch this one's.
    (tmp_path / "tools").mkdir()
    (tmp_path / "notebook-sources").mkdir()
    shutil.copy(ROOT / "tools" / "build_notebooks.py", tmp_path / "tools")
    script = str(tmp_path / "tools" / "build_notebooks.py")
    typo = subprocess.run([sys.executable, script, "--markdwn-only"], capture_output=True, text=True)
    assert typo.returncode != 0 and "unrecognized arguments: --markdwn-only" in typo.stderr
    usage = subprocess.run([sys.executable, script, "--help"], capture_output=True, text=True)
    assert usage.returncode == 0 and "--markdown-only" in usage.stdout
