"""Headless Chromium, driven over the DevTools protocol, for tests of the built website.

``Browser.launch()`` starts Chromium; ``browser.new_page()`` opens a tab; ``page.goto(url)`` loads
a page and waits until it has settled (load event, MathJax done, no request in flight). While it
runs, a page records every request, failed load, console error and uncaught exception, so that
``page.problems(host)`` lists what went wrong, and ``evaluate``, ``set_range``, ``click`` and
``screenshot`` let a test use the page as a reader would (e.g. move an explorer's slider).

Only the ``websocket-client`` package is needed (it comes with Jupyter); Chromium is Debian's
``chromium`` package. Other hosts are unreachable from the browser by construction
(``--host-resolver-rules``): a request to one fails at once and is reported, never waited for.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import websocket

NOT_FOUND = "chromium not found: install Debian's chromium (apt-get install chromium)"

#: Flags for a quiet, reproducible headless browser that only ever talks to 127.0.0.1.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--no-first-run",
    "--no-default-browser-check",
    "--mute-audio",
    "--hide-scrollbars",
    "--window-size=1280,1600",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--remote-debugging-port=0",
)

#: Installed before any script of a page runs: where the page records when MathJax finished.
_WATCH_MATHJAX = "window.__siteTest = {typesetAt: null};"

#: "no MathJax" when the page does not load MathJax 3, "done" once its first typesetting of the
#: page is over (``MathJax.startup.promise`` resolves then; the time, ``performance.now()``, is
#: kept in ``__siteTest.typesetAt``). MathJax is loaded with ``defer``, so by the load event it
#: has either started up or is not on the page.
_MATHJAX_STATE = """(() => {
  const mj = window.MathJax;
  if (!(mj && mj.startup && mj.startup.promise)) return "no MathJax";
  return mj.startup.promise.then(() => {
    if (window.__siteTest.typesetAt === null) window.__siteTest.typesetAt = performance.now();
    return "done";
  });
})()"""

#: TeX errors in MathJax 3's output: each becomes an ``mjx-merror`` element with the message.
_MATH_ERRORS = """Array.from(document.querySelectorAll("mjx-merror"))
    .map(el => "TeX error: " + (el.getAttribute("data-mjx-error") || el.textContent))"""


class DevToolsError(RuntimeError):
    """A DevTools command failed, or the page did not settle in time."""


class JavaScriptError(DevToolsError):
    """An expression evaluated in the page threw."""


def find_chromium() -> str | None:
    """The Chromium executable: ``$CHROMIUM`` if set, else ``chromium`` on the PATH; None if absent."""
    if os.environ.get("CHROMIUM"):
        return shutil.which(os.environ["CHROMIUM"])
    return shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass
class Request:
    """One network request a page made."""

    url: str
    status: int | None = None
    error: str | None = None


class Connection:
    """The browser's DevTools websocket: commands by id; events go to the page they belong to."""

    def __init__(self, ws_url: str, timeout: float) -> None:
        self.ws = websocket.create_connection(ws_url, timeout=timeout, suppress_origin=True)
        self.ids = itertools.count(1)
        self.replies: dict[int, dict[str, Any]] = {}
        self.listeners: dict[str, Callable[[str, dict[str, Any]], None]] = {}

    def send(self, method: str, params: dict[str, Any] | None = None, *,
             session: str | None = None, timeout: float = 30.0) -> dict[str, Any]:
        """Run one DevTools command and return its result, handling events while waiting."""
        message: dict[str, Any] = {"id": next(self.ids), "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        self.ws.send(json.dumps(message))
        deadline = time.monotonic() + timeout
        while message["id"] not in self.replies:
            if not self.pump(deadline - time.monotonic()):
                raise DevToolsError(f"{method}: no answer from Chromium in {timeout} s")
        reply = self.replies.pop(message["id"])
        if "error" in reply:
            raise DevToolsError(f"{method}: {reply['error'].get('message')} {reply['error'].get('data', '')}")
        return reply.get("result", {})

    def pump(self, timeout: float) -> bool:
        """Handle one incoming message; False when none came within ``timeout`` seconds."""
        if timeout <= 0:
            return False
        self.ws.settimeout(timeout)
        try:
            raw = self.ws.recv()
        except websocket.WebSocketTimeoutException:
            return False
        message = json.loads(raw)
        if "id" in message:
            self.replies[message["id"]] = message
        elif (listener := self.listeners.get(message.get("sessionId", ""))) is not None:
            listener(message["method"], message.get("params", {}))
        return True

    def close(self) -> None:
        self.ws.close()


class Browser:
    """A headless Chromium process with its own throw-away profile."""

    def __init__(self, process: subprocess.Popen, profile: tempfile.TemporaryDirectory,
                 connection: Connection) -> None:
        self.process = process
        self.profile = profile
        self.connection = connection

    @classmethod
    def launch(cls, executable: str | None = None, timeout: float = 30.0) -> "Browser":
        """Start Chromium; raises FileNotFoundError with :data:`NOT_FOUND` when it is missing."""
        executable = shutil.which(executable) if executable else find_chromium()
        if executable is None:
            raise FileNotFoundError(NOT_FOUND)
        profile = tempfile.TemporaryDirectory(prefix="site-test-chromium-")
        log = open(Path(profile.name) / "chromium.log", "wb")
        process = subprocess.Popen([executable, *FLAGS, f"--user-data-dir={profile.name}", "about:blank"],
                                   stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        log.close()
        port_file = Path(profile.name) / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while not (port_file.exists() and len(port_file.read_text().splitlines()) >= 2):
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                output = (Path(profile.name) / "chromium.log").read_text(errors="replace")[-2000:]
                profile.cleanup()
                raise DevToolsError(f"Chromium did not start its DevTools server:\n{output}")
            time.sleep(0.05)
        port, path = port_file.read_text().splitlines()[:2]
        return cls(process, profile, Connection(f"ws://127.0.0.1:{port}{path}", timeout))

    def new_page(self) -> "Page":
        """A new tab, with network, console and error recording switched on."""
        target = self.connection.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.connection.send("Target.attachToTarget",
                                       {"targetId": target, "flatten": True})["sessionId"]
        return Page(self.connection, target, session)

    def close(self) -> None:
        try:
            self.connection.send("Browser.close", timeout=5)
        except (DevToolsError, OSError, websocket.WebSocketException):
            pass
        self.connection.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.profile.cleanup()

    def __enter__(self) -> "Browser":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


@dataclass
class Page:
    """One browser tab and what it recorded since its last :meth:`goto`."""

    connection: Connection
    target: str
    session: str
    requests: dict[str, Request] = field(default_factory=dict)
    console_errors: list[str] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)
    loads: set[str] = field(default_factory=set)
    #: after :meth:`goto`: "done", "no MathJax" (the page does not load it) or "timeout"
    mathjax: str = ""
    #: after :meth:`goto`: milliseconds from the start of navigation until MathJax had typeset
    #: the page, as first seen (at the load event at the earliest; None without MathJax)
    typeset_ms: float | None = None
    inflight: set[str] = field(default_factory=set)
    last_activity: float = 0.0

    def __post_init__(self) -> None:
        self.connection.listeners[self.session] = self._on_event
        for domain in ("Page", "Runtime", "Network", "Log"):
            self.send(f"{domain}.enable")
        self.send("Page.setLifecycleEventsEnabled", {"enabled": True})
        self.send("Page.addScriptToEvaluateOnNewDocument", {"source": _WATCH_MATHJAX})

    def send(self, method: str, params: dict[str, Any] | None = None, timeout: float = 30.0) -> dict[str, Any]:
        """Run a DevTools command in this tab."""
        return self.connection.send(method, params, session=self.session, timeout=timeout)

    # ---- recording -------------------------------------------------------------------------

    def _on_event(self, method: str, params: dict[str, Any]) -> None:
        self.last_activity = time.monotonic()
        if method == "Network.requestWillBeSent":
            self.requests[params["requestId"]] = Request(params["request"]["url"])
            self.inflight.add(params["requestId"])
        elif method == "Network.responseReceived":
            if (request := self.requests.get(params["requestId"])) is not None:
                request.status = params["response"]["status"]
        elif method in ("Network.loadingFinished", "Network.loadingFailed"):
            self.inflight.discard(params["requestId"])
            request = self.requests.get(params["requestId"])
            if method == "Network.loadingFailed" and request is not None and not params.get("canceled"):
                request.error = params.get("blockedReason") or params.get("errorText") or "failed"
        elif method == "Page.lifecycleEvent" and params["name"] == "load":
            self.loads.add(params["loaderId"])
        elif method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
            text = " ".join(str(arg.get("value", arg.get("description", ""))) for arg in params["args"])
            self.console_errors.append(f"console.{params['type']}: {text}")
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text", "")
            self.exceptions.append(f"{text} ({details.get('url', '')}:{details.get('lineNumber', '?')})")
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            entry = params["entry"]
            self.console_errors.append(f"{entry['source']}: {entry['text']} {entry.get('url', '')}".rstrip())

    def _wait(self, condition: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise DevToolsError(f"timed out after {timeout} s waiting for {what}")
            self.connection.pump(min(0.05, max(deadline - time.monotonic(), 0.001)))

    # ---- using the page --------------------------------------------------------------------

    def goto(self, url: str, timeout: float = 30.0, quiet: float = 0.3) -> None:
        """Load ``url`` and wait for its load event, for MathJax to finish typesetting (see
        :attr:`mathjax`), and for ``quiet`` seconds without a request in flight."""
        self.requests.clear()
        self.console_errors.clear()
        self.exceptions.clear()
        self.inflight.clear()
        reply = self.send("Page.navigate", {"url": url})
        if reply.get("errorText"):
            raise DevToolsError(f"could not load {url}: {reply['errorText']}")
        loader = reply["loaderId"]
        self._wait(lambda: loader in self.loads, timeout, f"the load event of {url}")
        try:
            self.mathjax = self.wait_for(_MATHJAX_STATE, timeout)
        except DevToolsError:
            self.mathjax = "timeout"
        self.typeset_ms = self.evaluate("window.__siteTest.typesetAt") if self.mathjax == "done" else None
        self.settle(timeout, quiet)

    def settle(self, timeout: float = 10.0, quiet: float = 0.3) -> None:
        """Wait until no request is in flight and nothing has happened for ``quiet`` seconds."""
        self.last_activity = time.monotonic()
        self._wait(lambda: not self.inflight and time.monotonic() - self.last_activity >= quiet,
                   timeout, "the network to go quiet")

    def evaluate(self, expression: str, timeout: float = 30.0) -> Any:
        """The value of a JavaScript expression in the page (promises are awaited)."""
        result = self.send("Runtime.evaluate", {"expression": expression, "awaitPromise": True,
                                                "returnByValue": True}, timeout=timeout)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise JavaScriptError(details.get("exception", {}).get("description") or details.get("text"))
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 10.0) -> Any:
        """Evaluate ``expression`` until it is truthy, and return that value."""
        deadline = time.monotonic() + timeout
        while not (value := self.evaluate(expression, timeout=max(deadline - time.monotonic(), 1.0))):
            if time.monotonic() > deadline:
                raise DevToolsError(f"timed out after {timeout} s waiting for: {expression}")
            self.connection.pump(0.05)
        return value

    def set_range(self, selector: str, value: float) -> float:
        """Move the ``<input type=range>`` matching ``selector`` to ``value`` as a reader would:
        the value is set, then ``input`` and ``change`` events are dispatched. Returns the
        value the slider took (browsers snap it to the slider's step and bounds)."""
        return self.evaluate(f"""(() => {{
            const el = document.querySelector({json.dumps(selector)});
            if (!el) throw new Error("no element matches " + {json.dumps(selector)});
            if (el.type !== "range") throw new Error({json.dumps(selector)} + " is not a range input");
            const setter = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, "value").set;
            setter.call(el, String({json.dumps(value)}));
            el.dispatchEvent(new Event("input", {{bubbles: true}}));
            el.dispatchEvent(new Event("change", {{bubbles: true}}));
            return Number(el.value);
        }})()""")

    def click(self, selector: str) -> None:
        """Click the element matching ``selector``."""
        self.evaluate(f"""(() => {{
            const el = document.querySelector({json.dumps(selector)});
            if (!el) throw new Error("no element matches " + {json.dumps(selector)});
            el.click();
        }})()""")

    def screenshot(self, path: str | Path, full_page: bool = False) -> Path:
        """Save a PNG of the viewport, or of the whole page (the viewport stretched to its height)."""
        if full_page:
            metrics = self.send("Page.getLayoutMetrics")
            self.send("Emulation.setDeviceMetricsOverride", {
                "width": metrics["cssLayoutViewport"]["clientWidth"],
                "height": int(metrics["cssContentSize"]["height"]) + 1,
                "deviceScaleFactor": 1, "mobile": False})
        try:
            data = self.send("Page.captureScreenshot", {"format": "png"})["data"]
        finally:
            if full_page:
                self.send("Emulation.clearDeviceMetricsOverride")
        path = Path(path)
        path.write_bytes(base64.b64decode(data))
        return path

    # ---- checks ----------------------------------------------------------------------------

    def offsite_requests(self, host: str) -> list[str]:
        """URLs this page requested from anywhere other than ``host`` (e.g. ``127.0.0.1``)."""
        offsite = []
        for request in self.requests.values():
            parts = urlsplit(request.url)
            if parts.scheme in ("data", "blob", "about"):
                continue
            if parts.scheme not in ("http", "https", "ws", "wss") or parts.hostname != host:
                offsite.append(request.url)
        return offsite

    def failed_requests(self) -> list[str]:
        """Requests that failed or were answered with an HTTP error."""
        return [f"{r.url}: {r.error or f'HTTP {r.status}'}" for r in self.requests.values()
                if r.error or (r.status is not None and r.status >= 400)]

    def math_errors(self) -> list[str]:
        """TeX errors in what MathJax typeset."""
        return self.evaluate(_MATH_ERRORS) or []

    def problems(self, host: str = "127.0.0.1") -> list[str]:
        """Everything that went wrong since the last ``goto``: off-site or failed requests,
        console errors, uncaught exceptions and MathJax errors. Empty for a healthy page."""
        return ([f"request to another host: {url}" for url in self.offsite_requests(host)]
                + (["MathJax did not finish typesetting"] if self.mathjax == "timeout" else [])
                + [f"failed request: {failure}" for failure in self.failed_requests()]
                + self.console_errors + [f"uncaught exception: {e}" for e in self.exceptions]
                + self.math_errors())

    def close(self) -> None:
        self.connection.listeners.pop(self.session, None)
        try:
            self.connection.send("Target.closeTarget", {"targetId": self.target}, timeout=5)
        except DevToolsError:
            pass
