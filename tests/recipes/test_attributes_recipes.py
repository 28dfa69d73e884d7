"""The attribute recipes run fit/validate/test/predict through the CLI with fast_dev_run, on
the default synthetic data, on CelebA in both layouts and on LFW attributes (LFWA)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lightning_deepvision.datasets.celeba_annotations import CELEBA_ATTRIBUTES
from lightning_deepvision.datasets.synthetic import ATTRIBUTE_NAMES
from lightning_deepvision.testing import write_celeba
from lightning_deepvision.testing.lfw_attributes import write_lfw_attributes
from tests.recipes._support import RECIPES, SMALL_FACES, run_recipe

NAMES = ["celeba_attributes", "attributes_transfer"]
SMALL_DATA = [
    "--data.num_train_identities=3",
    "--data.images_per_train_identity=2",
    "--data.num_eval_identities=2",
    "--data.images_per_eval_identity=2",
    "--data.batch_size=4",
    "--data.eval_batch_size=8",
    "--data.num_workers=0",
]
LOADERS = ["--data.batch_size=4", "--data.eval_batch_size=8", "--data.num_workers=0"]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("subcommand", ["fit", "validate", "test", "predict"])
def test_recipe_fast_dev_run(name: str, subcommand: str, tmp_path: Path) -> None:
    cli = run_recipe(name, subcommand, *SMALL_DATA, tmp_path=tmp_path)
    assert cli.model.attribute_names == list(ATTRIBUTE_NAMES)
    if subcommand in ("validate", "test"):
        prefix = "val" if subcommand == "validate" else "test"
        metrics = cli.trainer.callback_metrics
        assert {f"{prefix}/mean_accuracy", f"{prefix}/balanced_accuracy"} <= set(metrics)
        assert f"{prefix}/accuracy/Smiling" in metrics
    if subcommand == "predict":
        (batch, *_) = cli.trainer.predict_loop.predictions
        assert set(batch["probabilities"]) == set(ATTRIBUTE_NAMES)


@pytest.fixture(scope="module")
def celeba_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_celeba(
        tmp_path_factory.mktemp("celeba") / "archive", layout="archive", image_size=(72, 59)
    )


def test_celeba_then_lfwa_in_one_command(celeba_root: Path, tmp_path: Path) -> None:
    data = ["--data=CelebADataModule", f"--data.root={celeba_root}", *LOADERS]
    fit = run_recipe(
        "celeba_attributes",
        "fit",
        *data,
        "--data.align=true",
        "--trainer.fast_dev_run=false",
        "--trainer.max_steps=2",
        "--trainer.logger=CSVLogger",
        f"--trainer.logger.save_dir={tmp_path}",
        tmp_path=tmp_path / "fit",
    )
    assert fit.model.attribute_names == list(CELEBA_ATTRIBUTES)
    path = tmp_path / "celeba.ckpt"
    fit.trainer.save_checkpoint(path)
    lfw = write_lfw_attributes(tmp_path / "lfw")
    cli = run_recipe(
        "celeba_attributes",
        "test",
        f"--ckpt_path={path}",
        "--data=LFWAttributesDataModule",
        f"--data.root={lfw}",
        "--data.train_images=4",
        *LOADERS,
        tmp_path=tmp_path / "lfwa",
    )
    metrics = cli.trainer.callback_metrics
    assert "test/accuracy/Smiling" in metrics and "test/accuracy/Young" in metrics
    assert "test/accuracy/Attractive" not in metrics  # LFW has no such attribute
    loaded = torch.load(path, weights_only=True)
    assert loaded["hyper_parameters"]["num_attributes"] == 40


def test_transfer_recipe_from_the_deepid2_checkpoint(tmp_path: Path) -> None:
    faces = [
        "--data.num_train_identities=4",
        "--data.images_per_train_identity=4",
        "--data.num_eval_identities=4",
        "--data.num_folds=2",
        "--data.pairs_per_fold=2",
        "--data.identities_per_batch=2",
        "--data.images_per_identity=2",
        "--data.eval_batch_size=8",
        "--data.num_workers=0",
    ]
    source = run_recipe("deepid2", "fit", *faces, tmp_path=tmp_path / "deepid2")
    path = tmp_path / "deepid2.ckpt"
    source.trainer.save_checkpoint(path)
    original = source.model.backbone.state_dict()
    for freeze in ("true", "false"):
        cli = run_recipe(
            "attributes_transfer",
            "fit",
            *SMALL_DATA,
            f"--model.init_from={path}",
            f"--model.freeze_backbone={freeze}",
            "--trainer.fast_dev_run=false",
            "--trainer.max_steps=2",
            "--trainer.limit_val_batches=1",
            "--trainer.logger=CSVLogger",
            f"--trainer.logger.save_dir={tmp_path}",
            tmp_path=tmp_path / freeze,
        )
        now = cli.model.backbone.state_dict()
        changed = [not torch.equal(v, now[k]) for k, v in original.items()]
        assert not any(changed) if freeze == "true" else any(changed)


def test_anet_pretrained_on_identities_then_fine_tuned_on_attributes(tmp_path: Path) -> None:
    # Stage 1 (configs/deepid2_anet.yaml): ANet as the VerificationTask backbone on identities.
    variant = RECIPES / "configs" / "deepid2_anet.yaml"
    source = run_recipe(
        "deepid2", "fit", "--config", str(variant), *SMALL_FACES, tmp_path=tmp_path / "ids"
    )
    assert type(source.model.backbone).__name__ == "ANet"
    assert source.model.hparams.verification_loss == "l2+"
    path = tmp_path / "anet_identities.ckpt"
    source.trainer.save_checkpoint(path)
    trained = {k: v.clone() for k, v in source.model.backbone.state_dict().items()}
    # Stage 2: the attribute recipe starts from those weights; with a zero learning rate the
    # step leaves them as loaded, frozen or not, so equality shows they were carried over.
    for freeze in ("true", "false"):
        cli = run_recipe(
            "celeba_attributes",
            "fit",
            *SMALL_DATA,
            f"--model.init_from={path}",
            f"--model.freeze_backbone={freeze}",
            "--model.lr=0.0",
            tmp_path=tmp_path / freeze,
        )
        now = cli.model.backbone.state_dict()
        assert set(now) == set(trained)
        assert all(torch.equal(trained[k], now[k]) for k in trained)
        assert cli.model.head.out_features == len(ATTRIBUTE_NAMES)
