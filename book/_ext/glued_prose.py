"""Numbers in the chapters' prose come from the code: check them at build time.

A chapter's markdown writes a computed number as plain HTML that every notebook front end shows
as text (JupyterLab, Colab, the website)::

    Adagrad ends at <span class="glued" data-glue="adagrad_loss">0.012</span> ...

and a code cell computes it with ``notebook.glue("adagrad_loss", value, fmt)``, which stores the
formatted value among the cell's outputs (myst-nb's glue record). This extension reads each
notebook when Sphinx reads it and warns (an error under ``-W``) when a span's text differs from the
value its cell glued, or names a value no cell glued. ``tools/execute_notebooks.py`` rewrites the
spans from the glued values after re-executing a chapter, so the prose follows the code.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any

SPAN = re.compile(r'<span class="glued" data-glue="(?P<name>[^"]+)">(?P<text>.*?)</span>')
RECORD = "application/papermill.record/text/plain"


def glued_values(notebook: dict[str, Any]) -> dict[str, str]:
    """Every value glued by the notebook's code cells, by name, as the text the prose shows."""
    values: dict[str, str] = {}
    for cell in notebook.get("cells", []):
        for output in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            name = output.get("metadata", {}).get("scrapbook", {}).get("name")
            if name is not None and RECORD in output.get("data", {}):
                values[name] = _text(output["data"][RECORD])
    return values


def _text(value: str | list[str]) -> str:
    return "".join(value) if isinstance(value, list) else value


def _markdown_cells(notebook: dict[str, Any]):
    for index, cell in enumerate(notebook.get("cells", [])):
        if cell.get("cell_type") == "markdown":
            yield index, cell


def mismatches(notebook: dict[str, Any]) -> list[str]:
    """One line for each span whose text is not its glued value (or whose value no cell glued)."""
    values = glued_values(notebook)
    problems = []
    for index, cell in _markdown_cells(notebook):
        for match in SPAN.finditer(_text(cell["source"])):
            name, shown = match["name"], html.unescape(match["text"])
            if name not in values:
                problems.append(f"cell {index}: the prose shows {shown!r} for {name!r}, which no code cell glues")
            elif shown != values[name]:
                problems.append(f"cell {index}: the prose shows {shown!r} for {name!r}, "
                                f"but the code computed {values[name]!r}")
    return problems


def sync(notebook: dict[str, Any]) -> list[str]:
    """Rewrite every span with the value its cell glued; returns one line per change made."""
    values = glued_values(notebook)
    changes = []
    for index, cell in _markdown_cells(notebook):
        source = _text(cell["source"])

        def replace(match: re.Match) -> str:
            name = match["name"]
            if name not in values or html.unescape(match["text"]) == values[name]:
                return match[0]
            changes.append(f"cell {index}: {name}: {html.unescape(match['text'])!r} -> {values[name]!r}")
            return f'<span class="glued" data-glue="{name}">{html.escape(values[name], quote=False)}</span>'

        updated = SPAN.sub(replace, source)
        if updated != source:
            cell["source"] = updated
    return changes


def _check_source(app, docname: str, source: list[str]) -> None:
    """Sphinx ``source-read``: check a notebook's glued prose as it is read."""
    if not str(app.env.doc2path(docname)).endswith(".ipynb"):
        return
    from sphinx.util import logging

    logger = logging.getLogger(__name__)
    for problem in mismatches(json.loads(source[0])):
        logger.warning(f"glued number out of date: {problem} (re-run tools/execute_notebooks.py)",
                       location=docname)


def setup(app) -> dict[str, Any]:
    app.connect("source-read", _check_source)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
