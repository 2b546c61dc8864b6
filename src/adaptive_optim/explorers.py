"""Hyperparameter explorers: sliders that move an optimizer's path on a landscape and its loss curve.

One call gives a chapter an explorer::

    explore(Quadratic(kappa=10), {"SGD": (SGD(lr=0.1), {"lr": [0.01, 0.05, (0.2, "2/L")]})})

Displayed in Jupyter or Colab it is a live ipywidgets explorer: every slider move reruns the
rules (NumPy, a few milliseconds) and redraws, and menus pick the landscape and the start. The
same output carries a static version for the website, where no kernel runs: every combination of
the sliders' values is run at once (one vectorized :func:`adaptive_optim.trajectories.run` per
optimizer), compressed into the page, and drawn by a small script (``explorer.js``) with
``<input type="range">`` sliders snapping to those values. Jupyter shows the widget and the book
(whose mime priority drops widget views) the static one. Before the cell has run, Jupyter has no
widget to show, so the output starts with a line saying that running the cell brings the sliders.

Both versions draw the same picture (see :data:`LAYOUT`), and everything that decides *what* is
drawn is computed here, once, for both: each path in map pixels, cut where it runs far off the map
(:func:`drawable_path`), the loss curve as levels of a log scale whose floor and ceiling are
marked where the curve reaches them (:func:`loss_levels`), and the legend line of every run
(:func:`status`): its final loss, or when it left the map or diverged.
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
from .landscapes import Landscape, Quadratic
from .rules import Rule
from .trajectories import grid, run

#: Geometry shared by the Python (live) and JavaScript (static) renderers, in CSS pixels. The map
#: and the loss panel are two drawings side by side that wrap below each other on a narrow screen.
LAYOUT: dict[str, Any] = {
    "map": {"width": 400, "height": 320, "key": 22},  # the landscape, and a key row below it
    "loss": {"width": 300, "height": 342, "left": 50, "right": 10, "top": 10, "bottom": 40},
    "font": "DejaVu Sans, Verdana, sans-serif",
    "size": 13,  # text size in the drawings, CSS px (shown unscaled: the drawings are not shrunk)
    "decades": [-12, 6],  # the loss panel's log10 range: f − f_min from 1e-12 to 1e6
    "margin": 800,  # a path is cut where it first runs this far (px) outside the map
}

_SCRIPT = Path(__file__).with_name("explorer.js")

#: How the book writes each hyperparameter (the notation of the chapters), for the slider labels.
SYMBOLS: dict[str, str] = {
    "lr": "η", "beta1": "β₁", "beta2": "β₂", "eps": "ε", "momentum": "μ", "alpha": "α",
    "initial_accumulator_value": "s₀", "weight_decay": "λ", "lr_decay": "lr decay",
}

#: The live explorer's start choices, as fractions (of width, of height) of the window.
RELATIVE_STARTS: dict[str, "RelativeStart"] = {}

#: The value of the live explorer's start menu that means "the landscape's own start".
OWN_START = "own"


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


def label_of(value: float) -> str:
    """A value as the reader sees it: 3 significant digits, powers of ten as ``1e-8``, no float noise."""
    if value == 0:
        return "0"
    if abs(value) < 1e-3 or abs(value) >= 1e5:
        mantissa, exponent = f"{value:.2e}".split("e")
        mantissa = mantissa.rstrip("0").rstrip(".")
        return f"{mantissa}e{int(exponent)}"
    return f"{value:.3g}"


def landscape_label(landscape: Landscape) -> str:
    """The landscape's name for a menu, with what tells two of a kind apart (a bowl's κ and turn)."""
    if isinstance(landscape, Quadratic):
        turned = f", turned {landscape.angle_degrees:g}°" if landscape.angle_degrees else ""
        return f"quadratic bowl (κ = {landscape.kappa:g}{turned})"
    return landscape.name.replace("_", " ").capitalize()


@dataclasses.dataclass(frozen=True)
class Slider:
    """A hyperparameter's slider: the values it can take (the static site's grid) and its start.

    ``notes`` holds an optional remark per value (``"2/L"``), shown after the value.
    """

    name: str
    values: tuple[float, ...]
    value: float
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.values:
            raise ValueError(f"slider {self.name!r} needs at least one value")
        if len(set(self.values)) != len(self.values):
            raise ValueError(f"slider {self.name!r}: values repeat: {self.values}")
        if self.value not in self.values:
            raise ValueError(f"slider {self.name!r}: start value {self.value} is not one of {self.values}")
        if self.notes and len(self.notes) != len(self.values):
            raise ValueError(f"slider {self.name!r}: {len(self.notes)} notes for {len(self.values)} values")

    @property
    def index(self) -> int:
        return self.values.index(self.value)

    @property
    def symbol(self) -> str:
        """The hyperparameter as the chapters write it (η, β₁, ...)."""
        return SYMBOLS.get(self.name, self.name)

    def labels(self) -> list[str]:
        """Each value as shown next to the slider, with its note: ``0.2 (2/L)``."""
        notes = self.notes or ("",) * len(self.values)
        return [label_of(v) + (f" ({n})" if n else "") for v, n in zip(self.values, notes)]


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


def _make_run(label: str, spec: Rule | tuple[Rule, Mapping[str, Sequence[Any]]]) -> Run:
    rule, axes = (spec, {}) if isinstance(spec, Rule) else spec
    sliders = []
    for name, entries in axes.items():
        pairs = [(float(e[0]), str(e[1])) if isinstance(e, tuple) else (float(e), "") for e in entries]
        values = tuple(v for v, _ in pairs)
        notes = tuple(n for _, n in pairs) if any(n for _, n in pairs) else ()
        current = rule.betas[int(name[-1]) - 1] if name in ("beta1", "beta2") else getattr(rule, name)
        current = float(current)
        if current not in values:  # start from the grid value nearest the rule's own
            current = min(values, key=lambda v: abs(v - current))
        sliders.append(Slider(name, values, current, notes))
    try:
        colour = style.colour(label.split()[0])
    except KeyError:
        colour = "#333333"
    return Run(label, rule, sliders, colour)


@functools.lru_cache(maxsize=32)
def contour_png(landscape: Landscape) -> str:
    """The landscape's contour map as a base64 PNG the size of the map panel (made once, cached).

    Light greys, so that every optimizer's colour (the blue of Adam included) stands out on it.
    """
    from matplotlib.figure import Figure

    w, h = LAYOUT["map"]["width"], LAYOUT["map"]["height"]
    X, Y, Z = landscape.grid(300)
    floor = np.nanmin(Z) if landscape.min_value is None else landscape.min_value
    levels = np.log10(np.maximum(Z - floor, 1e-12))
    fig = Figure(figsize=(w / 100, h / 100), dpi=100, layout="none")  # the axes fill the image
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_axis_off()
    ax.contourf(X, Y, levels, levels=16, cmap="Greys_r", vmin=levels.min() - 0.6 * np.ptp(levels),
                vmax=levels.max() + 0.35 * np.ptp(levels))
    ax.contour(X, Y, levels, levels=12, colors="#ffffff", linewidths=0.6, alpha=0.9)
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


def drawable_path(px: np.ndarray) -> np.ndarray:
    """A path in map pixels, ``(n, 2)``, as it is drawn: up to its first non-finite point, and cut
    where it first runs :data:`LAYOUT`'s margin outside the map, that last point moved back along
    its segment onto the margin's edge (so the line keeps its direction and the coordinates stay
    small). The drawing clips the rest to the map."""
    m = LAYOUT["margin"]
    low = np.array([-m, -m], dtype=float)
    high = np.array([LAYOUT["map"]["width"] + m, LAYOUT["map"]["height"] + m], dtype=float)
    finite = np.isfinite(px).all(axis=1)
    n = int(np.argmin(finite)) if not finite.all() else len(px)
    path = px[:n]
    outside = ((path < low) | (path > high)).any(axis=1)
    if not outside.any():
        return path
    k = int(np.argmax(outside))
    if k == 0:
        return path[:0]
    a, b = path[k - 1], path[k]
    with np.errstate(divide="ignore", invalid="ignore"):  # the largest t in [0, 1] that stays inside
        t_low = np.where(b < low, (low - a) / (b - a), 1.0)
        t_high = np.where(b > high, (high - a) / (b - a), 1.0)
    t = float(min(t_low.min(), t_high.min()))
    return np.vstack([path[:k], a + t * (b - a)])


def inside_map(px: np.ndarray) -> np.ndarray:
    """Which pixel points lie on the map panel (NaN points do not)."""
    w, h = LAYOUT["map"]["width"], LAYOUT["map"]["height"]
    with np.errstate(invalid="ignore"):
        return (px[..., 0] >= 0) & (px[..., 0] <= w) & (px[..., 1] >= 0) & (px[..., 1] <= h)


def loss_floor(landscape: Landscape) -> float:
    """The value subtracted before the loss panel's log scale: f_min, or the window's lowest f."""
    if landscape.min_value is not None:
        return float(landscape.min_value)
    return float(np.nanmin(landscape.grid(300)[2]))


def loss_levels(gap: np.ndarray) -> np.ndarray:
    """log10(f − f_floor) as levels 1..255 over LAYOUT's decades; 0 marks a missing (diverged) point.

    Level 1 is the panel's floor (10^-12 or less) and 255 its ceiling (10^6 or more): both
    renderers draw no line along them but mark where the curve first reaches them.
    """
    lo, hi = LAYOUT["decades"]
    with np.errstate(all="ignore"):
        level = np.log10(np.maximum(gap, 10.0**lo))
        q = 1 + np.round((np.clip(level, lo, hi) - lo) / (hi - lo) * 254)
    return np.where(np.isfinite(gap), q, 0).astype(np.uint8)


def status(label: str, px: np.ndarray, losses: np.ndarray, floor: float, diverged_at: int) -> str:
    """A run's legend line: its final loss, or the step it left the map (and never came back) or diverged."""
    on_map = inside_map(px)
    parts = []
    if not on_map[-1]:
        inside_steps = np.flatnonzero(on_map)
        parts.append(f"left the map at step {int(inside_steps[-1]) + 1 if inside_steps.size else 0}")
    if diverged_at >= 0:
        parts.append(f"diverged at step {diverged_at}")
    if not parts:
        final = float(losses[-1])
        gap = final - floor
        below = gap < 10.0 ** LAYOUT["decades"][0]
        parts.append(f"final loss {label_of(final)}" + (" (below the panel's floor)" if below else ""))
    return f"{label}: " + ", ".join(parts)


