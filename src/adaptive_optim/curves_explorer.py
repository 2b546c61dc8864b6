"""An explorer of precomputed loss curves: one slider picks a learning rate, every optimizer's curve follows.

The landscape explorers (:mod:`adaptive_optim.explorers`) rerun a rule on every slider move. A
network's sweep is too slow for that, so this explorer shows curves computed once (by
:func:`adaptive_optim.sweeps.train`): for each optimizer and each learning rate of a shared grid,
the median loss over seeds and the band from the lowest to the highest seed.

It has the same two faces as the other explorers: in Jupyter an ipywidgets slider redraws an
inline SVG; on the static website (no kernel) every slider position's SVG is drawn in advance and
embedded in the page, and a few lines of script show the one the ``<input type="range">`` picks.
Both faces draw with the same function (:meth:`CurvesExplorer.svg`), so they show the same picture.
The markup follows the landscape explorers' (``ao-explorer``, ``ao-controls``), so the site's
browser tests move its slider as they move theirs.
"""

from __future__ import annotations

import hashlib
import html
import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from . import style
from .explorers import Explorer

#: Size of the drawing and its margins, in CSS pixels.
LAYOUT: dict[str, Any] = {"width": 600, "height": 320, "left": 50, "right": 118, "top": 12, "bottom": 38,
                          "font": "DejaVu Sans, Verdana, sans-serif"}

_SCRIPT = """
function aoCurves(root) {
  if (!root || root.dataset.ready) return;
  root.dataset.ready = "1";
  const data = JSON.parse(root.querySelector("script.ao-data").textContent);
  const input = root.querySelector("input[type=range]");
  const shown = root.querySelector("output");
  const figure = root.querySelector(".ao-figure");
  function draw() {
    figure.innerHTML = data.svgs[+input.value];
    shown.textContent = " " + data.labels[+input.value];
    root.dataset.drawn = String(+(root.dataset.drawn || 0) + 1);
  }
  input.addEventListener("input", draw);
  draw();
}
"""


def _fmt(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".")


