"""adaptive_optim: adaptive optimizers (Adagrad, RMSprop, Adam, RAdam and what came after) written
once, for NumPy and PyTorch.

The library a practitioner imports (NumPy and torch only; scikit-learn for the digits):

- :mod:`adaptive_optim.rules`: the update rules, pure functions of arrays.
- :mod:`adaptive_optim.optim`: drop-in ``torch.optim`` optimizers built on those rules.
- :mod:`adaptive_optim.sweeps`: many trainings of one network as one batched computation.
- :mod:`adaptive_optim.datasets`: real data that ships with Python or scikit-learn (no download).
- :mod:`adaptive_optim.models`: the networks more than one chapter trains on that data.

The book's helpers (matplotlib, ipywidgets): :mod:`~adaptive_optim.landscapes` (2-D test functions
with analytic gradients), :mod:`~adaptive_optim.trajectories` (many runs of a rule on a landscape at
once), explorers, gallery, plots, style, notebook and experiments.

``optim`` is imported lazily so that the NumPy side works without torch.
"""

from . import rules

__version__ = "0.1.0"
__all__ = ["rules", "__version__"]
