"""Safe checkpoint loading and the finite-loss guard every task shares.

Checkpoints are read with ``torch.load(weights_only=True)`` only: a ``.ckpt`` from elsewhere is
a pickle, and unpickling it with ``weights_only=False`` runs whatever code its ``__reduce__``
names. Lightning passes ``weights_only=None`` through ``load_from_checkpoint`` and the resume
path (``Trainer.fit(ckpt_path=...)``), which ``torch.load`` turns into ``False`` when the
environment sets ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` and Lightning itself into ``False`` for
``http(s)://`` paths; :class:`WeightsOnlyCheckpointIO` and
:meth:`~lightning_deepvision.tasks.BaseTask.load_from_checkpoint` pass ``True`` explicitly, which
neither overrides.

A non-finite loss is stopped before its backward pass (:func:`check_finite_loss`), so the
weights, and the last checkpoint, stay those of the last good step.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import pickle
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import PurePath
from typing import Any, TypeVar

import numpy as np
import torch
from lightning.fabric.plugins import CheckpointIO
from lightning.fabric.utilities.types import _PATH
from lightning.pytorch import LightningModule, Trainer

T = TypeVar("T")


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint holds objects that ``torch.load(weights_only=True)`` refuses to build.

    Args:
        path: The checkpoint file.
        reason: The unpickler's own message (which type or call it refused).
    """

    def __init__(self, path: object, reason: str) -> None:
        self.path = path
        super().__init__(
            f"{path}: refused to load: the checkpoint needs more than tensors and plain Python "
            "values (it was loaded with torch.load(weights_only=True), so nothing in it ran). "
            "Checkpoints written by this library always load this way; a file that does not was "
            f"written elsewhere or tampered with. Unpickler said: {_refused_what(reason)}"
        )


def _refused_what(reason: str) -> str:
    """The line of ``torch.load``'s message that names what it refused (e.g. a global)."""
    lines = [line.strip() for line in reason.splitlines() if line.strip()]
    named = [line for line in lines if "Unsupported" in line or "WeightsUnpickler" in line]
    return (named or lines or ["(no message)"])[0]


def _refuse_unsafe(weights_only: bool | None) -> None:
    if weights_only is False:
        raise ValueError(
            "weights_only=False is not accepted: checkpoints are loaded with "
            "torch.load(weights_only=True) only, so that a checkpoint cannot run code"
        )


@contextmanager
def _named_refusal(path: object) -> Iterator[None]:
    """Turn the unpickler's refusal into :class:`UnsafeCheckpointError` naming ``path``."""
    try:
        yield
    except UnsafeCheckpointError:
        raise
    except pickle.UnpicklingError as error:
        raise UnsafeCheckpointError(path, str(error)) from error


def load_weights_only(load: Callable[..., T], path: object, **kwargs: Any) -> T:
    """Call a loader (``torch.load``-like) with ``weights_only=True``, naming ``path`` on refusal.

    Raises:
        ValueError: If ``kwargs`` asks for ``weights_only=False``.
        UnsafeCheckpointError: If the file needs arbitrary unpickling.
    """
    _refuse_unsafe(kwargs.pop("weights_only", None))
    with _named_refusal(path):
        return load(path, weights_only=True, **kwargs)


class WeightsOnlyCheckpointIO(CheckpointIO):
    """Delegate to another ``CheckpointIO``, always loading with ``weights_only=True``.

    :meth:`~lightning_deepvision.tasks.BaseTask.setup` installs it on the trainer's strategy,
    which is how ``fit``/``validate``/``test``/``predict`` read ``ckpt_path``. Strategies that
    read checkpoints without their ``CheckpointIO`` (FSDP's sharded checkpoints) are not covered.

    Args:
        inner: The ``CheckpointIO`` that reads and writes the files.
    """

    def __init__(self, inner: CheckpointIO) -> None:
        self.inner = inner

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: _PATH, storage_options: Any | None = None
    ) -> None:
        """Write through the wrapped ``CheckpointIO``."""
        self.inner.save_checkpoint(checkpoint, path, storage_options)

    def load_checkpoint(
        self, path: _PATH, map_location: Any | None = None, weights_only: bool | None = None
    ) -> dict[str, Any]:
        """Read through the wrapped ``CheckpointIO`` with ``weights_only=True``.

        Raises:
            ValueError: If asked for ``weights_only=False``.
            UnsafeCheckpointError: If the file needs arbitrary unpickling.
        """
        _refuse_unsafe(weights_only)
        with _named_refusal(path):
            return self.inner.load_checkpoint(path, map_location=map_location, weights_only=True)

    def remove_checkpoint(self, path: _PATH) -> None:
        """Remove through the wrapped ``CheckpointIO``."""
        self.inner.remove_checkpoint(path)

    def teardown(self) -> None:
        """Tear down the wrapped ``CheckpointIO``."""
        self.inner.teardown()


