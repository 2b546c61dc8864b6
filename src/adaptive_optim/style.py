"""The one visual style of every figure in the book: a fixed colour per optimizer, sizes, fonts.

``use()`` applies the style to matplotlib for the rest of the session (every chapter's first cell
does this through :func:`adaptive_optim.notebook.setup`); ``context()`` applies it inside a
``with`` block only. ``colour("Adam")`` gives an optimizer's colour, the same in every figure, and
``variants("Adam", 4)`` four line styles of that colour that can be told apart (dashes, markers,
shades) for figures comparing versions of one optimizer.

Figures are made for the width they are shown at. The website's content column is about
:data:`COLUMN_PX` (770) CSS pixels wide, and a figure is shown at its own size in CSS pixels (one
inch is :data:`DPI` = 100 of them) or shrunk to the column: ``subplots(1, 2)`` makes a figure
exactly one column wide, so its text appears at the sizes set here (11 pt, about 15 px), where a
figure drawn 1,300 px wide and shrunk to the column would show it at 60%. A single panel is
:data:`FIGSIZE`. Three panels side by side leave each about 250 px (short titles only);
``panels(3)`` sets them two above one, ``subplots(3, 1)`` stacks them.

Figures are sharp on high-density screens: :func:`adaptive_optim.notebook.setup` makes the
notebooks' figures PNGs at twice their pixel size, marked with their CSS width, and :func:`save`
writes PNGs at 2x as well. PNG at 2x rather than SVG: the book's densest figure (contours, four
paths, 5,000-step curves in three panels) is 218 KB as a 2x PNG and 182 KB as SVG, so size does
not decide; but SVG grows with every point drawn (grids of 31 runs, 10^5-step curves), and an SVG
output is text that nbval compares byte for byte on re-execution, while PNGs are not compared.

Math in labels uses DejaVu Sans, the labels' own font, so ``$\\eta$`` is as large as "η" (STIX math
glyphs are about 20% smaller than DejaVu Sans text at the same size).

Output is deterministic: SVG element ids are salted with a fixed string and :func:`save` writes
no creation date into the file's metadata, so re-running a notebook gives the same bytes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import matplotlib as mpl
import numpy as np
from cycler import cycler

#: One colour per optimizer, in the order the book introduces them. Okabe–Ito's colour-blind-safe
#: palette (its yellow, too pale for lines on white, is replaced by Tol's wine) plus a dark grey
#: for plain SGD, the baseline every other method is compared with. The methods after Adam take
#: the rest of Tol's muted palette (its pale sand left out).
COLOURS: dict[str, str] = {
    "SGD": "#4d4d4d",  # dark grey
    "Momentum": "#e69f00",  # orange
    "Adagrad": "#009e73",  # bluish green
    "RMSprop": "#cc79a7",  # reddish purple
    "Adam": "#0072b2",  # blue
    "AdamW": "#56b4e9",  # sky blue
    "AMSGrad": "#d55e00",  # vermilion
    "RAdam": "#882255",  # wine
    "NAdam": "#332288",  # indigo
    "Adamax": "#44aa99",  # teal
    "Muon": "#117733",  # green
    "LAMB": "#999933",  # olive
    "Lion": "#cc6677",  # rose
}

_BY_LOWER_NAME = {name.lower(): value for name, value in COLOURS.items()}

#: Width and height of a one-panel figure, in inches (at ``DPI`` this is 640 × 400 CSS pixels).
FIGSIZE: tuple[float, float] = (6.4, 4.0)
#: Dots per inch of figures as laid out: one inch is 100 CSS pixels on the page.
DPI = 100
#: How many image pixels a PNG has per CSS pixel: 2 is sharp on high-density (2x) screens.
PIXEL_RATIO = 2
#: The website's content column in CSS pixels (Jupyter Book's theme at desktop width), and in inches.
COLUMN_PX = 770
COLUMN_WIDTH = COLUMN_PX / DPI

#: The matplotlib settings :func:`use` and :func:`context` apply.
RC: dict[str, Any] = {
    "figure.figsize": FIGSIZE,
    "figure.dpi": DPI,
    "savefig.dpi": DPI * PIXEL_RATIO,
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
    "figure.constrained_layout.use": True,
    # DejaVu Sans ships with matplotlib, so figures look the same on every machine; math in the
    # same font, so that it is as large as the text around it. At 100 dpi, 11 pt is 15 px.
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],
    "mathtext.fontset": "dejavusans",
    "font.size": 11.0,
    "axes.titlesize": 11.0,
    "axes.labelsize": 11.0,
    "legend.fontsize": 10.0,
    "xtick.labelsize": 10.0,
    "ytick.labelsize": 10.0,
    "axes.prop_cycle": cycler(color=list(COLOURS.values())),
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#e6e6e6",
    "grid.linewidth": 0.8,
    "axes.axisbelow": True,
    "lines.linewidth": 1.8,
    "lines.markersize": 5.0,
    "legend.frameon": False,
    "image.cmap": "viridis",
    # Deterministic files: fixed SVG ids, text drawn as paths (no dependence on installed fonts).
    "svg.hashsalt": "adaptive-learning-rates",
    "svg.fonttype": "path",
    "pdf.fonttype": 42,
}


def colour(name: str) -> str:
    """The hex colour of optimizer ``name`` (case-insensitive), e.g. ``colour("adam") == "#0072b2"``."""
    try:
        return _BY_LOWER_NAME[name.lower()]
    except KeyError:
        raise KeyError(
            f"no colour for optimizer {name!r}; the book's optimizers are: {', '.join(COLOURS)}"
        ) from None


#: Dash patterns and markers for versions of one optimizer in one figure, in order: each pair differs.
DASHES: tuple[Any, ...] = ("-", "--", ":", "-.", (0, (5, 1, 1, 1, 1, 1)), (0, (8, 2)))
MARKERS: tuple[str, ...] = ("o", "s", "^", "D", "v", "P")


def variants(name: str, n: int) -> list[dict[str, Any]]:
    """``n`` line styles for versions of optimizer ``name`` in one figure (Adam with and without bias
    correction, say): its colour in shades from full to light, each with its own dash and marker.

    Use as ``ax.plot(x, y, **style.variants("Adam", 4)[i], label=...)``. Markers are spaced along
    the line (``markevery``), so a path of many points stays readable.
    """
    if not 1 <= n <= len(DASHES):
        raise ValueError(f"variants: n must be between 1 and {len(DASHES)}, got {n}")
    rgb = np.array(mpl.colors.to_rgb(colour(name)))
    shades = np.linspace(0.0, 0.45, n) if n > 1 else [0.0]  # mixed with white: 0 is the colour itself
    return [{"color": mpl.colors.to_hex(rgb + (1 - rgb) * amount), "linestyle": DASHES[i],
             "marker": MARKERS[i], "markersize": 4.5, "markevery": 0.08, "markerfacecolor": "white"}
            for i, amount in enumerate(shades)]


def figsize(nrows: int = 1, ncols: int = 1, *, aspect: float | None = None,
            width: float | None = None) -> tuple[float, float]:
    """The size (inches) of a figure of ``nrows`` × ``ncols`` panels made for the page: one column
    is :data:`FIGSIZE` wide, more columns fill the content column exactly; each panel's height is
    ``aspect`` times its width (default 0.55 for one column, 0.75 for more), plus room for labels."""
    if nrows < 1 or ncols < 1:
        raise ValueError(f"figsize: need at least one row and one column, got {nrows} × {ncols}")
    width = width or (FIGSIZE[0] if ncols == 1 else COLUMN_WIDTH)
    aspect = aspect or (0.55 if ncols == 1 else 0.75)
    if width > COLUMN_WIDTH:
        raise ValueError(f"figsize: width {width} in is wider than the page's column ({COLUMN_WIDTH} in); "
                         f"stack the panels in rows instead")
    return (width, nrows * (width / ncols * aspect + 0.45) + 0.1)


def subplots(nrows: int = 1, ncols: int = 1, *, aspect: float | None = None, width: float | None = None,
             **kwargs: Any) -> tuple[Any, Any]:
    """``plt.subplots`` with a figure sized by :func:`figsize` for the page's column."""
    import matplotlib.pyplot as plt

    return plt.subplots(nrows, ncols, figsize=figsize(nrows, ncols, aspect=aspect, width=width), **kwargs)


