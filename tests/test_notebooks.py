"""The notebooks execute headless in a real Jupyter kernel against real results, and are stored
without outputs."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
REQUIRED = ("tables.ipynb", "prototypes.ipynb")



def execute(notebook, cwd: Path = NOTEBOOKS):
    # kernel_name python3: jupyter_client starts it with this interpreter (sys.executable, the
    # venv's python), which test_the_kernel_is_this_python checks.
    client = NotebookClient(notebook, kernel_name="python3", timeout=600,
                            resources={"metadata": {"path": str(cwd)}})
    client.execute()
    return notebook


def outputs(notebook) -> list[dict]:
    return [out for cell in notebook.cells if cell.cell_type == "code" for out in cell.outputs]


@pytest.fixture
def notebook_env(figure_runs, monkeypatch):
    spec_path, spec, runs, store = results = figure_runs
    monkeypatch.setenv("SSA_BENCH_RESULTS", store.root)
    monkeypatch.setenv("SSA_BENCH_SPEC", str(spec_path))
    monkeypatch.setenv("SSA_BENCH_PROFILE", "paper")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    return results


def test_the_kernel_is_this_python():
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import sys; print(sys.prefix)")])
    execute(notebook, cwd=REPO)
    assert Path(outputs(notebook)[0]["text"].strip()).resolve() == Path(sys.prefix).resolve()


@pytest.mark.slow   # trains three runs (module fixture)
def test_tables_notebook_rebuilds_the_table(notebook_env):
    spec_path, spec, runs, store = notebook_env
    notebook = execute(nbformat.read(NOTEBOOKS / "tables.ipynb", as_version=4))
    text = json.dumps([dict(out) for out in outputs(notebook)])
    assert "error" not in {out["output_type"] for out in outputs(notebook)}
    for run in runs:
        assert run.id in text                      # the gathered frame lists every run
    assert "\\\\begin{table}" in text and "\\\\toprule" in text    # the LaTeX rendering
    assert any("text/markdown" in out.get("data", {}) for out in outputs(notebook))
    assert "all runs done" in text


@pytest.mark.slow   # trains three runs (module fixture)
def test_prototypes_notebook_draws_the_figures(notebook_env):
    spec_path, spec, runs, store = notebook_env
    notebook = execute(nbformat.read(NOTEBOOKS / "prototypes.ipynb", as_version=4))
    images = [out for out in outputs(notebook) if "image/png" in out.get("data", {})]
    assert len(images) == 2                        # the t-SNE and the relation matrix
    text = json.dumps([dict(out) for out in outputs(notebook)])
    full = next(run for run in runs if run.label == "SSA (Ours)")
    assert f"SSA (Ours) [{full.id}]" in text       # the default run is the spec's full-SSA row


def _code_cells_clean(notebook, where: str) -> None:
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{where}: cell {index} has outputs; clear them before committing"
            assert cell.execution_count is None, f"{where}: cell {index} has an execution count"


def test_notebooks_are_stored_without_outputs():
    found = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))
    assert set(REQUIRED) <= set(found)
    for path in NOTEBOOKS.glob("*.ipynb"):
        notebook = nbformat.read(path, as_version=4)
        nbformat.validate(notebook)
        _code_cells_clean(notebook, str(path))
    # and what git has committed (when this is a checkout)
    listed = subprocess.run(["git", "ls-files", "notebooks"], cwd=REPO, capture_output=True, text=True)
    for name in listed.stdout.split() if listed.returncode == 0 else []:
        if name.endswith(".ipynb"):
            shown = subprocess.run(["git", "show", f"HEAD:{name}"], cwd=REPO, capture_output=True, text=True)
            if shown.returncode == 0:
                _code_cells_clean(nbformat.reads(shown.stdout, as_version=4), f"HEAD:{name}")


def test_notebooks_import_the_package_not_copies():
    for name in REQUIRED:
        source = "\n".join(cell.source for cell in nbformat.read(NOTEBOOKS / name, as_version=4).cells)
        assert "from ssa_bench" in source
        assert "def " not in source, f"{name} defines functions: put them in ssa_bench and import them"
        assert "SSA_BENCH_RESULTS" in source and "SSA_BENCH_SPEC" in source


@pytest.mark.slow   # trains three runs (module fixture)
def test_notebooks_work_on_a_moved_results_folder(figure_runs, monkeypatch, tmp_path):
    # Issue 24: users move results (scratch -> project space). The copy is read while the original
    # is renamed away, so nothing can still be found through an absolute path into it.
    import shutil

    spec_path, spec, runs, store = figure_runs
    moved = tmp_path / "moved" / "results"
    shutil.copytree(store.root, moved, symlinks=True)
    away = store.root + ".away"
    monkeypatch.setenv("SSA_BENCH_RESULTS", str(moved))
    monkeypatch.setenv("SSA_BENCH_SPEC", str(spec_path))
    monkeypatch.setenv("SSA_BENCH_PROFILE", "paper")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    os.rename(store.root, away)
    try:
        tables = outputs(execute(nbformat.read(NOTEBOOKS / "tables.ipynb", as_version=4)))
        assert "error" not in {out["output_type"] for out in tables}
        assert "all runs done" in json.dumps([dict(out) for out in tables])
        figures = outputs(execute(nbformat.read(NOTEBOOKS / "prototypes.ipynb", as_version=4)))
        assert "error" not in {out["output_type"] for out in figures}
        assert len([out for out in figures if "image/png" in out.get("data", {})]) == 2
    finally:
        os.rename(away, store.root)
