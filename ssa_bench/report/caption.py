"""What a table's caption must say, as plain-text sentences every renderer shows, written into the
model once (``write_caption``) after its numbers, intervals and cell texts.

The profile (a cpu-demo table says it is a CPU demo on synthetic data, not the paper's setting), what
paper | ours | Δ mean, how the gain arrow was decided (seed spread, or a single seed), the device of
our latency and the paper's, and which cells are still missing.
"""
from __future__ import annotations

import re

from ssa_bench.vocabulary.names import DATASETS
from ssa_bench.report.table_model import ReportTable
from ssa_bench.vocabulary.metrics import ACCURACY_METRICS, HEADINGS


def _paper_sentence(table: ReportTable) -> str:
    if not table.has_paper:
        return "The paper has no table for this comparison: only our numbers are shown."
    note = f" ({table.paper.note})" if table.paper.note else ""
    # the Δ legend only where a Δ is printed (never under a profile not comparable with the paper)
    delta = "; Δ = ours − paper" if any(table.shows_delta(column) for column in table.columns) else ""
    return f"Paper: {table.paper.title.split(':')[0]} of arXiv 2405.06525{note}{delta}."


def _profile_sentence(table: ReportTable) -> str:
    setting = ", ".join(table.ours_baselines + table.ours_datasets)
    if table.profile == "cpu-demo":
        setting = f" ({setting})" if setting else ""
        # an inline data set (a user's real images) stays itself under cpu-demo: not synthetic
        generated = all(name in DATASETS and DATASETS[name].generated for name in table.ours_datasets)
        data = "synthetic data" if generated else "the spec's own data"
        return (f"Ours: CPU demo on {data}{setting}, profile cpu-demo -- not the paper's setting, "
                "so ours is not comparable with the paper's numbers.")
    # the baselines and data sets are the table's rows; their keys are in the provenance JSON
    return f"Ours: profile {table.profile}, the paper's setting."


def from_scratch_baselines(runs) -> list[str]:
    """Baselines (in order) with a run whose resolved config trains the backbone from scratch.

    Only resolved configs count (they always hold ``train.pretrained``); a config without the key
    says nothing either way.
    """
    names: list[str] = []
    for run in runs:
        config = run.config
        train = config.get("train") or {}
        if "pretrained" in train and train["pretrained"] is None and config.get("baseline") not in names:
            names.append(config.get("baseline"))
    return names


def _pretrained_sentence(table: ReportTable) -> str | None:
    if not table.from_scratch:
        return None
    from ssa_bench.vocabulary.names import BASELINES

    def title(name: str) -> str:
        info = BASELINES.get(name)
        if info is None:
            return str(name)
        return info.title if info.title == info.backbone else f"{info.title} ({info.backbone})"

    names = ", ".join(title(b) for b in table.from_scratch)
    return (f"Trained from scratch, without the ImageNet-pretrained backbone the paper starts from "
            f"(train.pretrained: none): {names}.")


def _batch_sentence(table: ReportTable) -> str | None:
    if not table.batch_notes:
        return None
    return "Split of the batch of 16 not the authors' where it changes BN statistics: " + "; ".join(table.batch_notes) + "."


