"""The FIP and MVP recipes run fit/validate/test/predict through the CLI with fast_dev_run."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lightning_deepvision.testing import write_multipie
from tests.recipes._support import run_recipe

NAMES = ["fip_multipie", "mvp_multipie"]
# Small synthetic data and networks so each run takes seconds; the rest is the recipe's own.
SMALL = [
    "--data.train_identities=4",
    "--data.eval_identities=3",
    "--data.images_per_identity=7",
    "--data.lda_reference_images=14",
    "--data.render_size=32",
    "--data.batch_size=7",
    "--data.eval_batch_size=64",
    "--data.num_workers=0",
    "--model.input_size=[16,16]",
    "--data.image_size=[16,16]",
]
SMALL_NETS = {
    "fip_multipie": ["--model.backbone_kwargs.channels=[4,4,4]"],
    "mvp_multipie": [
        "--model.backbone_kwargs.hidden=16",
        "--model.backbone_kwargs.identity_dim=8",
        "--model.backbone_kwargs.view_dim=4",
    ],
}


def run(name: str, subcommand: str, *extra: str, tmp_path: Path):
    return run_recipe(name, subcommand, *SMALL, *SMALL_NETS[name], *extra, tmp_path=tmp_path)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("subcommand", ["fit", "validate", "test", "predict"])
def test_recipe_fast_dev_run(name: str, subcommand: str, tmp_path: Path) -> None:
    cli = run(name, subcommand, tmp_path=tmp_path)
    backbone = cli.model.backbone
    assert type(backbone).__name__ == {"fip_multipie": "FIP", "mvp_multipie": "MVP"}[name]
    if subcommand in ("validate", "test"):
        prefix = "val" if subcommand == "validate" else "test"
        metrics = cli.trainer.callback_metrics
        for key in ("identification_mean", "pixels_identification_mean", "psnr", "ssim"):
            assert f"{prefix}/{key}" in metrics, key
        assert f"{prefix}/identification_45" in metrics
        assert 0.0 <= float(metrics[f"{prefix}/identification_mean"]) <= 1.0
    if subcommand == "predict":
        (batch, *_) = cli.trainer.predict_loop.predictions
        assert batch["reconstruction"].shape[1:] == (1, 16, 16)
        assert batch["features"].shape[1] == backbone.num_features
        if name == "mvp_multipie":
            torch.testing.assert_close(
                batch["view_probabilities"].sum(1), torch.ones(len(batch["features"]))
            )


def test_fip_recipe_on_the_official_multipie_layout(tmp_path: Path) -> None:
    root = write_multipie(tmp_path / "multipie", subjects=(1, 2, 3, 4, 5), shots=(0, 7))
    data = [
        "--data=MultiPIEDataModule",
        f"--data.root={root}",
        "--data.train_subjects=3",
        "--data.lda_reference_images=28",
        "--data.batch_size=7",
        "--data.eval_batch_size=64",
        "--data.num_workers=0",
        "--model.input_size=[16,16]",
        "--data.image_size=[16,16]",
        *SMALL_NETS["fip_multipie"],
    ]
    cli = run_recipe("fip_multipie", "test", *data, tmp_path=tmp_path)
    metrics = cli.trainer.callback_metrics
    # Two test subjects, gallery 05_1: six probe poses.
    assert {f"test/identification_{y}" for y in (-45, -30, -15, 15, 30, 45)} <= set(metrics)
    cli = run_recipe("fip_multipie", "fit", *data, tmp_path=tmp_path)
    assert len(cli.datamodule.dataset("train")) == 3 * 7 * 2
