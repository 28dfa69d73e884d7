"""LightningCLI entry point: ``deepvision fit --config ...`` and the recipe scripts.

Every task and data module of the library can be named on the command line by its class name
(``--model VerificationTask --data FaceVerificationDataModule``) or by its import path; a user's
own subclasses work the same way through their import path.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lightning.pytorch.cli import ArgsType, LightningCLI

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


def main(args: ArgsType = None, default_config_files: Sequence[str | Path] = ()) -> LightningCLI:
    """Run the command line.

    Args:
        args: Arguments instead of ``sys.argv[1:]`` (a list or a dict), e.g. in tests.
        default_config_files: YAML files whose values are the defaults (a recipe's config).

    Returns:
        The ``LightningCLI`` object, with ``model``, ``datamodule`` and ``trainer`` set.
    """
    return LightningCLI(
        BaseTask,
        BaseDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        args=args,
        parser_kwargs=parser_kwargs(default_config_files),
        auto_configure_optimizers=True,
    )


if __name__ == "__main__":
    main()
