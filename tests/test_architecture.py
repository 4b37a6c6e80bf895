"""The floors of docs/ARCHITECTURE.md hold: every import of ssa_bench/ points to a lower floor.

The table of floors is read from the document itself (between its ``floors: begin/end``
markers), so the picture a reader sees and the rule the suite enforces are one fact.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = "ssa_bench"
DOC = REPO / "docs" / "ARCHITECTURE.md"


@dataclass(frozen=True)
class Import:
    source: str          # the importing module, dotted
    target: str          # the imported module, dotted
    where: str           # path:line


def read_floors(text: str) -> dict[str, int]:
    """room (a dotted name below ``ssa_bench``, or ``ssa_bench`` itself) -> floor number."""
    match = re.search(r"<!-- floors: begin.*?-->(.*?)<!-- floors: end -->", text, re.S)
    assert match, f"{DOC}: no '<!-- floors: begin ... -->' ... '<!-- floors: end -->' block"
    floors: dict[str, int] = {}
    for line in match.group(1).splitlines():
        row = re.match(r"\|\s*(\d+)\s*\|(.*)\|\s*$", line)
        if not row:
            continue
        for room in re.findall(r"`([\w.]+)`", row.group(2)):
            assert room not in floors, f"{DOC}: room '{room}' is on two floors"
            floors[room] = int(row.group(1))
    assert floors, f"{DOC}: the floors block has no rows"
    return floors


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(root: Path) -> tuple[list[str], list[Import]]:
    """Every module of the package under ``root`` and every import of a package module in it,
    at any depth (function-level imports included); ``from a import b`` counts as ``a.b`` when
    ``a.b`` is a module, else as ``a``."""
    files = sorted((root / PACKAGE).rglob("*.py"))
    modules = [module_name(path, root) for path in files]
    known = set(modules)
    found: list[Import] = []
    for path, module in zip(files, modules):
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = module.split(".")
                    anchor = anchor if is_package else anchor[:-1]
                    anchor = anchor[:len(anchor) - (node.level - 1)]
                    base = ".".join(anchor + ([node.module] if node.module else []))
                targets = sorted({f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                                  for alias in node.names})
            where = f"{path.relative_to(root)}:{getattr(node, 'lineno', 0)}"
            found += [Import(module, target, where) for target in targets
                      if target == PACKAGE or target.startswith(PACKAGE + ".")]
    return modules, found


def room_of(module: str, floors: dict[str, int]) -> str | None:
    """The most specific room holding ``module`` (``configs.protocol`` before ``configs``)."""
    name = module[len(PACKAGE) + 1:] if module != PACKAGE else PACKAGE
    parts = name.split(".")
    for length in range(len(parts), 0, -1):
        room = ".".join(parts[:length])
        if room in floors:
            return room
    return None


def wrong_way_imports(root: Path, floors: dict[str, int]) -> list[str]:
    modules, found = imports_of(root)
    problems = [f"{module}: in no room of the floors table (add it to {DOC.name})"
                for module in modules if room_of(module, floors) is None]
    for item in found:
        source, target = room_of(item.source, floors), room_of(item.target, floors)
        if source is None or target is None or source == target:
            continue
        if floors[target] >= floors[source]:
            problems.append(f"{item.where}: {item.source} (room {source}, floor {floors[source]}) imports "
                            f"{item.target} (room {target}, floor {floors[target]})")
    return problems


def floor_exceptions(floors: dict[str, int]) -> list[str]:
    """A room is a whole folder or a top-level module: a module of a folder may not sit on its own
    floor (that is how folders came to loop: ``weights`` imported ``matrix.schema``, a floor below
    ``matrix``, while ``matrix`` imported ``weights``)."""
    return [f"{DOC.name}: room '{room}' is a module of folder '{room.split('.')[0]}'; a room is a whole "
            f"folder: move the module to a room of its floor (e.g. vocabulary)"
            for room in floors if "." in room]


def folder_loops(root: Path) -> list[str]:
    """Cycles in the graph of top-level folders (``ssa_bench.<folder>``) importing each other,
    each named by its folders in order, e.g. ``matrix -> report -> matrix``."""
    _, found = imports_of(root)
    top = lambda module: module.split(".")[1] if module.count(".") >= 1 else PACKAGE  # noqa: E731
    edges: dict[str, set[str]] = {}
    for item in found:
        source, target = top(item.source), top(item.target)
        if PACKAGE not in (source, target) and source != target:
            edges.setdefault(source, set()).add(target)
    loops: set[tuple[str, ...]] = set()

    def visit(path: list[str]) -> None:
        for nxt in sorted(edges.get(path[-1], ())):
            if nxt == path[0]:
                turn = path.index(min(path))   # one name per cycle, whichever folder it starts at
                loops.add(tuple(path[turn:] + path[:turn]))
            elif nxt not in path and nxt > path[0]:
                visit(path + [nxt])

    for start in sorted(edges):
        visit([start])
    return [" -> ".join(loop + (loop[0],)) for loop in sorted(loops)]


def test_every_import_points_down_a_floor():
    floors = read_floors(DOC.read_text(encoding="utf-8"))
    assert wrong_way_imports(REPO, floors) == []


def test_the_floors_name_rooms_that_exist():
    floors = read_floors(DOC.read_text(encoding="utf-8"))
    modules, _ = imports_of(REPO)
    for room in floors:
        name = PACKAGE if room == PACKAGE else f"{PACKAGE}.{room}"
        assert any(m == name or m.startswith(name + ".") for m in modules), f"{DOC.name}: no module '{name}'"


def test_no_module_of_a_folder_sits_on_another_floor():
    assert floor_exceptions(read_floors(DOC.read_text(encoding="utf-8"))) == []


def test_no_two_folders_import_each_other_in_a_loop():
    assert folder_loops(REPO) == []


# -- the checker itself, on a small made-up package ----------------------------------------------

FLOORS = {"errors": 0, "store": 1, "configs": 2, "executors": 3}


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    for relative, source in {"__init__.py": "", "errors.py": "", "store.py": "from ssa_bench import errors\n",
                             "configs/__init__.py": "", "configs/protocol.py": "",
                             "executors/__init__.py": "", "executors/launch.py": "", **files}.items():
        path = tmp_path / PACKAGE / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
    return tmp_path


@pytest.mark.parametrize("source", [
    "from ssa_bench.executors.launch import launcher\n",
    "import ssa_bench.executors.launch\n",
    "def build():\n    from ssa_bench.executors import launch\n",       # function level
    "from ..executors import launch\n",                                 # relative
])
def test_an_upward_import_is_reported(tmp_path, source):
    root = _package(tmp_path, {"configs/compose.py": source})
    (problem,) = wrong_way_imports(root, {**FLOORS, "ssa_bench": 0})
    assert problem.startswith("ssa_bench/configs/compose.py:")
    assert "room configs, floor 2" in problem and "room executors, floor 3" in problem


def test_same_floor_rooms_may_not_import_each_other_but_a_room_may_import_itself(tmp_path):
    root = _package(tmp_path, {"configs/compose.py": "from ssa_bench.configs import protocol\n"
                                                     "from ssa_bench.configs.model import x\n",
                               "configs/model.py": "", "errors.py": "from ssa_bench import store\n"})
    (problem,) = wrong_way_imports(root, {**FLOORS, "ssa_bench": 0})
    assert "ssa_bench/errors.py:1" in problem and "room store, floor 1" in problem


def test_a_module_in_no_room_is_reported(tmp_path):
    root = _package(tmp_path, {"newcomer.py": "from ssa_bench import errors\n"})
    assert wrong_way_imports(root, {**FLOORS, "ssa_bench": 0}) == [
        "ssa_bench.newcomer: in no room of the floors table (add it to ARCHITECTURE.md)"]


def test_a_module_given_its_own_floor_is_reported():
    assert floor_exceptions({**FLOORS, "matrix": 3, "matrix.schema": 1}) == [
        "ARCHITECTURE.md: room 'matrix.schema' is a module of folder 'matrix'; a room is a whole folder: "
        "move the module to a room of its floor (e.g. vocabulary)"]


def test_a_folder_loop_is_reported_once_whichever_folder_it_starts_at(tmp_path):
    root = _package(tmp_path, {"configs/compose.py": "from ssa_bench.executors import launch\n",
                               "executors/launch.py": "def go():\n    from ssa_bench.store import x\n",
                               "store.py": "from ssa_bench.configs import compose\n",
                               "errors.py": "from ssa_bench import store\n"})
    assert folder_loops(root) == ["configs -> executors -> store -> configs"]


def test_the_old_matrix_report_loop_would_be_reported(tmp_path):
    root = _package(tmp_path, {"matrix/__init__.py": "", "matrix/report_settings.py": "from ssa_bench.report import paper\n",
                               "report/__init__.py": "", "report/paper.py": "",
                               "report/table_model.py": "from ssa_bench.matrix.report_settings import mode\n"})
    assert folder_loops(root) == ["matrix -> report -> matrix"]
