"""An explorer of precomputed loss curves with several sliders: peak learning rate, warmup, schedule.

A network's training is too slow to rerun on every slider move, so this explorer shows runs
computed once (:mod:`adaptive_optim.schedule_study`): for every combination of the sliders'
values and every optimizer, the median training loss over seeds and the band from the lowest to
the highest seed. Like the landscape explorers it has two faces drawn by one function
(:meth:`ScheduleExplorer.svg`): in Jupyter, ipywidgets sliders redraw it; on the static website
every combination's drawing is embedded in the page and a few lines of script show the one the
``<input type="range">`` sliders pick. The markup follows the other explorers' (``ao-explorer``,
``ao-controls``, ``data-drawn``), so the site's browser tests move these sliders as they move theirs.
"""

from __future__ import annotations

import hashlib
import html
import itertools
import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .explorers import Explorer

#: The drawing's size and margins in CSS pixels: narrow enough that on a phone (about 360 px of
#: column) its 13 px text is still drawn at 11 px or more.
LAYOUT: dict[str, Any] = {"width": 400, "height": 280, "left": 46, "right": 16, "top": 10, "bottom": 38,
                          "size": 13, "font": "DejaVu Sans, Verdana, sans-serif"}

_SCRIPT = """
function aoSchedules(root) {
  if (!root || root.dataset.ready) return;
  root.dataset.ready = "1";
  const data = JSON.parse(root.querySelector("script.ao-data").textContent);
  const inputs = Array.from(root.querySelectorAll(".ao-controls input[type=range]"));
  const outputs = Array.from(root.querySelectorAll(".ao-controls output"));
  const figure = root.querySelector(".ao-figure"), legend = root.querySelector(".ao-legend");
  function draw() {
    let index = 0;
    inputs.forEach((input, a) => {
      index = index * data.labels[a].length + (+input.value);
      outputs[a].textContent = data.labels[a][+input.value];
    });
    figure.innerHTML = data.svgs[index];
    legend.innerHTML = data.legends[index];
    root.dataset.drawn = String(+(root.dataset.drawn || 0) + 1);
  }
  inputs.forEach((input) => input.addEventListener("input", draw));
  draw();
}
"""