def _evaluation_sentence(table: ReportTable) -> str | None:
    """How ours was tested and how the paper's numbers were (Sec. 4.2: single scale), naming every
    paper number of the table that was tested otherwise."""
    from ssa_bench.vocabulary.protocol import EVAL_MODE_TITLES

    if not table.ours_eval_modes and not table.has_paper:
        return None
    parts = []
    if table.ours_eval_modes:
        ours = " and ".join(EVAL_MODE_TITLES.get(m, m) for m in table.ours_eval_modes)
        windows = "; ".join(f"{DATASETS[d].title if d in DATASETS else d} {w.split('/')[0]}, stride "
                            f"{w.split('/')[1]}" for d, w in table.ours_eval_windows.items())
        parts.append(f"ours {ours}" + (f" (sliding window where the run's test slides: {windows})"
                                       if windows else ""))
    if table.has_paper:
        default = EVAL_MODE_TITLES.get(table.paper.eval_mode_default, table.paper.eval_mode_default)
        paper = f"the paper's numbers {default}" + (" (Sec. 4.2)" if table.paper_eval_source else "")
        exceptions = []
        for row in table.rows:
            odd = [c for c in row.cells if c.paper_eval and c.paper_eval != table.paper.eval_mode_default]
            if odd:
                note = row.paper_eval_note or ", ".join(
                    f"{c.paper:g} {EVAL_MODE_TITLES.get(c.paper_eval, c.paper_eval)}" for c in odd)
                exceptions.append(f"{row.section + ' / ' if row.section else ''}{row.label}: {note}")
        if exceptions:
            paper += ", except " + "; ".join(exceptions)
        parts.append(paper)
        mismatched = [c for row in table.rows for c in row.cells if c.delta is not None and c.paper_eval
                      and table.ours_eval_modes and c.paper_eval not in table.ours_eval_modes]
        if mismatched and table.profile != "cpu-demo":   # cpu-demo prints no Δ at all
            count = len(mismatched)
            parts.append(f"{count} Δ {'value compares' if count == 1 else 'values compare'} numbers tested "
                         "differently")
    return "Evaluation: " + "; ".join(parts) + "."


def _seed_rule(table: ReportTable, against: str) -> str:
    if table.max_seeds > 1:
        return (f"Ours: mean ± std over up to {table.max_seeds} seeds (n); ↑ gain over {against}, drawn only "
                "when it exceeds the seed spread √(std_row² + std_baseline²).")
    return f"Single seed: ↑ gain over {against}, drawn for any gain, not tested against seed noise."


def _gain_sentence(table: ReportTable) -> str:
    baselines = sorted({label for label in table.baseline_rows.values()})
    against = baselines[0] if len(baselines) == 1 else "each section's first row"
    gains = [(row, cell) for row in table.rows for cell, column in zip(row.cells, table.columns)
             if cell.gain is not None and column.metric in ACCURACY_METRICS]
    if not any(cell.gain_rule == "interval" for _, cell in gains):
        return _seed_rule(table, against)
    facts = table.interval_facts
    images = "/".join(str(n) for n in facts.get("images", []))
    over = f"the {images} test images" + (" and the seeds" if table.max_seeds > 1 else "")
    sentence = (f"↑/↓ gain over {against}, drawn only when its {facts['level']:.0%} paired bootstrap interval "
                f"over {over} excludes 0 ({'BCa' if facts['method'] == 'bca' else facts['method']}, "
                f"{facts['resamples']} resamples; interval and p-value in the CSV); "
                + ("it covers the test images' sampling, not training randomness (one seed)."
                   if table.max_seeds <= 1 else "seeds resampled with the images."))
    others = list(dict.fromkeys(row.label for row, cell in gains if cell.gain_rule != "interval"))
    if others:
        rule = _seed_rule(table, against)
        sentence += (f" Rows without per-image evidence ({', '.join(others)}: older records) follow the seed rule "
                     f"instead -- {rule[0].lower()}{rule[1:]}")
    return sentence


def _interval_sentence(table: ReportTable) -> str | None:
    shown = [cell for row in table.rows for cell in row.cells if cell.ci_low is not None]
    if table.intervals == "off" or not shown:
        return None
    level = f"{table.interval_facts.get('level', 0.95):.0%}"
    if table.intervals == "ci":
        return f"[low, high]: the {level} bootstrap interval of ours over the test images."
    return (f"± after ours: half the width of its {level} bootstrap interval over the test images "
            "(in place of the seed std).")


def _latency_sentence(table: ReportTable) -> str | None:
    if not any(c.metric == "latency_ms" for c in table.columns):
        return None
    paper_device = table.paper.latency_device if table.paper and table.paper.latency_device else None
    paper_part = f"; the paper's on a {paper_device}" if paper_device else ""
    if paper_device and not table.latency_comparable:
        paper_part += " (no Δ: different devices)"
    if table.latency is None:
        return f"Our latency: not measured yet{paper_part}."
    facts = table.latency
    name = f" ({facts['device_name']})" if facts.get("device_name") else ""
    threads = f", {'/'.join(str(t) for t in facts['threads'])} threads" if facts.get("threads") else ""
    sizes = f", input {'/'.join(facts['input_sizes'])}" if facts.get("input_sizes") else ""
    shared = next((c for c in table.columns if c.metric == "latency_ms" and c.shared), None)
    where = f", on the {shared.group_title} model as the paper did" if shared else ""
    return f"Our latency: median ms on {facts['device']}{name}{threads}{sizes}{where}{paper_part}."


