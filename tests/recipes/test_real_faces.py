"""The real-faces recipe (patch ensemble) and its variants (single net, transfer) via the CLI."""

from pathlib import Path

import pytest
import torch

from lightning_deepvision.cli import main
from lightning_deepvision.datamodules import RealFacesDataModule
from lightning_deepvision.datasets import IdentityFolder, LFWPairs
from lightning_deepvision.metrics import JointBayesianScorer, LDAScorer
from lightning_deepvision.tasks import PatchEnsembleTask, VerificationTask
from lightning_deepvision.testing import write_identity_folder
from lightning_deepvision.testing.identity_split import split_identity_folder
from tests.recipes._support import RECIPES, run_recipe

CONFIG = RECIPES / "configs" / "real_faces.yaml"


@pytest.fixture
def real_layout(tmp_path: Path) -> tuple[Path, Path]:
    source = write_identity_folder(tmp_path / "all", num_identities=9, images_per_identity=4)
    return split_identity_folder(source, tmp_path / "split", ["id_0006", "id_0007", "id_0008"])


def test_split_identity_folder_writes_disjoint_people_and_lfw_pairs(
    real_layout: tuple[Path, Path], tmp_path: Path
) -> None:
    train_root, lfw_root = real_layout
    train = IdentityFolder(train_root)
    assert train.num_classes == 6 and len(train) == 24
    pairs = LFWPairs(lfw_root)
    # 3 people x C(4, 2) matched pairs = 18, 10 folds of 1 matched + 1 mismatched.
    assert pairs.num_folds == 10 and len(pairs) == 20
    people = {p.parent.name for pair in pairs.pairs for p in pair[:2]}
    assert people <= {"id_0006", "id_0007", "id_0008"}
    assert sum(pair[2] for pair in pairs.pairs) == 10
    with pytest.raises(FileExistsError):
        split_identity_folder(tmp_path / "all", tmp_path / "split", ["id_0006", "id_0007"])
    with pytest.raises(ValueError, match="unknown"):
        split_identity_folder(tmp_path / "all", tmp_path / "other", ["nobody"])


def run(subcommand: str, data: tuple[Path, Path], tmp_path: Path, *extra: str):
    train_root, lfw_root = data
    args = [
        subcommand,
        "--trainer.fast_dev_run=true",
        f"--trainer.default_root_dir={tmp_path}",
        f"--data.train_root={train_root}",
        f"--data.lfw_root={lfw_root}",
        "--data.identities_per_batch=3",
        "--data.images_per_identity=2",
        "--data.eval_batch_size=16",
        "--data.val_identity_fraction=0.34",
        *extra,
    ]
    return main(args=args, default_config_files=[CONFIG])


def test_real_faces_fit_validates_on_held_out_people_then_tests(
    real_layout: tuple[Path, Path], tmp_path: Path
) -> None:
    """The default: the DeepID2 patch ensemble, Joint Bayesian fitted on augmented passes."""
    cli = run("fit", real_layout, tmp_path, "--model.patch_net=deepid2_tiny")
    assert isinstance(cli.model, PatchEnsembleTask)
    assert cli.model.ensemble.num_patches == 4
    assert all(net.in_chans == 1 for net in cli.model.ensemble.nets)
    assert cli.datamodule.resolved_val_split() == "identities"
    assert cli.model.hparams.num_identities == 4  # 6 training people, 2 held out
    assert isinstance(cli.model.scorer, JointBayesianScorer) and cli.model.scorer.is_fitted
    assert cli.datamodule.scorer_fit_repeats == 5
    assert "val/accuracy" in cli.trainer.callback_metrics
    cli = run(
        "test", real_layout, tmp_path, "--model.patch_net=deepid2_tiny", "--model.num_identities=4"
    )
    assert "test/accuracy" in cli.trainer.callback_metrics


def test_real_faces_single_net_then_transfer_variant(
    real_layout: tuple[Path, Path], tmp_path: Path
) -> None:
    single = RECIPES / "configs" / "real_faces_single.yaml"
    cli = run("fit", real_layout, tmp_path, f"--config={single}", "--model.backbone=deepid2_tiny")
    assert type(cli.model) is VerificationTask and cli.model.hparams.in_chans == 1
    assert isinstance(cli.model.scorer, LDAScorer) and cli.model.scorer.is_fitted
    assert tuple(cli.model.hparams.input_size) == (55, 47)
    weights = tmp_path / "weights.pt"
    torch.save(cli.model.state_dict(), weights)

    # The transfer variant on its own over the default: one DeepID2, initialised from a
    # checkpoint, a smaller backbone rate.
    transfer = RECIPES / "configs" / "real_faces_transfer.yaml"
    cli = run(
        "fit",
        real_layout,
        tmp_path,
        f"--config={transfer}",
        "--model.backbone=deepid2_tiny",
        f"--model.init_from={weights}",
    )
    assert type(cli.model) is VerificationTask
    assert isinstance(cli.model.scorer, LDAScorer) and cli.model.scorer.is_fitted
    assert cli.model.hparams.backbone_lr_scale == pytest.approx(0.1)
    loaded = cli.model.backbone.state_dict()
    saved = torch.load(weights, weights_only=True)
    # fast_dev_run takes one step: the weights moved from the initialisation, but only a little.
    name = next(k for k in loaded if k.endswith("weight"))
    assert torch.allclose(loaded[name], saved[f"backbone.{name}"], atol=1e-2)


def test_real_faces_runs_with_no_argument_on_built_in_faces(tmp_path: Path) -> None:
    cli = run_recipe(
        "real_faces",
        "fit",
        "--model.patch_net=deepid2_tiny",
        "--data.synthetic_identities=6",
        "--data.synthetic_images_per_identity=3",
        "--data.synthetic_pairs_per_fold=2",
        "--data.identities_per_batch=3",
        "--data.images_per_identity=2",
        "--data.eval_batch_size=32",
        tmp_path=tmp_path,
    )
    assert isinstance(cli.datamodule, RealFacesDataModule) and cli.datamodule.synthetic
    assert cli.model.hparams.num_identities == 6
    # The default scoring: PCA + Joint Bayesian fitted (before validation) on 5 augmented passes.
    assert isinstance(cli.model, PatchEnsembleTask)
    assert isinstance(cli.model.scorer, JointBayesianScorer) and cli.model.scorer.is_fitted
    assert cli.datamodule.scorer_fit_repeats == 5
    assert "val/accuracy" in cli.trainer.callback_metrics
