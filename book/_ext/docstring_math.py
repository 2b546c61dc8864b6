"""Typeset the update rules that the package's docstrings write in plain Unicode.

A rule module's docstring gives its equations as an indented block, readable in ``help()`` and
in an editor::

    m_t = β₁ m_{t−1} + (1 − β₁) g_t              v_t = β₂ v_{t−1} + (1 − β₂) g_t²
    θ_t = θ_{t−1} − η/(1 − β₁ᵗ) · m_t / (√v_t / √(1 − β₂ᵗ) + ε)

reStructuredText reads such a block as a quotation, so on the API page its lines ran together
into one untypeset paragraph. On ``autodoc-process-docstring`` this extension turns each such
block (every line an equation: it holds "=") into ``.. math::`` directives, one display
equation per line, translating the Unicode into TeX with :func:`to_tex`. The docstrings stay the
single source; nothing is copied into book/api.md.
"""

from __future__ import annotations

import re
from typing import Any

from sphinx.application import Sphinx

GREEK = {"α": r"\alpha", "β": r"\beta", "γ": r"\gamma", "δ": r"\delta", "ε": r"\epsilon",
         "ζ": r"\zeta", "η": r"\eta", "θ": r"\theta", "λ": r"\lambda", "μ": r"\mu", "ν": r"\nu",
         "ρ": r"\rho", "σ": r"\sigma", "τ": r"\tau", "φ": r"\phi", "ψ": r"\psi", "ω": r"\omega",
         "Δ": r"\Delta", "Σ": r"\Sigma", "Π": r"\Pi"}
SYMBOLS = {"−": "-", "·": r"\cdot", "×": r"\times", "∞": r"\infty", "…": r"\dots", "≤": r"\le",
           "≥": r"\ge", "≈": r"\approx", "∑": r"\sum", "→": r"\to", "‖": r"\|", "½": r"\tfrac12", **GREEK}
SUBSCRIPTS = dict(zip("₀₁₂₃₄₅₆₇₈₉", "0123456789"))
SUPERSCRIPTS = dict(zip("⁰¹²³⁴⁵⁶⁷⁸⁹ᵗ", "0123456789t"))
HAT = "\u0302"  # combining circumflex: v̂
BRACKETS = {"(": ")", "[": "]", "{": "}"}
#: Two or more letters (with underscores, e.g. ``lr_decay``), and words after them: prose.
WORDS = re.compile(r"[A-Za-z]{2,}(?:_[A-Za-z]+)*(?: [A-Za-z]{2,}(?:_[A-Za-z]+)*)*")
#: Words that are functions in TeX.
OPERATORS = {"max": r"\max", "min": r"\min", "exp": r"\exp", "log": r"\log", "sign": r"\operatorname{sign}"}
#: Three or more spaces separate two equations written on one line.
GAP = re.compile(r" {3,}")


def _sqrt_argument(text: str, start: int) -> tuple[str, int]:
    """The argument of a √ that ends just before ``start``: a bracketed group, or one symbol
    with its hat and subscript (√v̂_t). Returns the argument (brackets dropped) and where it ends."""
    if start < len(text) and text[start] in BRACKETS:
        depth, end = 0, start
        for end in range(start, len(text)):
            depth += text[end] in BRACKETS
            depth -= text[end] in BRACKETS.values()
            if depth == 0:
                break
        else:
            raise ValueError(f"unbalanced bracket after √ in: {text}")
        return text[start + 1:end], end + 1
    match = re.compile(r"[^\s+\-−/·*()=,]" + HAT + r"?(?:_\{[^}]*\}|_\w)?").match(text, start)
    if match is None:
        raise ValueError(f"nothing to take the square root of in: {text}")
    return match.group(0), match.end()


