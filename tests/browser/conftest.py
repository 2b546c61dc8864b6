"""Fixtures for tests of the built website: a local web server and headless Chromium.

``site`` serves ``_build/html`` (build it with ``make book``; or ``$BOOK_HTML``) on 127.0.0.1 at a free port;
``browser`` is one Chromium for the whole session; ``page`` is a fresh tab for each test.
Both fail, never skip, when what they need is missing: an untested site must not pass.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from chromium import NOT_FOUND, Browser, Page, find_chromium

ROOT = Path(__file__).resolve().parents[2]
#: The built website; ``BOOK_HTML`` may point elsewhere (e.g. at a copy broken on purpose).
SITE = Path(os.environ.get("BOOK_HTML", ROOT / "_build" / "html"))


def built_pages(site: Path = SITE) -> list[str]:
    """Every HTML page of the built site, as paths relative to its root (assets excluded)."""
    if not site.is_dir():
        return []
    return sorted(path.relative_to(site).as_posix() for path in site.rglob("*.html")
                  if not path.relative_to(site).parts[0].startswith("_"))


def redirect_target(html: str) -> str | None:
    """Where a page that only redirects (``<meta http-equiv="Refresh">``) sends the reader."""
    match = re.search(r'<meta http-equiv="refresh" content="\d+;\s*url=([^"]+)"', html, re.IGNORECASE)
    return match.group(1) if match else None


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's name
        pass


@dataclass(frozen=True)
class Site:
    """The built website, served at ``url`` from ``root``."""

    root: Path
    url: str
    host: str = "127.0.0.1"

    def page_url(self, path: str) -> str:
        return f"{self.url}/{path}"


@contextlib.contextmanager
def serve(root: Path) -> Iterator[Site]:
    """Serve the folder ``root`` on 127.0.0.1, at a free port, while the block runs."""
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="site-server", daemon=True)
    thread.start()
    try:
        yield Site(root, f"http://127.0.0.1:{server.server_address[1]}")
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def site() -> Iterator[Site]:
    if not (SITE / "index.html").is_file():
        pytest.fail(f"no built website in {SITE}: run `make book` first")
    with serve(SITE) as served:
        yield served


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if find_chromium() is None:
        pytest.fail(NOT_FOUND, pytrace=False)
    with Browser.launch() as chromium:
        yield chromium


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    tab = browser.new_page()
    try:
        yield tab
    finally:
        tab.close()