@dataclasses.dataclass(frozen=True)
class _OneRun:
    """One run picked out of a grid's result: what :meth:`Explorer.drawing` reads."""

    positions: np.ndarray
    losses: np.ndarray
    diverged_at: np.ndarray


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
        labels = [landscape_label(ls) for ls in self.landscapes]
        if len(set(labels)) != len(labels):
            raise ValueError(f"two landscapes of the menu have the same label: {labels}")
        #: Start points the live explorer offers, besides each landscape's own: absolute (x, y), or
        #: by default places relative to whichever landscape is chosen (fractions of its window).
        self.starts = dict(starts) if starts else dict(RELATIVE_STARTS)
        self._widget = None
        self._grids: dict[int, tuple[Any, tuple[int, ...]]] = {}

    # ---- computing -------------------------------------------------------------------------
    def compute(self, run_: Run, values: Mapping[str, float], landscape: Landscape | None = None,
                start: Sequence[float] | None = None):
        """One trajectory of ``run_`` with its sliders at ``values`` (the live explorer's work)."""
        return run(run_.rule_at(values), landscape or self.landscape,
                   np.asarray(self.start if start is None else start, dtype=float), self.steps)

    def compute_grid(self, run_: Run):
        """Every combination of ``run_``'s slider values, in one vectorized run (the static site's data).

        Made once per run and kept: the static version draws from it, and the live one looks its
        runs up there while the landscape and the start are the explorer's own.
        """
        key = id(run_)
        if key not in self._grids:
            if not run_.sliders:
                self._grids[key] = (self.compute(run_, {}), ())
            else:
                axes = grid(**{s.name: np.asarray(s.values) for s in run_.sliders})
                rule = run_.rule_at({s.name: axes[s.name] for s in run_.sliders})
                result = run(rule, self.landscape, np.asarray(self.start, dtype=float), self.steps)
                self._grids[key] = (result, axes.shape)
        return self._grids[key]

    def lookup(self, run_: Run, values: Mapping[str, float]) -> Any:
        """The run of ``run_`` at slider ``values`` from :meth:`compute_grid` (the explorer's own
        landscape and start): positions, losses and ``diverged_at`` of that one run."""
        result, shape = self.compute_grid(run_)
        if not shape:
            return result
        index = tuple(s.values.index(values[s.name]) for s in run_.sliders)
        return _OneRun(np.asarray(result.positions)[(slice(None), *index)],
                       np.asarray(result.losses)[(slice(None), *index)],
                       np.asarray(result.diverged_at)[index])

    def drawing(self, run_: Run, result: Any, landscape: Landscape | None = None) -> list[dict[str, Any]]:
        """What both renderers draw for each run of ``result`` (flattened): the drawable pixel path,
        the loss levels and the legend line."""
        landscape = landscape or self.landscape
        floor = loss_floor(landscape)
        positions = np.asarray(result.positions).reshape(self.steps + 1, -1, 2)
        losses = np.asarray(result.losses).reshape(self.steps + 1, -1)
        diverged_at = np.asarray(result.diverged_at).reshape(-1)
        px = pixels(landscape, positions)
        levels = loss_levels(losses - floor)
        out = []
        for c in range(positions.shape[1]):
            path = drawable_path(px[:, c])
            out.append({"path": path, "levels": levels[:, c],
                        "status": status(run_.label, path if len(path) else px[:1, c], losses[:, c], floor,
                                         int(diverged_at[c]))})
        return out

    # ---- static website version ------------------------------------------------------------
    def static_payload(self) -> dict[str, Any]:
        """The data the static explorer draws: pixel paths, loss levels and legend lines for every
        slider combination, the big arrays compressed."""
        runs = []
        for r in self.runs:
            result, shape = self.compute_grid(r)
            drawn = self.drawing(r, result)
            lengths = [len(d["path"]) for d in drawn]
            coords = np.zeros((len(drawn), self.steps + 1, 2), dtype=np.int64)
            for c, d in enumerate(drawn):
                coords[c, :len(d["path"])] = np.round(d["path"] * 10)
            deltas = np.diff(coords, axis=1, prepend=0).astype("<i2")  # 0.1 px; cut paths fit int16
            levels = np.stack([d["levels"] for d in drawn])
            statuses = "\n".join(d["status"] for d in drawn)
            runs.append({
                "label": r.label, "colour": r.colour,
                "sliders": [{"name": s.name, "symbol": s.symbol, "values": s.labels(), "index": s.index}
                            for s in r.sliders],
                "shape": list(shape),
                "lengths": lengths,
                "paths": _pack(deltas.tobytes()),
                "losses": _pack(levels.astype(np.uint8).tobytes()),
                "status": _pack(statuses.encode("utf-8")),
            })
        return {"steps": self.steps, "title": self.title, "layout": LAYOUT, "runs": runs,
                "landscape": landscape_label(self.landscape),
                "start": pixels(self.landscape, np.asarray(self.start)).tolist(),
                "minima": [pixels(self.landscape, np.asarray(m)).tolist() for m in self.landscape.minima]}

    def static_html(self) -> str:
        """A self-contained HTML explorer (no network, no kernel): the website's version."""
        payload = json.dumps(self.static_payload(), separators=(",", ":"), sort_keys=True, ensure_ascii=False)
        uid = "ao-explorer-" + hashlib.sha1(payload.encode()).hexdigest()[:12]
        background = contour_png(self.landscape)
        return (
            f'<div class="ao-explorer" id="{uid}">'
            f"<style>{_stylesheet()}</style>"
            f'<div class="ao-controls"></div>'
            f'<div class="ao-figure" data-background="data:image/png;base64,{background}"></div>'
            f'<script type="application/json" class="ao-data">{html.escape(payload, quote=False)}</script>'
            f"<script>{_script()}\naoExplorer(document.getElementById('{uid}'));</script>"
            f"</div>"
        )

    # ---- live version ----------------------------------------------------------------------
    def figure_html(self, results: Sequence[tuple[Run, Any]], landscape: Landscape | None = None,
                    start: Sequence[float] | None = None) -> str:
        """The live explorer's drawing of ``results``: the same picture the static script draws."""
        landscape = landscape or self.landscape
        drawn = [(r, self.drawing(r, result, landscape)[0]) for r, result in results]
        return _figure_html(self, drawn, landscape, self.start if start is None else start)

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

    def _ipython_display_(self) -> None:
        """In a notebook: a line saying how to get the live sliders, then the explorer.

        A committed notebook opened before its cells run has no widget to show, and Jupyter draws
        an empty box for it; the line above it says why and what to do.
        """
        from IPython.display import display

        display(run_note(), raw=True)
        display(self._repr_mimebundle_(), raw=True)

    def __repr__(self) -> str:
        parts = ", ".join(f"{r.label}: " + (", ".join(f"{s.symbol} in [{label_of(s.values[0])}, "
                                                      f"{label_of(s.values[-1])}]" for s in r.sliders)
                                            or "fixed") for r in self.runs)
        return f"Explorer({landscape_label(self.landscape)}, {self.steps} steps; {parts})"


