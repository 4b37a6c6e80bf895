"""The report table as JSON, for notebooks and scripts that would rather not parse CSV: the table's
name, profile and title, the bootstrap settings behind its intervals, the caption as sentences,
and one object per (row, metric column) with the CSV's fields (``render_csv.CSV_COLUMNS``): paper,
ours, delta, gain, and where the runs kept per-image evidence ``ci_low``/``ci_high``, the gain's
``gain_ci_low``/``gain_ci_high`` and ``p``. Absent values are null, never NaN (not JSON)."""
from __future__ import annotations

import json
import math

from ssa_bench.report.render_csv import tidy_frame
from ssa_bench.report.table_model import ReportTable


def _plain(value):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if hasattr(value, "item"):          # numpy / pandas scalars
        return _plain(value.item())
    return value


def render_json(table: ReportTable) -> str:
    cells = [{key: _plain(value) for key, value in record.items()}
             for record in tidy_frame(table).to_dict(orient="records")]
    document = {"table": table.name, "profile": table.profile, "title": table.title,
                "intervals": table.interval_facts or None, "caption": table.sentences, "cells": cells}
    return json.dumps(document, indent=1, ensure_ascii=False, allow_nan=False) + "\n"
