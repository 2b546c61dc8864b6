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

OPTIMIZERS = ["SGD", "Momentum", "Adagrad", "RMSprop", "Adam", "AdamW", "AMSGrad", "RAdam", "NAdam", "Adamax", "Muon",
              "LAMB", "Lion"]


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


def _ink(text: str) -> tuple[int, int]:
    """Height and width, in pixels, of what ``text`` draws (20 pt at 200 dpi), in the book's style."""
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with style.context():
        fig = Figure(figsize=(2, 1), dpi=200)
        FigureCanvasAgg(fig)
        fig.text(0.1, 0.3, text, fontsize=20)
        fig.canvas.draw()
        ink = np.asarray(fig.canvas.buffer_rgba())[..., 0] < 128
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    return int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)


@pytest.mark.parametrize("plain, math", [("x", "$x$"), ("θ", r"$\theta$"), ("η", r"$\eta$"), ("β", r"$\beta$")])
def test_math_in_labels_is_as_large_as_the_text(plain: str, math: str) -> None:
    """Same glyph height within 1 px in 30-55 (antialiasing can add or drop a row at each edge;
    a 5% allowance covers 2 px). STIX math fails this: its x is 25 px high against 31."""
    assert _ink(math)[0] >= 0.95 * _ink(plain)[0]


def test_figures_are_made_for_the_column() -> None:
    assert style.figsize(1, 2)[0] == style.figsize(1, 3)[0] == style.COLUMN_PX / style.DPI
    assert style.figsize()[0] == style.FIGSIZE[0] and abs(style.figsize()[1] - style.FIGSIZE[1]) < 0.2
    assert style.figsize(3, 1)[1] > 2 * style.figsize(1, 1)[1]  # stacked panels keep their size
    with pytest.raises(ValueError, match="wider than the page's column"):
        style.figsize(1, 3, width=13)
    with style.context():
        fig, axes = style.subplots(1, 3)
        assert tuple(fig.get_size_inches()) == style.figsize(1, 3) and len(axes) == 3
        plt.close(fig)


def test_variants_of_one_optimizer_differ_in_dash_marker_and_shade() -> None:
    lines = style.variants("Adam", 4)
    assert lines[0]["color"] == style.colour("Adam")
    for key in ("color", "linestyle", "marker"):
        assert len({str(line[key]) for line in lines}) == 4, key
    with pytest.raises(ValueError, match="between 1 and"):
        style.variants("Adam", 0)


def test_saved_pngs_are_twice_their_css_size(tmp_path) -> None:
    from PIL import Image

    with style.context():
        fig, _ = plt.subplots()
        path = style.save(fig, tmp_path / "a.png")
        plt.close(fig)
    assert Image.open(path).size == (style.FIGSIZE[0] * style.DPI * 2, style.FIGSIZE[1] * style.DPI * 2)


def test_notebook_figures_are_2x_pngs_marked_with_their_css_width() -> None:
    """What setup() registers with IPython: a figure formats as a PNG of 2 × 640 pixels whose
    metadata says 640 (CSS pixels); only the width, so a narrow page keeps the proportions."""
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    with matplotlib.rc_context():
        assert notebook.sharp_figures()
        with style.context():
            fig, _ = plt.subplots()
            data, metadata = shell.display_formatter.format(fig)
            plt.close(fig)
    import base64

    png = base64.b64decode(data["image/png"])
    assert int.from_bytes(png[16:20], "big") == 2 * 640
    assert metadata["image/png"] == {"width": 640}


def test_show_puts_the_alt_text_in_the_outputs_metadata() -> None:
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    shown = []
    original = shell.display_pub.publish
    shell.display_pub.publish = lambda data, metadata=None, **kw: shown.append((data, metadata))
    try:
        with style.context():
            fig, _ = plt.subplots()
            with pytest.raises(ValueError, match="alt must say"):
                notebook.show(fig, alt=" ")
            notebook.show(fig, alt="An empty panel.")
    finally:
        shell.display_pub.publish = original
    (data, metadata), = shown
    assert metadata["image/png"] == {"width": 640, "alt": "An empty panel."} and "image/png" in data
    assert not plt.fignum_exists(fig.number)


def test_the_books_image_renderer_takes_alt_from_the_outputs_metadata() -> None:
    """book/_ext/figure_alt.py: myst-nb's image node gets the output's alt (myst-nb alone would
    leave the file name as alt text)."""
    import importlib.util

    from docutils import nodes
    from myst_nb.core.render import MimeData

    path = Path(__file__).resolve().parents[1] / "book" / "_ext" / "figure_alt.py"
    spec = importlib.util.spec_from_file_location("figure_alt", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    render = module._with_alt(lambda self, data: [nodes.image(uri="a.png")])
    data = MimeData("image/png", b"", output_metadata={"image/png": {"width": 640, "alt": "A falling loss."}})
    assert render(None, data)[0]["alt"] == "A falling loss."
    assert "alt" not in render(None, MimeData("image/png", b""))[0]


def test_panels_lays_three_panels_two_above_one_centred() -> None:
    with style.context():
        fig, axes = style.panels(3)
        boxes = [ax.get_position() for ax in axes]
        plt.close(fig)
    assert tuple(fig.get_size_inches()) == style.figsize(2, 2)
    assert boxes[0].y0 == boxes[1].y0 > boxes[2].y1                      # two above, one below
    assert abs((boxes[2].x0 + boxes[2].x1) / 2 - 0.5) < 0.05              # the last one centred
    assert abs(boxes[2].width - boxes[0].width) < 0.05                     # as wide as the others
