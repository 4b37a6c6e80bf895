"""The report table as tidy CSV: one line per (row, metric column) with paper, ours, delta, gain,
n_seeds and std as plain numbers (full precision, empty when absent), for pandas or a spreadsheet;
and, where the runs kept per-image evidence, ours' bootstrap interval (ci_low, ci_high), the gain's
paired interval (gain_ci_low, gain_ci_high) and its p-value (p), with the rule its arrow followed."""
from __future__ import annotations

import pandas as pd

from ssa_bench.report.table_model import ReportTable

CSV_COLUMNS = ("table", "profile", "section", "label", "column_group", "metric", "paper", "ours", "delta",
               "gain", "gain_noise", "gain_shown", "paper_gain", "std", "n_seeds", "n_seeds_asked",
               "baseline_row", "paper_only", "missing", "states", "run_ids", "paper_source", "rank",
               # bootstrap over test images (docs/statistics.md): ours' interval, the gain's, its p
               "ci_low", "ci_high", "gain_ci_low", "gain_ci_high", "p", "gain_rule", "seeds_share")


def _round(value: float | None) -> float | None:
    # Differences of floats print as 0.5200000000000031; six decimals is far below any metric's noise.
    return None if value is None else round(value, 6)


def tidy_frame(table: ReportTable) -> pd.DataFrame:
    records = []
    for row in table.rows:
        for column, cell in zip(table.columns, row.cells):
            records.append({
                "table": table.name, "profile": table.profile, "section": row.section, "label": row.label,
                "column_group": column.group, "metric": column.metric, "paper": _round(cell.paper),
                "ours": _round(cell.ours), "delta": _round(cell.delta), "gain": _round(cell.gain),
                "gain_noise": _round(cell.gain_noise), "gain_shown": cell.gain_shown,
                "paper_gain": _round(cell.paper_gain), "std": _round(cell.std), "n_seeds": cell.n,
                "n_seeds_asked": cell.n_expected, "baseline_row": row.is_baseline, "paper_only": row.paper_only,
                "missing": cell.missing,
                "states": ";".join(f"{state}={count}" for state, count in sorted(row.states.items())),
                "run_ids": ";".join(row.run_ids), "paper_source": row.paper_source, "rank": row.rank,
                "ci_low": _round(cell.ci_low), "ci_high": _round(cell.ci_high),
                "gain_ci_low": _round(cell.gain_low), "gain_ci_high": _round(cell.gain_high),
                "p": _round(cell.gain_p), "gain_rule": cell.gain_rule if cell.gain is not None else None,
                "seeds_share": _round(cell.seeds_share),
            })
    return pd.DataFrame.from_records(records, columns=list(CSV_COLUMNS))


def render_csv(table: ReportTable) -> str:
    return tidy_frame(table).to_csv(index=False, lineterminator="\n")
