from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torchvision import tv_tensors

from lightning_deepvision.datasets import image_folder as image_folder_module
from lightning_deepvision.datasets.errors import (
    CorruptImageError,
    DatasetNotFoundError,
    MalformedAnnotationError,
)
from lightning_deepvision.datasets.image_folder import ClassSetMismatchError
from lightning_deepvision.datasets.imagenet import (
    DEVKIT_GROUND_TRUTH,
    DEVKIT_META,
    KAGGLE_DIR,
    KAGGLE_SYNSETS,
    KAGGLE_VAL_SOLUTION,
    TORCHVISION_META,
    ImageNet,
    read_devkit_synsets,
)
from lightning_deepvision.testing import synthetic_synsets, write_imagenet

NUM_CLASSES, TRAIN, VAL = 5, 3, 2
WNIDS = [wnid for wnid, _ in synthetic_synsets(NUM_CLASSES)]
NAMES = [words for _, words in synthetic_synsets(NUM_CLASSES)]


@pytest.fixture(scope="module")
def roots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Read-only: the same tiny ImageNet (same seed) in each of the three layouts."""
    base = tmp_path_factory.mktemp("imagenet")
    return {
        layout: write_imagenet(
            base / layout,
            layout=layout,
            num_classes=NUM_CLASSES,
            train_images_per_class=TRAIN,
            val_images_per_class=VAL,
            image_size=(24, 32),
        )
        for layout in ("devkit", "sorted", "kaggle")
    }


def copy_of(root: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(root, tmp_path / root.name))


def val_labels_by_file(ds: ImageNet) -> dict[str, int]:
    return {ds.path(i).name: ds.index.label(i) for i in range(len(ds))}


@pytest.mark.parametrize("layout", ["devkit", "sorted", "kaggle"])
def test_train_split(roots: dict[str, Path], layout: str) -> None:
    ds = ImageNet(roots[layout], "train")
    assert ds.layout == "folders" and ds.kaggle == (layout == "kaggle")
    assert len(ds) == NUM_CLASSES * TRAIN
    assert ds.classes == WNIDS == sorted(WNIDS) and ds.num_classes == NUM_CLASSES
    assert ds.class_names == NAMES
    assert ds.targets.tolist() == [i // TRAIN for i in range(len(ds))]
    assert all(ds.path(i).parent.name == WNIDS[ds.index.label(i)] for i in range(len(ds)))
    sample = ds[4]
    assert set(sample) == {"image", "label"}
    assert isinstance(sample["image"], tv_tensors.Image)
    assert sample["image"].dtype == torch.uint8 and sample["image"].shape == (3, 24, 32)
    assert sample["label"].dtype == torch.int64 and sample["label"].item() == 1


def test_grey_jpeg_becomes_three_channels(roots: dict[str, Path]) -> None:
    image = ImageNet(roots["devkit"], "train")[0]["image"]  # the writer's grey image
    assert image.shape == (3, 24, 32)
    assert torch.equal(image[0], image[1]) and torch.equal(image[1], image[2])


@pytest.mark.parametrize(
    "layout, kind", [("devkit", "devkit"), ("sorted", "folders"), ("kaggle", "kaggle")]
)
def test_val_split(roots: dict[str, Path], layout: str, kind: str) -> None:
    ds = ImageNet(roots[layout], "val")
    assert ds.layout == kind and len(ds) == NUM_CLASSES * VAL
    assert ds.classes == WNIDS and ds.class_names == NAMES
    assert sorted(ds.targets.tolist()) == [c for c in range(NUM_CLASSES) for _ in range(VAL)]
    assert ds[3]["image"].shape == (3, 24, 32)


def test_every_layout_gives_the_same_val_labels(roots: dict[str, Path]) -> None:
    # The sorted layout's labels come from its folders alone: the devkit (through meta.mat's
    # ILSVRC2012_IDs) and the Kaggle solution file must agree with them image by image.
    expected = val_labels_by_file(ImageNet(roots["sorted"], "val"))
    assert val_labels_by_file(ImageNet(roots["devkit"], "val")) == expected
    assert val_labels_by_file(ImageNet(roots["kaggle"], "val")) == expected


def test_labels_follow_sorted_wnids_not_the_devkit_ids(roots: dict[str, Path]) -> None:
    leaves = read_devkit_synsets(roots["devkit"] / DEVKIT_META)
    assert sorted(s.ilsvrc_id for s in leaves) == list(range(1, NUM_CLASSES + 1))
    id_order = [s.wnid for s in sorted(leaves, key=lambda s: s.ilsvrc_id)]
    assert id_order != sorted(id_order)  # the fixture exercises the mapping
    ids = [int(x) for x in (roots["devkit"] / DEVKIT_GROUND_TRUTH).read_text().split()]
    ds = ImageNet(roots["devkit"], "val")
    labels = val_labels_by_file(ds)
    for number, ilsvrc_id in enumerate(ids, start=1):
        wnid = id_order[ilsvrc_id - 1]
        assert labels[f"ILSVRC2012_val_{number:08d}.JPEG"] == WNIDS.index(wnid)
    assert any(ilsvrc_id - 1 != WNIDS.index(id_order[ilsvrc_id - 1]) for ilsvrc_id in ids)


def test_names_without_metadata_are_the_wnids(roots: dict[str, Path], tmp_path: Path) -> None:
    root = copy_of(roots["sorted"], tmp_path)
    (root / TORCHVISION_META).unlink()
    assert ImageNet(root, "val").class_names == WNIDS


def test_construction_opens_no_image(
    roots: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("decoded")

    monkeypatch.setattr(image_folder_module, "decode_image_file", fail)
    for layout in roots:
        for split in ("train", "val"):
            ds = ImageNet(roots[layout], split)
            assert len(ds) > 0
    with pytest.raises(AssertionError, match="decoded"):
        ds[0]


def test_index_is_compact(roots: dict[str, Path]) -> None:
    for split in ("train", "val"):
        assert ImageNet(roots["devkit"], split).index.bytes_per_sample <= 200


def test_scipy_is_imported_only_for_the_devkit(roots: dict[str, Path]) -> None:
    code = (
        "import sys\n"
        "from lightning_deepvision.datasets import ImageNet\n"
        f"ImageNet({str(roots['devkit'])!r}, 'train'); ImageNet({str(roots['sorted'])!r}, 'val')\n"
        f"ImageNet({str(roots['kaggle'])!r}, 'val').class_names\n"
        "assert 'scipy.io' not in sys.modules\n"
        f"ImageNet({str(roots['devkit'])!r}, 'val')\n"
        "assert 'scipy.io' in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


# -- errors -----------------------------------------------------------------------------------
def test_not_found(tmp_path: Path, roots: dict[str, Path]) -> None:
    with pytest.raises(DatasetNotFoundError, match=r"nowhere.*image-net\.org"):
        ImageNet(tmp_path / "nowhere")
    (tmp_path / "only_val" / "val").mkdir(parents=True)
    with pytest.raises(DatasetNotFoundError, match=r"only_val/train"):
        ImageNet(tmp_path / "only_val", "train")
    with pytest.raises(ValueError, match="split must be"):
        ImageNet(roots["kaggle"], "test")


@pytest.mark.parametrize("missing", [DEVKIT_META, DEVKIT_GROUND_TRUTH])
def test_missing_devkit_file(roots: dict[str, Path], tmp_path: Path, missing: Path) -> None:
    root = copy_of(roots["devkit"], tmp_path)
    (root / missing).unlink()
    with pytest.raises(DatasetNotFoundError, match=rf"{missing.name}.*flat validation") as info:
        ImageNet(root, "val")
    assert info.value.missing == root / missing
    assert len(ImageNet(root, "train")) == NUM_CLASSES * TRAIN  # the training split needs none


@pytest.mark.parametrize("missing", [KAGGLE_SYNSETS, KAGGLE_VAL_SOLUTION])
def test_missing_kaggle_file(roots: dict[str, Path], tmp_path: Path, missing: Path) -> None:
    root = copy_of(roots["kaggle"], tmp_path)
    (root / missing).unlink()
    with pytest.raises(DatasetNotFoundError, match=missing.name):
        ImageNet(root, "val")


def test_unknown_id_in_the_ground_truth(roots: dict[str, Path], tmp_path: Path) -> None:
    root = copy_of(roots["devkit"], tmp_path)
    path = root / DEVKIT_GROUND_TRUTH
    original = path.read_text().splitlines()
    lines = list(original)
    lines[2] = "999"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(
        MalformedAnnotationError, match=r"ground_truth\.txt:3: expected the ILSVRC2012_ID.*'999'"
    ):
        ImageNet(root, "val")
    lines[2] = "three"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(MalformedAnnotationError, match=r":3:.*'three'"):
        ImageNet(root, "val")
    path.write_text("\n".join(original[:4]) + "\n")
    with pytest.raises(
        MalformedAnnotationError, match=r":5: expected a line for ILSVRC2012_val_00000005"
    ):
        ImageNet(root, "val")


def test_unknown_wnid_in_the_kaggle_solution(roots: dict[str, Path], tmp_path: Path) -> None:
    root = copy_of(roots["kaggle"], tmp_path)
    path = root / KAGGLE_VAL_SOLUTION
    lines = path.read_text().splitlines()
    lines[4] = lines[4].replace(lines[4].split(",")[1].split()[0], "n99999999", 1)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(
        MalformedAnnotationError, match=r"LOC_val_solution\.csv:5: .*not 'n99999999'"
    ):
        ImageNet(root, "val")


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda lines: ["ImageId;PredictionString", *lines[1:]], r":1: expected the header"),
        (
            lambda lines: [*lines[:3], lines[3].split(",")[0] + ",", *lines[4:]],
            r":4: expected '<ImageId>",
        ),
        (lambda lines: [*lines, lines[1]], r":12: expected one row per image"),
        (lambda lines: lines[:-1], r"no row for the validation image"),
    ],
)
def test_malformed_kaggle_solution(roots: dict[str, Path], tmp_path: Path, edit, match) -> None:
    root = copy_of(roots["kaggle"], tmp_path)
    path = root / KAGGLE_VAL_SOLUTION
    path.write_text("\n".join(edit(path.read_text().splitlines())) + "\n")
    with pytest.raises(ValueError, match=match):
        ImageNet(root, "val")


def test_malformed_synset_mapping(roots: dict[str, Path], tmp_path: Path) -> None:
    root = copy_of(roots["kaggle"], tmp_path)
    path = root / KAGGLE_SYNSETS
    lines = path.read_text().splitlines()
    path.write_text("\n".join([*lines, lines[0]]) + "\n")
    with pytest.raises(
        MalformedAnnotationError, match=r"LOC_synset_mapping\.txt:6:.*not listed before"
    ):
        ImageNet(root, "val")


def test_unreadable_meta_mat(roots: dict[str, Path], tmp_path: Path) -> None:
    root = copy_of(roots["devkit"], tmp_path)
    (root / DEVKIT_META).write_bytes(b"not a MATLAB file")
    with pytest.raises(ValueError, match=r"meta\.mat.*'synsets' struct array"):
        ImageNet(root, "val")


def test_stray_file_in_flat_val(roots: dict[str, Path], tmp_path: Path) -> None:
    root = copy_of(roots["devkit"], tmp_path)
    shutil.copy(root / "val" / "ILSVRC2012_val_00000001.JPEG", root / "val" / "copy.JPEG")
    with pytest.raises(ValueError, match=r"copy\.JPEG.*ILSVRC2012_val_<8 digits>"):
        ImageNet(root, "val")


def test_corrupt_jpeg_names_the_file(roots: dict[str, Path], tmp_path: Path) -> None:
    root = copy_of(roots["kaggle"], tmp_path)
    ds = ImageNet(root, "val")
    data = ds.path(2).read_bytes()
    ds.path(2).write_bytes(data[: len(data) // 3])
    with pytest.raises(CorruptImageError, match=r"ILSVRC2012_val_00000003\.JPEG"):
        ds[2]


def test_train_and_sorted_val_classes_differ(roots: dict[str, Path], tmp_path: Path) -> None:
    root = copy_of(roots["sorted"], tmp_path)
    shutil.rmtree(root / "val" / WNIDS[-1])
    for split in ("train", "val"):
        with pytest.raises(ClassSetMismatchError, match=WNIDS[-1]):
            ImageNet(root, split)


def test_train_classes_differ_from_the_devkit(roots: dict[str, Path], tmp_path: Path) -> None:
    root = copy_of(roots["devkit"], tmp_path)
    shutil.copytree(root / "train" / WNIDS[0], root / "train" / "n09999999")
    with pytest.raises(ClassSetMismatchError, match=r"train.*meta\.mat.*n09999999"):
        ImageNet(root, "val")


def test_kaggle_train_classes_differ_from_the_mapping(
    roots: dict[str, Path], tmp_path: Path
) -> None:
    root = copy_of(roots["kaggle"], tmp_path)
    shutil.rmtree(root / KAGGLE_DIR / "train" / WNIDS[1])
    with pytest.raises(ClassSetMismatchError, match=rf"LOC_synset_mapping\.txt.*{WNIDS[1]}"):
        ImageNet(root, "train")
    with pytest.raises(ClassSetMismatchError, match=WNIDS[1]):
        ImageNet(root, "val")
