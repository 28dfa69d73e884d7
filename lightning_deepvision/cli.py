"""LightningCLI entry point: ``deepvision fit --config ...`` and the recipe scripts.

Every task and data module of the library can be named on the command line by its class name
(``--model VerificationTask --data IdentityFolderLFWDataModule``) or by its import path; a user's
own subclasses work the same way through their import path.

**Where a run goes.** Each run writes into one directory of its own, named after the run and a
version as Lightning's CSV and TensorBoard loggers do (``lightning_logs/deepid2plus/version_0``):
the saved configuration, the checkpoints, ``metrics.csv``, the pictures and the W&B files. A
logger's relative ``save_dir`` is taken relative to ``--trainer.default_root_dir`` (the current
directory by default), so that nothing is written outside it. The configuration saved with the
run is the one given, not the resolved directories, so running it again starts a new version.
When a command ends, the CLI prints the task's result line and the files the run wrote.

:func:`main` is for Python callers (it returns the ``LightningCLI``); :func:`run` is the
``deepvision`` console script (exit status 0 on success, 2 on a bad argument).
"""

from __future__ import annotations

import copy
import importlib
import inspect
import logging
import os
import re
import sys
import textwrap
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, get_args

from jsonargparse import DefaultHelpFormatter, Namespace
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint, ModelSummary, ProgressBar, RichProgressBar
from lightning.pytorch.cli import (
    ArgsType,
    LightningArgumentParser,
    LightningCLI,
    SaveConfigCallback,
)
from lightning.pytorch.loggers import CSVLogger, Logger, TensorBoardLogger, WandbLogger
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities.rank_zero import rank_zero_only
from torch import nn

# Imported so that jsonargparse can resolve the short class names of subclasses.
import lightning_deepvision.callbacks
import lightning_deepvision.datamodules
import lightning_deepvision.tasks
from lightning_deepvision.callbacks.prediction_writer import PredictionWriter
from lightning_deepvision.callbacks.progress import CompactModelSummary, LineProgressBar
from lightning_deepvision.datamodules.base import BaseDataModule
from lightning_deepvision.tasks.base import BaseTask

__all__ = ["DeepVisionCLI", "RunConfigSaver", "main", "parser_kwargs", "run"]

SUBCOMMANDS: tuple[str, ...] = ("fit", "validate", "test", "predict")
#: The recipe scripts and their YAML files, beside the package in a source checkout.
RECIPES_DIR = Path(__file__).resolve().parents[1] / "recipes"
PICTURE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".svg", ".pdf"})


# -- help ------------------------------------------------------------------------------------
def _first_line(obj: object) -> str:
    doc = inspect.getdoc(obj) or ""
    line = doc.strip().split("\n\n", 1)[0].replace("\n", " ")
    return re.sub(r":\w+:`~?([^`]+)`|``([^`]+)``", lambda m: m.group(1) or m.group(2), line)


def _concrete_classes(module: object, base: type) -> list[type]:
    names = getattr(module, "__all__", [])
    classes = [getattr(module, name) for name in names]
    return [
        c
        for c in classes
        if inspect.isclass(c)
        and issubclass(c, base)
        and c is not base
        and not inspect.isabstract(c)
    ]


def _description(default_config_files: Sequence[str | Path]) -> str:
    """The text of ``deepvision --help``: what the library is, its recipes, tasks, data."""
    lines = [
        "lightning_deepvision: PyTorch Lightning tasks, models and datasets for the deep vision "
        "models of the DeepID era: face verification, classification and feature transfer, "
        "pedestrian detection, face attributes and parsing, reconstruction, layer-wise "
        "pre-training and the analysis of what deep features learn.",
        "",
    ]
    if default_config_files:
        defaults = ", ".join(str(f) for f in default_config_files)
        lines += [f"Defaults from the recipe: {defaults}", ""]
    recipes = sorted(RECIPES_DIR.glob("*.py")) if RECIPES_DIR.is_dir() else []
    if recipes:
        lines.append("Recipes (run on built-in synthetic data, no download):")
        for script in recipes:
            config = RECIPES_DIR / "configs" / f"{script.stem}.yaml"
            lines.append(f"  python recipes/{script.name} fit")
            if config.is_file():
                lines.append(f"    or: deepvision fit --config recipes/configs/{config.name}")
        lines.append("")
    tasks = _concrete_classes(lightning_deepvision.tasks, BaseTask)
    data = _concrete_classes(lightning_deepvision.datamodules, BaseDataModule)
    lines.append("Tasks (--model NAME):")
    lines += [f"  {c.__name__}: {_first_line(c)}" for c in tasks]
    lines.append("Data modules (--data NAME):")
    lines += [f"  {c.__name__}: {_first_line(c)}" for c in data]
    lines.append("Backbones (--model.backbone NAME):")
    lines.append(
        f"  {_model_names()}; or any timm model name (never downloaded), or the "
        "class_path of an nn.Module"
    )
    lines += [
        "",
        "Options of a command: deepvision fit --help; of a task: deepvision fit --model.help "
        "VerificationTask; the full configuration: deepvision fit --print_config.",
    ]
    return "\n".join(lines)


