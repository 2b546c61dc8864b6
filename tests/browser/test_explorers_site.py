"""The static explorers in headless Chromium: every slider, moved as a reader moves it, redraws; and
on a phone-sized screen the explorer fits, its text stays legible and its sliders can be hit.

Two sources of explorers: the built website (``make book``), and a scratch page made here from
:mod:`adaptive_optim.gallery` and served from 127.0.0.1, so that the explorers of the package as it
is now are checked even before the chapters are re-executed. For each explorer, each
``<input type=range>`` is set to both ends of its range and back, the other sliders at their
starting values; after each move the drawing (paths, loss curves, marks and legend lines) must
differ from the drawing before it whenever the slider's value changed. The page must stay free of
errors (see test_site.py's checks) while sliders move.
"""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from chromium import Page
from conftest import SITE, Site, _QuietHandler

PAGES = sorted(p.relative_to(SITE).as_posix() for p in SITE.rglob("*.html")
               if 'class="ao-explorer"' in p.read_text(encoding="utf-8")) if SITE.is_dir() else []

#: The drawing of explorer number ``i``: every polyline's points, every path, the texts.
DRAWING = """((i) => {
  const root = document.querySelectorAll(".ao-explorer")[i];
  const lines = Array.from(root.querySelectorAll("polyline")).map(p => p.getAttribute("points"));
  const paths = Array.from(root.querySelectorAll("svg path")).map(p => p.getAttribute("d"));
  const texts = Array.from(root.querySelectorAll("svg text, .ao-legend")).map(t => t.textContent);
  return JSON.stringify([lines, paths, texts]);
})(%d)"""

#: On a phone: the explorer's width, the page's scroll width, the smallest text as drawn on the
#: screen (an SVG text's font size times its drawing's scale), and the smallest slider box.
PHONE_CHECK = """(() => {
  const roots = Array.from(document.querySelectorAll(".ao-explorer"));
  let smallestText = 1e9, smallestSlider = [1e9, 1e9];
  for (const root of roots) {
    for (const t of root.querySelectorAll("svg text")) {
      const m = t.getScreenCTM(), scale = Math.hypot(m.a, m.b);  // rotated text too
      smallestText = Math.min(smallestText, parseFloat(getComputedStyle(t).fontSize) * scale);
    }
    for (const t of root.querySelectorAll(".ao-name, .ao-value, .ao-legend span")) {
      smallestText = Math.min(smallestText, parseFloat(getComputedStyle(t).fontSize));
    }
    for (const s of root.querySelectorAll("input[type=range]")) {
      const box = s.getBoundingClientRect();
      smallestSlider = [Math.min(smallestSlider[0], box.width), Math.min(smallestSlider[1], box.height)];
    }
  }
  return {count: roots.length, widest: Math.max(...roots.map(r => r.getBoundingClientRect().right)),
          scrollWidth: document.documentElement.scrollWidth, smallestText, smallestSlider};
})()"""


def _check_every_slider(page: Page, label: str) -> None:
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
                    assert after != before, f"{label}: explorer {i}, slider {j} moved to {target} but nothing redrew"


def test_the_book_has_explorers():
    assert SITE.is_dir(), f"no built website in {SITE}: run `make book` first"
    assert len(PAGES) >= 1, "no page of the built site contains an explorer"


@pytest.mark.parametrize("path", PAGES or ["(none)"])
def test_every_slider_redraws(page: Page, site: Site, path: str):
    page.goto(site.page_url(path))
    _check_every_slider(page, path)
    assert page.problems(site.host) == []


@pytest.fixture(scope="module")
def gallery_page(tmp_path_factory) -> Iterator[str]:
    """Every explorer of the gallery on one page (each under the line the notebooks show above it),
    in a content column as wide as the book's, served from 127.0.0.1."""
    from adaptive_optim import explorers, gallery

    folder: Path = tmp_path_factory.mktemp("explorers")
    body = "".join(explorers.run_note()["text/html"] + make().static_html() for make in gallery.EXPLORERS.values())
    (folder / "index.html").write_text(
        '<!doctype html><html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, '
        'initial-scale=1"><title>explorers</title><link rel="icon" href="data:,"></head>'
        f'<body style="margin:0 16px"><main style="max-width:770px">{body}</main></body></html>', encoding="utf-8")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(folder)))
    threading.Thread(target=server.serve_forever, name="explorer-server", daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/index.html"
    finally:
        server.shutdown()
        server.server_close()


def test_every_slider_of_the_gallery_redraws(page: Page, gallery_page: str):
    page.goto(gallery_page)
    _check_every_slider(page, "gallery")
    assert page.problems("127.0.0.1") == []


@pytest.mark.parametrize("width", [390, 1400])
def test_explorers_fit_and_stay_legible(page: Page, gallery_page: str, width: int):
    """At 390 px (a phone) and 1400 px: nothing wider than the screen, no text drawn smaller than
    11 px, sliders at least 36 px tall (a thumb's reach, with the 26 px thumb) and 250 px wide."""
    page.send("Emulation.setDeviceMetricsOverride", {"width": width, "height": 844, "deviceScaleFactor": 2,
                                                     "mobile": width < 600})
    try:
        page.goto(gallery_page)
        page.wait_for("Array.from(document.querySelectorAll('.ao-explorer')).every(r => r.dataset.drawn)", timeout=30)
        found = page.evaluate(PHONE_CHECK)
    finally:
        page.send("Emulation.clearDeviceMetricsOverride")
    from adaptive_optim import gallery

    assert found["count"] == len(gallery.EXPLORERS)  # every explorer of the gallery drew
    assert found["scrollWidth"] <= width and found["widest"] <= width
    assert found["smallestText"] >= 11, found
    assert found["smallestSlider"][1] >= 36 and found["smallestSlider"][0] >= 250, found
