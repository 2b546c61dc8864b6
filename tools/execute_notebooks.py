"""Re-execute chapter notebooks in place, as they are committed: outputs kept, volatile metadata
(execution timestamps, saved widget state) removed, so that a re-run changes nothing but real results.
The numbers in the prose (``<span class="glued" data-glue=NAME>``) are then rewritten from the
values the code glued, and each change is printed, so the text always says what the code computed.

    .venv/bin/python tools/execute_notebooks.py book/adam.ipynb ...   (default: every book/*.ipynb)
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "book" / "_ext"))
import glued_prose  # noqa: E402  (the book's build checks the same spans)


def execute(path: Path) -> float:
    notebook = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(notebook, timeout=300, kernel_name="python3", store_widget_state=False,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    seconds = time.perf_counter() - start
    notebook.metadata.pop("widgets", None)
    for cell in notebook.cells:
        cell.metadata.pop("execution", None)
    for change in glued_prose.sync(notebook):
        print(f"{path}: prose updated, {change}", flush=True)
    nbformat.write(notebook, path)
    return seconds


def main(paths: list[str]) -> None:
    for path in map(Path, paths or sorted(Path("book").glob("*.ipynb"))):
        print(f"{path}: {execute(path):.1f} s", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
