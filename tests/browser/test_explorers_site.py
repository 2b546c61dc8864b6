"""The static explorers on the built website: every slider, moved as a reader moves it, redraws.

For each explorer (``<div class="ao-explorer">``) on each page, each ``<input type=range>`` is
set to both ends of its range and back, the other sliders at their starting values; after each
move the drawing (the paths, the loss curves and the legend) must differ from the drawing before
it, whenever the slider's value changed. The page
must stay free of errors (see test_site.py's checks) while sliders move.
"""

from __future__ import annotations

import pytest

from chromium import Page
from conftest import SITE, Site

PAGES = sorted(p.relative_to(SITE).as_posix() for p in SITE.rglob("*.html")
               if 'class="ao-explorer"' in p.read_text(encoding="utf-8")) if SITE.is_dir() else []

#: The drawing of explorer number ``i``: every polyline's points and the legend texts.
DRAWING = """((i) => {
  const root = document.querySelectorAll(".ao-explorer")[i];
  const lines = Array.from(root.querySelectorAll("polyline")).map(p => p.getAttribute("points"));
  const texts = Array.from(root.querySelectorAll("svg text")).map(t => t.textContent);
  return JSON.stringify([lines, texts]);
})(%d)"""


def test_the_book_has_explorers():
    assert SITE.is_dir(), f"no built website in {SITE}: run `make book` first"
    assert len(PAGES) >= 1, "no page of the built site contains an explorer"


@pytest.mark.parametrize("path", PAGES or ["(none)"])
def test_every_slider_redraws(page: Page, site: Site, path: str):
    page.goto(site.page_url(path))
    count = page.evaluate("document.querySelectorAll('.ao-explorer').length")
    assert count >= 1
    for i in range(count):
        page.wait_for(f"document.querySelectorAll('.ao-explorer')[{i}].dataset.drawn", timeout=20)
        sliders = page.evaluate(f"document.querySelectorAll('.ao-explorer')[{i}]"
                                f".querySelectorAll('input[type=range]').length")
        assert sliders >= 1
        root_id = page.evaluate(f"document.querySelectorAll('.ao-explorer')[{i}].id")
        for j in range(sliders):
            selector = f"#{root_id} .ao-controls label:nth-of-type({j + 1}) input[type=range]"
            low, high, initial = page.evaluate(
                f"(() => {{ const s = document.querySelector(\"{selector}\");"
                f" return [Number(s.min), Number(s.max), Number(s.value)]; }})()")
            # Both ends, then back to where it started, so each slider is tried with the others at
            # their starting values (a setting that diverges at once can look the same everywhere).
            for target in (high, low, initial):
                before = page.evaluate(DRAWING % i)
                current = page.evaluate(f"Number(document.querySelector(\"{selector}\").value)")
                assert page.set_range(selector, target) == target
                after = page.evaluate(DRAWING % i)
                if current != target:
                    assert after != before, f"{path}: explorer {i}, slider {j} moved to {target} but nothing redrew"
    assert page.problems(site.host) == []
