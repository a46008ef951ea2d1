"""The lesson package's shape: no import cycles, no lesson module reaching into the experiment
wing (04, 05 and 06's sweep machinery), the lesson listed bottom-up in docs/GUIDE.md and __init__,
and no module too long to read in one sitting."""
import ast
import re
from importlib.util import resolve_name
from pathlib import Path


PACKAGE = Path(__file__).resolve().parent.parent / "labutils"
# The Colab setup stands alone (loaded by its path before the install; tests/test_colab.py).
NOT_CHECKED = {"colab"}
WING = {"sweeps"}  # 04 and 05's sweep machinery, on top of the lesson
MAX_LINES = 250


def _modules() -> dict:
    """module name (dotted, below labutils) -> its file, for every .py in the package."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _imports(name: str, path: Path, known) -> set:
    """The labutils modules `name` imports anywhere in its file (at the top or inside a function)."""
    package = "labutils" + (f".{name}" if name and path.name == "__init__.py" else
                             f".{name.rpartition('.')[0]}" if "." in name else "")
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            full = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            mod = resolve_name("." * node.level + (node.module or ""), package) if node.level else node.module
            # `from . import io` names a module; `from .io import load_adapter` names a function in one.
            full = [f"{mod}.{a.name}" if f"{mod}.{a.name}"[len("labutils."):] in known else mod for a in node.names]
        else:
            continue
        out.update(m[len("labutils."):] for m in full if m.startswith("labutils."))
    return {m for m in out if m in known and m != name}


def _graph() -> dict:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _checked(name: str) -> bool:
    return name.split(".")[0] not in NOT_CHECKED


def _lesson(name: str) -> bool:
    return name != "" and _checked(name) and name.split(".")[0] not in WING


def _cycle(graph: dict):
    """One import cycle among the checked modules, as a list of names, or None."""
    state = {}

    def visit(node, stack):
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if not _checked(nxt) or nxt == "":
                continue
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt, stack + [nxt])
                if found:
                    return found
        state[node] = "done"
        return None

    for start in sorted(n for n in graph if n and _checked(n)):
        if start not in state:
            found = visit(start, [start])
            if found:
                return found
    return None


def test_the_graph_reader_sees_the_imports():
    # A reader that found no edges would pass every test below without checking anything.
    graph = _graph()
    assert {"layer", "switching"} <= graph["model"]
    assert "params" in graph["switching"] and "safe_folder" in graph["io"]
    assert {"io", "multitask"} <= graph[""]


def test_no_import_cycle_in_the_package():
    cycle = _cycle(_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def _wing_imports(graph: dict) -> dict:
    """lesson module -> the wing modules it imports, for each that imports any."""
    found = {name: sorted(t for t in targets if t.split(".")[0] in WING)
             for name, targets in graph.items() if name and _lesson(name)}
    return {name: targets for name, targets in found.items() if targets}


def test_no_lesson_module_imports_the_experiment_wing():
    bad = _wing_imports(_graph())
    assert not bad, f"lesson modules import the sweep machinery (04/05's wing): {bad}"


def test_the_wing_check_finds_an_arrow_up():
    graph = {"io": {"sweeps.runs", "layer"}, "plots": {"sweeps"}, "sweeps.runs": {"io"}, "layer": set()}
    assert _wing_imports(graph) == {"io": ["sweeps.runs"], "plots": ["sweeps"]}


def test_no_module_is_too_long():
    counts = {name or "__init__": len(path.read_text(encoding="utf-8").splitlines())
              for name, path in _modules().items() if _checked(name)}
    long = {name: n for name, n in counts.items() if n > MAX_LINES}
    table = "\n".join(f"{n:5d}  {name}.py" for name, n in sorted(counts.items(), key=lambda kv: -kv[1]))
    assert not long, f"modules over {MAX_LINES} lines: {sorted(long)}\n{table}"


def test_the_wing_sits_on_top():
    """The wing imports the lesson (it trains lesson models); the notebooks 01-03 never need it."""
    graph = _graph()
    assert any(t.split(".")[0] not in WING for t in graph["sweeps.measure"])
    for name in ("01-Setup", "02-Train", "03-Inference"):
        source = (PACKAGE.parent / "notebook-sources" / f"{name}.py").read_text(encoding="utf-8")
        assert "sweeps" not in source, f"{name} uses the experiment wing; 01-03 stand on the lesson alone"


def _upward(order: list, graph: dict) -> list:
    """'a -> b' for each lesson import of a module that `order` (a list of groups) puts below it."""
    rank = {name: i for i, group in enumerate(order) for name in group}
    return sorted(f"{name} -> {target}" for name, targets in graph.items() if name in rank
                  for target in targets if rank.get(target, -1) > rank[name])


def _guide_rows() -> list:
    """The module names of each row of docs/GUIDE.md's library table, top to bottom."""
    rows = []
    for line in (PACKAGE.parent / "docs" / "GUIDE.md").read_text(encoding="utf-8").splitlines():
        first = line.split("|")[1] if line.startswith("| ") else ""
        names = re.findall(r"`([a-z_]+)\.py`", first)
        if names:
            rows.append(names)
    return rows


def _init_order() -> list:
    """The lesson modules in the order labutils/__init__.py first imports them."""
    seen = []
    for node in ast.parse((PACKAGE / "__init__.py").read_text(encoding="utf-8")).body:
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            for name in ([a.name for a in node.names] if node.module is None else [node.module]):
                if name not in seen:
                    seen.append(name)
    return [[name] for name in seen]


def test_the_guide_table_and_init_list_the_lesson_bottom_up():
    """GUIDE's table and __init__ read the lesson bottom-up: no module imports one listed below it."""
    graph, lesson = _graph(), {n for n in _modules() if _lesson(n)}
    rows = _guide_rows()
    assert {n for row in rows for n in row} >= lesson - {"colab"}, "a lesson module is missing from GUIDE's table"
    assert not _upward(rows, graph), f"GUIDE's table lists these imports upwards: {_upward(rows, graph)}"
    assert not _upward(_init_order(), graph), f"__init__ imports these before what they need: {_upward(_init_order(), graph)}"


def test_the_order_check_finds_an_import_from_below():
    graph = {"io": {"notebook"}, "notebook": set(), "layer": set()}
    assert _upward([["layer"], ["io"], ["notebook"]], graph) == ["io -> notebook"]
    assert _upward([["layer"], ["notebook", "io"]], graph) == []
