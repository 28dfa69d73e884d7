"""CelebA (Liu, Luo, Wang, Tang, "Deep Learning Face Attributes in the Wild", ICCV 2015).

202,599 face images of 10,177 identities with 40 binary attributes, five landmarks and a face
box (specs §9b). Both on-disk layouts users have are read::

    ROOT/celeba/img_align_celeba/000001.jpg    torchvision's layout: everything flat in celeba/
    ROOT/celeba/list_attr_celeba.txt ...       (ROOT may also be the celeba/ folder itself)

    ROOT/Img/img_align_celeba/000001.jpg       the archive's layout
    ROOT/Anno/list_attr_celeba.txt, identity_CelebA.txt, list_bbox_celeba.txt,
              list_landmarks_align_celeba.txt, list_landmarks_celeba.txt
    ROOT/Eval/list_eval_partition.txt

The in-the-wild images (``img_celeba/``, ``image_set="wild"``) pair with
``list_landmarks_celeba.txt``; the face boxes of ``list_bbox_celeba.txt`` refer to them, not to
the aligned crops. CelebA is licensed for non-commercial research and is never downloaded (its
Google Drive quota makes torchvision's download fail for many users).
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor
from torchvision import tv_tensors

from lightning_deepvision.datasets.bad_samples import OnBadSample, SkipsBadSamples
from lightning_deepvision.datasets.celeba_annotations import (
    CELEBA_ATTRIBUTES,
    CELEBA_FILES,
    CELEBA_MD5,
    CelebATable,
    ChecksumError,
    md5sum,
    read_celeba_table,
)
from lightning_deepvision.datasets.errors import (
    DatasetNotFoundError,
    MalformedAnnotationError,
    MissingImageError,
)
from lightning_deepvision.datasets.image_io import read_image

__all__ = ["CELEBA_TARGETS", "CelebA", "find_celeba_files"]

CELEBA_URL = "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html"
#: The ``target`` names and the sample key each one adds.
CELEBA_TARGETS: dict[str, str] = {
    "attributes": "attributes",
    "identity": "identity",
    "bbox": "boxes",
    "landmarks": "landmarks",
}
# The EXIF tag holding the orientation of the camera.
_EXIF_ORIENTATION = 0x0112
#: ``split`` → value in ``list_eval_partition.txt`` (``"all"``: every image).
PARTITION_VALUES: dict[str, int] = {"train": 0, "val": 1, "test": 2}
_IMAGE_DIRS = {"aligned": "img_align_celeba", "wild": "img_celeba"}
Split = Literal["train", "val", "test", "all"]
Target = Literal["attributes", "identity", "bbox", "landmarks"]


def _how_to_obtain(expected: Sequence[Path]) -> str:
    listed = ", ".join(str(p) for p in expected)
    return (
        f"CelebA is not downloaded automatically: get it from {CELEBA_URL} (or its Google "
        "Drive / Baidu mirrors), extract img_align_celeba.zip and put the files at: "
        f"{listed}. torchvision's ROOT/celeba/ layout, the celeba/ folder itself and the "
        "archive's ROOT/{Img,Anno,Eval}/ layout are all accepted."
    )


def find_celeba_files(
    root: str | os.PathLike[str], keys: Sequence[str], image_set: str = "aligned"
) -> tuple[Path, dict[str, Path]]:
    """Locate the image folder and the annotation files ``keys`` (of ``CELEBA_FILES``).

    Args:
        root: ``ROOT`` (holding ``celeba/`` or ``Img/ Anno/ Eval/``) or the ``celeba/`` folder.
        keys: The annotation files needed, e.g. ``("attributes", "partition")``.
        image_set: ``"aligned"`` (``img_align_celeba``) or ``"wild"`` (``img_celeba``).

    Returns:
        The image folder and each key's file.

    Raises:
        DatasetNotFoundError: Naming every expected file that is missing and where it goes.
    """
    root = Path(root)
    images = _IMAGE_DIRS[image_set]
    archive = any((root / d).is_dir() for d in ("Anno", "Eval", "Img"))
    if archive:
        image_dir = root / "Img" / images
        files = {
            k: root / ("Eval" if k == "partition" else "Anno") / CELEBA_FILES[k].file for k in keys
        }
    else:
        base = root / "celeba" if (root / "celeba").is_dir() else root
        image_dir = base / images
        files = {k: base / CELEBA_FILES[k].file for k in keys}
    if not root.is_dir():
        raise DatasetNotFoundError(
            "CelebA", root, root, _how_to_obtain([image_dir, *files.values()])
        )
    missing = [p for p in (image_dir, *files.values()) if not p.exists()]
    if missing:
        raise DatasetNotFoundError("CelebA", root, missing[0], _how_to_obtain(missing))
    return image_dir, files


def _check_same_images(table: CelebATable, reference: CelebATable) -> None:
    """Raise when two annotation files do not list the same images in the same order."""
    rows = min(len(table.names), len(reference.names))
    differ = np.flatnonzero(table.names[:rows] != reference.names[:rows])
    if len(differ) or len(table.names) != len(reference.names):
        row = int(differ[0]) if len(differ) else rows
        line = table.line_of(row)
        if row < len(reference.names):
            wanted = reference.names[row].decode()
            expected = f"image {wanted!r} ({reference.path}:{reference.line_of(row)} lists it)"
            text = table.names[row].decode() if row < len(table.names) else "<end of file>"
        else:
            expected = f"the end of the file ({reference.path} lists {rows} images)"
            text = table.names[row].decode()
        raise MalformedAnnotationError(table.path, line, text, expected)


def _identity_counts(split: Sequence[int]) -> tuple[int, int, int]:
    """``identity_split`` as three counts, checked (a positive train count, no negatives)."""
    values = tuple(split)
    if len(values) != 3 or any(float(v) != int(v) for v in values):
        raise ValueError(
            "identity_split must be three numbers of identities (train, val, test), e.g. the "
            f"paper's (8000, 1000, 1000), got {tuple(split)}"
        )
    train, val, test = (int(v) for v in values)
    if train < 1 or val < 0 or test < 0:
        raise ValueError(
            f"identity_split needs at least one training identity and no negative count, got "
            f"{tuple(split)}"
        )
    return train, val, test


class CelebA(SkipsBadSamples):
    """CelebA images with their attributes, identities, boxes and landmarks.

    Liu, Luo, Wang, Tang, ICCV 2015. The annotation files are parsed at construction into
    compact arrays (:func:`~lightning_deepvision.datasets.celeba_annotations.read_celeba_table`),
    cross-checked (every file must list the same images, in the same order) and the image
    folder is listed once to check every image of the split is on disk; images are decoded only
    in ``__getitem__``.

    Each sample holds ``image`` (``tv_tensors.Image``, uint8 3xHxW), ``index`` (int64) and, per
    ``target``: ``attributes`` (int64 0/1, the 40 :attr:`attribute_names` in file order),
    ``identity`` (int64 CelebA identity, 1…10,177) with ``label`` (int64 index of that identity
    among the split's, for an identification softmax), ``boxes`` (``tv_tensors.BoundingBoxes``
    XYWH, 1x4, of the in-the-wild image) and ``landmarks`` (``tv_tensors.KeyPoints`` 5x2 x/y in
    the order of :data:`~lightning_deepvision.transforms.CELEBA_LANDMARKS`).

    Args:
        root: ``ROOT`` of either layout, or the ``celeba/`` folder.
        split: ``"train"``, ``"val"``, ``"test"`` or ``"all"``.
        target: One of ``"attributes"``, ``"identity"``, ``"bbox"``, ``"landmarks"`` or a list.
        transforms: Applied to the whole sample dict.
        image_set: ``"aligned"`` (178x218 crops, ``img_align_celeba``) or ``"wild"``
            (``img_celeba``, with ``list_landmarks_celeba.txt``).
        partition: ``"official"`` (``list_eval_partition.txt``) or ``"identity"``: the paper's
            identity-disjoint split (LNet+ANet §3: the first 8 k identities train the nets, the
            next 1 k the attribute classifiers, the last 1 k test), identities in increasing id.
        identity_split: Numbers of identities ``(train, val, test)`` for ``"identity"``: train
            takes the first ``train`` identities in increasing id, val the next ``val``, test
            the last ``test``; identities between val and test are left out. ``(8000, 1000,
            1000)`` by default, the paper's counts: of CelebA's 10,177, ids 1-8,000 train,
            8,001-9,000 val, 9,178-10,177 test, and the 177 ids 9,001-9,177 are unused (the
            paper's "last 1 K" is the end of the id range).
        checksum: Verify each annotation file read (and ``img_align_celeba.zip`` if present)
            against its published MD5.
        on_bad_sample: ``"raise"`` (default) or ``"skip"``: what an unreadable image file does
            (see :mod:`~lightning_deepvision.datasets.bad_samples`).

    Attributes:
        attribute_names: The 40 attribute names, in file order.
        image_dir: The image folder read.
        names: Image file names of the split (``numpy`` fixed-width bytes).
        attributes: ``uint8`` ``(N, 40)`` 0/1, when loaded.
        identities: ``int32`` ``(N,)`` CelebA identity ids, when loaded.
        boxes: ``int32`` ``(N, 4)`` x, y, width, height, when loaded.
        landmarks: ``int16`` ``(N, 5, 2)``, when loaded.

    Raises:
        DatasetNotFoundError: The image folder or an annotation file is missing.
        MalformedAnnotationError: A malformed file, or files listing different images.
        ValueError: ``partition="identity"`` asks for more identities than
            ``identity_CelebA.txt`` holds.
        MissingImageError: An image of the split is not on disk.
        ChecksumError: With ``checksum=True``, a file differs from the published release.
    """

    attribute_names: tuple[str, ...] = CELEBA_ATTRIBUTES

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: Split = "train",
        target: Target | Sequence[Target] = "attributes",
        transforms: Callable[[dict[str, Any]], Any] | None = None,
        image_set: Literal["aligned", "wild"] = "aligned",
        partition: Literal["official", "identity"] = "official",
        identity_split: tuple[int, int, int] = (8000, 1000, 1000),
        checksum: bool = False,
        on_bad_sample: OnBadSample = "raise",
    ) -> None:
        if split not in (*PARTITION_VALUES, "all"):
            raise ValueError(f"split must be 'train', 'val', 'test' or 'all', got {split!r}")
        targets = [target] if isinstance(target, str) else list(target)
        unknown = [t for t in targets if t not in CELEBA_TARGETS]
        if unknown or not targets:
            raise ValueError(f"target must be among {list(CELEBA_TARGETS)}, got {target!r}")
        if image_set not in _IMAGE_DIRS:
            raise ValueError(f"image_set must be 'aligned' or 'wild', got {image_set!r}")
        if partition not in ("official", "identity"):
            raise ValueError(f"partition must be 'official' or 'identity', got {partition!r}")
        counts = _identity_counts(identity_split)
        self.root = Path(root)
        self.split = split
        self.target = tuple(targets)
        self.transforms = transforms
        self.image_set = image_set
        keys = [
            "landmarks_wild" if t == "landmarks" and image_set == "wild" else t for t in targets
        ]
        if split != "all":
            keys.append("partition" if partition == "official" else "identity")
        keys = list(dict.fromkeys(keys))
        self.image_dir, files = find_celeba_files(self.root, keys, image_set)
        if checksum:
            self._verify(files)
        tables = {key: read_celeba_table(path, CELEBA_FILES[key]) for key, path in files.items()}
        reference = next(iter(tables.values()))
        for table in tables.values():
            _check_same_images(table, reference)
        rows = self._split_rows(tables, partition, counts)
        self._lines = torch.from_numpy(rows.astype(np.int32) + reference.first_row_line)
        self._referenced_by = str(reference.path)
        self.names: np.ndarray = reference.names[rows]
        self._check_images()
        self.attributes: Tensor | None = None
        self.identities: Tensor | None = None
        self.boxes: Tensor | None = None
        self.landmarks: Tensor | None = None
        for key, table in tables.items():
            values = torch.from_numpy(np.ascontiguousarray(table.values[rows]))
            if key == "attributes" and "attributes" in targets:
                self.attributes = (values > 0).to(torch.uint8)
            elif key == "identity":
                self.identities = values[:, 0].to(torch.int32)
            elif key == "bbox":
                self.boxes = values.to(torch.int32)
            elif key.startswith("landmarks"):
                self.landmarks = values.view(-1, 5, 2)
        self._labels: Tensor | None = None
        if self.identities is not None:
            ids, labels = torch.unique(self.identities, return_inverse=True)
            self._labels = labels.to(torch.int32)
            self.num_classes = len(ids)
        self.on_bad_sample = on_bad_sample

    # -- construction ----------------------------------------------------------------------------
    @staticmethod
    def _verify(files: dict[str, Path]) -> None:
        paths = list(files.values())
        archive = next(iter(files.values())).parent / "img_align_celeba.zip"
        if archive.is_file():
            paths.append(archive)
        for path in paths:
            actual = md5sum(path)
            if actual != CELEBA_MD5[path.name]:
                raise ChecksumError(path, CELEBA_MD5[path.name], actual)

    def _split_rows(
        self, tables: dict[str, CelebATable], partition: str, counts: tuple[int, int, int]
    ) -> np.ndarray:
        size = len(next(iter(tables.values())).names)
        if self.split == "all":
            return np.arange(size)
        if partition == "official":
            return np.flatnonzero(tables["partition"].values[:, 0] == PARTITION_VALUES[self.split])
        table = tables["identity"]
        ids = table.values[:, 0]
        people = np.unique(ids)  # sorted: the split goes by identity number
        train, val, test = counts
        if train + val + test > len(people):
            raise ValueError(
                f"{table.path} lists {len(people)} identities, but partition='identity' asks "
                f"for {train} + {val} + {test} = {train + val + test} (identity_split "
                f"{counts}): pass smaller counts, e.g. identity_split=[{max(1, len(people) - 2)}, "
                "1, 1]"
            )
        bounds = {"train": (0, train), "val": (train, train + val)}
        low, high = bounds.get(self.split, (len(people) - test, len(people)))
        return np.flatnonzero(np.isin(ids, people[low:high]))

    def _check_images(self) -> None:
        width = self.names.dtype.itemsize
        with os.scandir(self.image_dir) as entries:
            # A longer name cannot be one of the split's; casting it would truncate it into one.
            found = [e.name.encode() for e in entries if len(e.name) <= width]
        present = np.isin(self.names, np.array(found, dtype=self.names.dtype))
        if not present.all():
            row = int(np.flatnonzero(~present)[0])
            where = f"{self._referenced_by}:{int(self._lines[row])}"
            raise MissingImageError(self.image_dir / self.names[row].decode(), where)

    # -- access ----------------------------------------------------------------------------------
    @property
    def targets(self) -> list[int]:
        """Identity label (index among the split's identities) of every image, for samplers."""
        if self._labels is None:
            raise AttributeError("targets needs target='identity' (or a list holding it)")
        return self._labels.tolist()

    def __len__(self) -> int:
        return len(self.names)

    def image_path(self, index: int) -> Path:
        """The image file of ``index``."""
        return self.image_dir / self.names[index].decode()

    def get_sample(self, index: int) -> dict[str, Any]:
        """Sample ``index``, transforms applied (``__getitem__`` applies ``on_bad_sample``)."""
        where = f"{self._referenced_by}:{int(self._lines[index])}"
        image = read_image(self.image_path(index), referenced_by=where)
        size = (int(image.shape[-2]), int(image.shape[-1]))
        sample: dict[str, Any] = {"image": image, **self.annotation(index, size)}
        if self.transforms is not None:
            sample = self.transforms(sample)
        return sample

    def raw_sample(self, index: int) -> dict[str, Any]:
        """The sample before transforms with the image un-decoded, for streaming formats.

        ``image`` is an :class:`~lightning_deepvision.datasets.encoded_image.EncodedImage` of
        the file's bytes; the boxes' and landmarks' canvas is read from the image's header.
        """
        from PIL import Image

        from lightning_deepvision.datasets.encoded_image import EncodedImage

        where = f"{self._referenced_by}:{int(self._lines[index])}"
        encoded = EncodedImage.from_file(self.image_path(index), "pil", referenced_by=where)
        try:
            with Image.open(io.BytesIO(encoded.data)) as header:  # parses the header only
                width, height = header.size
                # read_image turns the image upright by its EXIF orientation; 5-8 swap H and W.
                if header.getexif().get(_EXIF_ORIENTATION, 1) in (5, 6, 7, 8):
                    width, height = height, width
        except (OSError, SyntaxError, ValueError):
            encoded.decode()  # raises the CorruptImageError naming the file and the cause
            raise
        return {"image": encoded, **self.annotation(index, (height, width))}

    def annotation(self, index: int, canvas_size: tuple[int, int]) -> dict[str, Any]:
        """Sample ``index`` without its image and before transforms (nothing is decoded).

        Args:
            index: The sample.
            canvas_size: ``(H, W)`` of the image, the canvas of ``boxes`` and ``landmarks``.
        """
        size = canvas_size
        sample: dict[str, Any] = {"index": torch.tensor(index, dtype=torch.int64)}
        if self.attributes is not None:
            sample["attributes"] = self.attributes[index].long()
        if self.identities is not None and "identity" in self.target:
            sample["identity"] = self.identities[index].long()
            assert self._labels is not None
            sample["label"] = self._labels[index].long()
        if self.boxes is not None:
            sample["boxes"] = tv_tensors.BoundingBoxes(
                self.boxes[index : index + 1].float(), format="XYWH", canvas_size=size
            )
        if self.landmarks is not None:
            sample["landmarks"] = tv_tensors.KeyPoints(
                self.landmarks[index].float(), canvas_size=size
            )
        return sample

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(root={str(self.root)!r}, split={self.split!r}, "
            f"target={list(self.target)}, images={len(self)})"
        )