def force_weights_only(trainer: Trainer | None) -> None:
    """Make ``trainer`` read every ``ckpt_path`` with ``weights_only=True`` (idempotent)."""
    if trainer is None:
        return
    strategy = trainer.strategy
    current = strategy.checkpoint_io
    if not isinstance(current, WeightsOnlyCheckpointIO):
        strategy.checkpoint_io = WeightsOnlyCheckpointIO(current)


def plain_values(value: Any) -> Any:
    """``value`` with the types ``torch.load(weights_only=True)`` refuses made plain.

    Paths become strings, enums their values, NumPy scalars and arrays Python numbers and
    lists, dataclasses and mappings (OmegaConf's included) dicts; tuples, lists and sets keep
    their kind (a set becomes a list). Anything else is returned as it is.
    """
    if isinstance(value, (str, bytes, bool, int, float, type(None), torch.Tensor)):
        return value
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, enum.Enum):
        return plain_values(value.value)
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return plain_values(dataclasses.asdict(value))
    if _is_omegaconf(value):
        from omegaconf import OmegaConf

        return plain_values(OmegaConf.to_container(value, resolve=True))
    if isinstance(value, Mapping):
        return {plain_values(k): plain_values(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return tuple(plain_values(v) for v in value)
    if isinstance(value, (list, set, frozenset)):
        return [plain_values(v) for v in value]
    return value


def _is_omegaconf(value: Any) -> bool:
    container = getattr(sys.modules.get("omegaconf"), "Container", None)
    return container is not None and isinstance(value, container)


def plain_checkpoint_hparams(checkpoint: dict[str, Any]) -> None:
    """Make a checkpoint's (and its data module's) hyperparameters plain, in place.

    Lightning stores ``hparams_type`` (a class) beside OmegaConf hyperparameters; it is dropped
    with the conversion to a dict, which is what loading rebuilds from otherwise.
    """
    for key in ("hyper_parameters", "datamodule_hyper_parameters"):
        if key in checkpoint:
            checkpoint[key] = plain_values(checkpoint[key])
    for key in ("hparams_type", "datamodule_hparams_type"):
        checkpoint.pop(key, None)


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite; raised before its backward pass."""


def _logged_step_values(module: LightningModule) -> dict[str, float]:
    """The plain tensors ``self.log`` recorded for this step, by name.

    Read from the active loop's result collection, where ``self.log(..., on_step=True)`` keeps
    the step's value: Lightning has no public view of the values logged in the current step
    before the step ends, and the guard must name the culprit before the backward pass.
    """
    trainer = module._trainer
    results = getattr(trainer, "_results", None) if trainer is not None else None
    values: dict[str, float] = {}
    if not isinstance(results, dict):
        return values
    for metric in results.values():
        if not getattr(metric, "is_tensor", False):
            continue  # a torchmetrics object (an accuracy), not a loss term
        cache = getattr(metric, "_forward_cache", None)
        name = getattr(getattr(metric, "meta", None), "name", None)
        if isinstance(name, str) and isinstance(cache, torch.Tensor) and cache.numel() == 1:
            values[name] = float(cache)
    return values


def check_finite_loss(module: LightningModule, loss: torch.Tensor) -> None:
    """Raise :class:`NonFiniteLossError` naming the step and the term when ``loss`` is not finite.

    Costs one device-to-host copy of a scalar per step (``torch.isfinite(loss).all()``), so a
    GPU waits for the step's forward pass once more: cheap next to training on NaN weights.

    Raises:
        NonFiniteLossError: Naming ``global_step``, the logged terms that are NaN/inf (e.g.
            ``train/identification = nan``) and the total.
    """
    if bool(torch.isfinite(loss.detach()).all()):
        return
    total = float(loss.detach().reshape(-1)[0]) if loss.numel() else math.nan
    logged = _logged_step_values(module)
    bad = [f"{name} = {value}" for name, value in logged.items() if not math.isfinite(value)]
    terms = [b for b in bad if not b.startswith("train/loss =")]
    named = ", ".join(terms or bad) or "no logged term is non-finite"
    raise NonFiniteLossError(
        f"{type(module).__name__}: non-finite training loss ({total}) at global step "
        f"{module.global_step} (epoch {module.current_epoch}): {named}. Training stopped before "
        "the backward pass, so the weights are those of the previous step. Lower the learning "
        "rate, check the inputs for NaN/inf, or use gradient clipping "
        "(--trainer.gradient_clip_val)."
    )
