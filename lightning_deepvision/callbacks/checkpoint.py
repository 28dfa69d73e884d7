"""Checkpointing and early stopping that watch the metric the task declares.

Every task declares ``monitor`` (e.g. ``"val/accuracy"``) and ``mode`` (``"max"``). Lightning's
``ModelCheckpoint`` and ``EarlyStopping`` take them as constructor arguments only, so a recipe
would repeat them beside the task, and a recipe switched to another task would silently keep
watching the old metric. These subclasses read them from the task when the run starts, unless
given explicitly.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint

__all__ = ["TaskEarlyStopping", "TaskModelCheckpoint"]


def _task_monitor(pl_module: LightningModule, who: str) -> tuple[str, Literal["min", "max"]]:
    monitor = getattr(pl_module, "monitor", None)
    mode = getattr(pl_module, "mode", None)
    if not isinstance(monitor, str) or mode not in ("min", "max"):
        raise ValueError(
            f"{who} without monitor needs a task declaring `monitor` and `mode` (every "
            f"lightning_deepvision task does); {type(pl_module).__name__} does not: pass "
            "monitor= and mode= explicitly"
        )
    return monitor, mode


class TaskModelCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` whose ``monitor``/``mode`` default to the task's.

    Args:
        monitor: Metric to watch; ``None`` takes the task's ``monitor`` (and ``mode``).
        mode: ``"min"`` or ``"max"``; ``None`` takes the task's (or ``"min"`` for an explicit
            ``monitor``, as in Lightning).
        **kwargs: Any other ``ModelCheckpoint`` argument (``save_last``, ``filename``, ...).
    """

    def __init__(
        self,
        monitor: str | None = None,
        mode: Literal["min", "max"] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(monitor=monitor, mode=mode or "min", **kwargs)
        self._from_task = monitor is None
        self._mode_from_task = mode is None
        self._stage = "fit"

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        """Adopt the task's monitor before Lightning restores or uses the callback's state."""
        self._stage = str(getattr(stage, "value", stage))  # Lightning passes a TrainerFn
        if self._from_task or self._mode_from_task:
            monitor, mode = _task_monitor(pl_module, type(self).__name__)
            if self._from_task:
                self.monitor = monitor
            if self._mode_from_task and (self._from_task or self.monitor == monitor):
                # The initial best value depends on the direction (as ModelCheckpoint sets it).
                self.mode = mode
                self.kth_value = torch.tensor(torch.inf if mode == "min" else -torch.inf)
        super().setup(trainer, pl_module, stage)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the state to resume ``fit``; evaluating a checkpoint keeps its best path only.

        ``validate``/``test``/``predict --ckpt_path`` run in a directory of their own, where
        Lightning would warn on every run that the directory has changed and then restore only
        ``best_model_path``, which is what this does without the warning.
        """
        if self._stage != "fit":
            self.best_model_path = state_dict.get("best_model_path", self.best_model_path)
            return
        super().load_state_dict(state_dict)

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Save ``last.ckpt`` if due, except under ``fast_dev_run`` (which saves nothing).

        Lightning's ``on_train_end`` writes ``save_last`` checkpoints without the
        ``fast_dev_run`` check of every other save; with the logger replaced by a dummy, the
        file would land in ``<default_root_dir>/checkpoints`` (the current directory).
        """
        if getattr(trainer, "fast_dev_run", False):  # set by the Trainer, not declared
            return
        super().on_train_end(trainer, pl_module)


class TaskEarlyStopping(EarlyStopping):
    """``EarlyStopping`` whose ``monitor``/``mode`` default to the task's.

    Args:
        monitor: Metric to watch; ``None`` takes the task's ``monitor`` (and ``mode``).
        mode: ``"min"`` or ``"max"``; ``None`` takes the task's (or ``"min"`` for an explicit
            ``monitor``, as in Lightning).
        **kwargs: Any other ``EarlyStopping`` argument (``patience``, ``min_delta``, ...).
    """

    def __init__(
        self,
        monitor: str | None = None,
        mode: Literal["min", "max"] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(monitor=monitor or "", mode=mode or "min", **kwargs)
        self._from_task = monitor is None
        self._mode_from_task = mode is None
        # EarlyStopping signs min_delta by the mode at construction; keep the user's value.
        self._min_delta = abs(self.min_delta)

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        """Adopt the task's monitor before Lightning restores or uses the callback's state."""
        if self._from_task or self._mode_from_task:
            monitor, mode = _task_monitor(pl_module, type(self).__name__)
            if self._from_task:
                self.monitor = monitor
            if self._mode_from_task and (self._from_task or self.monitor == monitor):
                self.mode = mode
                self.min_delta = self._min_delta if mode == "max" else -self._min_delta
                self.best_score = torch.tensor(torch.inf if mode == "min" else -torch.inf)
        super().setup(trainer, pl_module, stage)