#: The line above every explorer. The website's script replaces its text (see explorer.js).
RUN_NOTE = ("Live sliders: run this cell in Jupyter or on Colab. They rerun the optimizers at every move, "
            "and menus pick other landscapes and starts. (An empty box below means the cell has not run yet.)")


def run_note() -> dict[str, str]:
    """The mime bundle of the line shown above an explorer (shown above every explorer in a notebook)."""
    return {"text/plain": RUN_NOTE,
            "text/html": f'<p class="ao-run-note" style="margin:0.3em 0;font-style:italic">{html.escape(RUN_NOTE)}</p>'}


def _pack(data: bytes) -> str:
    return base64.b64encode(zlib.compress(data, 9)).decode("ascii")


@functools.lru_cache(maxsize=1)
def _script() -> str:
    return _SCRIPT.read_text()


def _fmt(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".")


@functools.lru_cache(maxsize=1)
def _stylesheet() -> str:
    """The static explorer's CSS: a grid of controls that stacks on a narrow screen, thumb-sized
    sliders, drawings shown at their own size (shrunk only where a screen is narrower than one)."""
    font = LAYOUT["font"]
    return (
        ".ao-explorer{font-family:%(font)s;font-size:15px;line-height:1.4;color:#222;background:#fff;"
        "padding:10px;border-radius:6px;max-width:100%%;box-sizing:border-box;margin:0.5em 0}"
        ".ao-explorer .ao-row{display:grid;grid-template-columns:9.5em minmax(8em,1fr) 8em;"
        "grid-template-areas:'name slider value';align-items:center;column-gap:12px}"
        ".ao-explorer .ao-name{grid-area:name;font-weight:bold}"
        ".ao-explorer .ao-value{grid-area:value;font-variant-numeric:tabular-nums}"
        ".ao-explorer input[type=range]{grid-area:slider;width:100%%;height:40px;margin:0;background:transparent;"
        "-webkit-appearance:none;appearance:none;cursor:pointer}"
        ".ao-explorer input[type=range]::-webkit-slider-runnable-track{height:6px;border-radius:3px;background:#c4c4c4}"
        ".ao-explorer input[type=range]::-moz-range-track{height:6px;border-radius:3px;background:#c4c4c4}"
        ".ao-explorer input[type=range]::-webkit-slider-thumb{-webkit-appearance:none;width:26px;height:26px;"
        "margin-top:-10px;border-radius:50%%;background:var(--ao-colour,#333);border:3px solid #fff;"
        "box-shadow:0 0 0 1px #555}"
        ".ao-explorer input[type=range]::-moz-range-thumb{width:22px;height:22px;border-radius:50%%;"
        "background:var(--ao-colour,#333);border:3px solid #fff;box-shadow:0 0 0 1px #555}"
        ".ao-explorer input[type=range]:focus-visible{outline:2px solid #1a73e8;outline-offset:2px}"
        ".ao-explorer .ao-figure{display:flex;flex-wrap:wrap;gap:8px 16px;align-items:flex-start;margin-top:8px}"
        ".ao-explorer .ao-figure svg{display:block;max-width:100%%;height:auto}"
        ".ao-explorer .ao-legend{flex-basis:100%%;margin:0}"
        ".ao-explorer .ao-legend span{display:block;font-weight:bold}"
        "@media (max-width:640px){.ao-explorer{padding:6px 4px}"
        ".ao-explorer .ao-row{grid-template-columns:1fr auto;grid-template-areas:'name value' 'slider slider'}"
        ".ao-explorer input[type=range]{height:44px}"
        ".ao-explorer .ao-legend{order:1}.ao-explorer svg.ao-loss{order:2}}"  # the legend right under the map
    ) % {"font": font}