def _missing_sentence(table: ReportTable) -> str | None:
    missing = [(row, cell) for row in table.rows for cell in row.cells if cell.missing]
    partial = [(row, cell) for row in table.rows for cell in row.cells if cell.partial]
    parts = []
    if missing:
        states: dict[str, int] = {}
        for row in {id(r): r for r, _ in missing}.values():
            for state, count in row.states.items():
                states[state] = states.get(state, 0) + count
        detail = ", ".join(f"{count} {state}" for state, count in sorted(states.items()))
        parts.append(f"— = no record yet ({len(missing)} cells; runs: {detail or 'not started'})")
    if partial:
        parts.append(f"{len(partial)} cells average fewer seeds than asked (n shows done/asked)")
    return "; ".join(parts) + "." if parts else None


# "Table 3: ..." as a spec title: LaTeX numbers its tables itself, so a caption never repeats it.
_TABLE_NUMBER = re.compile(r"^\s*Table\s+[A-Za-z0-9.]+\s*[:.\-]\s*", re.IGNORECASE)


def heading(table: ReportTable, numbered: bool = True) -> str:
    """The table's own words (report.caption or its title) as one sentence; without a leading
    "Table N:" when ``numbered`` is False (LaTeX and papers number the table themselves)."""
    text = (table.caption or table.title).strip()
    if not numbered:
        text = _TABLE_NUMBER.sub("", text)
        text = text[:1].upper() + text[1:]
    if text and text[-1] not in ".!?":
        text += "."
    return text


def _short_sentence(table: ReportTable) -> str:
    """The caption's second sentence: what the numbers are, in a few words."""
    if table.profile == "cpu-demo":
        return "Ours is a CPU demo, not comparable with the paper's numbers (no Δ)."
    if table.has_paper:
        return f"Each cell: the paper's number ({table.paper.title.split(':')[0]}) above ours."
    return "Our numbers only."


def write_caption(table: ReportTable) -> None:
    """Fill ``table.sentences`` (the caption, one sentence per fact) and ``table.caption_line`` (one
    or two sentences: what a paper-ready table shows; the other sentences are its notes)."""
    table.sentences = caption_sentences(table)
    table.caption_line = f"{heading(table, numbered=False)} {_short_sentence(table)}"


def notes_overrides(table: ReportTable) -> str | None:
    """The --set overrides the table's runs were planned with, when they were recorded (the spec's
    or the runs' ``overrides``; see api.report_table). Runs recorded before overrides were stored
    say nothing here."""
    if not table.overrides:
        return None
    return "Runs planned with " + " ".join(f"--set {o}" for o in table.overrides) + "."


def caption_sentences(table: ReportTable) -> list[str]:
    """The caption, one sentence per fact, plain text (the LaTeX renderer escapes and maps the signs)."""
    sentences = [heading(table), _paper_sentence(table), _profile_sentence(table), _pretrained_sentence(table),
                 _batch_sentence(table), _evaluation_sentence(table), _gain_sentence(table), _interval_sentence(table),
                 _latency_sentence(table), _missing_sentence(table)]
    shared = [c for c in table.columns if c.shared and c.metric != "latency_ms"]
    for column in shared:
        title = HEADINGS.get(column.metric, column.metric)
        sentences.append(f"{title} is shown once per row, measured on the {column.group_title} model as in the paper.")
    if any(row.paper_only for row in table.rows):
        sentences.append("Rows marked 'paper only' are not run here: the paper's numbers only.")
    if table.rank_by:
        title = HEADINGS.get(table.rank_by, table.rank_by)
        where = " within each block" if table.has_sections else ""
        sentences.append(f"Rows are ranked by mean {title}{where}, best first (rank in the # column).")
    sentences.append(notes_overrides(table))
    return [s for s in sentences if s]
