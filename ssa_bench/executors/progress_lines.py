"""Progress as plain lines, for a `run` whose stderr is not a terminal (``2>file``, ``nohup``, a SLURM
log): one timestamped line per run event -- queued, started, training progress with the latest loss,
validated with its mIoU, each stage, done or failed -- so that a log shows the runs moving.

Training progress is rate-limited per run: a line when another tenth of the iterations is done or
when ``interval_s`` has passed since the run's last line (``$SSA_BENCH_PROGRESS_S``, default 30),
whichever comes first, and never for an iteration already reported.
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from typing import TextIO

INTERVAL_ENV = "SSA_BENCH_PROGRESS_S"
DEFAULT_INTERVAL_S = 30.0
STEP_FRACTION = 0.1

_STAGE_WORDS = {"train": "training", "validate": "validating", "evaluate": "evaluating",
                "measure": "measuring GFLOPs/latency", "dump": "dumping features"}


def interval_from_env() -> float:
    """$SSA_BENCH_PROGRESS_S, seconds; a value that is not a positive number is the default."""
    try:
        value = float(os.environ.get(INTERVAL_ENV, DEFAULT_INTERVAL_S))
    except ValueError:
        return DEFAULT_INTERVAL_S
    return value if value > 0 else DEFAULT_INTERVAL_S


@dataclass
class _Seen:
    stage: str | None = None
    iter: int | None = None
    at: float = 0.0                 # monotonic time of the run's last training line
    miou: float | None = None


class ProgressLines:
    def __init__(self, stream: TextIO, interval_s: float | None = None, clock=time.monotonic) -> None:
        self.stream = stream
        self.interval_s = interval_from_env() if interval_s is None else interval_s
        self.clock = clock
        self._seen: dict[str, _Seen] = {}

    def line(self, run, text: str) -> None:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        self.stream.write(f"{stamp} {run.id} {run.label}: {text}\n")
        self.stream.flush()

    def queued(self, run) -> None:
        self.line(run, "queued")

    def started(self, run, pid: int) -> None:
        self.started_as(run, f"worker pid {pid}")

    def started_as(self, run, where: str) -> None:
        self._seen[run.id] = _Seen(at=self.clock())
        self.line(run, "started" + (f" ({where})" if where else ""))

    def followed(self, run, holder: str) -> None:
        self.line(run, f"followed: trained by {holder}")

    def finished(self, run, state: str, detail: str = "") -> None:
        self.line(run, state + (f": {detail}" if detail else ""))
        self._seen.pop(run.id, None)

    def poll(self, run, info: dict) -> None:
        """The run's progress.json as read now: print what is new, within the rate limit."""
        seen = self._seen.setdefault(run.id, _Seen(at=self.clock()))
        stage, iteration, total = info.get("stage"), info.get("iter"), info.get("max_iters")
        miou = info.get("mIoU")
        if miou is not None and miou != seen.miou:
            seen.miou = miou
            at = f" at iteration {info['val_iter']}" if info.get("val_iter") is not None else ""
            self.line(run, f"validated{at}: mIoU {miou:.2f}")
        if stage and stage != seen.stage:
            seen.stage = stage
            if stage != "train" or iteration in (None, 0):
                where = f" at iteration {iteration}/{total}" if stage == "validate" and iteration else ""
                self.line(run, _STAGE_WORDS.get(stage, stage) + where)
                if stage != "train":
                    return
        if stage != "train" or not isinstance(iteration, int) or not isinstance(total, int) or total < 1:
            return
        if seen.iter is not None and iteration <= seen.iter or iteration == 0:
            return
        step = max(1, math.ceil(total * STEP_FRACTION))
        crossed = seen.iter is None or iteration // step > seen.iter // step or iteration == total
        now = self.clock()
        if not crossed and now - seen.at < self.interval_s:
            return
        seen.iter, seen.at = iteration, now
        loss = info.get("loss")
        self.line(run, f"iteration {iteration}/{total} ({100 * iteration // total}%)"
                       + (f", loss {loss:.4f}" if isinstance(loss, (int, float)) else ""))
