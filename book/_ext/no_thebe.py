"""Keep Thebe off every page: no script, no stylesheet, no configuration block.

Jupyter Book 1.x always loads the ``sphinx_thebe`` extension, and that extension adds its CSS,
its loader script and an inline configuration to every page, and a ``text/x-thebe-config``
block to every page's body, even with ``launch_buttons: thebe: false``. The book has no live
kernel on its pages (Thebe would fetch itself from unpkg.com and ask mybinder.org for a kernel),
so this extension disconnects sphinx_thebe's event handlers and drops its stylesheet; its
``thebe-button`` directive stays registered, unused.
"""

from __future__ import annotations

from typing import Any

from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)

#: The module whose handlers and assets are removed.
THEBE = "sphinx_thebe"


def remove_thebe(app: Sphinx) -> None:
    """Disconnect every handler sphinx_thebe registered and drop the CSS file it added."""
    if THEBE not in app.extensions:
        return
    removed = 0
    for listeners in app.events.listeners.values():
        for listener in list(listeners):
            if getattr(listener.handler, "__module__", "").split(".")[0] == THEBE:
                app.disconnect(listener.id)
                removed += 1
    app.registry.css_files = [(name, attributes) for name, attributes in app.registry.css_files
                              if name != "sphinx-thebe.css"]
    logger.verbose("no_thebe: disconnected %d sphinx_thebe handlers", removed)


def setup(app: Sphinx) -> dict[str, Any]:
    remove_thebe(app)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
