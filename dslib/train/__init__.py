"""dslib.train: the training loop (Trainer), its metrics history, evaluation metrics, checkpoints and recipes.

from dslib.train import Trainer, evaluate
history = Trainer(model, optimizer, train_loader=train, val_loader=val, device="torch").fit(epochs=5)
history.plot().savefig("curves.png")

python -m dslib.train.recipes resnet8-digits --device torch     # a complete recipe (see course/training.md)
"""

from .checkpoint import latest_checkpoint, list_checkpoints
from .history import History
from .metrics import EvalResult, accuracy, confusion_matrix, evaluate, per_class_recall
from .trainer import Trainer
