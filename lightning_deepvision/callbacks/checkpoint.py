"""Checkpointing and early stopping that watch the metric the task declares; mid-epoch resume.

Every task declares ``monitor`` (e.g. ``"val/accuracy"``) and ``mode`` (``"max"``). Lightning's
``ModelCheckpoint`` and ``EarlyStopping`` take them as constructor arguments only, so a recipe
would repeat them beside the task, and a recipe switched to another task would silently keep
watching the old metric. These subclasses read them from the task when the run starts, unless
given explicitly. :class:`ResumeCheckpoint` writes ``last.ckpt`` every few training steps, with
the random state, so that a killed run resumes mid-epoch (``fit --ckpt_path last``).
"""

from __future__ import annotations

import os
import random
import re
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
import torch
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint

__all__ = ["ResumeCheckpoint", "TaskEarlyStopping", "TaskModelCheckpoint"]


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


def random_state() -> dict[str, Any]:
    """The global random generators' state (torch, CUDA, NumPy, Python) in plain types.

    Tensors, lists and numbers only, so that a checkpoint holding it still loads with
    ``torch.load(weights_only=True)`` (NumPy's state is an array, which that refuses).
    """
    numpy_state = cast(tuple[str, np.ndarray, int, int, float], np.random.get_state(legacy=True))
    name, keys, pos, has_gauss, gauss = numpy_state
    version, internal, gauss_next = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": [str(name), torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss],
        "python": [version, list(internal), gauss_next],
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_random_state(state: dict[str, Any]) -> None:
    """Restore what :func:`random_state` returned."""
    torch.set_rng_state(state["torch"])
    name, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class ResumeCheckpoint(TaskModelCheckpoint):
    """``last.ckpt`` every ``every_n_train_steps`` steps, mid-epoch, to resume a killed run.

    Lightning's ``ModelCheckpoint(every_n_train_steps=n, save_last=True)`` with no top-k
    files: one ``last-step.ckpt`` (beside a model-selection callback's ``last.ckpt``, which it
    would otherwise overwrite), overwritten, holding the loops' progress, the training loader's
    position (:class:`~lightning_deepvision.datasets.samplers.ResumableDataLoader`) and, in
    this callback's state, the global random generators. ``fit --ckpt_path last`` takes the
    newest ``last*.ckpt`` of every checkpoint callback's directory and continues where it
    stopped: under ``Trainer(deterministic=True)`` with loader workers off
    (``num_workers=0``), the final weights and metrics equal an uninterrupted run's (with
    workers, the order of the batches is the same but the workers' random augmentations
    restart from new seeds). Lightning keeps no random state in checkpoints; it is restored
    here when training starts, after the sanity check, so that dropout and augmentation draw
    what they would have drawn.

    ``fit --ckpt_path last`` takes the newest ``last*.ckpt`` of the checkpoint directories; for
    the CLI's run directories (``lightning_logs/<run>/version_<N>/checkpoints``, a new version
    per run) this callback also looks in every other version of the run, so a recipe resumes
    its latest run. Or pass the file itself (``--ckpt_path <run dir>/checkpoints/last-step.ckpt``).

    Args:
        every_n_train_steps: Save every this many optimiser steps.
        dirpath: Where ``last-step.ckpt`` goes (``None``: the run's ``checkpoints`` directory).
        save_top_k: Top-k files besides ``last-step.ckpt`` (none: a resume point only).
        save_last: Write ``last-step.ckpt`` (``"link"``: as a link where possible).
        enable_version_counter: Number new files instead of overwriting ``last-step.ckpt``.
        **kwargs: Any other ``ModelCheckpoint`` argument.
    """

    #: Lightning's ``ckpt_path="last"`` takes the newest ``last*.ckpt`` of every callback.
    CHECKPOINT_NAME_LAST = "last-step"

    def __init__(
        self,
        every_n_train_steps: int = 100,
        dirpath: str | None = None,
        save_top_k: int = 0,
        save_last: bool | Literal["link"] = True,
        enable_version_counter: bool = False,
        **kwargs: Any,
    ) -> None:
        # The defaults are declared (not set in kwargs) so that the CLI, which passes every
        # ModelCheckpoint argument explicitly, keeps them.
        if every_n_train_steps < 1:
            raise ValueError(f"every_n_train_steps must be >= 1, got {every_n_train_steps}")
        super().__init__(
            every_n_train_steps=every_n_train_steps,
            dirpath=dirpath,
            save_top_k=save_top_k,
            save_last=save_last,
            enable_version_counter=enable_version_counter,
            **kwargs,
        )
        # A resume point, not a model selection: it watches no metric.
        self._from_task = self._mode_from_task = False
        self._random_state: dict[str, Any] | None = None

    def _find_last_checkpoints(self, trainer: Trainer) -> set[str]:
        """``last-step*`` files here and in the run's other ``version_<N>/checkpoints``.

        The CLI gives each run a new version directory, where a resumed run would find no
        checkpoint; the killed run's is in a sibling. Lightning's ``ckpt_path="last"`` takes
        the newest of the files found.
        """
        found = super()._find_last_checkpoints(trainer)
        directory = Path(self.dirpath) if self.dirpath else None
        if directory is not None and directory.name == "checkpoints":
            run = directory.parent
            if re.fullmatch(r"version_\d+", run.name):
                pattern = f"version_*/checkpoints/{self.CHECKPOINT_NAME_LAST}*{self.FILE_EXTENSION}"
                found |= {os.path.normpath(p) for p in run.parent.glob(pattern)}
        return found

    def state_dict(self) -> dict[str, Any]:
        """Lightning's checkpoint state and the random generators' state."""
        return {**super().state_dict(), "random_state": random_state()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the state; the random state is set when training starts."""
        super().load_state_dict(state_dict)
        if self._stage == "fit":
            self._random_state = state_dict.get("random_state")

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Restore the training loader's position and the random state resumed from (once)."""
        # Lightning (2.6) restores a loader's state only when it builds the loader after the
        # loops' state; a task whose schedule reads trainer.estimated_stepping_batches has it
        # built earlier, and the state would be dropped. Loading it again is harmless (the
        # loader has not started its epoch yet, and Lightning forgets the state once loaded).
        load_loader_states = getattr(trainer.fit_loop, "_load_combined_loader_states", None)
        if callable(load_loader_states):
            load_loader_states()
        if self._random_state is not None:
            set_random_state(self._random_state)
            self._random_state = None
        super().on_train_start(trainer, pl_module)


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
