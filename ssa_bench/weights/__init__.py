"""Pretrained backbone checkpoints: the catalog, the cache, download and strict loading.

* ``catalog.yaml`` -- every baseline's checkpoint as data: URL, file, hash, key mapping, licence.
* :mod:`.catalog` -- reading it, the weights folder (``$SSA_BENCH_WEIGHTS``), what a spec's
  ``train.pretrained`` resolves to, and the check ``run`` makes before queueing anything.
* :mod:`.fetch` -- download with resume and hash check; verify a folder filled by hand.
* :mod:`.mapping` -- checkpoint names -> backbone names, and the strict comparison.
* :mod:`.strict` -- the ``StrictPretrained`` mmengine initialiser (imports torch; nothing else here does).

See docs/weights.md.
"""
from __future__ import annotations

from ssa_bench.weights.catalog import (Checkpoint, WeightEntry, checkpoint_of, ensure_weights, entry_for,
                                       load_catalog, lookup, resolve_pretrained, weights_dir)

STRICT_IMPORT = "ssa_bench.weights.strict"

__all__ = ["Checkpoint", "WeightEntry", "checkpoint_of", "ensure_weights", "entry_for", "load_catalog",
           "lookup", "resolve_pretrained", "weights_dir", "STRICT_IMPORT"]
