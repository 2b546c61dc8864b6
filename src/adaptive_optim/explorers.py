"""Hyperparameter explorers: sliders that move an optimizer's path on a landscape and its loss curve.

One call gives a chapter an explorer::

    explore(Quadratic(condition=10), {"SGD": (SGD(lr=0.1), {"lr": [0.01, 0.05, 0.1, 0.2]})})

Displayed in Jupyter or Colab it is a live ipywidgets explorer: every slider move reruns the
rules (NumPy, a few milliseconds) and redraws. The same output carries a static version for
the website, where no kernel runs: every combination of the sliders' values is run at once (one
vectorized :func:`adaptive_optim.trajectories.run` per optimizer), compressed into the page,
and drawn by a small script with ``<input type="range">`` sliders snapping to those values.
Jupyter shows the widget and the book (whose mime priority drops widget views) the static one.

Both versions draw the same picture (see :data:`LAYOUT`): the landscape's contours, each
optimizer's path, and the loss curves; a run that diverges is drawn up to its last finite
point and labelled "diverged at step k".
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import hashlib
import html
import io
import json
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import style
from .landscapes import Landscape
from .rules import Rule
from .trajectories import grid, run

#: Geometry shared by the Python (live) and JavaScript (static) renderers, in CSS pixels.
LAYOUT: dict[str, Any] = {
    "map": {"width": 400, "height": 320},  # the landscape panel
    "loss": {"width": 300, "height": 320, "left": 46, "right": 8, "top": 10, "bottom": 34},
    "font": "DejaVu Sans, Verdana, sans-serif",
    "decades": [-12, 6],  # the loss panel's log10 range: f − f_min from 1e-12 to 1e6
}

_SCRIPT = Path(__file__).with_name("explorer.js")

#: The live explorer's default start choices, as fractions (of width, of height) of the window.
RELATIVE_STARTS: dict[str, "RelativeStart"] = {}


@dataclasses.dataclass(frozen=True)
class RelativeStart:
    """A start point given as fractions of a landscape's window, so it suits every landscape."""

    fx: float
    fy: float

    def on(self, landscape: Landscape) -> tuple[float, float]:
        (x0, x1), (y0, y1) = landscape.window
        return (x0 + self.fx * (x1 - x0), y0 + self.fy * (y1 - y0))


RELATIVE_STARTS.update({"upper left": RelativeStart(0.1, 0.9), "lower right": RelativeStart(0.9, 0.1),
                        "near the centre": RelativeStart(0.45, 0.55)})


@dataclasses.dataclass(frozen=True)
class Slider:
    """A hyperparameter's slider: the values it can take (the static site's grid) and its start."""

    name: str
    values: tuple[float, ...]
    value: float

    def __post_init__(self) -> None:
        if not self.values:
            raise ValueError(f"slider {self.name!r} needs at least one value")
        if self.value not in self.values:
            raise ValueError(f"slider {self.name!r}: start value {self.value} is not one of {self.values}")

    @property
    def index(self) -> int:
        return self.values.index(self.value)


def label_of(value: float) -> str:
    """A slider value as the reader sees it: 3 significant digits, no float noise."""
    return f"{value:.3g}"


def with_hyperparameter(rule: Rule, name: str, value: Any) -> Rule:
    """``rule`` with one hyperparameter changed; ``beta1``/``beta2`` set one entry of ``betas``."""
    if name in ("beta1", "beta2"):
        betas = list(rule.betas)
        betas[int(name[-1]) - 1] = value
        return rule.replace(betas=tuple(betas))
    return rule.replace(**{name: value})


@dataclasses.dataclass
class Run:
    """One optimizer in an explorer: its label (and colour), its rule and its sliders."""

    label: str
    rule: Rule
    sliders: list[Slider]
    colour: str

    def rule_at(self, values: Mapping[str, float]) -> Rule:
        rule = self.rule
        for name, value in values.items():
            rule = with_hyperparameter(rule, name, value)
        return rule


