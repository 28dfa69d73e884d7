"""Initialise a task from another task's checkpoint or a plain ``state_dict`` file.

"Train on A, freeze, classify B" (the feature-transfer experiments of AlexNet and DeepID) needs
a checkpoint of one task to start another whose heads differ. Lightning's
``load_from_checkpoint`` restores the same task only and ``load_state_dict(strict=False)``
still fails on a shape mismatch, so the matching is done here: every tensor whose name and
shape fit is copied, the rest is reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.utilities import rank_zero_info
from torch import Tensor, nn

__all__ = ["TransferReport", "load_matching_weights", "read_state_dict"]

# Names listed per category in the log line (the report itself keeps all of them).
_SHOWN = 20


@dataclass
class TransferReport:
    """What :func:`load_matching_weights` did.

    Attributes:
        loaded: Names (in the task) of the tensors copied from the file.
        mismatched: ``name: file shape -> task shape`` of tensors left out because their
            shapes differ (typically the heads of another task or class count).
        unused: Names in the file that the task has no tensor for.
        missing: Names in the task that the file does not provide (left as initialised).
    """

    loaded: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)
    unused: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One paragraph for the log."""
        lines = [f"{len(self.loaded)} tensors loaded"]
        for title, names in (
            ("left out (shape differs)", self.mismatched),
            ("kept as initialised (not in the file)", self.missing),
            ("unused from the file", self.unused),
        ):
            if names:
                shown = ", ".join(names[:_SHOWN])
                more = f" (+{len(names) - _SHOWN} more)" if len(names) > _SHOWN else ""
                lines.append(f"{title}: {shown}{more}")
        return "; ".join(lines)


def read_state_dict(path: str | Path) -> dict[str, Tensor]:
    """Read the tensors of a Lightning checkpoint or of a plain ``state_dict`` file.

    Loaded with ``torch.load(weights_only=True)``: a file that needs arbitrary unpickling is
    refused rather than executed.

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: If the file holds no mapping of names to tensors.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"init_from: no such file {path}")
    content: Any = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(content, dict) and isinstance(content.get("state_dict"), dict):
        content = content["state_dict"]
    # Modules' extra state (``*._extra_state``) is not a tensor and never transfers.
    tensors = (
        {k: v for k, v in content.items() if isinstance(k, str) and isinstance(v, Tensor)}
        if isinstance(content, dict)
        else {}
    )
    if not tensors:
        raise ValueError(
            f"init_from: {path} is neither a Lightning checkpoint nor a state_dict "
            "(a mapping of parameter names to tensors)"
        )
    return tensors


def load_matching_weights(task: nn.Module, path: str | Path) -> TransferReport:
    """Copy every tensor of ``path`` whose name and shape fit ``task``; report the rest.

    A checkpoint of any library task uses the same names (``backbone.*`` for the backbone,
    the task's heads beside it). A plain ``state_dict`` of a bare network (no ``backbone.``
    prefix anywhere) is matched against ``task.backbone``.

    Args:
        task: The module to initialise (a :class:`~lightning_deepvision.tasks.BaseTask`).
        path: The checkpoint or ``state_dict`` file.

    Returns:
        What was loaded, left out, unused and missing (also written to the log).

    Raises:
        ValueError: If nothing at all matches (almost always the wrong file).
    """
    source = read_state_dict(path)
    if not any(k.startswith("backbone.") for k in source) and hasattr(task, "backbone"):
        source = {f"backbone.{k}": v for k, v in source.items()}
    target = {k: v for k, v in task.state_dict().items() if isinstance(v, Tensor)}
    report = TransferReport()
    update: dict[str, Tensor] = {}
    for name, tensor in source.items():
        if name not in target:
            report.unused.append(name)
        elif target[name].shape != tensor.shape:
            report.mismatched.append(
                f"{name}: {tuple(tensor.shape)} -> {tuple(target[name].shape)}"
            )
        else:
            update[name] = tensor
            report.loaded.append(name)
    report.missing = [name for name in target if name not in source]
    if not update:
        raise ValueError(
            f"init_from: no tensor of {path} matches {type(task).__name__} by name and shape "
            f"(file has e.g. {sorted(source)[:3]}, the task e.g. {sorted(target)[:3]})"
        )
    task.load_state_dict(update, strict=False)
    rank_zero_info(f"init_from {path}: {report.summary()}")
    return report
