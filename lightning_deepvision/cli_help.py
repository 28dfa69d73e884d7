"""The help of the command line: ``deepvision --help`` and the argument parser behind it.

The description lists the recipes, tasks, data modules and backbones; :class:`HelpFormatter`
shows registry names where jsonargparse would list every ``nn.Module`` subclass;
:func:`parser_kwargs` gives LightningCLI omegaconf interpolation and a recipe's YAML as the
default of every subcommand. The entry point is :mod:`lightning_deepvision.cli`.
"""

from __future__ import annotations

import inspect
import re
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any, get_args

from jsonargparse import DefaultHelpFormatter
from lightning.pytorch.cli import LightningArgumentParser
from torch import nn

# Imported so that jsonargparse can resolve the short class names of subclasses.
import lightning_deepvision.callbacks
import lightning_deepvision.datamodules
import lightning_deepvision.tasks
from lightning_deepvision.datamodules.base import BaseDataModule
from lightning_deepvision.tasks.base import BaseTask

__all__ = ["DeepVisionArgumentParser", "HelpFormatter", "parser_kwargs"]

SUBCOMMANDS: tuple[str, ...] = ("fit", "validate", "test", "predict")
#: The recipe scripts and their YAML files, beside the package in a source checkout.
RECIPES_DIR = Path(__file__).resolve().parents[1] / "recipes"


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
