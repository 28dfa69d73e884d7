"""The UDN recipe runs fit/validate/test/predict through the CLI with fast_dev_run."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lightning_deepvision.datasets.caltech_results import read_caltech_results
from lightning_deepvision.testing import write_caltech
from tests.recipes._support import RECIPES, run_recipe

# A tiny UDN and small frames so each run takes seconds; everything else is the recipe's own.
SMALL = [
    "--model.init_args.backbone=udn_tiny",
    '--model.init_args.backbone_kwargs={"deformation": true, "visibility": true}',
    "--data.init_args.num_workers=0",
    "--data.init_args.eval_batch_size=1",
]
SYNTHETIC = [
    "--data.init_args.eval_batch_size=3",  # frames enough to hold a reasonable pedestrian
    "--data.init_args.train_frames=2",
    "--data.init_args.frame_size=[120, 160]",
    "--data.init_args.batch_size=4",
]


def _caltech(tmp_path: Path) -> list[str]:
    root = write_caltech(tmp_path / "caltech")
    return [
        "--data=CaltechDataModule",
        f"--data.root={root}",
        "--data.num_workers=0",
        "--data.eval_batch_size=1",
        "--data.batch_size=4",
        "--model.init_args.backbone=udn_tiny",
        '--model.init_args.backbone_kwargs={"deformation": true, "visibility": true}',
    ]


def _check(cli, subcommand: str) -> None:
    assert type(cli.model).__name__ == "DetectionTask"
    if subcommand in ("validate", "test"):
        stage = "val" if subcommand == "validate" else "test"
        metrics = cli.trainer.callback_metrics
        assert {f"{stage}/lamr", f"{stage}/lamr_all", f"{stage}/lamr_heavy"} <= set(metrics)
        assert 0 <= float(metrics[f"{stage}/lamr"]) <= 1
    if subcommand == "predict":
        (batch, *_) = cli.trainer.predict_loop.predictions
        frame = batch[0]
        assert frame["boxes"].shape[1] == 4 and frame["scores"].shape == frame["boxes"].shape[:1]
        assert {"set", "video", "frame", "index"} <= set(frame)


@pytest.mark.parametrize("subcommand", ["fit", "validate", "test", "predict"])
def test_recipe_on_synthetic_frames(subcommand: str, tmp_path: Path) -> None:
    cli = run_recipe("udn_caltech", subcommand, *SMALL, *SYNTHETIC, tmp_path=tmp_path)
    _check(cli, subcommand)
    if subcommand == "fit":
        assert cli.model.backbone.deformations[0].weight.requires_grad


@pytest.mark.parametrize("subcommand", ["fit", "validate", "test", "predict"])
def test_recipe_on_caltech_files(subcommand: str, tmp_path: Path) -> None:
    cli = run_recipe("udn_caltech", subcommand, *_caltech(tmp_path), tmp_path=tmp_path)
    _check(cli, subcommand)
    assert type(cli.datamodule).__name__ == "CaltechDataModule"


def test_predictions_are_written_in_the_toolbox_format(tmp_path: Path) -> None:
    cli = run_recipe("udn_caltech", "predict", *_caltech(tmp_path), tmp_path=tmp_path)
    (writer,) = [c for c in cli.trainer.callbacks if type(c).__name__ == "CaltechResultsWriter"]
    (batch, *_) = cli.trainer.predict_loop.predictions
    frame = batch[0]
    if not len(frame["scores"]):
        pytest.skip("the untrained model found nothing in the frame")
    (path,) = writer.written
    assert path.name == "V000.txt" and path.parent.name == "set06"
    written = read_caltech_results(path.parents[1])
    key = (int(frame["set"]), int(frame["video"]), int(frame["frame"]))
    assert torch.allclose(written[key][:, 4], frame["scores"].double(), atol=1e-4)


def test_ablation_switches_off_deformation_and_visibility(tmp_path: Path) -> None:
    ablation = RECIPES / "configs" / "udn_caltech_ablation.yaml"
    cli = run_recipe(
        "udn_caltech",
        "fit",
        f"--config={ablation}",
        *SMALL[2:],
        *SYNTHETIC,
        tmp_path=tmp_path,
    )
    backbone = cli.model.backbone
    assert isinstance(backbone.head, torch.nn.Linear)
    assert not any(isinstance(d.weight, torch.nn.Parameter) for d in backbone.deformations)