def _accepts_module(action: object) -> bool:
    typehint = getattr(action, "_typehint", None)
    members = get_args(typehint) or (typehint,)
    return any(inspect.isclass(t) and issubclass(t, nn.Module) for t in members)


def _model_names() -> str:
    """The registry's names, a ``_tiny`` variant folded into its model's (``alexnet[_tiny]``)."""
    from lightning_deepvision.models import list_models

    names = list_models()
    present = set(names)
    shown = [
        f"{name}[_tiny]" if f"{name}_tiny" in present else name
        for name in names
        if not (name.endswith("_tiny") and name[: -len("_tiny")] in present)
    ]
    return ", ".join(shown)


def _wrap(line: str, width: int, indent: str) -> str:
    """Wrap one line of a list, continuing under its text."""
    lead = indent + line[: len(line) - len(line.lstrip())]
    return textwrap.fill(line.strip(), width, initial_indent=lead, subsequent_indent=lead + "    ")


class HelpFormatter(DefaultHelpFormatter):
    """jsonargparse's formatter, with backbone names instead of every ``nn.Module`` subclass.

    An argument typed ``str | nn.Module`` (a task's ``backbone``) would list every installed
    module class (over a thousand lines with timm); the registry names are what users pass.
    Indented lines of a description are kept as written (the lists of ``deepvision --help``).
    """

    def _get_help_string(self, action: Any) -> str:
        text = super()._get_help_string(action)
        if _accepts_module(action) and hasattr(action, "extra_help"):
            extra = action.extra_help()
            if extra:
                text = text.replace(
                    extra,
                    f", registry names: {_model_names()}; or a timm name or an nn.Module "
                    "class_path",
                )
        return text

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        paragraphs: list[str] = []
        for paragraph in text.split("\n\n"):
            lines = paragraph.splitlines()
            if any(line.startswith(" ") for line in lines):
                paragraphs.append("\n".join(_wrap(line, width, indent) for line in lines))
            else:
                paragraphs.append(super()._fill_text(paragraph, width, indent))
        return "\n\n".join(paragraphs)


class DeepVisionArgumentParser(LightningArgumentParser):
    """``LightningArgumentParser`` with :class:`HelpFormatter`.

    jsonargparse builds the parser of ``--model.help`` as ``type(parser)(...)``, so the
    formatter is a default of the class rather than a keyword of one instance.
    """

    def __init__(self, *args: Any, formatter_class: Any = HelpFormatter, **kwargs: Any) -> None:
        super().__init__(*args, formatter_class=formatter_class, **kwargs)


def parser_kwargs(default_config_files: Sequence[str | Path] = ()) -> dict[str, Any]:
    """LightningCLI ``parser_kwargs`` with omegaconf interpolation and per-subcommand defaults.

    A recipe's YAML becomes the default of every subcommand (a top-level
    ``default_config_files`` is rejected "before subcommand" by jsonargparse).
    """
    files = [str(f) for f in default_config_files]
    per_command: dict[str, Any] = {"parser_mode": "omegaconf"}
    if files:
        per_command["default_config_files"] = files
    return {
        "parser_mode": "omegaconf",
        "description": _description(files),
        **{c: dict(per_command) for c in SUBCOMMANDS},
    }


# -- configuration saving --------------------------------------------------------------------
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


# -- the report at the end of a command -------------------------------------------------------
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