# ---- the live renderer: the Python twin of explorer.js ----------------------------------------
def _star(x: float, y: float) -> str:
    return (f'<path d="M{_fmt(x)} {_fmt(y - 7)}l2.3 4.7h5.2l-4.2 3.2 1.6 5.1-4.9-3-4.9 3 1.6-5.1'
            f'-4.2-3.2h5.2z" fill="#111" stroke="#fff" stroke-width="1"/>')


def _circle(x: float, y: float) -> str:
    return f'<circle cx="{_fmt(x)}" cy="{_fmt(y)}" r="5" fill="#fff" stroke="#111" stroke-width="1.5"/>'


def _points(xy: np.ndarray) -> str:
    return ("%.1f,%.1f " * len(xy) % tuple(np.asarray(xy, dtype=float).ravel())).rstrip()


def loss_curve(levels: np.ndarray, steps: int) -> tuple[str, list[tuple[str, float, float]]]:
    """The loss curve as an SVG path in the loss panel's plot area (origin at its top left) and its
    marks: ``("floor" | "ceiling", x, y)`` where the curve first reaches the panel's floor or ceiling.
    Points at the floor or ceiling are left out of the line (the marks stand for them)."""
    P = LAYOUT["loss"]
    pw, ph = P["width"] - P["left"] - P["right"], P["height"] - P["top"] - P["bottom"]
    q = np.asarray(levels, dtype=float)
    x = np.arange(len(q)) / max(steps, 1) * pw
    y = ph * (1 - (q - 1) / 254)
    marks = []
    for kind, level in (("floor", 1), ("ceiling", 255)):
        hits = np.flatnonzero(q == level)
        if hits.size:
            marks.append((kind, float(x[hits[0]]), float(y[hits[0]])))
    drawn = (q > 1) & (q < 255)
    starts = drawn & ~np.concatenate([[False], drawn[:-1]])  # a new piece after a gap
    commands = np.where(starts, "M", "L")[drawn]
    numbers = np.round(np.stack([x[drawn], y[drawn]], axis=1), 1)
    line = "".join(f"{c}{a:g} {b:g}" for c, (a, b) in zip(commands, numbers.tolist()))
    return line, sorted(marks, key=lambda m: m[1])


