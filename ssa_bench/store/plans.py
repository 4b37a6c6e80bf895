"""Which spec, profile and --set overrides each run was planned with (``planned_with`` in run.json).

A run's id hashes its resolved config, so the same spec asked for without the ``--set`` it ran with
names other ids, and `status`/`report`/`figures` would show every run pending. run.json keeps, per
run, every (spec, profile, overrides) a `run` planned it with, so those commands can say which
overrides hold this spec's results (and ``--use-recorded-overrides`` can take them).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from ssa_bench.store import records
from ssa_bench.store.atomic import write_json_atomic

KEY = "planned_with"


def plan_entry(spec_name: str, spec_path: str, profile: str, overrides) -> dict:
    return {"spec": str(spec_name), "path": str(spec_path), "profile": str(profile),
            "overrides": [str(item) for item in overrides or ()]}


def _same(a: dict, b: dict) -> bool:
    return all(a.get(key) == b.get(key) for key in ("spec", "profile", "overrides"))


def record_plan(store, run, entry: dict) -> None:
    """Add `entry` to the run's run.json (written first when missing); nothing when it is there."""
    path = store.paths(run.id).config
    existing = records.read_run_config(path)
    if not isinstance(existing, dict):
        store.write_run(run)
        existing = records.read_run_config(path)
        if not isinstance(existing, dict):
            return
    planned = [item for item in existing.get(KEY) or [] if isinstance(item, dict)]
    if any(_same(item, entry) for item in planned):
        return
    planned.append({**entry, "at": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
    write_json_atomic(path, {**existing, KEY: planned})


@dataclass
class RecordedPlan:
    """This spec planned with one profile and set of overrides: the runs it named that are stored."""
    spec: str
    profile: str
    overrides: list[str]
    run_ids: list[str] = field(default_factory=list)
    done: int = 0
    last: str = ""                  # when it was last recorded (ISO time), to prefer the newest

    def flags(self, with_profile: bool = True) -> str:
        parts = [f"--profile {self.profile}"] if with_profile else []
        return " ".join(parts + [f"--set {item}" for item in self.overrides])


def recorded_plans(store, spec_name: str) -> list[RecordedPlan]:
    """Every (profile, overrides) this spec's runs were recorded with, most done runs first."""
    found: dict[tuple, RecordedPlan] = {}
    for run_id in store.run_ids():
        value = records.read_run_config(store.paths(run_id).config)
        if not isinstance(value, dict):
            continue
        for item in value.get(KEY) or []:
            if not isinstance(item, dict) or item.get("spec") != spec_name:
                continue
            overrides = [str(o) for o in item.get("overrides") or []]
            key = (str(item.get("profile")), tuple(overrides))
            plan = found.setdefault(key, RecordedPlan(spec_name, key[0], overrides))
            if run_id not in plan.run_ids:
                plan.run_ids.append(run_id)
                plan.done += store.view(run_id).state == "done"
            plan.last = max(plan.last, str(item.get("at") or ""))
    return sorted(found.values(), key=lambda p: (p.done, len(p.run_ids), p.last), reverse=True)
