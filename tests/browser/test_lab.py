"""A chapter in a real JupyterLab, started from ``make lab``'s environment, driven by headless Chromium.

JupyterLab (the ``jupyter`` of ``.venv``, as ``make lab`` runs it) serves a copy of the book on
127.0.0.1 at a free port, with a random token and no browser of its own. Chromium opens a chapter,
runs all its cells, and then moves an explorer's slider with the keyboard as a reader would: the
cells must all run without error, the explorer's live widget must appear, and its figure must
change. The server is shut down (and killed if it will not stop) whatever happens.

The chapter is ``$LAB_CHAPTER`` (default: the Adagrad chapter, one of the quickest to run).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from chromium import Browser, DevToolsError, Page
from conftest import ROOT

CHAPTER = os.environ.get("LAB_CHAPTER", "book/adagrad.ipynb")
#: Seconds allowed for: the server to answer, JupyterLab's page to show the notebook, all cells to run.
START, OPEN, RUN = 60, 90, 300

#: The open notebook's state, read from JupyterLab's application object (exposed for tests by
#: ``--LabApp.expose_app_in_browser``): the kernel's status, each code cell's execution count,
#: and the error outputs.
NOTEBOOK_STATE = """(() => {
  const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  if (!panel || !panel.content || !panel.sessionContext || !panel.context.isReady) return null;
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  const cells = Array.from(panel.content.model.cells).filter(cell => cell.type === "code");
  const errors = [];
  cells.forEach((cell, i) => {
    for (let j = 0; j < cell.outputs.length; j++) {
      const output = cell.outputs.get(j).toJSON();
      if (output.output_type === "error") errors.push(`code cell ${i + 1}: ${output.ename}: ${output.evalue}`);
    }
  });
  return {kernel: kernel ? kernel.status : "none", counts: cells.map(cell => cell.executionCount),
          errors: errors};
})()"""

#: The figure of the first live explorer: what its output area draws (SVG or images), as text.
FIGURE = """(() => {
  const slider = document.querySelector(".jp-Notebook .jp-OutputArea .widget-slider");
  if (!slider) return null;
  const area = slider.closest(".jp-OutputArea");
  const drawn = Array.from(area.querySelectorAll("svg, img, canvas"))
      .map(el => el.tagName === "IMG" ? el.src : el.tagName === "CANVAS" ? el.toDataURL() : el.outerHTML);
  return drawn.length ? drawn.join("\\n") : null;
})()"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_server(url: str, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"JupyterLab did not answer at {url} within {timeout} s")


@pytest.fixture(scope="module")
def lab() -> Iterator[str]:
    """JupyterLab serving a copy of the chapters; yields the URL of the chapter, token included."""
    jupyter = Path(sys.executable).with_name("jupyter")
    if not jupyter.is_file():
        pytest.fail(f"{jupyter} not found: run `make .venv/.installed` (make lab's environment)")
    workdir = Path(tempfile.mkdtemp(prefix="lab-test-"))
    # A copy, so that JupyterLab's autosave and checkpoints never touch the committed notebooks.
    shutil.copytree(ROOT / "book", workdir / "book", ignore=shutil.ignore_patterns("_build", ".ipynb_checkpoints"))
    port, token = free_port(), secrets.token_hex(16)
    # Settings and kernels of the machine's user stay out of it: only .venv's kernel and extensions.
    env = {**os.environ, "JUPYTER_DATA_DIR": str(workdir / "data"), "JUPYTER_CONFIG_DIR": str(workdir / "config"), "JUPYTER_RUNTIME_DIR": str(workdir / "runtime"),
           "JUPYTERLAB_SETTINGS_DIR": str(workdir / "settings"), "JUPYTERLAB_WORKSPACES_DIR": str(workdir / "workspaces")}
    log = open(workdir / "lab.log", "wb")
    process = subprocess.Popen(
        [str(jupyter), "lab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
         "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={workdir}",
         "--LabApp.expose_app_in_browser=True", "--LabApp.extension_manager=readonly",
         *(["--allow-root"] if os.geteuid() == 0 else [])],  # CI runs as root
        cwd=workdir, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
    log.close()
    try:
        wait_for_server(f"http://127.0.0.1:{port}/api/status?token={token}", process, START)
        yield f"http://127.0.0.1:{port}/lab/tree/{CHAPTER}?token={token}&reset"
    except (RuntimeError, TimeoutError) as error:
        pytest.fail(f"{error}\n{(workdir / 'lab.log').read_text(errors='replace')[-3000:]}")
    finally:
        stop(process)
        shutil.rmtree(workdir, ignore_errors=True)


def stop(process: subprocess.Popen) -> None:
    """Stop the server and the kernels it started (its process group): politely, then for sure."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return  # nothing of the group is left
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(process.pid, signal.SIGKILL)  # whatever is left: a hung server, an orphaned kernel
    except ProcessLookupError:
        pass
    process.wait()


def press(page: Page, key: str, code: int) -> None:
    """One key press, as the keyboard sends it, to the focused element."""
    for kind in ("rawKeyDown", "keyUp"):
        page.send("Input.dispatchKeyEvent", {"type": kind, "key": key, "code": key,
                                             "windowsVirtualKeyCode": code, "nativeVirtualKeyCode": code})


def test_a_chapter_runs_in_jupyterlab_and_its_explorer_responds(lab: str, browser: Browser) -> None:
    page = browser.new_page()
    try:
        page.send("Emulation.setDeviceMetricsOverride", {"width": 1400, "height": 1000,
                                                         "deviceScaleFactor": 1, "mobile": False})
        page.goto(lab, timeout=OPEN)
        page.wait_for(f"(() => {{ const s = {NOTEBOOK_STATE}; return s && s.kernel === 'idle'; }})()", timeout=OPEN)
        # The committed notebook has outputs and execution counts: clear them, so that what is
        # there afterwards was made here. run-all-cells resolves once every cell has run.
        page.evaluate("window.jupyterapp.commands.execute('notebook:clear-all-cell-outputs')")
        state = page.evaluate(NOTEBOOK_STATE)
        assert state["counts"] and not any(state["counts"]), state
        page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells').then(() => true)", timeout=RUN)
        state = page.wait_for(f"(() => {{ const s = {NOTEBOOK_STATE}; return s.kernel === 'idle' && s; }})()",
                              timeout=30)
        assert all(state["counts"]) or state["errors"], f"cells did not run: {state}"
        assert not state["errors"], "cells failed in JupyterLab:\n" + "\n".join(state["errors"])
        before = page.wait_for(FIGURE, timeout=30)
        # Focus the first explorer slider's handle and step it with the arrow keys.
        page.evaluate("""(() => {
            const handle = document.querySelector(".jp-Notebook .jp-OutputArea .widget-slider .noUi-handle")
                        || document.querySelector(".jp-Notebook .jp-OutputArea .widget-slider input");
            handle.scrollIntoView(); handle.focus();
            if (document.activeElement !== handle) throw new Error("the slider could not take the focus");
        })()""")
        press(page, "ArrowRight", 39)
        try:
            after = page.wait_for(f"(() => {{ const now = {FIGURE}; return now && now !== {json.dumps(before)} && now; }})()",
                                  timeout=30)
        except DevToolsError:
            press(page, "ArrowLeft", 37)  # the slider may have started at its right end
            press(page, "ArrowLeft", 37)
            after = page.wait_for(f"(() => {{ const now = {FIGURE}; return now && now !== {json.dumps(before)} && now; }})()",
                                  timeout=30)
        assert after != before
    finally:
        page.close()
