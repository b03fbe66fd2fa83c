"""The Lightning callback that reports a trial's metric after each validation epoch, and prunes it.

``report(epoch, value, last)`` is the backend's: Optuna's ``trial.report`` + ``trial.should_prune()``,
or Ray Tune's ``tune.report`` (whose scheduler stops the trial from outside). When ``report`` answers
that the trial should be pruned, training stops at the end of this epoch and the run is still evaluated
and written, so a pruned trial is a complete run directory that trained fewer epochs. The last epoch is
never pruned (nothing would be saved).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lightning.pytorch.callbacks import Callback

__all__ = ["PruningCallback"]


class PruningCallback(Callback):
    """Report ``metric`` after each validation epoch; stop training when ``report`` returns ``True``."""

    def __init__(self, metric: str, report: Callable[[int, float, bool], bool]) -> None:
        self.metric = metric
        self.report = report
        self.pruned_epoch: int | None = None
        self.reported: list[float] = []

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        """Report this epoch's value; ask the backend whether to stop."""
        if trainer.sanity_checking or self.pruned_epoch is not None:
            return
        value = trainer.callback_metrics.get(self.metric)
        if value is None:
            return
        epoch = int(trainer.current_epoch)
        last = trainer.max_epochs is not None and trainer.max_epochs >= 0 and epoch + 1 >= trainer.max_epochs
        number = float(value.item() if hasattr(value, "item") else value)
        self.reported.append(number)
        if self.report(epoch, number, last) and not last:
            self.pruned_epoch = epoch
            trainer.should_stop = True