def _mark(kind: str, x: float, y: float, colour: str) -> str:
    shape = "l-6 -9h12z" if kind == "floor" else "l-6 9h12z"  # ▼ on the floor, ▲ at the ceiling
    return f'<path d="M{_fmt(x)} {_fmt(y)}{shape}" fill="{colour}" stroke="#fff" stroke-width="1"/>'


def _figure_html(explorer: Explorer, drawn, landscape: Landscape, start) -> str:
    """Map, loss panel and legend (the live version), following :data:`LAYOUT` as explorer.js does."""
    M, P = LAYOUT["map"], LAYOUT["loss"]
    size, font = LAYOUT["size"], LAYOUT["font"]
    lo, hi = LAYOUT["decades"]
    pw, ph = P["width"] - P["left"] - P["right"], P["height"] - P["top"] - P["bottom"]
    mh = M["height"] + M["key"]
    clip = "ao-live-clip"
    m = [f'<svg xmlns="http://www.w3.org/2000/svg" class="ao-map" width="{M["width"]}" height="{mh}" '
         f'viewBox="0 0 {M["width"]} {mh}" font-family="{font}" font-size="{size}">',
         f'<defs><clipPath id="{clip}-map"><rect width="{M["width"]}" height="{M["height"]}"/></clipPath></defs>',
         f'<image href="data:image/png;base64,{contour_png(landscape)}" width="{M["width"]}" height="{M["height"]}"/>',
         f'<g clip-path="url(#{clip}-map)">']
    points = [_points(d["path"]) for _, d in drawn]
    for i, pts in enumerate(points):  # white halos under all paths, then the paths, first run widest
        m.append(f'<polyline points="{pts}" fill="none" stroke="#fff" stroke-width="{path_width(i, len(drawn)) + 2}" '
                 f'stroke-linejoin="round" stroke-opacity="0.8"/>')
    for i, ((r, d), pts) in enumerate(zip(drawn, points)):
        m.append(f'<polyline points="{pts}" fill="none" stroke="{r.colour}" stroke-width="{path_width(i, len(drawn))}" '
                 f'stroke-linejoin="round"/>')
        if len(d["path"]):  # where the run ended: a dot in its colour
            m.append(f'<circle cx="{d["path"][-1][0]:.1f}" cy="{d["path"][-1][1]:.1f}" r="4" fill="{r.colour}" '
                     f'stroke="#fff" stroke-width="1.5"/>')
    for p in landscape.minima:
        m.append(_star(*pixels(landscape, np.asarray(p))))
    m.append(_circle(*pixels(landscape, np.asarray(start, dtype=float))))
    m.append(f'</g><rect width="{M["width"]}" height="{M["height"]}" fill="none" stroke="#888"/>')
    ky = M["height"] + M["key"] - 6
    m.append(f'{_circle(8, ky - 4)}<text x="18" y="{ky}">start</text>{_star(70, ky - 4)}'
             f'<text x="80" y="{ky}">minimum</text></svg>')
    g = [f'<svg xmlns="http://www.w3.org/2000/svg" class="ao-loss" width="{P["width"]}" height="{P["height"]}" '
         f'viewBox="0 0 {P["width"]} {P["height"]}" font-family="{font}" font-size="{size}">',
         f'<defs><clipPath id="{clip}-loss"><rect x="-8" y="-10" width="{pw + 16}" height="{ph + 20}"/></clipPath></defs>',
         f'<g transform="translate({P["left"]},{P["top"]})">',
         f'<rect width="{pw}" height="{ph}" fill="none" stroke="#888"/>']
    for dec in range(lo, hi + 1, 3):
        y = ph * (hi - dec) / (hi - lo)
        g.append(f'<line x1="0" x2="{pw}" y1="{_fmt(y)}" y2="{_fmt(y)}" stroke="#e4e4e4"/>'
                 f'<text x="-5" y="{_fmt(y + 4)}" text-anchor="end">{_power_of_ten(dec)}</text>')
    g.append(f'<text x="{pw / 2}" y="{ph + 18}" text-anchor="middle">step t (0 to {explorer.steps})</text>'
             f'<text transform="translate(-38,{ph / 2}) rotate(-90)" text-anchor="middle">loss − minimum</text>'
             f'<g clip-path="url(#{clip}-loss)">')
    marked = False
    for r, d in drawn:
        line, marks = loss_curve(d["levels"], explorer.steps)
        marked = marked or bool(marks)
        g.append(f'<path d="{line}" fill="none" stroke="{r.colour}" stroke-width="2" stroke-linejoin="round"/>')
        g.extend(_mark(kind, x, y, r.colour) for kind, x, y in marks)
    g.append("</g></g></svg>")
    legend = "".join(f'<span style="display:block;font-weight:bold;color:{r.colour}">{html.escape(d["status"])}</span>'
                     for r, d in drawn)
    note = ('<span style="display:block;color:#555">▼ ▲: the loss is below or above the panel from there on</span>'
            if marked else "")
    return (f'<div style="display:flex;flex-wrap:wrap;gap:8px 16px;align-items:flex-start;font-family:{font};'
            f'font-size:15px;color:#222;background:#fff;padding:6px">{"".join(m)}{"".join(g)}'
            f'<p style="flex-basis:100%;margin:0">{legend}{note}</p></div>')


