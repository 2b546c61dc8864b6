"""The built website on a phone (390 x 844 CSS px) in headless Chromium, and no Thebe anywhere.

Every page, shown at a phone's width, must
- be no wider than the screen (a wider page scrolls sideways, and its contents drawer opens
  partly off-screen): long inline code, API signatures and index entries wrap;
- show every equation whole, or let the reader scroll that equation's own box to all of it
  (see phone.CUT_OFF_EQUATIONS for how "reachable" is decided);
- open its side drawers (contents, "on this page") wholly on the screen.
Thebe is off (``launch_buttons: thebe: false``), so no page may load its script or stylesheet,
nor carry its configuration block (book/_ext/no_thebe.py).
"""

from __future__ import annotations

import re

import pytest

from chromium import Page
from conftest import SITE, Site, built_pages, redirect_target
from phone import PHONE, drawers_off_screen, emulate_phone, phone_report

NO_BUILD = "(no built website: run `make book`)"
PAGES = built_pages() or [NO_BUILD]

#: Anything of Thebe in a page's HTML: its assets, its inline loader settings, its config block.
THEBE = re.compile(r"thebe[\w.-]*\.(js|css)|THEBE_JS_URL|text/x-thebe-config", re.IGNORECASE)


@pytest.mark.parametrize("path", PAGES)
def test_page_fits_a_phone(site: Site, page: Page, path: str) -> None:
    assert path != NO_BUILD, f"no built website in {site.root}: run `make book` first"
    if redirect_target((site.root / path).read_text(encoding="utf-8")) is not None:
        return  # a page that only redirects (index.html): its target is tested itself
    emulate_phone(page)
    page.goto(site.page_url(path))
    report = phone_report(page)
    problems = []
    if report["width"] > PHONE["width"]:
        problems.append(f"the page is {report['width']} px wide on a {PHONE['width']} px screen, because of:")
        problems += [f"  {culprit}" for culprit in report["culprits"]]
    problems += [f"cut off: {equation}" for equation in report["cut_off"]]
    problems += drawers_off_screen(page)
    problems += [f"Thebe asset requested: {request.url}" for request in page.requests.values()
                 if "thebe" in request.url.lower()]
    assert not problems, f"{path} at {PHONE['width']} px:\n  " + "\n  ".join(problems)


def test_the_phone_check_sees_equations(site: Site, page: Page) -> None:
    """Guards the per-page check against passing vacuously: a chapter's equations are measured,
    and one too wide for a phone is found in its scrolling box, not ignored."""
    emulate_phone(page)
    page.goto(site.page_url("book/gradient_descent.html"))
    report = phone_report(page)
    assert report["equations"] >= 5 and report["inline"] >= 20, report
    widest = page.evaluate("""Math.max(...Array.from(document.querySelectorAll("div.math mjx-math"))
                                        .map(el => el.getBoundingClientRect().width))""")
    assert widest > 0, "no typeset display equation was measured"
    # Squeeze every display equation's box to 40 px: all of them must now be reported, unless
    # their box scrolls (the site's own style); with scrolling switched off, every one is cut off.
    page.evaluate("""document.querySelectorAll("div.math mjx-container").forEach(el => {
                       el.style.maxWidth = "40px"; el.style.overflow = "hidden"; })""")
    squeezed = phone_report(page)["cut_off"]
    assert len(squeezed) == report["equations"], squeezed


def test_no_page_carries_thebe() -> None:
    assert SITE.is_dir(), f"no built website in {SITE}: run `make book` first"
    pages = [SITE / path for path in built_pages()]
    offenders = {page.relative_to(SITE).as_posix(): sorted({m.group(0) for m in THEBE.finditer(page.read_text("utf-8"))})
                 for page in pages}
    assert len(pages) >= 5
    assert not {page: found for page, found in offenders.items() if found}
    assert not list((SITE / "_static").glob("*thebe*")), "Thebe's files are copied into _static"