def _make_run(label: str, spec: Rule | tuple[Rule, Mapping[str, Sequence[float]]]) -> Run:
    rule, axes = (spec, {}) if isinstance(spec, Rule) else spec
    sliders = []
    for name, values in axes.items():
        values = tuple(float(v) for v in values)
        current = rule.betas[int(name[-1]) - 1] if name in ("beta1", "beta2") else getattr(rule, name)
        current = float(current)
        if current not in values:  # start from the grid value nearest the rule's own
            current = min(values, key=lambda v: abs(v - current))
        sliders.append(Slider(name, values, current))
    try:
        colour = style.colour(label.split()[0])
    except KeyError:
        colour = "#333333"
    return Run(label, rule, sliders, colour)


@functools.lru_cache(maxsize=32)
def contour_png(landscape: Landscape) -> str:
    """The landscape's contour map as a base64 PNG the size of the map panel (made once, cached)."""
    from matplotlib.figure import Figure

    w, h = LAYOUT["map"]["width"], LAYOUT["map"]["height"]
    X, Y, Z = landscape.grid(300)
    floor = np.nanmin(Z) if landscape.min_value is None else landscape.min_value
    levels = np.log10(np.maximum(Z - floor, 1e-12))
    fig = Figure(figsize=(w / 100, h / 100), dpi=100, layout="none")  # the axes fill the image
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_axis_off()
    ax.contourf(X, Y, levels, levels=24, cmap="Blues_r", alpha=0.8)
    ax.contour(X, Y, levels, levels=12, colors="#6d8fb3", linewidths=0.4, alpha=0.9)
    (x0, x1), (y0, y1) = landscape.window
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def pixels(landscape: Landscape, xy: np.ndarray) -> np.ndarray:
    """Points ``(..., 2)`` of the landscape's plane as map-panel pixels (y grows downwards)."""
    (x0, x1), (y0, y1) = landscape.window
    w, h = LAYOUT["map"]["width"], LAYOUT["map"]["height"]
    with np.errstate(all="ignore"):
        return np.stack([(xy[..., 0] - x0) / (x1 - x0) * w, (y1 - xy[..., 1]) / (y1 - y0) * h], axis=-1)


def loss_floor(landscape: Landscape) -> float:
    """The value subtracted before the loss panel's log scale: f_min, or the window's lowest f."""
    if landscape.min_value is not None:
        return float(landscape.min_value)
    return float(np.nanmin(landscape.grid(300)[2]))


