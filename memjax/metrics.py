"""The names of the per-epoch metrics every run returns (a leaf: the engine fills them, reports read them).

Each is an (E, N) array per run (epoch, network): mean training loss on the kept samples, label precision
and share of the kept samples, validation accuracy (labels as the run has them: noisy unless
``clean_val``) and loss, test accuracy (clean; left out of search runs), and validation accuracy against
the clean validation labels (for measuring the reward, never used by it); and, in runs that read their
label issues at the best fit (``issues_at="best_fit"``), accuracy on the given (noisy) training labels of
≤ 8,192 evenly spread training samples, evaluation mode (:mod:`memjax.engine.run`). ``test_acc`` and
``train_acc`` are left out of runs that do not need them.
"""

METRICS = (
    "train_loss", "label_precision", "kept_fraction", "val_acc", "val_loss", "test_acc", "val_clean_acc", "train_acc"
)  # fmt: skip
