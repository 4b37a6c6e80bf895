"""Every file or folder of the package the docs point at exists (issue 25: README and
docs/ARCHITECTURE.md named `store.py`, a `tables` module and `Run (in plan.py)`, none of which was
where the text said).

Checked: every `ssa_bench/...` path in README.md, docs/*.md and experiments/README.md; and in the
two texts that describe our own layout (README.md, docs/ARCHITECTURE.md) every `name.py` in
backquotes, which must be a file of the package or the repository (the other docs quote the
authors' and upstream files by their own paths, which are not ours to check).
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", ROOT / "experiments" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# ssa_bench/a/b.py, ssa_bench/a/, ssa_bench/a (stops at what cannot be part of a path)
PACKAGE_PATH = re.compile(r"ssa_bench/[A-Za-z0-9_./]*[A-Za-z0-9_/]")
LAYOUT_DOCS = [ROOT / "README.md", ROOT / "docs" / "ARCHITECTURE.md"]
# `run.py` or `store/atomic.py` in backquotes: a module the text locates in the package
SHORT_NAME = re.compile(r"`([A-Za-z0-9_]+(?:/[A-Za-z0-9_]+)*\.py)`")


def package_paths(text: str) -> list[str]:
    return sorted({match.group(0).rstrip("/.") for match in PACKAGE_PATH.finditer(text)})


def short_names(text: str) -> list[str]:
    return sorted({match.group(1) for match in SHORT_NAME.finditer(text)})


# ssa_bench.report.gather.gather, ssa_bench.matrix.run.plan: a module, then the names it defines
DOTTED_NAME = re.compile(r"ssa_bench(?:\.[A-Za-z_][A-Za-z0-9_]*)+")


def dotted_names(text: str) -> list[str]:
    return sorted({match.group(0) for match in DOTTED_NAME.finditer(text)})


def _module_names(source: Path) -> set[str]:
    """Names a module defines or imports at its top level (parsed, not imported: no torch)."""
    names: set[str] = set()
    for node in ast.parse(source.read_text()).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
    return names


def _resolves(dotted: str) -> bool:
    """The longest prefix that is a module or package of ours, then a name it defines or imports
    (and at most one attribute of that name: a method, ``Store.paths``)."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        base = ROOT.joinpath(*parts[:cut])
        source = base.with_suffix(".py") if base.with_suffix(".py").is_file() else base / "__init__.py"
        if source.is_file():
            rest = parts[cut:]
            return not rest or (len(rest) <= 2 and rest[0] in _module_names(source))
    return False


def _exists_in_package(name: str) -> bool:
    """A short name like `run.py` or `store/atomic.py`: somewhere under ssa_bench/ (or the
    repository root, for tests/..., benchmarks/...)."""
    if (ROOT / name).exists():
        return True
    return any(path.as_posix().endswith("/" + name) for path in (ROOT / "ssa_bench").rglob(name.split("/")[-1]))


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_package_path_a_doc_names_exists(doc):
    missing = [path for path in package_paths(doc.read_text()) if not (ROOT / path).exists()]
    assert not missing, f"{doc.relative_to(ROOT)} names paths that do not exist: {missing}"


@pytest.mark.parametrize("doc", LAYOUT_DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_module_file_a_doc_names_exists(doc):
    missing = [name for name in short_names(doc.read_text()) if not _exists_in_package(name)]
    assert not missing, f"{doc.relative_to(ROOT)} names files that do not exist: {missing}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_dotted_name_a_doc_gives_resolves(doc):
    missing = [name for name in dotted_names(doc.read_text()) if not _resolves(name)]
    assert not missing, f"{doc.relative_to(ROOT)} names modules or functions that do not exist: {missing}"


def test_the_checks_find_a_stale_pointer():
    assert _resolves("ssa_bench.report.gather.gather") and _resolves("ssa_bench.matrix.run.Run")
    assert not _resolves("ssa_bench.report.tables") and not _resolves("ssa_bench.matrix.run.no_such_function")
    text = "the records are in `store.py` and ssa_bench/report/tables.py"
    assert package_paths(text) == ["ssa_bench/report/tables.py"] and not (ROOT / package_paths(text)[0]).exists()
    assert short_names(text) == ["store.py"] and not _exists_in_package("store.py")
