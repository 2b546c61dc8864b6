"""Explorers: every live slider at both ends of its range recomputes and redraws without error;
the static version is self-contained, deterministic and small; diverged runs are labelled; paths
are cut where they run off the map; labels are in the book's notation; each explorer opens on a
setting that shows its chapter's point, and every slider move from there changes what is drawn."""

from __future__ import annotations

import base64
import html
import json
import re
import warnings
import xml.etree.ElementTree as ET
import zlib

import numpy as np
import pytest

from adaptive_optim import explorers, gallery, rules
from adaptive_optim.landscapes import Quadratic

NAMES = sorted(gallery.EXPLORERS)


@pytest.fixture(scope="module", params=NAMES)
def named(request):
    return request.param, gallery.EXPLORERS[request.param]()


@pytest.fixture(scope="module")
def made(named):
    return named[1]


def test_every_live_slider_at_both_ends_redraws(made):
    live = explorers.LiveExplorer(made)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _, slider, widget in live.sliders:
            for value in (slider.values[0], slider.values[-1], slider.value):
                before = live.figure.value
                widget.value = value
                ET.fromstring(live.figure.value)  # well-formed: two <svg> drawings and the legend
                assert live.figure.value.count("<svg") == 2
            assert widget.value == slider.value
        for landscape in made.landscapes:
            live.landscape.value = landscape
            assert "<polyline" in live.figure.value
            for _, start in live.start.options:
                drawn = live.figure.value
                live.start.value = start
                assert live.figure.value != drawn or start == explorers.OWN_START
        assert before


def test_static_version_is_small_deterministic_and_offline(named):
    name, made = named
    page = made.static_html()
    assert len(page.encode()) <= 300_000
    assert page == gallery.EXPLORERS[name]().static_html()  # nbval compares it on every run
    assert not re.search(r"(src|href)=[\"']?(https?:)?//", page)
    assert page.count('class="ao-explorer"') == 1


def test_static_payload_covers_every_slider_combination(made):
    payload = made.static_payload()
    for run_, spec in zip(payload["runs"], made.runs):
        combos = int(np.prod([len(s.values) for s in spec.sliders]))
        assert run_["shape"] == [len(s.values) for s in spec.sliders]
        assert len(run_["lengths"]) == len(_unpack(run_["status"]).decode().split("\n")) == combos


def test_diverged_runs_are_labelled_in_both_versions():
    bowl = Quadratic(kappa=10.0)
    made = explorers.explore(bowl, {"SGD": (rules.SGD(lr=0.1), {"lr": [0.1, 0.25]})}, steps=200)
    payload = made.static_payload()
    statuses = _unpack(payload["runs"][0]["status"]).decode().split("\n")
    assert "diverged" not in statuses[0] and "diverged at step" in statuses[1]  # lr 0.25 > 2/κ = 0.2
    live = explorers.LiveExplorer(made)
    live.sliders[0][2].value = 0.25
    assert "diverged at step" in live.figure.value and "left the map at step" in live.figure.value
    live.sliders[0][2].value = 0.1
    assert "diverged" not in live.figure.value and "left the map" not in live.figure.value


def test_static_paths_decode_to_the_computed_trajectory():
    """The compressed pixel paths the page decodes are the run's positions, to 0.1 px."""
    bowl = Quadratic(kappa=10.0)
    made = explorers.explore(bowl, {"SGD": (rules.SGD(lr=0.1), {"lr": [0.05, 0.1, 0.15]})}, steps=30)
    run_ = made.static_payload()["runs"][0]
    deltas = np.frombuffer(_unpack(run_["paths"]), dtype="<i2").reshape(3, 31, 2)
    coords = np.cumsum(deltas.astype(np.int64), axis=1)
    coords = (coords + 32768) % 65536 - 32768
    for i, lr in enumerate([0.05, 0.1, 0.15]):
        result = made.compute(made.runs[0], {"lr": lr})
        expected = explorers.pixels(bowl, np.asarray(result.positions))
        np.testing.assert_allclose(coords[i] / 10, expected, atol=0.05 + 1e-9)


