"""PatchEnsembleTask: the DeepID2 patch ensemble as one task, through the CLI recipe."""

from pathlib import Path

import pytest
import torch

from lightning_deepvision.tasks import PatchEnsembleTask
from lightning_deepvision.tasks.patch_selection import greedy_patch_selection
from tests.recipes._support import SMALL_FACES, run_recipe

TINY = [
    "--model.patch_net=deepid2_tiny",
    *SMALL_FACES,
]


def test_ensemble_recipe_fit_writes_one_checkpoint_that_test_reads(tmp_path: Path) -> None:
    cli = run_recipe(
        "deepid2_ensemble",
        "fit",
        *TINY,
        "--trainer.fast_dev_run=false",
        "--trainer.max_epochs=1",
        "--trainer.limit_train_batches=2",
        "--trainer.limit_val_batches=2",
        tmp_path=tmp_path,
    )
    model = cli.model
    assert isinstance(model, PatchEnsembleTask)
    # Three patch nets, each supervised by its own identity head; one checkpoint holds them all.
    assert model.ensemble.num_patches == 3 and len(model.identity_heads) == 3
    assert model.scorer.is_fitted  # Joint Bayesian, fitted before validation
    checkpoint = next((tmp_path).rglob("last.ckpt"))
    state = torch.load(checkpoint, weights_only=True)["state_dict"]
    assert {k.split(".")[2] for k in state if k.startswith("backbone.nets.")} == {"0", "1", "2"}
    cli = run_recipe(
        "deepid2_ensemble",
        "test",
        *TINY,
        f"--ckpt_path={checkpoint}",
        "--trainer.fast_dev_run=false",
        "--trainer.limit_test_batches=2",
        tmp_path=tmp_path,
    )
    assert "test/accuracy" in cli.trainer.callback_metrics
    # Patch and mirror features of 3 nets of 16-d, PCA capped by the width.
    assert cli.model.scorer.pca_dim == 96


def test_predict_returns_the_concatenated_patch_embeddings(tmp_path: Path) -> None:
    cli = run_recipe(
        "deepid2_ensemble", "predict", *TINY, "--model.num_identities=12", tmp_path=tmp_path
    )
    assert isinstance(cli.model, PatchEnsembleTask)
    with torch.no_grad():
        embedding = cli.model.embed(torch.zeros(2, 3, 64, 56))
    assert embedding.shape == (2, 96)


def test_greedy_selection_keeps_the_informative_patches() -> None:
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(16).repeat_interleave(6)
    identity = torch.randn(16, 8, generator=generator).repeat_interleave(6, 0)
    noise = [torch.randn(96, 8, generator=generator) for _ in range(5)]
    # Patches 1 and 3 carry the identity; the others are noise.
    features = [n + (3 * identity if k in (1, 3) else 0) for k, n in enumerate(noise)]
    assert greedy_patch_selection(features, labels, 2, pca_dim=8) == [1, 3]
    with pytest.raises(ValueError, match="between 1 and 5"):
        greedy_patch_selection(features, labels, 6)


def test_task_selects_patches_and_refuses_other_backbones(tmp_path: Path) -> None:
    cli = run_recipe(
        "deepid2_ensemble",
        "validate",
        *TINY,
        "--model.num_identities=12",
        "--model.select_patches=2",
        tmp_path=tmp_path,
    )
    assert int(cli.model.ensemble.selected.sum()) == 2
    assert "val/accuracy" in cli.trainer.callback_metrics
    with pytest.raises(ValueError, match="patch_net"):
        PatchEnsembleTask(backbone="deepid2", num_identities=3)
    with pytest.raises(ValueError, match="select_patches"):
        PatchEnsembleTask(patch_net="deepid2_tiny", patches=[[0, 0, 1, 1]], select_patches=2)
