"""The face-parsing recipe runs fit/validate/test/predict through the CLI with fast_dev_run."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lightning_deepvision.callbacks import ParsingOverlayLogger
from lightning_deepvision.testing import write_helen, write_lfw_parts
from tests.recipes._support import run_recipe

# Small synthetic data so each run takes seconds; everything else is the recipe's own.
SMALL_DATA = [
    "--data.train_images=8",
    "--data.eval_images=4",
    "--data.images_per_identity=2",
    "--data.batch_size=4",
    "--data.eval_batch_size=4",
    "--data.num_workers=0",
    "--model.backbone=cross_modality_parsing_tiny",
]


@pytest.mark.parametrize("subcommand", ["fit", "validate", "test", "predict"])
def test_recipe_fast_dev_run(subcommand: str, tmp_path: Path) -> None:
    cli = run_recipe("face_parsing", subcommand, *SMALL_DATA, tmp_path=tmp_path)
    assert cli.model.hparams.num_classes == 11
    if subcommand in ("validate", "test"):
        prefix = "val" if subcommand == "validate" else "test"
        metrics = cli.trainer.callback_metrics
        assert {f"{prefix}/miou", f"{prefix}/f1_overall", f"{prefix}/iou_left_eye"} <= set(metrics)
        # fast_dev_run writes no files; tests/tasks/test_parsing.py opens the overlay PNG.
        assert any(isinstance(c, ParsingOverlayLogger) for c in cli.trainer.callbacks)
    if subcommand == "predict":
        (batch, *_) = cli.trainer.predict_loop.predictions
        assert batch["mask"].shape == (4, 64, 56) and batch["mask"].dtype == torch.int64


@pytest.mark.parametrize("kind", ["helen", "lfw_parts"])
def test_recipe_reads_the_official_layouts(kind: str, tmp_path: Path) -> None:
    if kind == "helen":
        root = write_helen(tmp_path / "data", counts=(4, 2, 2), image_size=(40, 32))
        data = "lightning_deepvision.datamodules.HelenDataModule"
    else:
        root = write_lfw_parts(tmp_path / "data", counts=(4, 2, 2))
        data = "lightning_deepvision.datamodules.LFWPartsDataModule"
    # The recipe's class weights are for HELEN's 11 labels; LFW Part Labels has 3.
    weights = [] if kind == "helen" else ["--model.class_weights=null"]
    cli = run_recipe(
        "face_parsing",
        "fit",
        f"--data={data}",
        f"--data.root={root}",
        "--data.input_size=[32,32]",
        "--data.batch_size=4",
        "--data.eval_batch_size=4",
        "--data.num_workers=0",
        "--model.backbone=cross_modality_parsing_tiny",
        *weights,
        tmp_path=tmp_path,
    )
    assert cli.model.hparams.num_classes == (11 if kind == "helen" else 3)
    assert "val/miou" in cli.trainer.callback_metrics
