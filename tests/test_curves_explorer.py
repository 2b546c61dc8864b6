"""The curves explorer: both faces draw from the same SVG, its slider picks a drawing, bad input is refused."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from adaptive_optim.curves_explorer import CurvesExplorer


def make(**kwargs) -> CurvesExplorer:
    rng = np.random.default_rng(0)
    lrs = [1e-3, 1e-2, 1e-1]
    curves = {"Adam": np.exp(-rng.random((3, 2, 20)).cumsum(-1) / 10),
              "Momentum": np.exp(-rng.random((3, 2, 20)).cumsum(-1) / 20)}
    curves["Momentum"][2, 1, 5:] = np.nan  # one run diverged at the largest lr
    return CurvesExplorer(lrs, curves, **kwargs)


def test_static_html_holds_one_drawing_per_learning_rate_and_a_slider_over_them():
    explorer = make(start=1)
    page = explorer.static_html()
    payload = json.loads(re.search(r'<script type="application/json" class="ao-data">(.*?)</script>', page).group(1))
    assert payload["svgs"] == [explorer.svg(i) for i in range(3)]  # the live version draws the same
    assert payload["labels"] == ["0.001", "0.01", "0.1"]
    assert 'type="range" min="0" max="2" step="1" value="1"' in page
    assert len(set(payload["svgs"])) == 3


def test_the_drawing_reports_diverged_runs_and_uses_the_given_colours():
    explorer = make(colours={"Adam": "#123456"})
    assert "1/2 diverged" in explorer.svg(2)
    assert "diverged" not in explorer.svg(0)
    assert 'stroke="#123456"' in explorer.svg(0)
    assert 'stroke="#e69f00"' in explorer.svg(0)  # Momentum's colour in the book's style


def test_the_widget_redraws_when_the_slider_moves():
    explorer = make()
    box = explorer.widget()
    slider, figure = box.children[-2], box.children[-1]
    slider.value = 2
    assert figure.value == explorer.svg(2)


@pytest.mark.parametrize("kwargs, message", [
    (dict(lrs=[], curves={"Adam": np.ones((0, 1, 3))}), "at least one learning rate"),
    (dict(lrs=[1.0], curves={}), "at least one optimizer"),
    (dict(lrs=[1.0, 2.0], curves={"Adam": np.ones((1, 1, 3))}), "expected"),
    (dict(lrs=[1.0], curves={"Adam": np.ones((1, 1, 3))}, start=1), "not an index"),
    (dict(lrs=[1.0], curves={"Adam": np.ones((1, 1, 3))}, ylim=(0.0, 1.0)), "ylim"),
])
def test_bad_input_is_refused_with_a_clear_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        CurvesExplorer(**kwargs)


def test_the_output_carries_the_static_version_for_the_site():
    explorer = make()
    bundle = explorer._repr_mimebundle_()
    assert bundle["text/html"] == explorer.static_html()
    assert bundle["text/plain"].startswith("CurvesExplorer(Adam, Momentum")


def test_the_step_axis_starts_at_the_given_first_step():
    assert "step (9 to 28)" in make(first=9).svg(0)
    assert "step (0 to 19)" in make().svg(0)
