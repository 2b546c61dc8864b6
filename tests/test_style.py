"""The book's figure style: one fixed colour per optimizer, rcParams applied on demand,
saved files that do not change from one run to the next; and the notebooks' first-cell setup."""

from __future__ import annotations

import contextlib
import io
import re
import subprocess
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from adaptive_optim import notebook, style  # noqa: E402

OPTIMIZERS = ["SGD", "Momentum", "Adagrad", "RMSprop", "Adam", "AdamW", "AMSGrad", "RAdam"]


def test_every_optimizer_has_its_own_colour() -> None:
    assert list(style.COLOURS) == OPTIMIZERS
    colours = [style.colour(name) for name in OPTIMIZERS]
    assert all(re.fullmatch(r"#[0-9a-f]{6}", c) for c in colours)
    assert len(set(colours)) == len(colours)


def test_colour_ignores_case_and_names_the_known_optimizers_when_it_fails() -> None:
    assert style.colour("adamw") == style.colour("AdamW") == style.COLOURS["AdamW"]
    with pytest.raises(KeyError, match="Adagrad, RMSprop"):
        style.colour("Adadelta")


def test_context_applies_the_style_and_restores_the_previous_settings() -> None:
    before = dict(matplotlib.rcParams)
    with style.context():
        assert tuple(matplotlib.rcParams["figure.figsize"]) == style.FIGSIZE
        assert matplotlib.rcParams["svg.hashsalt"] == style.RC["svg.hashsalt"]
    assert matplotlib.rcParams["figure.figsize"] == before["figure.figsize"]
    assert matplotlib.rcParams["svg.hashsalt"] == before["svg.hashsalt"]


def test_use_applies_the_style_for_the_session() -> None:
    with matplotlib.rc_context():
        style.use()
        assert tuple(matplotlib.rcParams["figure.figsize"]) == style.FIGSIZE
        assert matplotlib.rcParams["axes.prop_cycle"].by_key()["color"] == list(style.COLOURS.values())


def _figure_bytes(fmt: str) -> bytes:
    with style.context():
        fig, ax = plt.subplots()
        ax.plot([0, 1, 2], [2, 1, 0.5], color=style.colour("Adam"), label="Adam")
        ax.set(xlabel=r"step $t$", ylabel=r"$\theta_t$")
        ax.legend()
        buffer = io.BytesIO()
        fig.savefig(buffer, format=fmt, metadata=style._STABLE_METADATA[fmt])
        plt.close(fig)
    return buffer.getvalue()


@pytest.mark.parametrize("fmt", ["svg", "png", "pdf"])
def test_saved_figures_are_byte_for_byte_stable(fmt: str, tmp_path) -> None:
    with style.context():
        fig, ax = plt.subplots()
        ax.plot([0, 1], [1, 0], color=style.colour("RAdam"))
        first = style.save(fig, tmp_path / f"a.{fmt}").read_bytes()
        second = style.save(fig, tmp_path / f"b.{fmt}").read_bytes()
        plt.close(fig)
    assert first == second
    if fmt == "svg":
        assert b"<dc:date>" not in first


def test_svg_is_the_same_in_a_fresh_process() -> None:
    """Element ids come from the fixed salt, not from the process's random state."""
    code = (f"import sys, matplotlib; matplotlib.use('Agg'); sys.path.insert(0, {str(Path(__file__).parent)!r});"
            "import test_style; sys.stdout.buffer.write(test_style._figure_bytes('svg'))")
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True).stdout
    assert other == _figure_bytes("svg")


def test_notebook_setup_prints_nothing_and_picks_the_device() -> None:
    output = io.StringIO()
    with matplotlib.rc_context(), contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
        device = notebook.setup()
        assert tuple(matplotlib.rcParams["figure.figsize"]) == style.FIGSIZE
    assert output.getvalue() == ""
    assert device == torch.device("cuda" if torch.cuda.is_available() else "cpu")


def test_notebook_setup_seeds_the_random_generators() -> None:
    notebook.setup(seed_value=3)
    first = torch.rand(3)
    notebook.setup(seed_value=3)
    assert torch.equal(first, torch.rand(3))
