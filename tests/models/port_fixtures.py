"""Loading the helper modules kept beside the ports' fixtures (tests/fixtures/<port>/*.py).

Each port folder has its own ``seeded_weights.py``-like module; importing them by bare name
through ``sys.path`` would let one port's module shadow another's in ``sys.modules``, so each
is loaded from its file under a name that includes its folder.
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def fixture_module(folder: str, name: str):
    """``tests/fixtures/<folder>/<name>.py`` as the module ``<folder>_<name>`` (loaded once)."""
    qualified = f"{folder}_{name}"
    if qualified not in sys.modules:
        spec = importlib.util.spec_from_file_location(qualified, FIXTURES / folder / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[qualified] = module
        spec.loader.exec_module(module)
    return sys.modules[qualified]
