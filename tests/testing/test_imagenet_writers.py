"""The ImageNet-layout and image-folder writers of ``lightning_deepvision.testing``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.io import loadmat

from lightning_deepvision.datasets.imagenet import (
    DEVKIT_GROUND_TRUTH,
    DEVKIT_META,
    KAGGLE_DIR,
    KAGGLE_SYNSETS,
    KAGGLE_VAL_SOLUTION,
    TORCHVISION_META,
)
from lightning_deepvision.testing import (
    class_image,
    synthetic_synsets,
    write_image_folder,
    write_imagenet,
)


def tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


SMALL = {"num_classes": 3, "train_images_per_class": 2, "val_images_per_class": 2}
WNIDS = [wnid for wnid, _ in synthetic_synsets(3)]
VAL = [f"ILSVRC2012_val_{i:08d}.JPEG" for i in range(1, 7)]
TRAIN = [f"{w}/{w}_{j}.JPEG" for w in WNIDS for j in (1, 2)]


def test_synsets_look_like_wordnet_and_sort_in_label_order() -> None:
    synsets = synthetic_synsets(12)
    wnids = [w for w, _ in synsets]
    assert wnids == sorted(wnids) and len(set(wnids)) == 12
    assert all(len(w) == 9 and w[0] == "n" and w[1:].isdigit() for w in wnids)


def test_devkit_layout(tmp_path: Path) -> None:
    root = write_imagenet(tmp_path / "in", "devkit", **SMALL)
    assert root == tmp_path / "in"
    assert sorted(tree(root)) == sorted(
        [str(DEVKIT_GROUND_TRUTH), str(DEVKIT_META)]
        + [f"train/{t}" for t in TRAIN]
        + [f"val/{v}" for v in VAL]
    )
    synsets = loadmat(root / DEVKIT_META, squeeze_me=True)["synsets"]
    assert synsets.dtype.names == (
        "ILSVRC2012_ID", "WNID", "words", "gloss",
        "num_children", "children", "wordnet_height", "num_train_images",
    )  # fmt: skip
    children = [int(c) for c in synsets["num_children"]]
    leaves = [i for i, c in enumerate(children) if c == 0]
    assert len(leaves) == 3 and len(children) == 5  # two inner nodes above the leaves
    ids = [int(synsets["ILSVRC2012_ID"][i]) for i in leaves]
    assert ids == [1, 2, 3]  # file order is ILSVRC2012_ID order ...
    leaf_wnids = [str(synsets["WNID"][i]) for i in leaves]
    assert sorted(leaf_wnids) == WNIDS and leaf_wnids != WNIDS  # ... which is not wnid order
    truth = (root / DEVKIT_GROUND_TRUTH).read_text().split()
    assert sorted(int(t) for t in truth) == [1, 1, 2, 2, 3, 3]


def test_sorted_layout(tmp_path: Path) -> None:
    root = write_imagenet(tmp_path, "sorted", **SMALL)
    files = sorted(tree(root))
    assert str(TORCHVISION_META) in files
    val = [f for f in files if f.startswith("val/")]
    assert sorted(Path(f).name for f in val) == VAL
    assert {Path(f).parent.name for f in val} == set(WNIDS)
    wnid_to_names, val_wnids = torch.load(root / TORCHVISION_META, weights_only=True)
    assert list(wnid_to_names) == WNIDS and wnid_to_names[WNIDS[0]] == (
        "synthetic class 0",
        "object 0",
    )
    for number, wnid in enumerate(val_wnids, start=1):  # torchvision's meta: val wnid by number
        assert (root / "val" / wnid / f"ILSVRC2012_val_{number:08d}.JPEG").is_file()


def test_kaggle_layout(tmp_path: Path) -> None:
    root = write_imagenet(tmp_path, "kaggle", **SMALL)
    files = sorted(tree(root))
    base = str(KAGGLE_DIR)
    assert files == sorted(
        [str(KAGGLE_SYNSETS), str(KAGGLE_VAL_SOLUTION)]
        + [f"{base}/train/{t}" for t in TRAIN]
        + [f"{base}/val/{v}" for v in VAL]
        + [f"{base}/test/ILSVRC2012_test_{k:08d}.JPEG" for k in (1, 2)]
    )
    mapping = (root / KAGGLE_SYNSETS).read_text().splitlines()
    assert [line.split()[0] for line in mapping] == WNIDS
    header, *rows = (root / KAGGLE_VAL_SOLUTION).read_text().splitlines()
    assert header == "ImageId,PredictionString"
    assert sorted(r.split(",")[0] + ".JPEG" for r in rows) == VAL
    for row in rows:
        tokens = row.split(",")[1].split()
        assert len(tokens) % 5 == 0 and len(set(tokens[::5])) == 1 and tokens[0] in WNIDS
        boxes = np.array(
            [[int(t) for t in tokens[i + 1 : i + 5]] for i in range(0, len(tokens), 5)]
        )
        assert (boxes[:, 2] > boxes[:, 0]).all() and (boxes[:, 3] > boxes[:, 1]).all()


def test_images_are_real_jpegs_with_one_grey(tmp_path: Path) -> None:
    root = write_imagenet(tmp_path, "devkit", image_size=(20, 28), grey_images=1, **SMALL)
    modes = []
    for name in [*(f"train/{t}" for t in TRAIN), *(f"val/{v}" for v in VAL)]:
        with Image.open(root / name) as image:
            assert image.format == "JPEG" and image.size == (28, 20)
            modes.append(image.mode)
    assert modes == ["L"] + ["RGB"] * 11


@pytest.mark.parametrize("layout", ["devkit", "sorted", "kaggle"])
def test_deterministic_per_seed(tmp_path: Path, layout: str) -> None:
    a = tree(write_imagenet(tmp_path / "a", layout, seed=3, **SMALL))
    b = tree(write_imagenet(tmp_path / "b", layout, seed=3, **SMALL))
    c = tree(write_imagenet(tmp_path / "c", layout, seed=4, **SMALL))
    assert a == b and a != c


def test_imagenet_writer_never_overwrites(tmp_path: Path) -> None:
    write_imagenet(tmp_path, "kaggle", **SMALL)
    before = tree(tmp_path)
    (tmp_path / KAGGLE_VAL_SOLUTION).unlink()  # only one file missing: still refused whole
    before.pop(str(KAGGLE_VAL_SOLUTION))
    with pytest.raises(FileExistsError, match="refusing to overwrite"):
        write_imagenet(tmp_path, "kaggle", **SMALL)
    assert tree(tmp_path) == before


def test_imagenet_writer_rejects_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="layout"):
        write_imagenet(tmp_path, "flat")
    with pytest.raises(ValueError, match="positive"):
        write_imagenet(tmp_path, num_classes=0)
    assert not any(tmp_path.iterdir())


# -- image folders ------------------------------------------------------------------------------
def test_image_folder_layout_and_formats(tmp_path: Path) -> None:
    root = write_image_folder(
        tmp_path / "f", num_classes=2, images_per_class={"train": 2, "test": 1}, ext=("png", "pgm")
    )
    assert sorted(tree(root)) == [
        "test/class_00/000.png",
        "test/class_01/000.pgm",
        "train/class_00/000.png",
        "train/class_00/001.pgm",
        "train/class_01/000.png",
        "train/class_01/001.pgm",
    ]
    with Image.open(root / "train" / "class_01" / "001.pgm") as image:
        assert image.mode == "L" and image.size == (32, 32)


def test_image_folder_class_names_and_size(tmp_path: Path) -> None:
    root = write_image_folder(
        tmp_path, 2, {"val": 1}, image_size=(12, 18), class_names=["cat", "dog"]
    )
    assert sorted(tree(root)) == ["val/cat/000.jpg", "val/dog/000.jpg"]
    with Image.open(root / "val" / "dog" / "000.jpg") as image:
        assert image.format == "JPEG" and image.size == (18, 12)


def test_image_folder_writer_is_deterministic_and_never_overwrites(tmp_path: Path) -> None:
    a = tree(write_image_folder(tmp_path / "a", seed=1))
    assert a == tree(write_image_folder(tmp_path / "b", seed=1))
    assert a != tree(write_image_folder(tmp_path / "c", seed=2))
    with pytest.raises(FileExistsError, match="refusing to overwrite"):
        write_image_folder(tmp_path / "a", seed=1)
    assert tree(tmp_path / "a") == a


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"ext": "gif"}, "unsupported ext"),
        ({"num_classes": 0}, "positive"),
        ({"images_per_class": {"train": 0}}, "positive"),
        ({"class_names": ["a", "a", "b"]}, "3 distinct names"),
    ],
)
def test_image_folder_writer_rejects_bad_arguments(tmp_path: Path, kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        write_image_folder(tmp_path, **kwargs)


def test_class_images_differ_by_class_and_not_by_what_else_is_written() -> None:
    a = class_image(1, 0, (24, 24), num_classes=4)
    assert a.dtype == torch.uint8 and a.shape == (3, 24, 24)
    assert torch.equal(a, class_image(1, 0, (24, 24), num_classes=4))
    assert not torch.equal(a, class_image(1, 1, (24, 24), num_classes=4))
    means = torch.stack([class_image(c, 0, (24, 24), 4).float().mean(dim=(1, 2)) for c in range(4)])
    assert torch.cdist(means, means).add(torch.eye(4) * 1e3).min() > 10  # distinct class colours
