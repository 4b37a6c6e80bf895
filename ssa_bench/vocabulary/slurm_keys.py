"""What a SLURM request may say, once: the keys a spec row's ``slurm:`` block and a cluster profile
share (:data:`ROW_KEYS`), the keys only a profile has (:data:`PROFILE_ONLY_KEYS`), and SLURM's own
formats for a time limit and a memory size.

The spec loader checks a row's ``slurm:`` block against :data:`ROW_KEYS` when the spec is planned;
``executors/cluster_profiles.py`` checks a profile against :func:`profile_keys` and merges a row's
block into the job with the same fields, so a value one accepts the other accepts too.
"""
from __future__ import annotations

import math
import re

from ssa_bench.validation.rules import Field


def parse_minutes(value) -> int | None:
    """SLURM's time formats (minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS) -> whole minutes."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value if value > 0 else None
    if not isinstance(value, str):
        return None
    match = re.fullmatch(r"\s*(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?\s*", value)
    if not match:
        return None
    days, first, second, third = match.groups()
    # SLURM reads "25:99" as 25 min 99 s; a limit written like that is a typo, not a request.
    if days is not None:          # D-HH[:MM[:SS]]
        if int(first) > 23 or int(second or 0) > 59 or int(third or 0) > 59:
            return None
        seconds = int(days) * 86400 + int(first) * 3600 + int(second or 0) * 60 + int(third or 0)
    elif third is not None:       # HH:MM:SS
        if int(second) > 59 or int(third) > 59:
            return None
        seconds = int(first) * 3600 + int(second) * 60 + int(third)
    elif second is not None:      # MM:SS
        if int(second) > 59:
            return None
        seconds = int(first) * 60 + int(second)
    else:                         # minutes
        seconds = int(first) * 60
    minutes = math.ceil(seconds / 60)
    return minutes if minutes > 0 else None


def parse_memory(value) -> str | None:
    """A size as sbatch takes it: a number means GB; "48G", "48GB", "4096M", "1T" pass (normalised)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value) or value <= 0:
            return None
        return f"{int(value)}G" if float(value).is_integer() else f"{int(value * 1024)}M"
    if not isinstance(value, str):
        return None
    match = re.fullmatch(r"\s*(\d+)\s*([KMGT])B?\s*", value, flags=re.IGNORECASE)
    if not match or int(match.group(1)) <= 0:
        return None
    return f"{match.group(1)}{match.group(2).upper()}"


def _sbatch_options(value) -> dict | None:
    """``extra:``: other #SBATCH flags, verbatim; ``--mail_type`` and ``mail-type`` are one flag."""
    return {str(k).lstrip("-").replace("_", "-"): v for k, v in value.items()}


def _lines(value) -> list | None:
    """``setup:`` / ``srun_args:``: one string or a list of strings."""
    value = [value] if isinstance(value, str) else value
    return list(value) if all(isinstance(v, str) for v in value) else None


TIME = Field((str, int), parse=parse_minutes, problem="not a SLURM time limit", example='"24:00:00"',
             parse_fix='write minutes (e.g. 1440) or "HH:MM:SS" / "D-HH:MM:SS" (e.g. "2-00:00:00"), '
                       'minutes and seconds below 60, hours after a day below 24')
MEMORY = Field((str, int, float), parse=parse_memory, problem="not a memory size", example='"48G"',
               parse_fix='write e.g. "48G" or "4096M" (a bare number means GB)')
TEXT = Field(str, example='"gpu" (quoted when it looks like a number)')

# Beyond the upper bounds a value is a typo (gpus: 100000000), refused before sbatch sees it.
ROW_KEYS = {
    "gpus": Field(int, at_least=0, at_most=4096, what="0 or more GPUs"),
    "nodes": Field(int, at_least=1, at_most=1024, what="at least 1 node (or leave it out: as few as hold the GPUs)"),
    "cpus_per_gpu": Field(int, at_least=1, at_most=1024, what="at least 1 CPU per GPU"),
    "mem_per_gpu": MEMORY,
    "time": TIME,
    "partition": TEXT, "constraint": TEXT, "qos": TEXT, "account": TEXT,
    "extra": Field(dict, parse=_sbatch_options, example="{exclusive: true, mail-type: END}"),
}

PROFILE_ONLY_KEYS = {
    "description": TEXT, "job_name": TEXT, "python": TEXT,
    "gpus_per_node": Field(int, at_least=0, at_most=64, what="the GPUs one node has (0: a CPU-only cluster)"),
    # Zero of these is no request at all (sbatch rejects --cpus-per-task=0; an array of 0 at once never runs).
    "cpus_per_task": Field(int, at_least=1, at_most=4096, what="at least 1 CPU"),
    "mem_per_cpu": MEMORY,
    "signal_delay_s": Field(int, at_least=0, what="the seconds before the time limit to checkpoint, e.g. 120"),
    "max_requeues": Field(int, at_least=0, at_most=1000, what="the timeouts a run survives, e.g. 3"),
    "max_parallel": Field(int, at_least=1, at_most=100_000, what="at least 1 array task at once"),
    "setup": Field((list, str), parse=_lines, problem="must be a list of strings", example='["module load cuda"]',
                   parse_fix="write one shell line per item"),
    "srun_args": Field((list, str), parse=_lines, problem="must be a list of strings", example='["--cpu-bind=cores"]',
                       parse_fix="write one srun argument per item"),
}



def profile_keys() -> dict:
    """Every key a cluster profile may set: the row keys (read at call time, so the two never
    differ) and the profile's own."""
    return {**ROW_KEYS, **PROFILE_ONLY_KEYS}
