"""`ssa-bench weights list|fetch|check`: the baselines' pretrained checkpoints -- where each comes
from, download with progress and hash check into $SSA_BENCH_WEIGHTS, and what is there."""
from __future__ import annotations

import json
from argparse import Namespace

from rich.table import Table

from ssa_bench.commands.shared import err, out
from ssa_bench.errors import UserError


def cmd_weights(args: Namespace) -> int:
    from ssa_bench.weights import load_catalog, lookup, weights_dir

    if args.weights_command == "list":
        return _weights_list(load_catalog(), weights_dir(), args.json)
    entries = lookup(args.names)
    if args.weights_command == "fetch":
        return _weights_fetch(entries, weights_dir(), force=args.force)
    return _weights_check(entries, weights_dir(), named=bool(args.names))


def _hash_text(entry) -> str:
    if entry.sha256:
        return f"sha256 {entry.sha256[:12]}..."
    if entry.sha256_prefix:
        return f"sha256 prefix {entry.sha256_prefix}"
    return "none published"


def _weights_list(catalog, directory, as_json: bool) -> int:
    rows = []
    for entry in catalog.values():
        path = entry.path(directory)
        rows.append({"name": entry.name, "title": entry.title, "file": entry.file, "url": entry.url,
                     "page": entry.page, "sha256": entry.sha256, "sha256_prefix": entry.sha256_prefix,
                     "licence": entry.licence, "path": str(path), "present": path.is_file(),
                     "mapping": entry.mapping.to_dict()})
    if as_json:
        print(json.dumps(rows, indent=2))
        return 0
    table = Table(title=f"pretrained checkpoints -- folder {directory} ($SSA_BENCH_WEIGHTS)", title_justify="left")
    # The baseline's name whole at any terminal width (a name is what the user types next);
    # the other columns fold.
    table.add_column("baseline", no_wrap=True, min_width=max(len(name) for name in catalog))
    for column in ("file", "present", "hash", "download", "licence"):
        table.add_column(column, overflow="fold")
    for entry, row in zip(catalog.values(), rows):
        present = "[green]yes[/green]" if row["present"] else "[red]no[/red]"
        source = entry.url.split("/")[2] if entry.url else "by hand (see docs/weights.md)"
        licence = entry.licence.split(";")[0].split(" (")[0]       # the full text: --json, docs/weights.md
        table.add_row(entry.name, entry.file, present, _hash_text(entry), source, licence)
    out.print(table)
    return 0


def _weights_fetch(entries, directory, force: bool) -> int:
    from ssa_bench.weights.fetch import fetch

    failed = 0
    for entry in entries:
        with _fetch_progress(entry) as progress:
            try:
                path = fetch(entry, directory, progress=progress, force=force)
            except UserError as error:
                failed += 1
                err.print(f"ssa-bench: error: {error.one_line()}", highlight=False, markup=False, soft_wrap=True)
                continue
        verdict = "hash checked" if entry.expected_hash else "no published hash to check"
        err.print(f"{entry.name}: {path} ({verdict})", highlight=False)
    return 2 if failed else 0


def _fetch_progress(entry):
    """A progress display for one download: a rich bar on a terminal, a line per 10% otherwise."""
    import contextlib

    from ssa_bench.weights.fetch import PlainProgress

    if not err.is_terminal:
        return contextlib.nullcontext(PlainProgress(err.file))
    from rich.progress import (BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn,
                               TransferSpeedColumn)

    @contextlib.contextmanager
    def bar():
        with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                      TimeRemainingColumn(), console=err, transient=False) as display:
            task = display.add_task(entry.file, total=None)

            def update(_entry, done, total):
                display.update(task, completed=done, total=total)

            yield update
    return bar()


def _weights_check(entries, directory, named: bool) -> int:
    from ssa_bench.weights.fetch import check, mismatch_error

    results = check(entries, directory)
    table = Table(title=f"pretrained checkpoints in {directory}", title_justify="left")
    for column in ("baseline", "file", "state", "sha256 of the file"):
        table.add_column(column, overflow="fold")
    colours = {"ok": "green", "unverified": "yellow", "mismatch": "red", "missing": "red"}
    words = {"ok": "ok (hash matches)", "unverified": "present (no published hash)", "mismatch": "HASH MISMATCH",
             "missing": "missing"}
    for result in results:
        colour = colours[result.state]
        table.add_row(result.entry.name, result.entry.file, f"[{colour}]{words[result.state]}[/{colour}]",
                      result.sha256 or "")
    out.print(table)
    bad = [r for r in results if r.state == "mismatch" or (named and r.state == "missing")]
    for result in bad:
        if result.state == "mismatch":
            line = mismatch_error(result.entry, result.path, result.sha256, removed=False).one_line()
        else:
            line = (f"{result.path}: missing -- run `{result.entry.fetch_command()}`, or copy the file there by hand")
        err.print(f"ssa-bench: error: {line}", highlight=False, markup=False, soft_wrap=True)
    missing = [r.entry.name for r in results if r.state == "missing"]
    if missing and not named:
        err.print(f"{len(missing)} missing: `ssa-bench weights fetch {' '.join(missing)}`", highlight=False,
                  soft_wrap=True)
    return 2 if bad else 0
