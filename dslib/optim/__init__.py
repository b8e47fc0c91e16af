"""dslib.optim: optimizers (SGD, Adam, AdamW) and learning-rate schedules, as torch.optim."""

from . import lr_scheduler
from .adam import Adam
from .adamw import AdamW
from .optimizer import Optimizer
from .sgd import SGD
