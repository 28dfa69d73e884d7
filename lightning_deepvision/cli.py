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

The help and the parser are in :mod:`lightning_deepvision.cli_help`, run directories, saved
configurations and loggers in :mod:`lightning_deepvision.cli_runs`, the report at the end in
:mod:`lightning_deepvision.cli_report`; their public names are importable from here too.
"""

from __future__ import annotations

import copy
import logging
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from jsonargparse import Namespace
from lightning.pytorch import Callback, Trainer
from lightning.pytorch.callbacks import (
    LearningRateMonitor,
    ModelSummary,
    ProgressBar,
    RichProgressBar,
)
from lightning.pytorch.cli import ArgsType, LightningCLI
from lightning.pytorch.loggers import CSVLogger, WandbLogger

from lightning_deepvision.callbacks.prediction_writer import PredictionWriter
from lightning_deepvision.callbacks.progress import CompactModelSummary, LineProgressBar
from lightning_deepvision.cli_help import RECIPES_DIR as RECIPES_DIR
from lightning_deepvision.cli_help import SUBCOMMANDS as SUBCOMMANDS
from lightning_deepvision.cli_help import DeepVisionArgumentParser as DeepVisionArgumentParser
from lightning_deepvision.cli_help import HelpFormatter as HelpFormatter
from lightning_deepvision.cli_help import parser_kwargs
from lightning_deepvision.cli_report import PICTURE_SUFFIXES as PICTURE_SUFFIXES
from lightning_deepvision.cli_report import _run_directory, run_report
from lightning_deepvision.cli_runs import (
    _DROP_ADVERTISEMENT,
    RunConfigSaver,
    _quiet_wandb,
    _rank_zero,
)
from lightning_deepvision.cli_runs import plan_run_directory as plan_run_directory
from lightning_deepvision.datamodules.base import BaseDataModule
from lightning_deepvision.tasks.base import BaseTask

__all__ = ["DeepVisionCLI", "RunConfigSaver", "main", "parser_kwargs", "run"]


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
        if all(logger is False for logger in loggers) and config.get("callbacks"):
            # `--trainer.logger false` (or `[]`): the recipes' LearningRateMonitor has nothing
            # to log to, and Lightning refuses to start a fit with it. `null` keeps it: that is
            # Lightning's default logger.
            config["callbacks"] = [
                c for c in config["callbacks"] if not isinstance(c, LearningRateMonitor)
            ]
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
