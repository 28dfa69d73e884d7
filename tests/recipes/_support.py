"""Run a recipe through the CLI as its script does, with fast_dev_run in a private directory."""

from __future__ import annotations

from pathlib import Path

from lightning_deepvision.cli import main

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


def run_recipe(name: str, subcommand: str, *extra: str, tmp_path: Path):
    """``recipes/<name>.py <subcommand> --trainer.fast_dev_run=true ... <extra>``; the CLI."""
    config = RECIPES / "configs" / f"{name}.yaml"
    args = [
        subcommand,
        "--trainer.fast_dev_run=true",
        f"--trainer.default_root_dir={tmp_path}",
        *extra,
    ]
    return main(args=args, default_config_files=[config])
