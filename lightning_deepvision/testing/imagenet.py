"""Write a tiny seeded ImageNet (ILSVRC-2012) tree in each layout ``datasets.ImageNet`` reads.

* ``"devkit"``: ``train/<wnid>/<wnid>_<n>.JPEG``, flat ``val/ILSVRC2012_val_<8 digits>.JPEG``
  and ``ILSVRC2012_devkit_t12/data/`` with a real ``meta.mat`` (written by
  :func:`scipy.io.savemat` in the devkit's ``synsets`` struct layout, leaves and inner nodes,
  ILSVRC2012_IDs *not* in sorted wnid order, as in the real file) and
  ``ILSVRC2012_validation_ground_truth.txt``;
* ``"sorted"``: ``train/`` and ``val/<wnid>/`` with torchvision's ``meta.bin``, as
  ``torchvision.datasets.ImageNet`` leaves the tree;
* ``"kaggle"``: ``ILSVRC/Data/CLS-LOC/{train/<wnid>/, val/, test/}``,
  ``LOC_synset_mapping.txt`` and ``LOC_val_solution.csv`` (rows in random order, one to three
  boxes each).

Images are real JPEGs of :func:`~lightning_deepvision.testing.image_folder.class_image`
pictures; the first ``grey_images`` training images are grey JPEGs, as ImageNet has some.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from lightning_deepvision.datasets.imagenet import (
    DEVKIT_GROUND_TRUTH,
    DEVKIT_META,
    KAGGLE_DIR,
    KAGGLE_SYNSETS,
    KAGGLE_VAL_SOLUTION,
    TORCHVISION_META,
)
from lightning_deepvision.testing.identity_folder import refuse_existing, save_image
from lightning_deepvision.testing.image_folder import class_image

__all__ = ["LAYOUTS", "synthetic_synsets", "write_imagenet"]

Layout = Literal["devkit", "sorted", "kaggle"]
#: The layouts :func:`write_imagenet` writes.
LAYOUTS: tuple[str, ...] = ("devkit", "sorted", "kaggle")

# The devkit's synsets struct, field by field (meta.mat of ILSVRC2012_devkit_t12).
_SYNSET_FIELDS = (
    "ILSVRC2012_ID",
    "WNID",
    "words",
    "gloss",
    "num_children",
    "children",
    "wordnet_height",
    "num_train_images",
)


def synthetic_synsets(num_classes: int) -> list[tuple[str, str]]:
    """``(wnid, words)`` of the written classes, in sorted wnid order (label order).

    The wnids look like WordNet's (``n`` and 8 digits) and sort in label order.
    """
    return [
        (f"n{1_000_000 + 7_919 * c:08d}", f"synthetic class {c}, object {c}")
        for c in range(num_classes)
    ]


def _ilsvrc_ids(num_classes: int, rng: np.random.Generator) -> list[int]:
    """The devkit ID of each sorted class: a permutation that is never the identity."""
    ids = rng.permutation(num_classes) + 1
    if num_classes > 1 and (ids == np.arange(1, num_classes + 1)).all():
        ids = ids[::-1].copy()
    return [int(i) for i in ids]


def _meta_mat(synsets: list[tuple[str, str]], ids: list[int]) -> dict[str, np.ndarray]:
    """The ``synsets`` struct array: the leaves (by ID) and two inner nodes above them."""
    count = len(synsets)
    by_id = sorted(range(count), key=lambda c: ids[c])
    half = max(1, count // 2)
    rows: list[tuple[object, ...]] = []
    for c in by_id:
        wnid, words = synsets[c]
        rows.append((ids[c], wnid, words, f"a {words}", 0, np.zeros((0, 0)), 0, 3))
    inner = [
        ("n00000001", "first group", list(range(1, half + 1))),
        ("n00000002", "second group", list(range(half + 1, count + 1))),
    ]
    for k, (wnid, words, children) in enumerate(inner):
        rows.append(
            (count + 1 + k, wnid, words, words, len(children), np.array(children, float), 1, 0)
        )
    struct = np.empty((len(rows), 1), dtype=[(name, object) for name in _SYNSET_FIELDS])
    for i, row in enumerate(rows):
        struct[i, 0] = row
    return {"synsets": struct}


def _boxes(rng: np.random.Generator, size: tuple[int, int]) -> list[int]:
    height, width = size
    x0, y0 = int(rng.integers(0, width // 2)), int(rng.integers(0, height // 2))
    return [x0, y0, int(rng.integers(x0 + 1, width)), int(rng.integers(y0 + 1, height))]


def write_imagenet(
    root: str | os.PathLike[str],
    layout: Layout = "devkit",
    num_classes: int = 4,
    train_images_per_class: int = 3,
    val_images_per_class: int = 2,
    image_size: tuple[int, int] = (40, 48),
    grey_images: int = 1,
    seed: int = 0,
) -> Path:
    """Write a tiny ImageNet tree in ``layout``, readable by ``ImageNet(root, split)``.

    Classes are :func:`synthetic_synsets`; validation images are numbered
    ``ILSVRC2012_val_00000001`` ... in a seeded random class order (as the real validation
    set). Deterministic for a given ``seed``.

    Args:
        root: Directory to write into (created if needed).
        layout: ``"devkit"``, ``"sorted"`` or ``"kaggle"`` (see the module docstring).
        num_classes: Number of classes.
        train_images_per_class: Training images per class.
        val_images_per_class: Validation images per class.
        image_size: ``(height, width)`` of each image.
        grey_images: How many training images (the first of the first classes) are grey JPEGs.
        seed: Varies the pictures, the validation order, the devkit IDs and the boxes.

    Returns:
        ``root`` as a :class:`~pathlib.Path`.

    Raises:
        FileExistsError: One of the files to write already exists (nothing is written).
        ValueError: An unknown layout or a non-positive count or size.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {list(LAYOUTS)}, got {layout!r}")
    if min(num_classes, train_images_per_class, val_images_per_class, *image_size) < 1:
        raise ValueError(
            "num_classes, the image counts and image_size must be positive, got "
            f"{num_classes}, {train_images_per_class}, {val_images_per_class}, {image_size}"
        )
    root = Path(root)
    size = (int(image_size[0]), int(image_size[1]))
    rng = np.random.default_rng(seed)
    synsets = synthetic_synsets(num_classes)
    base = root / KAGGLE_DIR if layout == "kaggle" else root
    val_labels = rng.permutation(np.repeat(np.arange(num_classes), val_images_per_class))
    val_names = [f"ILSVRC2012_val_{i + 1:08d}" for i in range(len(val_labels))]

    images: list[tuple[int, int, Path]] = []  # (label, picture number, path)
    for label, (wnid, _) in enumerate(synsets):
        for j in range(train_images_per_class):
            images.append((label, j, base / "train" / wnid / f"{wnid}_{j + 1}.JPEG"))
    for name, label in zip(val_names, val_labels, strict=True):
        folder = base / "val" / synsets[label][0] if layout == "sorted" else base / "val"
        images.append((int(label), train_images_per_class + len(images), folder / f"{name}.JPEG"))
    if layout == "kaggle":
        for k in range(2):  # the unlabelled test split the Kaggle download also holds
            images.append(
                (k % num_classes, 10**6 + k, base / "test" / f"ILSVRC2012_test_{k + 1:08d}.JPEG")
            )

    files: dict[Path, Callable[[Path], None]] = {}
    if layout == "devkit":
        ids = _ilsvrc_ids(num_classes, rng)
        lines = "".join(f"{ids[label]}\n" for label in val_labels)
        files[root / DEVKIT_META] = lambda p: _save_mat(p, _meta_mat(synsets, ids))
        files[root / DEVKIT_GROUND_TRUTH] = lambda p: _write_text(p, lines)
    elif layout == "sorted":
        meta = (
            {w: tuple(words.split(", ")) for w, words in synsets},
            [synsets[i][0] for i in val_labels],
        )
        files[root / TORCHVISION_META] = lambda p: _save_torch(p, meta)
    else:
        mapping = "".join(f"{wnid} {words}\n" for wnid, words in synsets)
        rows = []
        for i in rng.permutation(len(val_names)):
            wnid = synsets[val_labels[i]][0]
            boxes = [
                " ".join(map(str, [wnid, *_boxes(rng, size)])) for _ in range(rng.integers(1, 4))
            ]
            rows.append(f"{val_names[i]},{' '.join(boxes)} \n")
        solution = "ImageId,PredictionString\n" + "".join(rows)
        files[root / KAGGLE_SYNSETS] = lambda p: _write_text(p, mapping)
        files[root / KAGGLE_VAL_SOLUTION] = lambda p: _write_text(p, solution)

    refuse_existing([*(path for _, _, path in images), *files])
    for n, (label, number, path) in enumerate(images):
        path.parent.mkdir(parents=True, exist_ok=True)
        picture = class_image(label, number, size, num_classes, seed)
        if n < grey_images:
            picture = picture.float().mean(dim=0, keepdim=True).round().to(torch.uint8)
        save_image(picture, path)
    for path, write in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        write(path)
    return root


def _write_text(path: Path, text: str) -> None:
    with open(path, "x", encoding="utf-8") as handle:
        handle.write(text)


def _save_mat(path: Path, content: dict[str, np.ndarray]) -> None:
    from scipy.io import savemat

    with open(path, "xb") as handle:
        savemat(handle, content)


def _save_torch(path: Path, content: object) -> None:
    with open(path, "xb") as handle:
        torch.save(content, handle)
