"""A quiet CPU ``Trainer`` for tests and measurements of your own tasks.

Tests of a task (``fast_dev_run`` of a subclass, a few training steps, an evaluation) and speed
measurements want the same trainer: on the CPU, one device, and nothing that writes files or
prints (no logger, no checkpoints, no progress bar, no model summary). Anything can be
overridden.
"""

from __future__ import annotations

from typing import Any

from lightning.pytorch import Trainer

__all__ = ["quiet_trainer"]


def quiet_trainer(**overrides: Any) -> Trainer:
    """Return a CPU ``Trainer`` that writes and prints nothing unless told to.

    Args:
        **overrides: ``Trainer`` arguments replacing the defaults (``accelerator="cpu"``,
            ``devices=1``, ``logger=False``, ``enable_checkpointing=False``,
            ``enable_progress_bar=False``, ``enable_model_summary=False``), e.g.
            ``fast_dev_run=True``, ``max_steps=10``, ``default_root_dir=tmp_path``.
    """
    options: dict[str, Any] = {
        "accelerator": "cpu",
        "devices": 1,
        "logger": False,
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
    }
    options.update(overrides)
    return Trainer(**options)
