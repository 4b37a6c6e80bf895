"""Where `data prepare` tells what it does: a silent ``Reporter`` by default, ``RichReporter``
(progress bars) for the CLI."""
from __future__ import annotations

from typing import Iterable, Iterator



class Reporter:
    """Where prepare() tells what it does. Subclass to draw progress (the CLI uses rich)."""

    def note(self, text: str) -> None:
        pass

    def track(self, items: Iterable, total: int, description: str) -> Iterator:
        yield from items


class RichReporter(Reporter):
    """Progress bars and notes on a rich console (the CLI's stderr)."""

    def __init__(self, console) -> None:
        self.console = console

    def note(self, text: str) -> None:
        self.console.print(text, highlight=False, soft_wrap=True)

    def track(self, items: Iterable, total: int, description: str) -> Iterator:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        with Progress(*columns, console=self.console, transient=False) as progress:
            task = progress.add_task(description, total=total)
            for item in items:
                yield item
                progress.advance(task)