def to_tex(equation: str) -> str:
    """TeX for one line of Unicode math, e.g. ``ρ_t = ρ∞ − 2t β₂ᵗ/(1 − β₂ᵗ)``."""
    out: list[str] = []
    i = 0
    text = GAP.sub(" \\\\qquad ", equation.strip())
    while i < len(text):
        char = text[i]
        if char == "√":
            argument, i = _sqrt_argument(text, i + 1)
            out.append(r"\sqrt{" + to_tex(argument) + "}")
            continue
        if (match := WORDS.match(text, i)) and not (i and text[i - 1] == "\\"):
            words = match.group(0)
            if words in OPERATORS:
                out.append(OPERATORS[words])
            elif "_" in words:  # a name from the code, e.g. lr_decay: typewriter, as in the text
                out.append(r"\mathtt{" + words.replace("_", r"\_") + "}")
            else:  # prose; MathJax's \text takes its content literally, spaces included
                out.append(r"\text{ " + words + " }")
            i = match.end()
            continue
        if char in SUBSCRIPTS or char in SUPERSCRIPTS:
            table, mark = (SUBSCRIPTS, "_") if char in SUBSCRIPTS else (SUPERSCRIPTS, "^")
            run = ""
            while i < len(text) and text[i] in table:
                run += table[text[i]]
                i += 1
            out.append(f"{mark}{{{run}}}")
            continue
        if i + 1 < len(text) and text[i + 1] == HAT:
            out.append(r"\hat{" + SYMBOLS.get(char, char) + "}")
            i += 2
            continue
        if char == "\\":  # an escaped TeX command written in the docstring (e.g. \qquad above)
            match = re.compile(r"\\[A-Za-z]+ ?").match(text, i)
            out.append(match.group(0) if match else char)
            i = match.end() if match else i + 1
            continue
        tex = SYMBOLS.get(char, char)
        if char == "∞" and i and text[i - 1] in GREEK:  # ρ∞, the name of a limit: ρ_∞
            tex = r"_{\infty}"
        i += 1
        # A command followed by a letter needs a space: \beta u, not \betau.
        out.append(tex + " " if tex[0] == "\\" and i < len(text) and text[i].isascii() and text[i].isalpha() else tex)
    return "".join(out).strip()


def split_equations(line: str) -> list[str]:
    """The equations written side by side on ``line`` (apart by three or more spaces); a part
    without "=" (a condition such as "when ρ_t > 5") stays with the equation before it."""
    equations: list[str] = []
    for part in GAP.split(line.strip()):
        if "=" in part or not equations:
            equations.append(part)
        else:
            equations[-1] += "   " + part
    return equations


def is_equation_block(lines: list[str]) -> bool:
    """True for a block whose every line is an equation (holds "=")."""
    return bool(lines) and all("=" in line for line in lines)


def typeset_equation_blocks(lines: list[str]) -> list[str]:
    """The docstring ``lines`` with each indented block of equations, set off by blank lines or
    following a paragraph, turned into ``.. math::`` directives (one per equation)."""
    result: list[str] = []
    i = 0
    while i < len(lines):
        starts_block = (lines[i].startswith("    ") and lines[i].strip()
                        and (i == 0 or not lines[i - 1].strip() or not lines[i - 1].startswith(" ")))
        previous = next((line for line in reversed(result) if line.strip()), "")
        if not starts_block or previous.rstrip().endswith("::"):
            result.append(lines[i])
            i += 1
            continue
        end = i
        while end < len(lines) and lines[end].startswith("    ") and lines[end].strip():
            end += 1
        block = [line.strip() for line in lines[i:end]]
        if not is_equation_block(block):
            result.extend(lines[i:end])
            i = end
            continue
        if result and result[-1].strip():
            result.append("")
        for equation in (part for line in block for part in split_equations(line)):
            # One directive each: centred, not aligned on a common right edge, and narrow
            # enough for a phone where two equations shared a line.
            result += [".. math::", "", "   " + to_tex(equation), ""]
        i = end
    return result


def process_docstring(app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: list[str]) -> None:
    """autodoc hook: typeset the equation blocks of the package's docstrings, in place."""
    if name.split(".")[0] == "adaptive_optim":
        lines[:] = typeset_equation_blocks(lines)


def setup(app: Sphinx) -> dict[str, Any]:
    app.setup_extension("sphinx.ext.autodoc")
    app.connect("autodoc-process-docstring", process_docstring)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
