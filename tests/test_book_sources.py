"""The book's sources agree with each other: every chapter is in the table of contents, and
every notebook starts with the same first cell, which installs the package on Colab from the
repository named (once) in _config.yml, and prints nothing."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
NOTEBOOKS = sorted(BOOK.glob("*.ipynb"))


def toc_files(node: object) -> list[str]:
    """Every ``file`` (and the ``root``) named anywhere in the table of contents."""
    if isinstance(node, list):
        return [name for item in node for name in toc_files(item)]
    if not isinstance(node, dict):
        return []
    names = [node[key] for key in ("root", "file") if key in node]
    return names + [name for key in ("parts", "chapters", "sections") for name in toc_files(node.get(key))]


def first_cell() -> str:
    """The first code cell every notebook must start with."""
    repository = CONFIG["repository"]
    return (
        "import sys\n"
        'if "google.colab" in sys.modules:  # on Colab, install the book\'s package first\n'
        f'    %pip install -q "adaptive_optim @ git+{repository["url"]}@{repository["branch"]}"\n'
        "from adaptive_optim import notebook\n"
        "device = notebook.setup()"
    )


def test_every_chapter_is_in_the_table_of_contents_and_every_entry_exists() -> None:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    listed = {name.removesuffix(".ipynb").removesuffix(".md") for name in toc_files(toc)}
    chapters = {path.relative_to(ROOT).with_suffix("").as_posix()
                for path in [*BOOK.glob("*.ipynb"), *BOOK.glob("*.md")]}
    assert chapters - listed == set(), "chapters missing from _toc.yml (they would not be built)"
    missing = {name for name in listed
               if not any((ROOT / f"{name}{suffix}").is_file() for suffix in (".ipynb", ".md"))}
    assert missing == set(), "_toc.yml names files that do not exist"


def test_the_book_is_built_from_the_committed_outputs() -> None:
    assert CONFIG["execute"]["execute_notebooks"] == "off"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_notebook_starts_with_the_colab_install_and_setup_cell(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert code, f"{path.name} has no code cell"
    assert code[0].source == first_cell(), f"{path.name}: the first code cell must be exactly:\n{first_cell()}"
    assert code[0].get("outputs", []) == [], f"{path.name}: the first code cell must print nothing"


def test_the_introduction_shows_the_first_cell_as_it_is() -> None:
    intro = (BOOK / "intro.md").read_text(encoding="utf-8")
    assert f"```python\n{first_cell()}\n```" in intro