def panels(n: int, ncols: int = 2, *, aspect: float | None = None, **kwargs: Any) -> tuple[Any, list[Any]]:
    """A figure one column wide with ``n`` panels in rows of ``ncols``, an incomplete last row
    centred: ``panels(3)`` puts two panels side by side and the third under them, each about
    380 px wide, where three in a row would leave each about 250. Returns the figure and the
    list of ``n`` axes; ``kwargs`` go to every ``add_subplot`` (e.g. ``sharey``-free options)."""
    import matplotlib.pyplot as plt

    if n < 1 or ncols < 1:
        raise ValueError(f"panels: need at least one panel and one column, got n={n}, ncols={ncols}")
    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    fig = plt.figure(figsize=figsize(nrows, ncols, aspect=aspect))
    grid = fig.add_gridspec(nrows, 2 * ncols)
    axes = []
    for k in range(n):
        row, col = divmod(k, ncols)
        offset = ncols - min(ncols, n - row * ncols)  # half-panel steps: centres a short last row
        axes.append(fig.add_subplot(grid[row, offset + 2 * col: offset + 2 * col + 2], **kwargs))
    return fig, axes


def use() -> None:
    """Apply the book's style to matplotlib for the rest of the session."""
    mpl.rcParams.update(RC)


@contextlib.contextmanager
def context() -> Iterator[None]:
    """Apply the book's style inside a ``with`` block, restoring the previous settings after it."""
    with mpl.rc_context(RC):
        yield


#: File metadata without dates or versions, per format, so saved figures are byte-for-byte stable.
_STABLE_METADATA: dict[str, dict[str, Any]] = {
    "svg": {"Date": None, "Creator": None},
    "pdf": {"CreationDate": None, "ModDate": None, "Creator": None, "Producer": None},
    "png": {"Software": None},
}


def save(fig: mpl.figure.Figure, path: str | Path, **kwargs: Any) -> Path:
    """Save ``fig`` to ``path`` (format from the suffix) with no date or version in its metadata."""
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower()
    kwargs.setdefault("metadata", _STABLE_METADATA.get(fmt))
    fig.savefig(path, **kwargs)
    return path
