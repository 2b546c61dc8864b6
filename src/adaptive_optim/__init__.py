"""adaptive_optim: Adagrad, RMSprop, Adam and RAdam written once, for NumPy and PyTorch.

- :mod:`adaptive_optim.rules`: the update rules, pure functions of arrays.
- :mod:`adaptive_optim.optim`: drop-in ``torch.optim`` optimizers built on those rules.
- :mod:`adaptive_optim.landscapes`: 2-D test functions with analytic gradients.
- :mod:`adaptive_optim.trajectories`: many runs of a rule on a landscape at once.

``optim`` is imported lazily so that the NumPy side works without torch.
"""

from . import rules

__version__ = "0.1.0"
__all__ = ["rules", "__version__"]
