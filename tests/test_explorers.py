"""Explorers: every live slider at both ends of its range recomputes and redraws without error;
the static version is self-contained, deterministic and small; diverged runs are labelled."""

from __future__ import annotations

import json
import re
import warnings

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
                assert live.figure.value.startswith("<svg") and live.figure.value.endswith("</svg>")
            assert widget.value == slider.value
        for landscape in made.landscapes:
            live.landscape.value = landscape
            assert "<polyline" in live.figure.value
            for _, start in live.start.options:
                drawn = live.figure.value
                live.start.value = start
                assert live.figure.value != drawn or start is None
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
        assert len(run_["lengths"]) == len(run_["diverged_at"]) == len(run_["final"]) == combos


def test_diverged_runs_are_labelled_in_both_versions():
    bowl = Quadratic(kappa=10.0)
    made = explorers.explore(bowl, {"SGD": (rules.SGD(lr=0.1), {"lr": [0.1, 0.25]})}, steps=200)
    payload = made.static_payload()
    assert payload["runs"][0]["diverged_at"][0] == -1
    assert payload["runs"][0]["diverged_at"][1] > 0          # lr 0.25 > 2/κ = 0.2
    live = explorers.LiveExplorer(made)
    live.sliders[0][2].value = 0.25
    assert "diverged at step" in live.figure.value
    live.sliders[0][2].value = 0.1
    assert "diverged" not in live.figure.value


def test_static_paths_decode_to_the_computed_trajectory():
    """The compressed pixel paths the page decodes are the run's positions, to 0.1 px."""
    import base64
    import zlib

    bowl = Quadratic(kappa=10.0)
    made = explorers.explore(bowl, {"SGD": (rules.SGD(lr=0.1), {"lr": [0.05, 0.1, 0.15]})}, steps=30)
    run_ = made.static_payload()["runs"][0]
    deltas = np.frombuffer(zlib.decompress(base64.b64decode(run_["paths"])), dtype="<i2").reshape(3, 31, 2)
    coords = np.cumsum(deltas.astype(np.int64), axis=1)
    coords = (coords + 32768) % 65536 - 32768
    for i, lr in enumerate([0.05, 0.1, 0.15]):
        result = made.compute(made.runs[0], {"lr": lr})
        expected = explorers.pixels(bowl, np.asarray(result.positions))
        np.testing.assert_allclose(coords[i] / 10, expected, atol=0.05 + 1e-9)


def test_mime_bundle_has_widget_and_static_html():
    made = gallery.learning_rate()
    bundle = made._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert bundle["text/html"].startswith('<div class="ao-explorer"')
    json.loads(re.search(r'class="ao-data">(.*?)</script>', bundle["text/html"]).group(1).replace("&lt;", "<")
               .replace("&gt;", ">").replace("&amp;", "&"))
