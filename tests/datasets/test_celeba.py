"""CelebA: both layouts, the samples, the parser against torchvision's, and every bad input."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torchvision import tv_tensors
from torchvision.datasets import CelebA as TorchvisionCelebA

from lightning_deepvision.datasets import (
    CelebA,
    DatasetNotFoundError,
    MalformedAnnotationError,
    MissingImageError,
)
from lightning_deepvision.datasets.celeba_annotations import (
    CELEBA_ATTRIBUTES,
    CELEBA_FILES,
    ChecksumError,
    read_celeba_table,
)
from lightning_deepvision.testing import write_celeba

SIZE = (40, 33)
ALL_TARGETS = ["attributes", "identity", "bbox", "landmarks"]


@pytest.fixture(scope="module")
def celeba_roots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("celeba")
    return {
        layout: write_celeba(base / layout, layout=layout, image_size=SIZE)
        for layout in ("torchvision", "archive")
    }


@pytest.fixture
def damaged(celeba_roots: dict[str, Path], tmp_path: Path) -> Path:
    """A private copy of the torchvision layout, to damage; returns its ``celeba/`` folder."""
    shutil.copytree(celeba_roots["torchvision"], tmp_path / "root")
    return tmp_path / "root" / "celeba"


def _edit(path: Path, line_number: int, new: str | None) -> None:
    lines = path.read_text().splitlines()
    if new is None:
        del lines[line_number - 1]
    else:
        lines[line_number - 1] = new
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("layout", ["torchvision", "archive", "celeba_folder"])
def test_layouts_and_splits(celeba_roots: dict[str, Path], layout: str) -> None:
    root = celeba_roots["torchvision"] / "celeba" if layout == "celeba_folder" else None
    root = root or celeba_roots[layout]
    sizes = {s: len(CelebA(root, s, target=ALL_TARGETS)) for s in ("train", "val", "test", "all")}
    # write_celeba: 10 people x 3 images, people split 6 / 2 / 2.
    assert sizes == {"train": 18, "val": 6, "test": 6, "all": 30}
    train = CelebA(root, "train", target="identity")
    assert train.num_classes == 6
    assert sorted(set(train.targets)) == list(range(6))


def test_sample_keys_types_and_values(celeba_roots: dict[str, Path]) -> None:
    root = celeba_roots["archive"]
    dataset = CelebA(root, "all", target=ALL_TARGETS)
    sample = dataset[4]
    assert isinstance(sample["image"], tv_tensors.Image)
    assert sample["image"].shape == (3, *SIZE) and sample["image"].dtype == torch.uint8
    assert sample["attributes"].shape == (40,) and set(sample["attributes"].tolist()) <= {0, 1}
    assert isinstance(sample["boxes"], tv_tensors.BoundingBoxes)
    assert sample["boxes"].shape == (1, 4)
    assert isinstance(sample["landmarks"], tv_tensors.KeyPoints)
    assert sample["landmarks"].shape == (5, 2) and sample["landmarks"].canvas_size == SIZE
    assert dataset.attribute_names == CELEBA_ATTRIBUTES and len(CELEBA_ATTRIBUTES) == 40
    # The values are those of the files, row 5 (line 7 of the attribute file).
    row = (root / "Anno" / "list_attr_celeba.txt").read_text().splitlines()[6].split()
    assert row[0] == "000005.jpg"
    assert sample["attributes"].tolist() == [(int(v) + 1) // 2 for v in row[1:]]
    identity = (root / "Anno" / "identity_CelebA.txt").read_text().splitlines()[4].split()
    assert int(sample["identity"]) == int(identity[1])
    only = CelebA(root, "all", target="attributes")[4]
    assert set(only) == {"image", "index", "attributes"}


def test_parser_agrees_with_torchvision(celeba_roots: dict[str, Path]) -> None:
    base = celeba_roots["torchvision"]
    reader = SimpleNamespace(root=str(base), base_folder="celeba")
    for key in ("attributes", "identity", "bbox", "landmarks", "partition"):
        spec = CELEBA_FILES[key]
        ours = read_celeba_table(base / "celeba" / spec.file, spec)
        header = 1 if spec.counted else None
        theirs = TorchvisionCelebA._load_csv(reader, spec.file, header=header)  # type: ignore[arg-type]
        assert [n.decode() for n in ours.names] == theirs.index
        assert torch.equal(torch.from_numpy(ours.values.astype(np.int64)), theirs.data.long())


def _identity_parts(root: Path, counts: tuple[int, int, int]) -> dict[str, list[int]]:
    return {
        s: sorted(
            set(
                CelebA(
                    root, s, target="identity", partition="identity", identity_split=counts
                ).identities.tolist()
            )
        )
        for s in ("train", "val", "test")
    }


@pytest.mark.parametrize("layout", ["torchvision", "archive"])
def test_identity_partition_counts_by_identity_number(
    celeba_roots: dict[str, Path], layout: str
) -> None:
    # write_celeba: ids 1..10, 3 images each, shuffled over the files.
    parts = _identity_parts(celeba_roots[layout], (5, 2, 2))
    # The paper's rule: first N train, next M val, the last K test; id 8 is left out.
    assert parts == {"train": [1, 2, 3, 4, 5], "val": [6, 7], "test": [9, 10]}
    assert (
        len(CelebA(celeba_roots[layout], "test", partition="identity", identity_split=(5, 2, 2)))
        == 6
    )
    # Counts that use every identity leave no gap.
    assert _identity_parts(celeba_roots[layout], (8, 1, 1)) == {
        "train": list(range(1, 9)),
        "val": [9],
        "test": [10],
    }


def test_identity_partition_asks_for_more_identities_than_the_file_has(
    celeba_roots: dict[str, Path],
) -> None:
    root = celeba_roots["torchvision"]
    # The default is the paper's 8,000 / 1,000 / 1,000: far more than the fixture's 10 people.
    with pytest.raises(ValueError, match=r"identity_CelebA.txt lists 10 identities.*10000"):
        CelebA(root, "train", partition="identity")
    with pytest.raises(ValueError, match=r"lists 10 identities.*5 \+ 3 \+ 3 = 11"):
        CelebA(root, "test", partition="identity", identity_split=(5, 3, 3))
    for bad in ((0.8, 0.1), (0, 1, 1), (5, -1, 1), (0.5, 1, 1)):
        with pytest.raises(ValueError, match="identity_split"):
            CelebA(root, "train", partition="identity", identity_split=bad)  # type: ignore[arg-type]


def test_not_found_names_every_missing_file(tmp_path: Path) -> None:
    (tmp_path / "celeba").mkdir()
    with pytest.raises(DatasetNotFoundError) as info:
        CelebA(tmp_path, "train", target=["attributes", "landmarks"])
    message = str(info.value)
    for name in (
        "img_align_celeba",
        "list_attr_celeba.txt",
        "list_landmarks_align_celeba.txt",
        "list_eval_partition.txt",
    ):
        assert name in message
    assert "not downloaded" in message


def test_wrong_column_count(damaged: Path) -> None:
    path = damaged / "list_attr_celeba.txt"
    line = path.read_text().splitlines()[5]
    _edit(path, 6, line.rsplit(" ", 1)[0])
    with pytest.raises(MalformedAnnotationError, match=r"list_attr_celeba.txt:6: expected"):
        CelebA(damaged, "all")


def test_value_that_is_not_an_integer(damaged: Path) -> None:
    _edit(damaged / "list_landmarks_align_celeba.txt", 4, "000002.jpg 1 2 3 4 5 6 7 8 9 x0")
    with pytest.raises(MalformedAnnotationError, match=r"list_landmarks_align_celeba.txt:4:"):
        CelebA(damaged, "all", target="landmarks")


def test_attribute_value_out_of_range(damaged: Path) -> None:
    _edit(damaged / "list_attr_celeba.txt", 3, "000001.jpg" + "  2" * 40)
    with pytest.raises(MalformedAnnotationError, match=r"list_attr_celeba.txt:3:"):
        CelebA(damaged, "all")


def test_header_that_is_not_the_forty_names(damaged: Path) -> None:
    _edit(damaged / "list_attr_celeba.txt", 2, " ".join(reversed(CELEBA_ATTRIBUTES)))
    with pytest.raises(MalformedAnnotationError, match=r"list_attr_celeba.txt:2: .*40 names"):
        CelebA(damaged, "all")


def test_count_line_disagreeing_with_rows(damaged: Path) -> None:
    _edit(damaged / "list_bbox_celeba.txt", 1, "31")
    with pytest.raises(MalformedAnnotationError, match=r"list_bbox_celeba.txt:1:"):
        CelebA(damaged, "all", target="bbox")


def test_partition_and_attributes_listing_different_images(damaged: Path) -> None:
    partition = damaged / "list_eval_partition.txt"
    _edit(partition, 3, "000099.jpg 0")
    with pytest.raises(MalformedAnnotationError) as info:
        CelebA(damaged, "train")
    message = str(info.value)
    assert "list_eval_partition.txt:3: expected image '000003.jpg'" in message
    assert "list_attr_celeba.txt:5 lists it" in message and "000099.jpg" in message
    _edit(partition, 3, None)  # a row missing: every later row is off by one
    with pytest.raises(MalformedAnnotationError, match=r"list_eval_partition.txt:3: .*000004"):
        CelebA(damaged, "train")


def test_row_whose_image_is_not_on_disk(damaged: Path) -> None:
    image = damaged / "img_align_celeba" / "000007.jpg"
    image.rename(image.with_name("000007.jpg.bak"))  # a longer name must not pass for it
    with pytest.raises(MissingImageError, match=r"000007.jpg") as info:
        CelebA(damaged, "all")
    assert "list_attr_celeba.txt:9" in str(info.value)


def test_checksum_verifies_the_published_md5(damaged: Path) -> None:
    with pytest.raises(ChecksumError, match=r"list_attr_celeba.txt: MD5 .* published"):
        CelebA(damaged, "all", checksum=True)


def test_bad_arguments(celeba_roots: dict[str, Path]) -> None:
    root = celeba_roots["torchvision"]
    with pytest.raises(ValueError, match="split"):
        CelebA(root, "valid")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="target"):
        CelebA(root, "train", target="attr")  # type: ignore[arg-type]
    with pytest.raises(AttributeError, match="identity"):
        _ = CelebA(root, "train").targets


def test_writer_refuses_to_overwrite(celeba_roots: dict[str, Path]) -> None:
    with pytest.raises(FileExistsError):
        write_celeba(celeba_roots["torchvision"], image_size=SIZE)