_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def path_width(i: int, n: int) -> float:
    """Stroke width of run ``i`` of ``n`` on the map: earlier runs wider, so that a path drawn over
    another one (two optimizers that share a valley) leaves it visible on both sides."""
    return 2 + 1.5 * (n - 1 - i)


def _power_of_ten(exponent: int) -> str:
    return "10" + str(exponent).translate(_SUPERSCRIPT)


class LiveExplorer:
    """The ipywidgets side: a slider per hyperparameter, landscape and start menus, one redraw per change."""

    def __init__(self, explorer: Explorer):
        import ipywidgets as w

        self.explorer = explorer
        self.sliders: list[tuple[Run, Slider, Any]] = []
        rows = []
        for r in explorer.runs:
            for s in r.sliders:
                widget = w.SelectionSlider(options=list(zip(s.labels(), s.values)), value=s.value,
                                           description=f"{r.label} {s.symbol}", continuous_update=True,
                                           style={"description_width": "120px"},
                                           layout=w.Layout(width="100%", max_width="640px"))
                widget.observe(self._changed, names="value")
                self.sliders.append((r, s, widget))
                rows.append(widget)
        labels = [landscape_label(ls) for ls in explorer.landscapes]
        self.landscape = w.Dropdown(options=list(zip(labels, explorer.landscapes)), value=explorer.landscape,
                                    description="landscape", layout=w.Layout(width="auto"))
        self.start = w.Dropdown(options=[("the landscape's own", OWN_START), *explorer.starts.items()],
                                value=OWN_START, description="start", layout=w.Layout(width="auto"))
        self.landscape.observe(self._changed, names="value")
        self.start.observe(self._changed, names="value")
        self.figure = w.HTML()
        self._results: dict[tuple, Any] = {}  # the last result of each run: a slider move reruns one rule
        self.box = w.VBox([w.HBox([self.landscape, self.start]), *rows, self.figure])
        self.redraw()

    def values(self, r: Run) -> dict[str, float]:
        return {s.name: widget.value for run_, s, widget in self.sliders if run_ is r}

    def start_point(self, landscape: Landscape) -> tuple[float, float]:
        """The start the menu names, on ``landscape``."""
        start = self.start.value
        if isinstance(start, RelativeStart):
            return start.on(landscape)
        if start == OWN_START:
            return self.explorer.start if landscape == self.explorer.landscape else landscape.start
        return tuple(start)

    def redraw(self) -> None:
        landscape = self.landscape.value
        start = self.start_point(landscape)
        results = []
        for i, r in enumerate(self.explorer.runs):
            values = self.values(r)
            key = (landscape, tuple(start), tuple(values.items()))
            if self._results.get(i, (None,))[0] != key:
                own = landscape == self.explorer.landscape and tuple(start) == self.explorer.start
                self._results[i] = (key, self.explorer.lookup(r, values) if own
                                    else self.explorer.compute(r, values, landscape, start))
            results.append((r, self._results[i][1]))
        self.figure.value = self.explorer.figure_html(results, landscape, start)

    def _changed(self, change) -> None:
        self.redraw()


def explore(landscape: Landscape, runs: Mapping[str, Any], **kwargs: Any) -> Explorer:
    """A chapter's one line: ``explore(landscape, {"Adam": (Adam(), {"lr": [...], "beta1": [...]})})``.

    ``runs`` maps a label (its first word picks the colour) to a rule, or to ``(rule, sliders)``
    with ``sliders`` mapping hyperparameter names (``beta1``/``beta2`` for the entries of
    ``betas``) to the values a slider offers; a value may be ``(value, note)``, e.g. ``(0.2, "2/L")``.
    Keyword arguments go to :class:`Explorer`.
    """
    return Explorer(landscape, runs, **kwargs)
