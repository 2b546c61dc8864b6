"""Alt text for notebook figures from their output's metadata.

``adaptive_optim.notebook.show(fig, alt="...")`` writes the figure's alt text into the output's
metadata, next to its ``width``: ``{"image/png": {"width": 640, "alt": "..."}}``. myst-nb 1.x
takes ``width`` and ``height`` from there but ``alt`` only from the cell's metadata
(``mystnb: image: alt``), one text for every image of a cell; this extension has its image
renderer take ``alt`` from the output too, so that each figure carries its own and the text
lives in the code next to the figure it describes.
"""

from __future__ import annotations

import functools
from typing import Any

from myst_nb.core.render import MimeData, NbElementRenderer
from sphinx.application import Sphinx


def _with_alt(render_image):
    @functools.wraps(render_image)
    def render(self: NbElementRenderer, data: MimeData) -> list[Any]:
        nodes = render_image(self, data)
        alt = data.output_metadata.get(data.mime_type, {}).get("alt")
        if alt:
            for node in nodes:
                node["alt"] = str(alt)
        return nodes

    render.__figure_alt__ = True
    return render


def setup(app: Sphinx) -> dict[str, Any]:
    if not getattr(NbElementRenderer.render_image, "__figure_alt__", False):
        NbElementRenderer.render_image = _with_alt(NbElementRenderer.render_image)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
