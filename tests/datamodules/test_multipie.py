"""MultiPIEDataModule and SyntheticMultiViewDataModule: splits, LDA reference rows, transforms."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lightning_deepvision.datamodules import MultiPIEDataModule, SyntheticMultiViewDataModule
from lightning_deepvision.testing import write_multipie

LOADER = {"num_workers": 0, "batch_size": 4, "eval_batch_size": 64}


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_multipie(
        tmp_path_factory.mktemp("multipie"), subjects=(1, 2, 3, 4, 5), shots=(0, 7)
    )


def test_multipie_splits_follow_the_protocol(root: Path) -> None:
    data = MultiPIEDataModule(
        root, train_subjects=3, image_size=(16, 16), lda_reference_images=5, **LOADER
    )
    data.setup("fit")
    assert len(data.dataset("train")) == 3 * 7 * 2
    val = data.dataset("val")
    # Without val_subjects the test people validate; the reference rows are training images.
    assert len(val) == 2 * 7 * 2 + 5
    flags = torch.stack([val[i]["reference"] for i in range(len(val))])
    assert int(flags.sum()) == 5 and not bool(flags[: 2 * 7 * 2].any())
    assert {int(val[i]["identity"]) for i in range(28, 33)} <= {1, 2, 3}
    batch = next(iter(data.train_dataloader()))
    assert batch["image"].shape == (4, 1, 16, 16) and batch["target"].shape == (4, 1, 16, 16)
    assert batch["image"].dtype == torch.float32 and float(batch["image"].min()) >= 0
    assert float(batch["image"].max()) <= 1
    assert set(batch) == {
        "image",
        "target",
        "label",
        "identity",
        "yaw",
        "target_yaw",
        "illumination",
    }
    predict = data.dataset("predict")
    assert "path" in predict[0] and "reference" not in predict[0]


def test_multipie_val_subjects_are_held_out_of_training(root: Path) -> None:
    data = MultiPIEDataModule(
        root, train_subjects=3, val_subjects=1, lda_reference_images=0, **LOADER
    )
    train, val = data.dataset("train"), data.dataset("val")
    train_people = {int(train[i]["identity"]) for i in range(len(train))}
    val_people = {int(val[i]["identity"]) for i in range(len(val))}
    assert train_people == {1, 2} and val_people == {3}
    with pytest.raises(ValueError, match="leaves no training subject"):
        MultiPIEDataModule(root, train_subjects=3, val_subjects=3, **LOADER).dataset("train")


def test_synthetic_multiview_targets_and_reference_rows() -> None:
    data = SyntheticMultiViewDataModule(
        train_identities=3,
        eval_identities=2,
        images_per_identity=7,
        render_size=32,
        image_size=(16, 16),
        target_view="random",
        lda_reference_images=6,
        **LOADER,
    )
    train, test = data.dataset("train"), data.dataset("test")
    assert len(train) == 21 and len(test) == 14 + 6
    yaws = sorted({float(train[i]["yaw"]) for i in range(7)})
    assert yaws == [-45.0, -30.0, -15.0, 0.0, 15.0, 30.0, 45.0]
    # Evaluation targets are drawn from a seed: the same every time.
    assert [float(test[i]["target_yaw"]) for i in range(5)] == [
        float(test[i]["target_yaw"]) for i in range(5)
    ]
    assert len({float(test[i]["target_yaw"]) for i in range(14)}) > 2
    assert bool(test[19]["reference"]) and not bool(test[0]["reference"])
    canonical = SyntheticMultiViewDataModule(
        train_identities=2, eval_identities=2, images_per_identity=7, render_size=32, **LOADER
    ).dataset("val")
    assert float(canonical[3]["target_yaw"]) == 0.0
    clean = SyntheticMultiViewDataModule(
        train_identities=2,
        eval_identities=2,
        images_per_identity=7,
        render_size=32,
        image_size=(16, 16),
        target_view="random_canonical",
        lda_reference_images=0,
        **LOADER,
    ).dataset("val")
    # The person from a drawn pose under the canonical conditions: the same for every image of
    # that person and pose, whatever the input's nuisance.
    by_view: dict[tuple[int, float], torch.Tensor] = {}
    for index in range(len(clean)):
        sample = clean[index]
        key = (int(sample["identity"]), float(sample["target_yaw"]))
        if key in by_view:
            torch.testing.assert_close(sample["target"], by_view[key])
        by_view[key] = sample["target"]
    assert len({yaw for _, yaw in by_view}) > 2
    assert len(by_view) < len(clean)


def test_bad_options() -> None:
    with pytest.raises(ValueError, match="in_chans"):
        SyntheticMultiViewDataModule(in_chans=2)
    with pytest.raises(ValueError, match="target_view"):
        SyntheticMultiViewDataModule(target_view="side")  # type: ignore[arg-type]
