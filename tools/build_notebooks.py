"""Build the lab's notebooks from their sources in notebook-sources/ (jupytext's percent format).

    # %% [markdown]            a markdown cell; its lines start with "# "
    # %%                       a code cell
    # %% tags=["parameters"]   a code cell with tags (papermill, nbval-check-output, ...)

jupytext reads the sources; this script adds only what the lab wants on top: stable cell ids
("01-000", ...), the python3 kernel, and no jupytext bookkeeping in the notebooks.
The .ipynb files at the top level are what students open; they are rebuilt from these
sources (without outputs) and then executed by `make lab-commit`, which stores a real run.
Usage: python tools/build_notebooks.py [--markdown-only] [NAME ...]
  --markdown-only  update only the prose of an executed notebook, keeping its outputs; refused
                   when any code cell differs from its source (then the notebook must be re-run).
"""
import sys
from pathlib import Path

import jupytext
import nbformat

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "notebook-sources"


def parse(text: str) -> list:
    """The cells of a percent-format source, with only the metadata the notebooks keep (tags)."""
    cells = jupytext.reads(text, fmt="py:percent").cells
    for cell in cells:
        # jupytext records blank-line spacing (lines_to_next_cell) to write the source back; not needed here
        cell.metadata = {k: v for k, v in cell.metadata.items() if k == "tags"}
    return cells


def build(src: Path) -> Path:
    nb = nbformat.v4.new_notebook(cells=parse(src.read_text()), metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"}})
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"{src.stem[:2]}-{i:03d}"  # stable ids: a rebuild does not churn every cell
    target = ROOT / f"{src.stem}.ipynb"
    nbformat.write(nb, target)
    return target


def update_markdown(src: Path) -> Path:
    target = ROOT / f"{src.stem}.ipynb"
    nb = nbformat.read(target, as_version=4)
    fresh = parse(src.read_text())
    if len(fresh) != len(nb.cells) or any(
            a.cell_type != b.cell_type or (a.cell_type == "code" and a.source != b.source)
            for a, b in zip(fresh, nb.cells)):
        raise SystemExit(f"{target.name}: code cells differ from {src.name}; rebuild and re-run it instead.")
    for a, b in zip(fresh, nb.cells):
        if b.cell_type == "markdown":
            b.source = a.source
    nbformat.write(nb, target)
    return target


if __name__ == "__main__":
    args = sys.argv[1:]
    markdown_only = "--markdown-only" in args
    names = [a for a in args if a != "--markdown-only"]
    for src in sorted(SRC.glob("*.py")):
        if not names or any(src.stem.startswith(n) for n in names):
            print("updated" if markdown_only else "built", (update_markdown if markdown_only else build)(src).name)
