"""Tidy executed notebooks before they are committed, and refuse ones a student would trip over.

Drops papermill's per-cell timing metadata; fails on stored errors, machine paths or
warnings in the outputs, and on a kernelspec other than python3.
Usage: python tools/clean_notebooks.py NOTEBOOK...
"""
import json
import re
import sys

PATH = re.compile(r"/(work|tmp|root|home|Users|content)/[^\s\"']*")


def clean(path: str) -> list:
    nb = json.load(open(path, encoding="utf-8"))
    problems = []
    nb.get("metadata", {}).pop("papermill", None)
    if nb.get("metadata", {}).get("kernelspec", {}).get("name") != "python3":
        problems.append(f"{path}: kernelspec is not python3")
    for i, cell in enumerate(nb["cells"]):
        cell.get("metadata", {}).pop("papermill", None)
        cell.get("metadata", {}).pop("execution", None)
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                problems.append(f"{path} cell {i}: error {out.get('ename')}")
            text = json.dumps({k: v for k, v in out.get("data", {}).items() if not k.startswith("image/")}) + \
                json.dumps(out.get("text", ""))
            if PATH.search(text):
                problems.append(f"{path} cell {i}: machine path {PATH.search(text).group(0)[:60]}")
            if out.get("name") == "stderr" and re.search(r"Warning|Traceback", text):
                problems.append(f"{path} cell {i}: warning on stderr: {text[:200]}")
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(nb, fh, indent=1, ensure_ascii=False)
        fh.write("\n")
    return problems


if __name__ == "__main__":
    problems = [p for path in sys.argv[1:] for p in clean(path)]
    for p in problems:
        print("PROBLEM:", p)
    sys.exit(1 if problems else 0)
