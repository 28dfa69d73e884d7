"""LightningCLI entry point: ``deepvision fit --config ...`` and the recipe scripts.

Every task and data module of the library can be named on the command line by its class name
(``--model VerificationTask --data IdentityFolderLFWDataModule``) or by its import path; a user's
own subclasses work the same way through their import path.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.callbacks import ProgressBar, RichProgressBar
from lightning.pytorch.cli import ArgsType, LightningCLI, SaveConfigCallback

# Imported so that jsonargparse can resolve the short class names of subclasses.
import lightning_deepvision.callbacks
import lightning_deepvision.datamodules
import lightning_deepvision.tasks  # noqa: F401
from lightning_deepvision.datamodules.base import BaseDataModule
from lightning_deepvision.tasks.base import BaseTask

SUBCOMMANDS: tuple[str, ...] = ("fit", "validate", "test", "predict")


def parser_kwargs(default_config_files: Sequence[str | Path] = ()) -> dict[str, Any]:
    """LightningCLI ``parser_kwargs`` with omegaconf interpolation and per-subcommand defaults.

    A recipe's YAML becomes the default of every subcommand (a top-level
    ``default_config_files`` is rejected "before subcommand" by jsonargparse).
    """
    files = [str(f) for f in default_config_files]
    per_command: dict[str, Any] = {"parser_mode": "omegaconf"}
    if files:
        per_command["default_config_files"] = files
    return {"parser_mode": "omegaconf", **{c: dict(per_command) for c in SUBCOMMANDS}}


class RunConfigSaver(SaveConfigCallback):
    """Save each run's configuration in the log directory without touching earlier runs'.

    Loggers such as ``WandbLogger`` share one directory across runs, so ``fit`` followed by
    ``test --ckpt_path ...`` would find the first run's ``config.yaml`` and Lightning would abort.
    This saver writes ``config.yaml`` when it is free and ``config-<stage>[-N].yaml`` otherwise.
    """

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        """Pick a free file name (on rank zero, shared with every rank), then save."""
        if not self.already_saved and self.save_to_log_dir and trainer.log_dir is not None:
            stage_name = str(getattr(stage, "value", stage))  # Lightning passes a TrainerFn
            name = (
                _free_config_name(Path(trainer.log_dir), stage_name)
                if trainer.is_global_zero
                else ""
            )
            self.config_filename = trainer.strategy.broadcast(name)
        super().setup(trainer, pl_module, stage)


def _free_config_name(log_dir: Path, stage: str) -> str:
    candidates = ["config.yaml", f"config-{stage}.yaml"]
    candidates += [f"config-{stage}-{n}.yaml" for n in range(2, 10_000)]
    return next(name for name in candidates if not (log_dir / name).exists())


class DeepVisionCLI(LightningCLI):
    """LightningCLI that shows a Rich progress bar unless the bar is disabled.

    Listing ``RichProgressBar`` in a recipe's callbacks would make
    ``--trainer.enable_progress_bar=false`` an error, so the bar is added here instead, only
    when the trainer shows one and the configuration names no other progress bar.
    """

    def _instantiate_trainer(self, config: dict[str, Any], callbacks: list[Callback]) -> Trainer:
        configured = [*(config.get("callbacks") or []), *callbacks]
        if config.get("enable_progress_bar", True) is not False and not any(
            isinstance(c, ProgressBar) for c in configured
        ):
            callbacks = [*callbacks, RichProgressBar()]
        return super()._instantiate_trainer(config, callbacks)


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
        save_config_callback=RunConfigSaver,
        auto_configure_optimizers=True,
    )


if __name__ == "__main__":
    main()