class Explorer:
    """Sliders for the hyperparameters of one or more rules on a landscape; see the module docstring."""

    def __init__(self, landscape: Landscape, runs: Mapping[str, Any], *, steps: int = 300,
                 start: Sequence[float] | None = None, title: str = "",
                 landscapes: Sequence[Landscape] = (), starts: Mapping[str, Sequence[float]] | None = None):
        if not runs:
            raise ValueError("an explorer needs at least one rule to run")
        self.landscape = landscape
        self.runs = [_make_run(label, spec) for label, spec in runs.items()]
        self.steps = int(steps)
        self.start = tuple(float(c) for c in (landscape.start if start is None else start))
        self.title = title
        self.landscapes = list(landscapes) or [landscape]
        if landscape not in self.landscapes:
            self.landscapes.insert(0, landscape)
        #: Start points the live explorer offers, besides each landscape's own: absolute (x, y), or
        #: by default places relative to whichever landscape is chosen (fractions of its window).
        self.starts = dict(starts) if starts else dict(RELATIVE_STARTS)
        self._widget = None

    # ---- computing -------------------------------------------------------------------------
    def compute(self, run_: Run, values: Mapping[str, float], landscape: Landscape | None = None,
                start: Sequence[float] | None = None):
        """One trajectory of ``run_`` with its sliders at ``values`` (the live explorer's work)."""
        return run(run_.rule_at(values), landscape or self.landscape,
                   np.asarray(self.start if start is None else start, dtype=float), self.steps)

    def compute_grid(self, run_: Run):
        """Every combination of ``run_``'s slider values, in one vectorized run (the static site's data)."""
        if not run_.sliders:
            return self.compute(run_, {}), ()
        axes = grid(**{s.name: np.asarray(s.values) for s in run_.sliders})
        rule = run_.rule_at({s.name: axes[s.name] for s in run_.sliders})
        result = run(rule, self.landscape, np.asarray(self.start, dtype=float), self.steps)
        return result, axes.shape

    # ---- static website version ------------------------------------------------------------
    def static_payload(self) -> dict[str, Any]:
        """The data the static explorer draws: pixel paths and loss curves for every slider combination."""
        floor = loss_floor(self.landscape)
        runs = []
        for r in self.runs:
            result, shape = self.compute_grid(r)
            positions = np.asarray(result.positions).reshape(self.steps + 1, -1, 2)
            losses = np.asarray(result.losses).reshape(self.steps + 1, -1)
            px = pixels(self.landscape, positions)                       # (steps+1, combos, 2), NaN after divergence
            ql = self._quantize_loss(losses - floor)              # (steps+1, combos) uint8
            valid = np.isfinite(px[..., 0])
            lengths = valid.sum(axis=0).astype(int)               # points before divergence
            coords = np.where(valid[..., None], np.round(px * 10), 0).astype(np.int64)
            coords = np.clip(coords, -30000, 30000).transpose(1, 0, 2).reshape(-1)  # per combo, per step, x/y
            deltas = np.diff(coords.reshape(-1, self.steps + 1, 2), axis=1, prepend=0).astype("<i2")
            runs.append({
                "label": r.label, "colour": r.colour,
                "sliders": [{"name": s.name, "values": [label_of(v) for v in s.values], "index": s.index}
                            for s in r.sliders],
                "shape": list(shape),
                "lengths": lengths.tolist(),
                "diverged_at": np.asarray(result.diverged_at).reshape(-1).tolist(),
                "final": [label_of(float(v)) if np.isfinite(v) else "" for v in
                          np.asarray(result.losses)[-1].reshape(-1)],
                "paths": base64.b64encode(zlib.compress(deltas.tobytes(), 9)).decode("ascii"),
                "losses": base64.b64encode(zlib.compress(ql.T.astype(np.uint8).tobytes(), 9)).decode("ascii"),
            })
        return {"steps": self.steps, "title": self.title, "layout": LAYOUT, "runs": runs,
                "landscape": self.landscape.name, "start": pixels(self.landscape, np.asarray(self.start)).tolist(),
                "minima": [pixels(self.landscape, np.asarray(m)).tolist() for m in self.landscape.minima]}

    def static_html(self) -> str:
        """A self-contained HTML explorer (no network, no kernel): the website's version."""
        payload = json.dumps(self.static_payload(), separators=(",", ":"), sort_keys=True)
        uid = "ao-explorer-" + hashlib.sha1(payload.encode()).hexdigest()[:12]
        background = contour_png(self.landscape)
        return (
            f'<div class="ao-explorer" id="{uid}" style="font-family:{LAYOUT["font"]};font-size:13px">'
            f'<div class="ao-controls"></div>'
            f'<div class="ao-figure" data-background="data:image/png;base64,{background}"></div>'
            f'<script type="application/json" class="ao-data">{html.escape(payload, quote=False)}</script>'
            f"<script>{_script()}\naoExplorer(document.getElementById('{uid}'));</script>"
            f"</div>"
        )

    @staticmethod
    def _quantize_loss(gap: np.ndarray) -> np.ndarray:
        """log10(f − f_floor) mapped onto 1..255 over LAYOUT's decades; 0 marks a missing point."""
        lo, hi = LAYOUT["decades"]
        with np.errstate(all="ignore"):
            level = np.log10(np.maximum(gap, 10.0**lo))
            q = 1 + np.round((np.clip(level, lo, hi) - lo) / (hi - lo) * 254)
        return np.where(np.isfinite(gap), q, 0)

    # ---- live version ----------------------------------------------------------------------
    def svg(self, results: Sequence[tuple[Run, Any]], landscape: Landscape | None = None,
            start: Sequence[float] | None = None) -> str:
        """The live explorer's drawing of ``results``: the same picture the static script draws."""
        return _draw_svg(self, results, landscape or self.landscape, self.start if start is None else start)

    def widget(self):
        """The live ipywidgets explorer (built on first use)."""
        if self._widget is None:
            self._widget = LiveExplorer(self)
        return self._widget.box

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, Any]:
        bundle = {"text/plain": repr(self), "text/html": self.static_html()}
        try:
            widget_bundle = self.widget()._repr_mimebundle_()
        except Exception:  # no ipywidgets front end: the static version is still there
            widget_bundle = None
        if widget_bundle:
            bundle.update({k: v for k, v in widget_bundle.items() if k != "text/plain"})
        return bundle

    def __repr__(self) -> str:
        parts = ", ".join(f"{r.label}: " + (", ".join(f"{s.name} in [{label_of(s.values[0])}, "
                                                      f"{label_of(s.values[-1])}]" for s in r.sliders)
                                            or "fixed") for r in self.runs)
        return f"Explorer({self.landscape.name}, {self.steps} steps; {parts})"


