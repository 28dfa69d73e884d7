"""SyntheticParsingDataModule: disjoint people per split, pre-rendered or not, same samples."""

from __future__ import annotations

import torch

from lightning_deepvision.datamodules import SyntheticParsingDataModule

OPTIONS = {"train_images": 6, "eval_images": 4, "images_per_identity": 2, "image_size": (32, 28)}


def test_batches_and_prerender_give_the_same_samples() -> None:
    cached = SyntheticParsingDataModule(**OPTIONS, batch_size=3, num_workers=0)  # type: ignore[arg-type]
    lazy = SyntheticParsingDataModule(**OPTIONS, prerender=False, num_workers=0)  # type: ignore[arg-type]
    cached.setup("fit")
    lazy.setup("fit")
    assert cached.num_classes == 11 and len(cached.dataset("train")) == 6
    batch = next(iter(cached.val_dataloader()))
    assert batch["image"].shape == (4, 3, 32, 28) and batch["mask"].shape == (4, 32, 28)
    assert batch["mask"].dtype == torch.int64 and batch["index"].tolist() == [0, 1, 2, 3]
    for k in range(4):
        a, b = cached.dataset("val")[k], lazy.dataset("val")[k]
        torch.testing.assert_close(a["image"], b["image"])
        assert torch.equal(a["mask"], b["mask"])
    # Training faces differ from the validation ones (other people).
    train = cached.dataset("train")[0]["mask"]
    assert not torch.equal(train, cached.dataset("val")[0]["mask"])


def test_left_parts_are_on_the_image_left_and_as_large_as_the_right_ones() -> None:
    from lightning_deepvision.datasets.face_parts import HELEN_LABELS

    data = SyntheticParsingDataModule(
        train_images=4, eval_images=40, image_size=(64, 56), augment=False, num_workers=0
    )
    masks = torch.stack([data.dataset("val")[k]["mask"] for k in range(40)])
    columns = torch.arange(56).float()
    counts, centres = {}, {}
    for side in ("left", "right"):
        for part in ("eyebrow", "eye"):
            inside = masks == HELEN_LABELS.index(f"{side}_{part}")
            counts[side, part] = int(inside.sum())
            centres[side, part] = float((inside * columns).sum() / inside.sum())
    for part in ("eyebrow", "eye"):
        # "left" is the viewer's: the left part lies left of the middle, the right one right.
        assert centres["left", part] < 28.0 < centres["right", part]
        # Faces turn both ways equally often: both sides cover about as many pixels.
        assert abs(counts["left", part] - counts["right", part]) < 0.2 * counts["left", part]
