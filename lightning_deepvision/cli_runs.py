"""Where a command-line run goes: its directory, its saved configuration, its loggers.

Each run writes into one directory of its own (:func:`plan_run_directory`), saves its
configuration there without touching earlier runs' (:class:`RunConfigSaver`), and an offline
W&B run stays quiet. The entry point is :mod:`lightning_deepvision.cli`.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import os
import re
from pathlib import Path
from typing import Any

from jsonargparse import Namespace
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import SaveConfigCallback
from lightning.pytorch.loggers import CSVLogger, Logger, TensorBoardLogger, WandbLogger
from lightning.pytorch.utilities.rank_zero import rank_zero_only

__all__ = ["RunConfigSaver", "plan_run_directory"]


class RunConfigSaver(SaveConfigCallback):
    """Save each run's configuration in the log directory without touching earlier runs'.

    Runs normally have a directory each; without a logger (or with a logger that keeps one
    directory for every run) ``fit`` followed by ``test --ckpt_path ...`` would find the first
    run's ``config.yaml`` and Lightning would abort. This saver writes ``config.yaml`` when it
    is free and ``config-<stage>[-N].yaml`` otherwise.
    """

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        """Pick a free file name on rank zero and share it with every rank, then save."""
        if not self.already_saved and self.save_to_log_dir:
            # ``trainer.log_dir`` is a collective call: every process must make it, in the same
            # order as the broadcast below (calling it on rank zero only deadlocks DDP).
            log_dir = trainer.log_dir
            if log_dir is not None:
                stage_name = str(getattr(stage, "value", stage))  # Lightning passes a TrainerFn
                free = _free_config_name(Path(log_dir), stage_name)
                name = free if trainer.is_global_zero else ""
                self.config_filename = trainer.strategy.broadcast(name)
        super().setup(trainer, pl_module, stage)


def _free_config_name(log_dir: Path, stage: str) -> str:
    candidates = ["config.yaml", f"config-{stage}.yaml"]
    candidates += [f"config-{stage}-{n}.yaml" for n in range(2, 10_000)]
    return next(name for name in candidates if not (log_dir / name).exists())


# -- run directories -------------------------------------------------------------------------
def _class_of(spec: Any) -> type | None:
    if not isinstance(spec, Namespace) or not isinstance(spec.get("class_path"), str):
        return None
    module, _, name = spec.class_path.rpartition(".")
    try:
        value = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return None
    return value if inspect.isclass(value) else None


def _is(spec: Any, *classes: type) -> bool:
    cls = _class_of(spec)
    return cls is not None and issubclass(cls, classes)


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    return [value] if isinstance(value, Namespace) else []


def _next_version(directory: Path) -> int:
    """The next ``version_<N>`` under ``directory`` (as CSVLogger and TensorBoardLogger count)."""
    versions = [
        int(child.name[len("version_") :])
        for child in (directory.iterdir() if directory.is_dir() else [])
        if child.is_dir() and re.fullmatch(r"version_\d+", child.name)
    ]
    return max(versions) + 1 if versions else 0


def plan_run_directory(trainer: Namespace) -> Path | None:
    """Give the run one directory and point its loggers and checkpoints into it (in place).

    ``trainer`` is the ``trainer`` section of a parsed configuration. Relative logger
    directories are made relative to ``default_root_dir``. The first logger names the run
    directory ``<save_dir>/<name>/version_<N>``: CSV and TensorBoard loggers get their version
    fixed now (so that every process and a later summary agree on it); a W&B logger, whose own
    layout is ``<save_dir>/wandb/<run>`` beside checkpoints under ``<project>/<run id>``, gets
    the run directory as its ``save_dir`` and the checkpoints go to ``<run dir>/checkpoints``.
    Further loggers write into the same directory (e.g. a ``CSVLogger`` beside W&B leaves a
    plain ``metrics.csv``). Nothing is created on disk.

    Returns:
        The run directory, or ``None`` when the loggers do not name one (no logger, Lightning's
        default logger, ``fast_dev_run``, or a logger of another kind).
    """
    if trainer.get("fast_dev_run"):
        return None  # Lightning swaps the loggers for a DummyLogger and writes nothing
    root = Path(trainer.get("default_root_dir") or os.getcwd()).expanduser().absolute()
    loggers = _as_list(trainer.get("logger"))
    for spec in loggers:
        init = spec.get("init_args")
        if isinstance(init, Namespace):
            for key in ("save_dir", "dir"):
                if init.get(key) is not None and not Path(str(init[key])).is_absolute():
                    init[key] = str(root / str(init[key]))
    if not loggers or not isinstance(loggers[0].get("init_args"), Namespace):
        return None
    first, init = loggers[0], loggers[0].init_args
    run_dir: Path | None = None
    if _is(first, WandbLogger) and not (init.get("version") or init.get("id")):
        save_dir = Path(str(init.get("save_dir") or init.get("dir") or root))
        base = save_dir / str(init.get("name") or init.get("project") or "lightning_logs")
        run_dir = base / f"version_{_next_version(base)}"
        init.save_dir = str(run_dir)
        for callback in _as_list(trainer.get("callbacks")):
            args = callback.get("init_args")
            is_checkpoint = _is(callback, ModelCheckpoint) and isinstance(args, Namespace)
            if is_checkpoint and args.get("dirpath") is None:
                args.dirpath = str(run_dir / "checkpoints")
    elif _is(first, CSVLogger, TensorBoardLogger) and init.get("save_dir") is not None:
        base = Path(str(init.save_dir)) / str(init.get("name") or "")
        version = init.get("version")
        if version is None:
            version = init.version = _next_version(base)
        run_dir = base / (version if isinstance(version, str) else f"version_{version}")
    if run_dir is None:
        return None
    for spec in loggers[1:]:
        args = spec.get("init_args")
        if not isinstance(args, Namespace):
            continue
        if _is(spec, WandbLogger):
            args.save_dir = str(run_dir)
        elif _is(spec, CSVLogger, TensorBoardLogger):
            args.save_dir, args.name, args.version = str(run_dir), "", ""
    return run_dir


def _quiet_wandb(logger: Logger) -> None:
    """Leave out what makes an offline W&B run print warnings and a second summary.

    Lightning always passes ``anonymous=None`` to ``wandb.init``, which wandb >= 0.23 answers
    with "The anonymous setting has no effect" (wandb/wandb#10909); ``None`` is wandb's default.
    wandb looks for a git repository from its directory and warns when the directory does not
    exist yet, so it is created first (by the process that starts the W&B run). An offline
    run has no page to link to, and its closing history table repeats the CLI's summary, so
    it runs ``quiet`` unless the configuration gives ``settings``.
    """
    if not isinstance(logger, WandbLogger):
        return
    init = getattr(logger, "_wandb_init", None)
    if not isinstance(init, dict):
        return
    if init.get("anonymous") is None:
        init.pop("anonymous", None)
    if getattr(logger, "_offline", False) and init.get("settings") is None:
        init["settings"] = {"quiet": True}
    if _rank_zero() and logger.save_dir is not None:
        Path(logger.save_dir).mkdir(parents=True, exist_ok=True)


def _rank_zero() -> bool:
    """Whether this process is (or will be) the one of rank zero, before the strategy runs.

    Lightning sets ``rank_zero_only.rank`` from the launcher's environment (``RANK``,
    ``LOCAL_RANK``, ...) on import, so the processes a ``ddp`` launch starts are not zero.
    """
    return getattr(rank_zero_only, "rank", 0) == 0


class _DropAdvertisement(logging.Filter):
    """Drop Lightning's tip to install another logging product, printed by every Trainer."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("💡 Tip: For seamless cloud logging")


_DROP_ADVERTISEMENT = _DropAdvertisement()
