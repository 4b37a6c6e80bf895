"""Number formatting and plain text -> LaTeX (escaping and the paper's math labels).

Spec labels and captions are plain text ("+ SEPA + Lg + Lsd", "mean ± std"); only the LaTeX
renderer turns them into the paper's notation ("+ SEPA + $\\mathcal{L}_{g}$ + $\\mathcal{L}_{sd}$").
"""
from __future__ import annotations

import math
import re

MISSING = "—"


def format_number(value: float | None, decimals: int = 2, signed: bool = False) -> str:
    """Fixed decimals, widened only where they would print a non-zero value as 0.0 (a 0.04-GFLOPs
    demo model, a gain of 0.004)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    places = decimals
    while places < 4 and value != 0 and abs(value) < 10 ** (-places):
        places += 1
    text = f"{value:+.{places}f}" if signed else f"{value:.{places}f}"
    return text.replace("-", "−") if signed else text


# Unicode the plain-text renderers use, and what it is in LaTeX.
_UNICODE_TO_LATEX = {
    "±": r"$\pm$", "↑": r"$\uparrow$", "↓": r"$\downarrow$", "Δ": r"$\Delta$", "—": "---",
    "–": "--", "−": "$-$", "×": r"$\times$", "√": r"$\surd$", "²": r"$^2$", "·": r"$\cdot$",
}
_LATEX_SPECIALS = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
    "<": r"\textless{}", ">": r"\textgreater{}",
}


def latex_escape(text: str) -> str:
    """Plain text -> LaTeX text: specials escaped, the few unicode signs we use mapped to math."""
    out = []
    for char in str(text):
        if char in _LATEX_SPECIALS:
            out.append(_LATEX_SPECIALS[char])
        elif char in _UNICODE_TO_LATEX:
            out.append(_UNICODE_TO_LATEX[char])
        elif ord(char) < 128:
            out.append(char)
        else:
            # pdflatex without inputenc extras chokes on arbitrary unicode; keep the table compiling.
            out.append("?")
    return "".join(out)


# Plain label tokens -> the paper's notation (Tables 3-6).
_LABEL_TOKENS = [
    (re.compile(r"(?<![A-Za-z])L_?\{?(g|c|rd|sd|pd)\}?(?![A-Za-z])"), lambda m: rf"$\mathcal{{L}}_{{{m.group(1)}}}$"),
    (re.compile(r"(?<![A-Za-z])Softmax_?\{?(K|HW)\}?(?![A-Za-z])"), lambda m: rf"Softmax$_{{{m.group(1)}}}$"),
    (re.compile(r"(?<![A-Za-z0-9])-\s?(H|B|E)(?![A-Za-z0-9])"), lambda m: rf"$-\mathcal{{{m.group(1)}}}$"),
]


def latex_label(label: str) -> str:
    """A plain row label in the paper's LaTeX: "Lg" -> $\\mathcal{L}_{g}$, "Softmax_HW" -> Softmax$_{HW}$."""
    text = str(label)
    pieces: list[tuple[int, int, str]] = []
    for pattern, replace in _LABEL_TOKENS:
        for match in pattern.finditer(text):
            if not any(start < match.end() and match.start() < end for start, end, _ in pieces):
                pieces.append((match.start(), match.end(), replace(match)))
    out, position = [], 0
    for start, end, latex in sorted(pieces):
        out.append(latex_escape(text[position:start]))
        out.append(latex)
        position = end
    out.append(latex_escape(text[position:]))
    return "".join(out)
