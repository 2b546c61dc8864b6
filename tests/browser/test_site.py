"""The built website in headless Chromium: every page loads offline, cleanly, with its math typeset.

Each HTML page of ``_build/html`` is served from 127.0.0.1 and loaded in Chromium, and must
- request nothing from any other host (the site works with no network: MathJax, fonts and
  scripts are all served with it),
- load every resource it asks for (no 404s) and show no broken image,
- log no console error and throw no uncaught exception,
- have every equation typeset by MathJax: no raw ``$...$``, ``\\(...\\)`` or ``\\[...\\]`` left
  in the text, and no TeX error.

Set ``SITE_SCREENSHOTS=/some/dir`` to also save a screenshot of every page there.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import yaml

from chromium import Page
from conftest import ROOT, Site, built_pages, redirect_target

NO_BUILD = "(no built website: run `make book`)"
PAGES = built_pages() or [NO_BUILD]

#: Images that failed to load (the page's lazy images are loaded first).
BROKEN_IMAGES = """(async () => {
  const images = Array.from(document.images);
  images.forEach(img => { if (img.loading === "lazy") img.loading = "eager"; });
  await Promise.all(images.map(img => img.decode().catch(() => null)));
  return images.filter(img => !img.complete || img.naturalWidth === 0)
               .map(img => img.currentSrc || img.src || img.outerHTML.slice(0, 120));
})()"""

#: What MathJax made of the page's math: Sphinx puts every equation, inline or displayed, in an
#: element of classes ``math notranslate``, whose TeX MathJax 3 replaces with an ``mjx-container``.
MATH_REPORT = r"""(() => {
  const maths = Array.from(document.querySelectorAll(".math.notranslate"));
  const leftover = el => {
    const copy = el.cloneNode(true);
    copy.querySelectorAll("mjx-container, .eqno, script").forEach(node => node.remove());
    return copy.textContent.trim();
  };
  const skip = "pre, code, script, style, textarea, .math, mjx-container, .highlight";
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT, {acceptNode: node =>
      node.parentElement.closest(skip) ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT});
  const rawTex = /\$[^$\s][^$]*\$|\\\(|\\\)|\\\[|\\\]/;
  const raw = [];
  while (walker.nextNode()) {
    if (rawTex.test(walker.currentNode.data)) raw.push(walker.currentNode.data.trim().slice(0, 100));
  }
  return {
    count: maths.length,
    mathjax: Boolean(window.MathJax && window.MathJax.startup),
    unrendered: maths.filter(el => !el.querySelector("mjx-container")).map(el => el.textContent.trim().slice(0, 100)),
    leftover: maths.map(leftover).filter(text => text).map(text => text.slice(0, 100)),
    raw: raw,
    errors: Array.from(document.querySelectorAll("mjx-merror")).map(el => el.textContent.trim().slice(0, 100)),
  };
})()"""


def check_page(page: Page, site: Site) -> list[str]:
    """All problems of the page now loaded in ``page``; empty when it is healthy."""
    problems = page.problems(site.host)
    problems += [f"broken image: {src}" for src in page.evaluate(BROKEN_IMAGES)]
    math = page.evaluate(MATH_REPORT)
    if math["count"] and not math["mathjax"]:
        problems.append(f"{math['count']} equations but MathJax did not load")
    problems += [f"equation not typeset: {text}" for text in math["unrendered"]]
    problems += [f"TeX left beside the typeset equation: {text}" for text in math["leftover"]]
    problems += [f"raw TeX in the text: {text}" for text in math["raw"]]
    problems += [f"MathJax error: {text}" for text in math["errors"]]
    return problems


@pytest.mark.parametrize("path", PAGES)
def test_page_is_offline_clean_and_typeset(site: Site, page: Page, path: str) -> None:
    assert path != NO_BUILD, f"no built website in {site.root}: run `make book` first"
    if (target := redirect_target((site.root / path).read_text(encoding="utf-8"))) is not None:
        # A redirect (index.html -> the first chapter): its target must exist; it is tested itself.
        assert (site.root / path).parent.joinpath(target).is_file(), f"{path} redirects to missing {target}"
        return
    page.goto(site.page_url(path))
    if directory := os.environ.get("SITE_SCREENSHOTS"):
        Path(directory).mkdir(parents=True, exist_ok=True)
        page.screenshot(Path(directory) / (path.replace("/", "__").removesuffix(".html") + ".png"))
    problems = check_page(page, site)
    assert not problems, f"{path}:\n  " + "\n  ".join(problems)


def test_the_site_has_the_book_pages() -> None:
    expected = {"index.html", "book/intro.html", "book/references.html", "book/api.html"}
    assert expected <= set(built_pages()), "run `make book`: pages are missing from _build/html"


def test_math_is_typeset_on_the_introduction(site: Site, page: Page) -> None:
    """Guards the per-page check against passing vacuously: the notation section has equations."""
    page.goto(site.page_url("book/intro.html"))
    math = page.evaluate(MATH_REPORT)
    assert math["count"] >= 20 and math["mathjax"] and not math["unrendered"], math
    requested = [request.url for request in page.requests.values()]
    assert any(url.endswith("/_static/mathjax/tex-chtml.js") for url in requested), requested
    assert any("/_static/mathjax/output/chtml/fonts/woff-v2/" in url for url in requested), \
        "MathJax did not use its bundled web fonts"


def _toc_files(node: object) -> list[str]:
    """Every ``file`` (and the ``root``) named anywhere in the table of contents."""
    if isinstance(node, list):
        return [name for item in node for name in _toc_files(item)]
    if not isinstance(node, dict):
        return []
    names = [node[key] for key in ("root", "file") if key in node]
    return names + [name for key in ("parts", "chapters", "sections") for name in _toc_files(node.get(key))]


def _notebook_pages() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    names = [name.removesuffix(".ipynb") for name in _toc_files(toc)]
    return [name for name in names if (ROOT / f"{name}.ipynb").is_file()]


@pytest.mark.parametrize("notebook", _notebook_pages())
def test_notebook_pages_have_colab_and_binder_buttons(notebook: str) -> None:
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    repo, branch = config["repository"]["url"], config["repository"]["branch"]
    org_repo = re.sub(r"^https://github\.com/", "", repo).rstrip("/")
    html = (ROOT / "_build" / "html" / f"{notebook}.html").read_text(encoding="utf-8")
    colab = f"https://colab.research.google.com/github/{org_repo}/blob/{branch}/{notebook}.ipynb"
    binder = f"https://mybinder.org/v2/gh/{org_repo}/{branch}?urlpath="
    assert f'href="{colab}"' in html, f"no Colab button linking {colab}"
    assert f'href="{binder}' in html, f"no Binder button linking {binder}..."