def _unpack(packed: str) -> bytes:
    return zlib.decompress(base64.b64decode(packed))


def test_mime_bundle_has_widget_and_static_html():
    made = gallery.learning_rate()
    bundle = made._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert bundle["text/html"].startswith('<div class="ao-explorer"')
    json.loads(re.search(r'class="ao-data">(.*?)</script>', bundle["text/html"]).group(1).replace("&lt;", "<")
               .replace("&gt;", ">").replace("&amp;", "&"))


def test_notebook_display_says_how_to_get_the_sliders_before_the_explorer():
    """A committed explorer shows an empty widget box until its cell runs: the line above says so."""
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    shown = []
    original = shell.display_pub.publish
    shell.display_pub.publish = lambda data, metadata=None, **kw: shown.append(data)
    try:
        gallery.learning_rate()._ipython_display_()
    finally:
        shell.display_pub.publish = original
    assert "run this cell" in shown[0]["text/plain"] and 'class="ao-run-note"' in shown[0]["text/html"]
    assert "application/vnd.jupyter.widget-view+json" in shown[1] and "ao-explorer" in shown[1]["text/html"]


def test_slider_labels_use_the_books_notation(made):
    live = explorers.LiveExplorer(made)
    allowed = set(explorers.SYMBOLS.values())
    for r, slider, widget in live.sliders:
        assert widget.description == f"{r.label} {slider.symbol}" and slider.symbol in allowed
        assert not re.search(r"\b(lr|beta[12]|eps|momentum|alpha)\b", widget.description)
        for label in widget.options:
            assert not re.search(r"e-0\d|\.\d*0e|0{4}", label[0]), label  # 1e-8, not 1e-08 or 0.00001


def test_value_labels_are_short_and_exact_enough():
    assert [explorers.label_of(v) for v in (0, 1e-8, 1e-10, 3.16e-4, 0.001, 2 / 11, 0.2, 2.0, 1e6)] == \
        ["0", "1e-8", "1e-10", "3.16e-4", "0.001", "0.182", "0.2", "2", "1e6"]


def test_menus_show_real_and_distinct_labels(made):
    live = explorers.LiveExplorer(made)
    for options in (live.landscape.options, live.start.options):
        labels = [label for label, _ in options]
        assert all(isinstance(label, str) and label.strip() for label in labels)
        assert len(set(labels)) == len(labels)
    assert live.start.label == "the landscape's own"
    assert "quadratic bowl (κ = 50)" in [label for label, _ in live.landscape.options]


def test_learning_rate_explorer_offers_the_chapters_landmarks():
    """The chapter names 2/L = 0.2 and η* = 2/(λ_min + L) = 2/11 for the κ = 10 bowl (L = 10, λ_min = 1)."""
    (slider,) = gallery.learning_rate().runs[0].sliders
    assert 0.2 in slider.values and 2 / 11 in slider.values
    labels = dict(zip(slider.values, slider.labels()))
    assert labels[0.2] == "0.2 (2/L)" and labels[2 / 11] == "0.182 (η*)"


def test_rmsprop_momentum_has_more_than_two_positions():
    rms = next(r for r in gallery.rmsprop().runs if r.label == "RMSprop")
    assert len(next(s for s in rms.sliders if s.name == "momentum").values) > 2


def _opening(made, label):
    r = next(r for r in made.runs if r.label == label)
    return float(np.asarray(made.compute(r, {s.name: s.value for s in r.sliders}).losses)[-1])


@pytest.mark.parametrize("name, winner, rival", [("rmsprop", "RMSprop", "Adagrad"), ("adam", "Adam", "RMSprop"),
                                                 ("radam", "Adam", "RAdam")])
