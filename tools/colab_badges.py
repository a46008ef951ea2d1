"""Write README's "Open in Colab" table: one badge per numbered notebook, for a public GitHub copy.

Usage: python tools/colab_badges.py --repo OWNER/NAME [--branch main]
The table goes between the markers <!-- colab-badges --> and <!-- /colab-badges --> in README.md;
nothing else in README changes, and a second run with the same arguments changes nothing.
"""
import argparse
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
START, END = "<!-- colab-badges -->", "<!-- /colab-badges -->"
BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
OPEN = "https://colab.research.google.com/github/{repo}/blob/{branch}/{notebook}"
REPO = re.compile(r"[A-Za-z0-9-]+/[A-Za-z0-9._-]+")


def badge_table(notebooks: list[str], repo: str, branch: str = "main") -> str:
    rows = [f"| {Path(nb).stem} | [![Open In Colab]({BADGE})]({OPEN.format(repo=repo, branch=branch, notebook=nb)}) |"
            for nb in notebooks]
    return "\n".join(["| notebook | open |", "|---|---|", *rows])


def write_badges(root: Path, repo: str, branch: str = "main") -> bool:
    """Rewrite the table in root/README.md; True when README changed."""
    if not REPO.fullmatch(repo):
        raise SystemExit(f"--repo {repo!r} is not OWNER/NAME: give the GitHub address's last two parts, "
                         "e.g. --repo my-org/adapter-layers-lab.")
    readme = root / "README.md"
    text = readme.read_text()
    if text.count(START) != 1 or text.count(END) != 1 or text.index(START) > text.index(END):
        raise SystemExit(f"{readme.name} needs the two lines {START} and {END}, in that order, once each, "
                         "in its 'Open in Colab' section: add them where the table should go.")
    notebooks = sorted(p.name for p in root.glob("[0-9][0-9]-*.ipynb"))
    if not notebooks:
        raise SystemExit(f"no numbered notebooks (NN-Name.ipynb) in {root}: run this from the lab's folder.")
    head, rest = text.split(START)
    new = f"{head}{START}\n{badge_table(notebooks, repo, branch)}\n{END}{rest.split(END, 1)[1]}"
    if new == text:
        return False
    readme.write_text(new)
    return True


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", required=True, help="the lab's GitHub address as OWNER/NAME")
    parser.add_argument("--branch", default="main")
    args = parser.parse_args()
    changed = write_badges(ROOT, args.repo, args.branch)
    print("README.md: badge table", "written" if changed else "already up to date")