# -- the CLI ---------------------------------------------------------------------------------
class DeepVisionCLI(LightningCLI):
    """LightningCLI that gives each run a directory, picks the console output, reports the end.

    * Run directories: see :func:`plan_run_directory`; the configuration saved with the run
      is the one given.
    * Progress: a Rich bar when standard output is a terminal, :class:`LineProgressBar`
      otherwise (a log file, CI, ``nohup``), unless the bar is disabled or the configuration
      names one. Listing a bar in a recipe's callbacks would make
      ``--trainer.enable_progress_bar=false`` an error, so it is added here instead.
    * Model summary: :class:`CompactModelSummary` (no FLOPs column of zeros) unless the
      configuration names a summary or disables it.
    * Predictions: ``predict`` writes them to files with a :class:`PredictionWriter` (in
      ``<run directory>/predictions``) unless the configuration names one.
    * When ``fit``/``validate``/``test``/``predict`` ends, the process of rank zero prints the
      task's :meth:`~lightning_deepvision.tasks.BaseTask.result_summary` and the files the run
      wrote (checkpoints, configuration, metrics, pictures, W&B run), after the progress bar has
      finished.
    """

    run_dir: Path | None = None

    def instantiate_classes(self) -> None:
        """Instantiate from a copy of the configuration whose run directory is resolved.

        As ``LightningCLI.instantiate_classes``, except that the classes are built from the
        resolved copy while ``self.config`` (which the saver records) stays as given.
        """
        resolved = copy.deepcopy(self.config)
        trainer_config = self._get(resolved, "trainer")
        self.run_dir = (
            plan_run_directory(trainer_config) if isinstance(trainer_config, Namespace) else None
        )
        # ``instantiate`` replaces ``instantiate_classes`` from jsonargparse 4.49 on.
        instantiate = getattr(self.parser, "instantiate", None) or self.parser.instantiate_classes
        self.config_init = instantiate(resolved)
        self.datamodule = self._get(self.config_init, "data")
        self.model = self._get(self.config_init, "model")
        self._add_configure_optimizers_method_to_model(self.subcommand)
        self.trainer = self.instantiate_trainer()

    def _instantiate_trainer(self, config: dict[str, Any], callbacks: list[Callback]) -> Trainer:
        configured = [*(config.get("callbacks") or []), *callbacks]
        if config.get("enable_progress_bar", True) is not False and not any(
            isinstance(c, ProgressBar) for c in configured
        ):
            bar = RichProgressBar() if sys.stdout.isatty() else LineProgressBar()
            callbacks = [*callbacks, bar]
        if (
            not config.get("barebones")
            and config.get("enable_model_summary", True) is not False
            and not any(isinstance(c, ModelSummary) for c in configured)
        ):
            callbacks = [*callbacks, CompactModelSummary()]
            # Otherwise Lightning adds its own summary too, or says that it did not.
            config["enable_model_summary"] = False
        if self.subcommand == "predict" and not any(
            isinstance(c, PredictionWriter) for c in configured
        ):
            # Beside any other writer (CaltechResultsWriter writes the toolbox's format).
            callbacks = [*callbacks, PredictionWriter()]
        loggers = config.get("logger")
        loggers = list(loggers) if isinstance(loggers, Iterable) else [loggers]
        if (
            self.run_dir is not None
            and isinstance(loggers[0], WandbLogger)
            and not any(isinstance(logger, CSVLogger) for logger in loggers)
        ):
            # Numbers readable without W&B: metrics.csv (and hparams.yaml) in the run directory.
            csv_logger = CSVLogger(save_dir=self.run_dir, name="", version="")
            config["logger"] = [*loggers, csv_logger]
            if _rank_zero():
                # Its writer is made now, while the directory is empty: made after W&B has
                # filled it, it would warn that "previous log files will be deleted".
                _ = csv_logger.experiment
        logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(_DROP_ADVERTISEMENT)
        trainer = super()._instantiate_trainer(config, callbacks)
        for logger in trainer.loggers:
            _quiet_wandb(logger)
        return trainer

    def before_fit(self) -> None:
        """Note the start: files written from now on belong to this run."""
        # One second of slack for file systems with coarse modification times.
        self._started = time.time() - 1.0

    before_validate = before_test = before_predict = before_fit

    def after_fit(self) -> None:
        """Close the W&B run, then print the result line and the files the run wrote.

        A W&B run left open would be reused by the next ``WandbLogger`` of the same process
        (``main`` called again, e.g. ``fit`` then ``test`` from Python) and would print its
        summary when the interpreter exits, after this report.
        """
        trainer = self.trainer
        if not trainer.is_global_zero:
            return
        for logger in trainer.loggers:
            # The run of this process, if it has one (``logger.experiment`` would start one:
            # under ``ddp_fork`` the run lives in the child process of rank zero).
            finish = getattr(getattr(logger, "_experiment", None), "finish", None)
            if isinstance(logger, WandbLogger) and callable(finish):
                finish()
        run_dir = _run_directory(trainer, self.run_dir)
        lines = run_report(trainer, self.model, run_dir, getattr(self, "_started", 0.0))
        if lines:
            print("\n".join(lines), flush=True)

    after_validate = after_test = after_predict = after_fit


def main(args: ArgsType = None, default_config_files: Sequence[str | Path] = ()) -> LightningCLI:
    """Run the command line.

    Args:
        args: Arguments instead of ``sys.argv[1:]`` (a list or a dict), e.g. in tests.
        default_config_files: YAML files whose values are the defaults (a recipe's config).

    Returns:
        The ``LightningCLI`` object, with ``model``, ``datamodule`` and ``trainer`` set.
    """
    return DeepVisionCLI(
        BaseTask,
        BaseDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        args=args,
        parser_kwargs=parser_kwargs(default_config_files),
        parser_class=DeepVisionArgumentParser,
        save_config_callback=RunConfigSaver,
        auto_configure_optimizers=True,
    )


def run() -> None:
    """The ``deepvision`` console script: run the command line, exit 0 on success.

    A bad argument exits with status 2 (from the argument parser), a failed run with 1.
    ``deepvision export ...`` exports a checkpoint (:mod:`lightning_deepvision.export`).
    """
    if sys.argv[1:2] == ["export"]:
        # Not a LightningCLI subcommand: it builds no Trainer and no data module.
        from lightning_deepvision.export import main as export_main

        export_main(sys.argv[2:])
        return
    main()


if __name__ == "__main__":
    run()