class ScheduleExplorer:
    """Loss curves of several optimizers over a grid of settings, one slider per axis of the grid.

    ``axes`` maps each slider's name to the labels of its values; ``curves[name]`` has shape
    (one length per axis, then seeds, then points): the training loss of every seed, ``points`` values
    ``every`` steps apart. ``start`` gives each slider's initial index; ``colours`` each optimizer's.
    """

    def __init__(self, axes: Mapping[str, Sequence[str]], curves: Mapping[str, np.ndarray], *,
                 colours: Mapping[str, str], every: int = 1, start: Sequence[int] | None = None,
                 ylim: tuple[float, float] = (0.01, 3.0), title: str = "") -> None:
        self.axes = {name: [str(v) for v in values] for name, values in axes.items()}
        self.shape = tuple(len(v) for v in self.axes.values())
        self.curves = {name: np.asarray(c, dtype=float) for name, c in curves.items()}
        for name, c in self.curves.items():
            if c.shape[:-2] != self.shape:
                raise ValueError(f"curves[{name!r}] has shape {c.shape}: expected {self.shape} + (seeds, points)")
        missing = [name for name in self.curves if name not in colours]
        if missing:
            raise ValueError(f"no colour for {', '.join(missing)}")
        self.start = tuple(start) if start is not None else (0,) * len(self.shape)
        if len(self.start) != len(self.shape) or any(not 0 <= s < n for s, n in zip(self.start, self.shape)):
            raise ValueError(f"start={self.start} is not one index per slider within {self.shape}")
        if not 0 < ylim[0] < ylim[1]:
            raise ValueError(f"ylim must be two positive numbers, low < high (log scale), got {ylim}")
        self.colours, self.every, self.ylim, self.title = dict(colours), int(every), ylim, title
        self._widget = None

    def _stats(self, index: tuple[int, ...]) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, int]]:
        """Per optimizer: median, lowest and highest seed at every point, and how many seeds diverged."""
        out = {}
        for name, curves in self.curves.items():
            c = curves[index]                                           # (seeds, points)
            finite = np.isfinite(c).all(axis=1)
            kept = c[finite] if finite.any() else np.full((1, c.shape[1]), np.nan)
            out[name] = (np.median(kept, axis=0), kept.min(axis=0), kept.max(axis=0), int((~finite).sum()))
        return out

    def svg(self, index: tuple[int, ...]) -> str:
        """The drawing for the sliders at ``index``: every optimizer's median curve and seed band."""
        L = LAYOUT
        w, h, s = L["width"], L["height"], L["size"]
        pw, ph = w - L["left"] - L["right"], h - L["top"] - L["bottom"]
        lo, hi = np.log10(self.ylim[0]), np.log10(self.ylim[1])
        points = next(iter(self.curves.values())).shape[-1]
        x = L["left"] + (np.arange(points) + 0.5) / points * pw

        def y_of(v: np.ndarray) -> np.ndarray:
            with np.errstate(all="ignore"):
                return L["top"] + ph * (hi - np.clip(np.log10(v), lo, hi)) / (hi - lo)

        parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" '
                 f'style="max-width:100%;height:auto;display:block" font-family="{L["font"]}" font-size="{s}" '
                 f'role="img" aria-label="training loss against step of every optimizer at '
                 f'{html.escape(self.describe(index))}">']
        for d in range(int(np.ceil(lo)), int(np.floor(hi)) + 1):
            y = L["top"] + ph * (hi - d) / (hi - lo)
            parts.append(f'<line x1="{L["left"]}" x2="{L["left"] + pw}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e6e6e6"/>'
                         f'<text x="{L["left"] - 4}" y="{y + 4:.1f}" text-anchor="end">{10.0 ** d:g}</text>')
        steps = points * self.every
        for tick in np.linspace(0, steps, 5):
            xt = L["left"] + tick / steps * pw
            parts.append(f'<text x="{xt:.1f}" y="{L["top"] + ph + s + 3}" text-anchor="middle">{tick:.0f}</text>')
        parts.append(f'<rect x="{L["left"]}" y="{L["top"]}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>'
                     f'<text x="{L["left"] + pw / 2}" y="{h - 4}" text-anchor="middle">step</text>'
                     f'<text transform="translate({s},{L["top"] + ph / 2}) rotate(-90)" text-anchor="middle">'
                     f'training loss</text>')
        for name, (median, low, high, _) in self._stats(index).items():
            colour, ok = self.colours[name], np.isfinite(median)
            band = np.concatenate([np.stack([x[ok], y_of(high[ok])], 1), np.stack([x[ok], y_of(low[ok])], 1)[::-1]])
            parts.append(f'<polygon points="{_points(band)}" fill="{colour}" fill-opacity="0.2" stroke="none"/>'
                         f'<polyline points="{_points(np.stack([x[ok], y_of(median[ok])], 1))}" fill="none" '
                         f'stroke="{colour}" stroke-width="2"/>')
        parts.append("</svg>")
        return "".join(parts)

    def legend(self, index: tuple[int, ...]) -> str:
        """One line per optimizer: its colour, name and final median loss (or how many seeds diverged)."""
        lines = []
        for name, (median, low, high, diverged) in self._stats(index).items():
            n = next(iter(self.curves.values())).shape[-2]
            what = (f"{diverged} of {n} seeds diverged" if diverged == n else
                    f"last {self.every} steps: {median[-1]:.3f} (seeds {low[-1]:.3f}–{high[-1]:.3f})"
                    + (f", {diverged} diverged" if diverged else ""))
            lines.append(f'<span style="display:block;color:{self.colours[name]}"><b>{html.escape(name)}</b> '
                         f'<span style="color:#333">{html.escape(what)}</span></span>')
        return "".join(lines)

    def describe(self, index: tuple[int, ...]) -> str:
        return ", ".join(f"{a} {self.axes[a][i]}" for a, i in zip(self.axes, index))

    def static_html(self) -> str:
        """The website's face: every combination's drawing and legend, and a script that shows one."""
        combos = list(itertools.product(*(range(n) for n in self.shape)))
        payload = json.dumps({"labels": list(self.axes.values()), "svgs": [self.svg(c) for c in combos],
                              "legends": [self.legend(c) for c in combos]}, separators=(",", ":"))
        payload = payload.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
        uid = "ao-schedules-" + hashlib.sha1(payload.encode()).hexdigest()[:12]
        labels = "".join(
            f'<label style="display:block;margin:2px 0"><span class="ao-name" style="display:inline-block;'
            f'min-width:7.5em">{html.escape(axis)}</span><input type="range" min="0" max="{len(values) - 1}" '
            f'step="1" value="{self.start[a]}" aria-label="{html.escape(axis)}" style="vertical-align:middle;'
            f'width:min(100%, 280px);height:36px;margin:0 6px"><output class="ao-value">'
            f'{html.escape(values[self.start[a]])}</output></label>'
            for a, (axis, values) in enumerate(self.axes.items()))
        title = f"<div><b>{html.escape(self.title)}</b></div>" if self.title else ""
        return (f'<div class="ao-explorer" id="{uid}" style="font-family:{LAYOUT["font"]};font-size:14px;'
                f'max-width:100%">{title}<div class="ao-controls">{labels}</div><div class="ao-figure"></div>'
                f'<div class="ao-legend" style="font-size:13px;margin-top:4px"></div>'
                f'<script type="application/json" class="ao-data">{payload}</script>'
                f"<script>{_SCRIPT}\naoSchedules(document.getElementById('{uid}'));</script></div>")

    def widget(self):
        """The live ipywidgets face (built on first use): one slider per axis, the drawing and legend."""
        if self._widget is None:
            import ipywidgets as w

            sliders = [w.SelectionSlider(options=[(label, i) for i, label in enumerate(values)],
                                         value=self.start[a], description=axis, continuous_update=True,
                                         style={"description_width": "110px"}, layout=w.Layout(width="420px"))
                       for a, (axis, values) in enumerate(self.axes.items())]
            figure = w.HTML(self.svg(self.start))
            legend = w.HTML(self.legend(self.start))

            def redraw(_change: Any = None) -> None:
                index = tuple(s.value for s in sliders)
                figure.value, legend.value = self.svg(index), self.legend(index)

            for slider in sliders:
                slider.observe(redraw, names="value")
            title = [w.HTML(f"<b>{html.escape(self.title)}</b>")] if self.title else []
            self._widget = w.VBox(title + sliders + [figure, legend])
        return self._widget

    #: Jupyter shows the live widget and the website (which drops widget views) the static face,
    #: as for the landscape explorers.
    _repr_mimebundle_ = Explorer._repr_mimebundle_

    def __repr__(self) -> str:
        axes = "; ".join(f"{a}: {v[0]} to {v[-1]}" for a, v in self.axes.items())
        return f"ScheduleExplorer({', '.join(self.curves)}; {axes})"


def _points(xy: np.ndarray) -> str:
    return " ".join(f"{a:.1f},{b:.1f}" for a, b in xy)