@functools.lru_cache(maxsize=1)
def _script() -> str:
    return _SCRIPT.read_text()


def _fmt(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".")


def _draw_svg(explorer: Explorer, results, landscape: Landscape, start) -> str:
    """Map panel and loss panel as one inline SVG (the Python twin of explorer.js's draw)."""
    m, L = LAYOUT["map"], LAYOUT["loss"]
    width = m["width"] + 16 + L["width"]
    floor = loss_floor(landscape)
    lo, hi = LAYOUT["decades"]
    pw, ph = L["width"] - L["left"] - L["right"], L["height"] - L["top"] - L["bottom"]
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{m["height"]}" '
             f'font-family="{LAYOUT["font"]}" font-size="11">',
             f'<image href="data:image/png;base64,{contour_png(landscape)}" width="{m["width"]}" '
             f'height="{m["height"]}"/>',
             f'<rect width="{m["width"]}" height="{m["height"]}" fill="none" stroke="#999"/>']
    for mx, my in (pixels(landscape, np.asarray(p)) for p in landscape.minima):
        parts.append(f'<path d="M{_fmt(mx)} {_fmt(my - 6)}l2 4h5l-4 3 2 5-5-3-5 3 2-5-4-3h5z" fill="#222"/>')
    sx, sy = pixels(landscape, np.asarray(start, dtype=float))
    parts.append(f'<circle cx="{_fmt(sx)}" cy="{_fmt(sy)}" r="4" fill="white" stroke="#222"/>')
    ox = m["width"] + 16
    parts.append(f'<g transform="translate({ox},0)"><rect x="{L["left"]}" y="{L["top"]}" width="{pw}" '
                 f'height="{ph}" fill="none" stroke="#999"/>')
    for d in range(lo, hi + 1, 3):
        y = L["top"] + ph * (hi - d) / (hi - lo)
        parts.append(f'<text x="{L["left"] - 4}" y="{_fmt(y + 4)}" text-anchor="end">1e{d}</text>')
    parts.append(f'<text x="{L["left"] + pw / 2}" y="{L["height"] - 4}" text-anchor="middle">step '
                 f'(0 to {explorer.steps})</text>'
                 f'<text transform="translate(10,{L["top"] + ph / 2}) rotate(-90)" text-anchor="middle">'
                 f'loss − minimum</text></g>')
    legend_y = 16
    for r, result in results:
        pos = pixels(landscape, np.asarray(result.positions).reshape(-1, 2))
        ok = np.isfinite(pos[:, 0])
        pts = " ".join(f"{_fmt(x)},{_fmt(y)}" for x, y in pos[ok])
        parts.append(f'<polyline points="{pts}" fill="none" stroke="{r.colour}" stroke-width="1.6" '
                     f'stroke-linejoin="round"/>')
        losses = np.asarray(result.losses).reshape(-1) - floor
        q = Explorer._quantize_loss(losses)
        steps = np.arange(len(q))
        keep = q > 0
        lx = ox + L["left"] + steps[keep] / max(explorer.steps, 1) * pw
        ly = L["top"] + ph * (1 - (q[keep] - 1) / 254)
        parts.append(f'<polyline points="{" ".join(f"{_fmt(a)},{_fmt(b)}" for a, b in zip(lx, ly))}" '
                     f'fill="none" stroke="{r.colour}" stroke-width="1.6"/>')
        at = int(np.asarray(result.diverged_at).reshape(-1)[0])
        status = f"diverged at step {at}" if at >= 0 else f"final loss {label_of(float(losses[-1] + floor))}"
        parts.append(f'<text x="{ox + L["left"] + 6}" y="{L["top"] + legend_y}" fill="{r.colour}" '
                     f'font-weight="bold">{html.escape(r.label)}: {status}</text>')
        legend_y += 15
    parts.append("</svg>")
    return "".join(parts)


