"""The book's own Sphinx extensions (book/_ext), tested without building the book.

- docstring_math: the rules' Unicode equations become TeX display math on the API page;
- author_year_labels: a reference's label is exactly how the text cites it;
- requirements: what `make lab` needs is pinned.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "book" / "_ext"))

import author_year_labels  # noqa: E402
import docstring_math  # noqa: E402
from docstring_math import to_tex, typeset_equation_blocks  # noqa: E402

def docstring_lines(module: Path) -> list[str]:
    return ast.get_docstring(ast.parse(module.read_text(encoding="utf-8")), clean=True).splitlines()


#: The rule modules whose docstrings write equations as indented blocks (SGD's and base's do not).
RULE_MODULES = [path for path in sorted((ROOT / "src" / "adaptive_optim" / "rules").glob("[!_]*.py"))
                if any(line.startswith("    ") and "=" in line for line in docstring_lines(path))]


@pytest.mark.parametrize(("unicode", "tex"), [
    ("s_t = s_{t−1} + g_t²", r"s_t = s_{t-1} + g_t^{2}"),
    ("β₁ᵗ", r"\beta_{1}^{t}"),
    ("√v_t + ε", r"\sqrt{v_t} + \epsilon"),
    ("√v̂_t", r"\sqrt{\hat{v}_t}"),
    ("√(1 − β₂ᵗ)", r"\sqrt{1 - \beta_{2}^{t}}"),
    ("√[(ρ_t − 4) ρ∞]", r"\sqrt{(\rho_t - 4) \rho_{\infty}}"),
    ("t → ∞", r"t \to \infty"),
    ("ηm", r"\eta m"),
    ("η·m", r"\eta\cdot m"),
    ("a = 1   b = 2", r"a = 1 \qquad b = 2"),
    ("x   when ρ_t > threshold", r"x \qquad \text{ when } \rho_t > \text{ threshold }"),
    ("(1 + (t − 1)·lr_decay)", r"(1 + (t - 1)\cdot \mathtt{lr\_decay})"),
    ("u_t = max(β₂u, |g_t|)", r"u_t = \max(\beta_{2}u, |g_t|)"),
])
def test_unicode_equations_become_tex(unicode: str, tex: str) -> None:
    assert to_tex(unicode) == tex


def test_equations_side_by_side_are_split_but_conditions_stay() -> None:
    assert docstring_math.split_equations("a = 1,   b = 2") == ["a = 1,", "b = 2"]
    assert docstring_math.split_equations("a = 1    when b > 2") == ["a = 1   when b > 2"]


def test_a_square_root_needs_something_to_take() -> None:
    with pytest.raises(ValueError, match="unbalanced"):
        to_tex("√(1 − β")


def test_only_indented_equation_blocks_are_typeset() -> None:
    doc = ["A rule.", "", "    a = b + c", "    d = e", "", "Code::", "", "    x = f(y)", "",
           "Indented prose:", "", "    not an equation", ""]
    out = typeset_equation_blocks(doc)
    assert out[:10] == ["A rule.", "", ".. math::", "", "   a = b + c", "", ".. math::", "", "   d = e", ""]
    assert "    x = f(y)" in out, "a literal block (after ::) must stay code"
    assert "    not an equation" in out


def test_the_adaptive_rules_write_their_equations() -> None:
    assert {"adagrad", "rmsprop", "adam", "radam"} <= {path.stem for path in RULE_MODULES}


@pytest.mark.parametrize("module", RULE_MODULES, ids=lambda path: path.stem)
def test_every_rule_module_docstring_typesets(module: Path) -> None:
    """Each rule family's equations reach the API page as math (and only as math)."""
    out = typeset_equation_blocks(docstring_lines(module))
    assert ".. math::" in out
    assert not [line for line in out if line.startswith("    ") and "=" in line], "an equation stayed prose"
    assert not any(ch in line for line in out if line.startswith("   ") for ch in "√²ᵗ₁₂−·"), out


def test_the_hook_touches_only_the_package() -> None:
    lines = ["x", "", "    a = b", ""]
    docstring_math.process_docstring(None, "module", "other.module", None, None, lines)
    assert lines == ["x", "", "    a = b", ""]
    docstring_math.process_docstring(None, "module", "adaptive_optim.rules.sgd", None, None, lines)
    assert ".. math::" in lines


def test_reference_labels_are_the_author_year_citations() -> None:
    from pybtex.database import parse_file

    entries = parse_file(str(ROOT / "references.bib")).entries
    assert author_year_labels.citation_text(entries["duchi2011adaptive"]) == "Duchi et al., 2011"
    assert author_year_labels.citation_text(entries["kingma2015adam"]) == "Kingma and Ba, 2015"
    assert author_year_labels.citation_text(entries["polyak1964some"]) == "Polyak, 1964"
    author_year_labels.register()
    import pybtex.plugin

    style = pybtex.plugin.find_plugin("pybtex.style.formatting", "author_year")()
    labels = [entry.label for entry in style.format_entries(entries.values())]
    assert sorted(labels) == sorted(author_year_labels.citation_text(entry) for entry in entries.values())


def test_jupyterlab_is_pinned_for_make_lab() -> None:
    pins = dict(line.split("==") for line in (ROOT / "requirements.txt").read_text().splitlines()
                if "==" in line and not line.startswith("#"))
    assert "jupyterlab" in pins and "ipywidgets" in pins and "jupyterlab_widgets" in pins
    makefile = (ROOT / "Makefile").read_text()
    assert "\nlab: $(STAMP)\n" in makefile and "jupyter lab" in makefile
