"""Bibliography labels that read as the text cites: "Duchi et al., 2011", not "DHS11".

The chapters cite in author-year style (``bibtex_reference_style: author_year``), so a reader
looks up "Duchi et al., 2011" in the references. Pybtex's ``alpha`` style labels entries "DHS11";
this extension registers the formatting style ``author_year`` (pybtex's ``unsrt`` entries,
sorted by author, year and title) whose labels are built by the very template that
sphinxcontrib-bibtex's author-year references use, so label and citation cannot differ.
Select it with ``bibtex_default_style: author_year``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import pybtex.plugin
from pybtex.database import Entry
from pybtex.style.formatting.unsrt import Style as UnsrtStyle
from pybtex.style.labels import BaseLabelStyle
from sphinx.application import Sphinx
from sphinxcontrib.bibtex.style.referencing.author_year import AuthorYearReferenceStyle
from sphinxcontrib.bibtex.style.template import join, year

NAME = "author_year"


def citation_text(entry: Entry, style: AuthorYearReferenceStyle | None = None) -> str:
    """How the text cites ``entry`` in author-year style, brackets left out: "Kingma and Ba, 2015"."""
    style = style or AuthorYearReferenceStyle()
    template = join(sep=style.author_year_sep)[style.person.author_or_editor_or_title(full=False), year]
    return template.format_data({"entry": entry, "style": style}).render_as("text")


class AuthorYearLabelStyle(BaseLabelStyle):
    """Labels each entry with its author-year citation."""

    def format_labels(self, sorted_entries: Iterable[Entry]) -> Iterator[str]:
        style = AuthorYearReferenceStyle()
        for entry in sorted_entries:
            yield citation_text(entry, style)


class AuthorYearStyle(UnsrtStyle):
    """Pybtex's ``unsrt`` entries, labelled by author and year, listed by author, year, title."""

    default_label_style = NAME
    default_sorting_style = "author_year_title"


def register() -> None:
    """Make both plugins known to pybtex (again, harmlessly, on a second build in one process)."""
    pybtex.plugin.register_plugin("pybtex.style.labels", NAME, AuthorYearLabelStyle, force=True)
    pybtex.plugin.register_plugin("pybtex.style.formatting", NAME, AuthorYearStyle, force=True)


def setup(app: Sphinx) -> dict[str, Any]:
    register()
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
