"""The one user-facing error type.

Every mistake a user can make (a malformed spec, an unknown baseline, a missing dataset, a bad
argument) is raised as :class:`UserError` where the bad value is first seen, carrying where it is
(file and key path), what is wrong and how to fix it. The CLI prints it as one line and exits 2.
"""
from __future__ import annotations

from dataclasses import dataclass

_ESCAPES = {code: repr(chr(code))[1:-1] for code in [*range(32), 127, 0x85, 0x2028, 0x2029]}


@dataclass
class UserError(Exception):
    message: str
    file: str | None = None
    key: str | None = None
    fix: str | None = None

    def __post_init__(self) -> None:
        super().__init__(self.one_line())

    def one_line(self) -> str:
        where = ""
        if self.file and self.key:
            where = f"{self.file}: {self.key}: "
        elif self.file:
            where = f"{self.file}: "
        elif self.key:
            where = f"{self.key}: "
        text = f"{where}{self.message}"
        if self.fix:
            text += f" -- {self.fix}"
        # A key or value may hold a newline or a control character (from YAML or --set): shown
        # escaped, so the error stays one line.
        return text.translate(_ESCAPES)

    def __str__(self) -> str:
        return self.one_line()


class SpecError(UserError):
    """A spec file (or a --set override) is malformed; nothing has run."""


class DataError(UserError):
    """A dataset (or a checkpoint path) the runs need is missing."""