def test_explorers_open_on_a_setting_that_shows_the_chapters_point(name, winner, rival):
    """RMSprop keeps moving where Adagrad has stalled; Adam gets further than RMSprop; RAdam at its
    small η = 0.01 lags Adam at 0.1 (the RAdam chapter's text). A factor 5 apart, and the winner well
    on its way (loss below 1, from about 4 at Rosenbrock's start and 14 at Beale's)."""
    made = gallery.EXPLORERS[name]()
    assert _opening(made, winner) < 1 and 5 * _opening(made, winner) < _opening(made, rival)


def _visible(drawn):
    path = drawn["path"]
    return np.round(path[explorers.inside_map(path)]).tobytes(), drawn["status"], drawn["levels"].tobytes()


def test_every_slider_move_from_the_opening_changes_what_is_drawn(made):
    """Each value of each slider, the others at their opening values, draws something else: the part
    of the path on the map (to 1 px), the loss curve's levels, or the legend line."""
    for r in made.runs:
        result, shape = made.compute_grid(r)
        drawn = made.drawing(r, result)
        opening = tuple(s.index for s in r.sliders)
        seen = _visible(drawn[int(np.ravel_multi_index(opening, shape))])
        for i, s in enumerate(r.sliders):
            for j in range(len(s.values)):
                if j != opening[i]:
                    moved = opening[:i] + (j,) + opening[i + 1:]
                    assert _visible(drawn[int(np.ravel_multi_index(moved, shape))]) != seen, (r.label, s.name, j)


def test_paths_are_cut_on_the_margin_keeping_their_direction():
    m, w, h = explorers.LAYOUT["margin"], explorers.LAYOUT["map"]["width"], explorers.LAYOUT["map"]["height"]
    px = np.array([[100.0, 100.0], [200.0, 100.0], [200.0 + 1e7, 100.0 + 1e5], [np.nan, np.nan]])
    cut = explorers.drawable_path(px)
    assert len(cut) == 3 and cut[-1, 0] == pytest.approx(w + m)
    # the cut point lies on the segment: slope 1e5 / 1e7 from (200, 100)
    assert (cut[-1, 1] - 100) / (cut[-1, 0] - 200) == pytest.approx(1e-2)
    assert len(explorers.drawable_path(np.array([[1.0, 1.0], [np.nan, 2.0], [3.0, 3.0]]))) == 1
    assert len(explorers.drawable_path(np.array([[0.0, -h - m - 1.0]]))) == 0


def test_loss_levels_mark_floor_ceiling_and_missing_points():
    lo, hi = explorers.LAYOUT["decades"]
    levels = explorers.loss_levels(np.array([10.0 ** (lo - 50), 10.0**lo, 1.0, 10.0 ** (hi + 3), np.nan]))
    assert levels.tolist() == [1, 1, 1 + round(-lo / (hi - lo) * 254), 255, 0]
    line, marks = explorers.loss_curve(np.array([200, 100, 1, 1, 255], dtype=np.uint8), steps=4)
    assert line.count("M") == 1 and line.count("L") == 1  # only the two points inside the panel
    assert [kind for kind, _, _ in marks] == ["floor", "ceiling"]


def test_legend_says_when_the_loss_is_below_the_panel():
    bowl = Quadratic(kappa=10.0)
    made = explorers.explore(bowl, {"SGD": rules.SGD(lr=0.15)}, steps=300)
    live = explorers.LiveExplorer(made)
    shown = html.unescape(live.figure.value)
    assert "below the panel's floor" in shown and "▼" in shown


def test_static_statuses_are_the_live_legend_lines(made):
    """The website's legend lines (packed in the page) are those the live version draws."""
    payload = made.static_payload()
    for run_, r in zip(payload["runs"], made.runs):
        statuses = _unpack(run_["status"]).decode().split("\n")
        assert len(statuses) == len(run_["lengths"])
        values = {s.name: s.value for s in r.sliders}
        index = int(np.ravel_multi_index([s.index for s in r.sliders], run_["shape"])) if r.sliders else 0
        assert made.drawing(r, made.compute(r, values))[0]["status"] == statuses[index]


