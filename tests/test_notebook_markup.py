"""The chapters read cleanly wherever a notebook is opened: JupyterLab, Colab and the website.

No MyST-only markup (roles, directives, targets) in the prose, since JupyterLab and Colab show it
raw; numbers in the prose are the values the code glued; citations name the paper they link to;
and the rule sources shown in the chapters are the package's current code.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat
import pybtex.database
import pytest

from adaptive_optim import models, notebook, rules

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "book" / "_ext"))
import glued_prose  # noqa: E402

NOTEBOOKS = sorted((ROOT / "book").glob("*.ipynb"))
BIB = pybtex.database.parse_file(ROOT / "references.bib")

# MyST syntax that only Sphinx understands: {role}`...`, ```{directive}, :::{directive}, (target)=
MYST_ONLY = re.compile(r"\{[a-z][\w:-]*\}`|^\s*(`{3,}|:{3,})\s*\{|^\(\w[\w-]*\)=\s*$", re.M)
LINK = re.compile(r"\[([^\[\]\n]+)\]\((https?://[^)\s]+)\)")


def markdown(path: Path) -> list[tuple[int, str]]:
    nb = nbformat.read(path, as_version=4)
    return [(i, cell.source) for i, cell in enumerate(nb.cells) if cell.cell_type == "markdown"]


def citation(key: str) -> tuple[str, str, str | None]:
    """(authors as the book writes them, year, link) for a references.bib entry."""
    entry = BIB.entries[key]
    names = [re.sub(r"[{}]", "", p.last_names[0]).replace('\\"o', "ö") for p in entry.persons["author"]]
    authors = names[0] if len(names) == 1 else (
        f"{names[0]} and {names[1]}" if len(names) == 2 else f"{names[0]} et al.")
    fields = entry.fields
    link = fields.get("url") or (fields.get("doi") and "https://doi.org/" + fields["doi"]) or (
        fields.get("eprint") and "https://arxiv.org/abs/" + fields["eprint"])
    return authors, fields["year"], link


CITED = {citation(key)[2]: citation(key) for key in BIB.entries if citation(key)[2]}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_prose_has_no_markup_that_jupyterlab_or_colab_would_show_raw(path: Path) -> None:
    raw = [(i, m[0]) for i, source in markdown(path) for m in MYST_ONLY.finditer(source)]
    assert raw == [], f"{path.name}: MyST-only markup in markdown cells (cell, text): {raw}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_numbers_in_the_prose_are_the_values_the_code_glued(path: Path) -> None:
    assert glued_prose.mismatches(nbformat.read(path, as_version=4)) == []


def test_the_glue_check_catches_a_stale_number() -> None:
    nb = nbformat.read(NOTEBOOKS[0], as_version=4)
    cell = next(c for c in nb.cells if c.cell_type == "markdown" and glued_prose.SPAN.search(c.source))
    cell.source = glued_prose.SPAN.sub(r'<span class="glued" data-glue="\g<name>">-1.0</span>', cell.source, count=1)
    assert len(glued_prose.mismatches(nb)) == 1
    assert len(glued_prose.sync(nb)) == 1 and glued_prose.mismatches(nb) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_every_link_to_a_cited_paper_names_its_authors_and_year(path: Path) -> None:
    for i, source in markdown(path):
        for text, url in LINK.findall(source):
            if url in CITED:
                authors, year, _ = CITED[url]
                assert text in (f"{authors}, {year}", f"{authors} ({year})"), (
                    f"{path.name}, cell {i}: the link to {url} reads {text!r}; "
                    f"it cites {authors}, {year}")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_the_rule_sources_shown_are_the_current_code(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    shown = [cell for cell in nb.cells
             if cell.cell_type == "code" and cell.source.startswith("notebook.show_source(")]
    for cell in shown:
        target = eval(cell.source.removeprefix("notebook.show_source(").removesuffix(")"),
                      {"models": models, "rules": rules})
        outputs = [o for o in cell.get("outputs", []) if "data" in o]
        assert outputs, f"{path.name}: `{cell.source}` has no output; re-run tools/execute_notebooks.py"
        assert outputs[0]["data"]["text/plain"] == repr(notebook.show_source(target)), (
            f"{path.name}: `{cell.source}` shows old code; re-run tools/execute_notebooks.py")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_every_figure_has_an_alt_text(path: Path) -> None:
    """The website's <img alt> comes from the output's metadata (notebook.show, book/_ext/figure_alt.py)."""
    nb = nbformat.read(path, as_version=4)
    missing = [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"
               for output in cell.get("outputs", []) if "image/png" in output.get("data", {})
               and len(output.get("metadata", {}).get("image/png", {}).get("alt", "").split()) < 5]
    assert missing == [], f"{path.name}: figures without a real alt text in cells {missing}; show them with notebook.show(fig, alt=...)"
