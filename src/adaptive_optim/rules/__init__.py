"""Update rules, each written once for NumPy arrays and torch tensors.

Every rule maps ``(param, grad, state) -> (new_param, new_state)``; see :mod:`.base`.
"""

from .adafactor import Adafactor
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .adamax import Adamax
from .base import Rule, State
from .lamb import Lamb
from .lion import Lion
from .muon import Muon
from .nadam import NAdam
from .quantized import Blockwise8bit
from .radam import RAdam
from .rmsprop import RMSprop
from .schedule_free import AdamWScheduleFree
from .sgd import SGD

__all__ = ["Rule", "State", "SGD", "Adagrad", "RMSprop", "Adam", "AdamW", "RAdam", "NAdam", "Adamax", "Muon",
           "Lamb", "Lion", "AdamWScheduleFree",
           "Adafactor", "Blockwise8bit"]

#: The rules by name, in the order the book introduces them.
RULES = {cls.__name__: cls for cls in (SGD, Adagrad, RMSprop, Adam, AdamW, RAdam, NAdam, Adamax, Muon, Lamb,
                                       Lion, AdamWScheduleFree)}