def test_live_lookup_in_the_grid_is_the_computed_run(made):
    """On its own landscape and start the live explorer reads runs out of the static grid: the same
    runs as one computed alone. Elementwise NumPy arithmetic gives each batch entry the same
    operations in the same order, so they agree to the last bit or to a few ulps (where a vectorized
    power takes another code path), amplified at most mildly over the run: rtol 1e-9."""
    for r in made.runs:
        for value_index in (0, -1):
            values = {s.name: s.values[value_index] for s in r.sliders}
            alone, looked_up = made.compute(r, values), made.lookup(r, values)
            np.testing.assert_allclose(looked_up.positions, np.asarray(alone.positions), rtol=1e-9, atol=1e-12)
            assert int(looked_up.diverged_at) == int(alone.diverged_at)


def test_lion_explorer_steps_every_coordinate_by_exactly_eta_and_starts_off_its_lattice():
    """The picture's point: every Lion step of every run of the grid moves each coordinate by ±η.
    x_k − x_{k−1} is computed from numbers below 3 in size (the window is [−2, 2]²), so each
    difference carries at most a few ulps of 3 (about 1e-15) of rounding: atol 1e-12 is far above
    that and far below the smallest η (0.003). The start is a multiple of no η offered, so no run
    lands on the minimum exactly by a coincidence of the lattice."""
    made = gallery.lion()
    lion = next(r for r in made.runs if r.label == "Lion")
    result, shape = made.compute_grid(lion)
    positions = np.asarray(result.positions).reshape(made.steps + 1, -1, 2)
    lrs = np.broadcast_to(np.asarray(lion.sliders[0].values).reshape(-1, 1, 1), shape).reshape(-1)
    assert not np.asarray(result.diverged).any()
    np.testing.assert_allclose(np.abs(np.diff(positions, axis=0)), np.broadcast_to(lrs[:, None], positions.shape[1:])[None]
                               .repeat(made.steps, axis=0), rtol=0, atol=1e-12)
    for lr in lion.sliders[0].values:
        quotients = np.asarray(made.start) / lr
        assert np.all(np.abs(quotients - np.round(quotients)) > 1e-6), lr
    assert _opening(made, "Lion") > 1e3 * _opening(made, "Adam")  # Lion circles, Adam settles


def test_lamb_explorer_steps_are_eta_times_the_weight_norm_and_stall_at_the_origin():
    """Each LAMB step is η‖θ‖ long (one "layer", the point; ‖θ‖ stays below the clip at 10, and
    r/‖r‖ is a unit vector whatever ε adds to r). Rounding: θ_k is stored to half an ulp of its
    coordinates (about 1.1e-16‖θ‖), and the difference θ_k − θ_{k−1} adds as much again, an absolute
    error of a few 1e-16‖θ‖ on a step of η‖θ‖ ≥ 0.003‖θ‖: about 1e-13 relative at worst, below
    rtol 1e-12 (the relative argument holds at any ‖θ‖ > 0, however near the origin). Then the
    chapter's point: at the opening η the run ends at the origin (loss 1), not at Rosenbrock's
    minimum (1, 1), while Adam gets further."""
    made = gallery.lamb()
    lamb = next(r for r in made.runs if r.label == "LAMB")
    result, _ = made.compute_grid(lamb)
    positions = np.asarray(result.positions).reshape(made.steps + 1, -1, 2)
    lrs = np.asarray(lamb.sliders[0].values)
    theta = np.linalg.norm(positions[:-1], axis=-1)
    step = np.linalg.norm(np.diff(positions, axis=0), axis=-1)
    assert (theta > 0).all()
    np.testing.assert_allclose(step / theta, np.broadcast_to(lrs, theta.shape), rtol=1e-12)
    opening = made.compute(lamb, {"lr": lamb.sliders[0].value})
    assert np.linalg.norm(np.asarray(opening.positions)[-1]) < 1e-2
    assert abs(float(np.asarray(opening.losses)[-1]) - 1.0) < 1e-2 and _opening(made, "Adam") < 0.5