class CurvesExplorer:
    """Loss curves of several optimizers over a shared grid of learning rates, one slider over the grid.

    ``curves[name]`` has shape (len(lrs), seeds, steps): the training loss of every seed at every
    step (NaN after a run diverged). ``start`` is the index of the learning rate shown first.
    ``ylim`` bounds the loss axis (log scale); curves above it are clipped to its top. ``first`` is
    the step number of the curves' first point (e.g. 9 for a 10-step moving average). Each
    optimizer is drawn in ``colours[name]``, by default the book's colour of the name's first word.
    """

    def __init__(self, lrs: Sequence[float], curves: Mapping[str, np.ndarray], *, start: int = 0,
                 ylim: tuple[float, float] = (0.01, 10.0), title: str = "", xlabel: str = "step",
                 colours: Mapping[str, str] | None = None, first: int = 0) -> None:
        self.lrs = [float(v) for v in lrs]
        if not self.lrs:
            raise ValueError("a curves explorer needs at least one learning rate")
        self.curves = {name: np.asarray(c, dtype=float) for name, c in curves.items()}
        if not self.curves:
            raise ValueError("a curves explorer needs the curves of at least one optimizer")
        for name, c in self.curves.items():
            if c.ndim != 3 or c.shape[0] != len(self.lrs):
                raise ValueError(f"curves[{name!r}] has shape {c.shape}: expected (len(lrs)={len(self.lrs)}, "
                                 f"seeds, steps)")
        if not 0 <= start < len(self.lrs):
            raise ValueError(f"start={start} is not an index into the {len(self.lrs)} learning rates")
        if not 0 < ylim[0] < ylim[1]:
            raise ValueError(f"ylim must be two positive numbers, low < high (log scale), got {ylim}")
        self.start, self.ylim, self.title, self.xlabel, self.first = int(start), ylim, title, xlabel, int(first)
        self.colours = {name: (colours or {}).get(name) or _colour(name) for name in self.curves}
        self._widget = None

    def labels(self) -> list[str]:
        """The slider's values as the reader sees them."""
        return [f"{v:.3g}" for v in self.lrs]

    def svg(self, index: int) -> str:
        """The drawing at learning rate ``lrs[index]``: median curve and min–max band per optimizer."""
        L = LAYOUT
        w, h = L["width"], L["height"]
        pw, ph = w - L["left"] - L["right"], h - L["top"] - L["bottom"]
        lo, hi = np.log10(self.ylim[0]), np.log10(self.ylim[1])

        def y_of(values: np.ndarray) -> np.ndarray:
            with np.errstate(all="ignore"):
                level = np.clip(np.log10(values), lo, hi)
            return L["top"] + ph * (hi - level) / (hi - lo)

        parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" '
                 f'style="max-width:100%;height:auto" font-family="{L["font"]}" font-size="12" role="img" '
                 f'aria-label="training loss against step for every optimizer at learning rate '
                 f'{self.labels()[index]}">',
                 f'<rect x="{L["left"]}" y="{L["top"]}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>']
        for d in range(int(np.ceil(lo)), int(np.floor(hi)) + 1):
            y = L["top"] + ph * (hi - d) / (hi - lo)
            parts.append(f'<line x1="{L["left"]}" x2="{L["left"] + pw}" y1="{_fmt(y)}" y2="{_fmt(y)}" '
                         f'stroke="#e6e6e6"/><text x="{L["left"] - 5}" y="{_fmt(y + 4)}" '
                         f'text-anchor="end">{10.0 ** d:g}</text>')
        steps = next(iter(self.curves.values())).shape[2]
        x = L["left"] + np.arange(steps) / max(steps - 1, 1) * pw
        parts.append(f'<text x="{L["left"] + pw / 2}" y="{h - 6}" text-anchor="middle">{html.escape(self.xlabel)} '
                     f'({self.first} to {self.first + steps - 1})</text><text transform="translate(14,{L["top"] + ph / 2}) rotate(-90)" '
                     f'text-anchor="middle">training loss</text>')
        for r, (name, curves) in enumerate(self.curves.items()):
            c = curves[index]                                        # (seeds, steps)
            colour = self.colours[name]
            with np.errstate(all="ignore"):
                alive = np.isfinite(c).all(axis=0)
                median = np.nanmedian(np.where(np.isfinite(c), c, np.nan), axis=0)
            ok = alive
            if ok.any():
                low, high = np.min(c[:, ok], axis=0), np.max(c[:, ok], axis=0)
                band = np.concatenate([np.stack([x[ok], y_of(high)], 1), np.stack([x[ok], y_of(low)], 1)[::-1]])
                parts.append(f'<polygon points="{_points(band)}" fill="{colour}" fill-opacity="0.18" stroke="none"/>')
                parts.append(f'<polyline points="{_points(np.stack([x[ok], y_of(median[ok])], 1))}" fill="none" '
                             f'stroke="{colour}" stroke-width="1.8"/>')
            else:
                parts.append(f'<polyline points="" fill="none" stroke="{colour}"/>')
            diverged = int((~np.isfinite(c)).any(axis=1).sum())
            final = median[-1] if np.isfinite(median[-1]) else np.nan
            status = (f"{diverged}/{len(c)} diverged" if diverged else f"final {final:.3g}")
            y = L["top"] + 14 + 30 * r
            parts.append(f'<text x="{L["left"] + pw + 10}" y="{y}" fill="{colour}" font-weight="bold">'
                         f'{html.escape(name)}</text><text x="{L["left"] + pw + 10}" y="{y + 14}" '
                         f'fill="{colour}">{status}</text>')
        parts.append("</svg>")
        return "".join(parts)

    def static_html(self) -> str:
        """The website's version: every slider position's drawing, and a script that shows one."""
        payload = json.dumps({"svgs": [self.svg(i) for i in range(len(self.lrs))], "labels": self.labels()},
                             separators=(",", ":"))
        # Inside <script> nothing is unescaped, so the markup's < > & are written as JSON escapes.
        payload = payload.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
        uid = "ao-curves-" + hashlib.sha1(payload.encode()).hexdigest()[:12]
        title = f"<div><b>{html.escape(self.title)}</b></div>" if self.title else ""
        return (
            f'<div class="ao-explorer" id="{uid}" style="font-family:{LAYOUT["font"]};font-size:13px">{title}'
            f'<div class="ao-controls"><label style="display:block"><span style="display:inline-block;'
            f'min-width:9em">learning rate </span><input type="range" min="0" max="{len(self.lrs) - 1}" '
            f'step="1" value="{self.start}" aria-label="learning rate" style="vertical-align:middle">'
            f'<output> {self.labels()[self.start]}</output></label></div>'
            f'<div class="ao-figure"></div>'
            f'<script type="application/json" class="ao-data">{payload}</script>'
            f"<script>{_SCRIPT}\naoCurves(document.getElementById('{uid}'));</script></div>"
        )

    def widget(self):
        """The live ipywidgets version (built on first use): a slider and the drawing it picks."""
        if self._widget is None:
            import ipywidgets as w

            slider = w.SelectionSlider(options=[(label, i) for i, label in enumerate(self.labels())],
                                       value=self.start, description="learning rate", continuous_update=True,
                                       style={"description_width": "110px"}, layout=w.Layout(width="520px"))
            figure = w.HTML(self.svg(self.start))
            slider.observe(lambda change: setattr(figure, "value", self.svg(change["new"])), names="value")
            children = ([w.HTML(f"<b>{html.escape(self.title)}</b>")] if self.title else []) + [slider, figure]
            self._widget = w.VBox(children)
        return self._widget

    #: Jupyter shows the live widget and the book's site (which drops widget views) the static HTML,
    #: exactly as for the landscape explorers.
    _repr_mimebundle_ = Explorer._repr_mimebundle_

    def __repr__(self) -> str:
        return (f"CurvesExplorer({', '.join(self.curves)}; learning rate in [{self.labels()[0]}, "
                f"{self.labels()[-1]}], {len(self.lrs)} values)")


def _colour(name: str) -> str:
    try:
        return style.colour(name.split()[0])
    except KeyError:
        return "#333333"


def _points(xy: np.ndarray) -> str:
    return " ".join(f"{_fmt(a)},{_fmt(b)}" for a, b in xy)