class LiveExplorer:
    """The ipywidgets side: a slider per hyperparameter, landscape and start choices, one redraw per change."""

    def __init__(self, explorer: Explorer):
        import ipywidgets as w

        self.explorer = explorer
        self.sliders: list[tuple[Run, Slider, Any]] = []
        rows = []
        for r in explorer.runs:
            for s in r.sliders:
                widget = w.SelectionSlider(options=[(label_of(v), v) for v in s.values], value=s.value,
                                           description=f"{r.label} {s.name}", continuous_update=True,
                                           style={"description_width": "230px"},
                                           layout=w.Layout(width="560px"))
                widget.observe(self._changed, names="value")
                self.sliders.append((r, s, widget))
                rows.append(widget)
        names = [ls.name for ls in explorer.landscapes]
        self.landscape = w.Dropdown(options=list(zip(names, explorer.landscapes)), value=explorer.landscape,
                                    description="landscape")
        self.start = w.Dropdown(options=[("the landscape's own", None), *explorer.starts.items()],
                                value=None, description="start")
        self.landscape.observe(self._changed, names="value")
        self.start.observe(self._changed, names="value")
        self.figure = w.HTML()
        self.box = w.VBox([w.HBox([self.landscape, self.start]), *rows, self.figure])
        self.redraw()

    def values(self, r: Run) -> dict[str, float]:
        return {s.name: widget.value for run_, s, widget in self.sliders if run_ is r}

    def redraw(self) -> None:
        landscape = self.landscape.value
        start = self.start.value
        if isinstance(start, RelativeStart):
            start = start.on(landscape)
        elif start is None:
            start = self.explorer.start if landscape is self.explorer.landscape else landscape.start
        results = [(r, self.explorer.compute(r, self.values(r), landscape, start)) for r in self.explorer.runs]
        self.figure.value = self.explorer.svg(results, landscape, start)

    def _changed(self, change) -> None:
        self.redraw()


def explore(landscape: Landscape, runs: Mapping[str, Any], **kwargs: Any) -> Explorer:
    """A chapter's one line: ``explore(landscape, {"Adam": (Adam(), {"lr": [...], "beta1": [...]})})``.

    ``runs`` maps a label (its first word picks the colour) to a rule, or to ``(rule, sliders)``
    with ``sliders`` mapping hyperparameter names (``beta1``/``beta2`` for the entries of
    ``betas``) to the values a slider offers. Keyword arguments go to :class:`Explorer`.
    """
    return Explorer(landscape, runs, **kwargs)
