"""Run a recipe through the CLI as its script does, with fast_dev_run in a private directory."""

from __future__ import annotations

from pathlib import Path

from lightning_deepvision.cli import main

RECIPES = Path(__file__).resolve().parents[2] / "recipes"
#: Small SyntheticFaces data for a recipe run of seconds (everything else is the recipe's own).
SMALL_FACES = [
    "--data.num_train_identities=12",
    "--data.images_per_train_identity=4",
    "--data.num_eval_identities=20",
    "--data.images_per_eval_identity=3",
    "--data.pairs_per_fold=2",
    "--data.identities_per_batch=4",
    "--data.images_per_identity=2",
    "--data.eval_batch_size=16",
    "--data.num_workers=0",
]


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
