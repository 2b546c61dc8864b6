"""Emit each inline ``<script>`` once: works around a Sphinx 7.4 bug that writes some twice.

Extensions add inline scripts with ``app.add_js_file(None, body=...)`` (sphinx-thebe's
``const THEBE_JS_URL = ...``, sphinx-togglebutton's selector). When they do so after the HTML
builder is initialised, Sphinx keeps the script twice, once named ``None`` and once ``''``
(``StandaloneHTMLBuilder.prepare_writing`` re-adds registered files as ``filename or ''``), so
every page declared ``const THEBE_JS_URL`` twice and the browser reported a SyntaxError.
Giving inline scripts the name ``''`` from the start lets Sphinx's own de-duplication work.
"""

from __future__ import annotations

import functools
from typing import Any

from sphinx.application import Sphinx


def setup(app: Sphinx) -> dict[str, Any]:
    add_js_file = app.add_js_file

    @functools.wraps(add_js_file)
    def add_js_file_named(filename: str | None, *args: Any, **kwargs: Any) -> None:
        add_js_file("" if filename is None else filename, *args, **kwargs)

    app.add_js_file = add_js_file_named  # type: ignore[method-assign]
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
