"""Writing a figure: PNG and PDF side by side, each carrying where its data came from.

The provenance (spec, run ids, the artefact files read, notes) goes three ways: a sidecar
`<name>.json` a test or a reader can parse, the PDF's Subject/Keywords, and the PNG's text chunks,
so a figure copied out of the results tree still says which runs it shows.
"""
from __future__ import annotations

import io
import time
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

from ssa_bench.store import write_bytes_atomic, write_json_atomic


def use_file_backend() -> None:
    """Agg for the CLI (figures are files, never windows); a notebook keeps its inline backend."""
    if "inline" not in str(matplotlib.get_backend()):
        matplotlib.use("Agg")


@dataclass
class Provenance:
    figure: str
    spec: str
    runs: list[str] = field(default_factory=list)         # run ids whose data is drawn
    artefacts: list[str] = field(default_factory=list)    # files read, relative to the results root
    notes: list[str] = field(default_factory=list)        # panels left empty, and why
    details: dict = field(default_factory=dict)           # choices made from the data (class, image)

    def use(self, run, *artefacts: str) -> None:
        if run.id not in self.runs:
            self.runs.append(run.id)
        for name in artefacts:
            path = run.artefact(name)
            if path not in self.artefacts:
                self.artefacts.append(path)

    def to_dict(self) -> dict:
        return {"figure": self.figure, "spec": self.spec, "runs": list(self.runs),
                "artefacts": list(self.artefacts), "notes": list(self.notes),
                "details": dict(self.details),
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def _save_atomic(figure, path: Path, fmt: str, metadata: dict) -> None:
    # Rendered in memory, written by the store's one atomic writer (readable as the umask allows).
    buffer = io.BytesIO()
    figure.savefig(buffer, format=fmt, dpi=150, bbox_inches="tight", metadata=metadata)
    write_bytes_atomic(path, buffer.getvalue())


def save_figure(figure, out_dir: Path, name: str, provenance: Provenance) -> list[Path]:
    """Write <name>.png, <name>.pdf and <name>.json into out_dir; returns the two image paths."""
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    runs = ",".join(provenance.runs)
    summary = f"ssa-bench {provenance.figure} from spec {provenance.spec}, runs {runs}"
    png, pdf = out_dir / f"{name}.png", out_dir / f"{name}.pdf"
    try:
        _save_atomic(figure, png, "png", {"Title": provenance.figure, "Description": summary,
                                          "Software": "ssa-bench"})
        _save_atomic(figure, pdf, "pdf", {"Title": provenance.figure, "Subject": summary,
                                          "Keywords": f"ssa-bench runs: {runs}", "Creator": "ssa-bench"})
    finally:
        plt.close(figure)
    write_json_atomic(out_dir / f"{name}.json", provenance.to_dict())
    return [png, pdf]


def note_panel(axis, text: str) -> None:
    """An empty panel that says what is missing (the figure keeps its layout)."""
    import textwrap

    axis.set_axis_off()
    axis.text(0.5, 0.5, textwrap.fill(text, 34), ha="center", va="center", fontsize=8, color="0.35",
              transform=axis.transAxes)


def plain_log_scale(axis, which: str = "y") -> None:
    """A log axis whose ticks read as plain numbers (0.5, 1.3, 10), not mathtext
    "1.3x10^0": matplotlib's own choice of which ticks to label, its labels in ``%g``."""
    from matplotlib.ticker import LogFormatter

    class PlainLogFormatter(LogFormatter):
        def __call__(self, value, pos=None):
            return f"{value:g}" if super().__call__(value, pos) else ""

    target = axis.yaxis if which == "y" else axis.xaxis
    (axis.set_yscale if which == "y" else axis.set_xscale)("log")
    target.set_major_formatter(PlainLogFormatter())
    target.set_minor_formatter(PlainLogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.5)))


def iteration_axis(axis, iterations) -> None:
    """An x axis of training iterations from 0 to a little past the last one, with integer
    ticks: a curve of one validation point at iteration 20 is not drawn over 19.0 to 21.0."""
    from matplotlib.ticker import MaxNLocator

    last = max([int(i) for i in iterations] or [1])
    axis.set_xlim(0, max(1, last) * 1.04)
    axis.xaxis.set_major_locator(MaxNLocator(integer=True))
