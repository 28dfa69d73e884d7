"""The report a command-line run prints when it ends: its result and the files it wrote.

The entry point is :mod:`lightning_deepvision.cli`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from lightning.pytorch.trainer.states import TrainerFn

__all__ = ["PICTURE_SUFFIXES", "run_report"]

PICTURE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".svg", ".pdf"})


def _run_directory(trainer: Trainer, planned: Path | None) -> Path | None:
    if planned is not None:
        return planned
    if not trainer.loggers:
        return Path(trainer.default_root_dir)
    logger = trainer.loggers[0]
    directory = logger.log_dir if isinstance(logger, (CSVLogger, TensorBoardLogger)) else None
    directory = directory or logger.save_dir
    return Path(directory) if directory else None


def _new_files(paths: Iterable[Path], since: float) -> Iterator[Path]:
    for path in paths:
        try:
            if path.is_file() and path.stat().st_mtime >= since:
                yield path
        except OSError:
            continue


def run_report(
    trainer: Trainer, model: LightningModule, run_dir: Path | None, since: float
) -> list[str]:
    """The lines printed when a command ends: the result, then what the run wrote where.

    Files are those of the run directory (and its ``checkpoints``) modified since ``since``, so
    the report is right on one process and on N, and in a directory that several runs share.
    """
    lines: list[str] = []
    summary = getattr(model, "result_summary", None)
    if callable(summary):
        text = summary(trainer.callback_metrics)
        if text:
            lines.append(text)
    if run_dir is None or not run_dir.is_dir():
        return lines
    files = sorted(_new_files(run_dir.iterdir(), since))
    callbacks = [c for c in trainer.checkpoint_callbacks if isinstance(c, ModelCheckpoint)]
    checkpoint_dirs = {run_dir / "checkpoints"} | {Path(c.dirpath) for c in callbacks if c.dirpath}
    checkpoints = sorted(
        p for d in checkpoint_dirs if d.is_dir() for p in _new_files(d.glob("*.ckpt"), since)
    )
    best = next(
        (
            Path(c.best_model_path)
            for c in callbacks
            if c.best_model_path and Path(c.best_model_path) in checkpoints
        ),
        None,
    )
    wandb_runs = sorted(
        p
        for p in (run_dir / "wandb").glob("*run-*")
        if p.is_dir() and not p.is_symlink() and p.stat().st_mtime >= since
    )
    entries: list[tuple[str, Path | str]] = []
    if trainer.ckpt_path:
        fitting = trainer.state.fn == TrainerFn.FITTING
        entries.append(("resumed from" if fitting else "weights from", Path(trainer.ckpt_path)))
    if best is not None:
        entries.append(("best checkpoint", best))
    for path in checkpoints:
        if path != best:
            label = "last checkpoint" if path.name.startswith("last") else "checkpoint"
            entries.append((label, path))
    entries += [("config", p) for p in files if re.fullmatch(r"config.*\.yaml", p.name)]
    entries += [("metrics", p) for p in files if p.suffix == ".csv"]
    entries += [("TensorBoard", p) for p in files if p.name.startswith("events.out.tfevents")]
    entries += [("picture", p) for p in files if p.suffix.lower() in PICTURE_SUFFIXES]
    for wandb_run in wandb_runs:
        offline = wandb_run.name.startswith("offline-")
        entries.append(("W&B run (offline)" if offline else "W&B run", wandb_run))
        if offline:
            entries.append(("  upload with", f"wandb sync {wandb_run}"))
    if entries or files:
        lines.append(f"Run directory: {run_dir}")
        width = max((len(label) for label, _ in entries), default=0)
        lines += [f"  {label + ':':<{width + 1}} {value}" for label, value in entries]
    return lines
