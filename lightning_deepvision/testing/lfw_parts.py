"""Write a tiny seeded LFW Part Labels tree, readable by ``LFWParts``.

Kae, Sohn, Lee, Learned-Miller, CVPR 2013: the ``parts_train.txt`` / ``parts_validation.txt`` /
``parts_test.txt`` lists of ``<Name> <number>`` lines, colour-coded ground truths
``parts_lfw_funneled_gt_images/<Name>_<NNNN>.ppm`` (red hair, green skin, blue background),
beside an LFW funneled tree written by :func:`~lightning_deepvision.testing.write_lfw`.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from lightning_deepvision.datasets.face_parts import HELEN_LABELS
from lightning_deepvision.datasets.lfw_parts import (
    LFW_PARTS_COLOURS,
    LFW_PARTS_GT_DIR,
    LFW_PARTS_LABELS,
    LFW_PARTS_LIST_FILES,
)
from lightning_deepvision.datasets.synthetic import render_face
from lightning_deepvision.testing.identity_folder import refuse_existing, save_image
from lightning_deepvision.testing.lfw import _FACE_SIZE, _IMAGE_SIZE, lfw_person_name, write_lfw

__all__ = ["helen_to_lfw_parts", "write_lfw_parts"]


def helen_to_lfw_parts(mask: torch.Tensor) -> torch.Tensor:
    """Map a HELEN label map to LFW Part Labels': hair stays hair, every face part is skin."""
    table = torch.full((len(HELEN_LABELS),), LFW_PARTS_LABELS.index("skin"), dtype=torch.int64)
    table[HELEN_LABELS.index("background")] = LFW_PARTS_LABELS.index("background")
    table[HELEN_LABELS.index("hair")] = LFW_PARTS_LABELS.index("hair")
    return table[mask.long()]


def _ground_truth(person: int, number: int, seed: int) -> torch.Tensor:
    """The colour-coded 250x250 truth of the image ``write_lfw`` draws for ``person, number``."""
    face = render_face(identity=person, sample=number - 1, size=_FACE_SIZE, seed=seed)["mask"]
    mask = torch.zeros(_IMAGE_SIZE, dtype=torch.int64)
    top = (_IMAGE_SIZE[0] - _FACE_SIZE[0]) // 2
    left = (_IMAGE_SIZE[1] - _FACE_SIZE[1]) // 2
    mask[top : top + _FACE_SIZE[0], left : left + _FACE_SIZE[1]] = helen_to_lfw_parts(face)
    colours = torch.tensor(LFW_PARTS_COLOURS, dtype=torch.uint8)
    return colours[mask].permute(2, 0, 1).contiguous()


def write_lfw_parts(
    root: str | os.PathLike[str],
    counts: tuple[int, int, int] = (4, 2, 2),
    images_per_person: int = 2,
    seed: int = 0,
) -> Path:
    """Write ``root`` with an LFW funneled tree, the part-label lists and ground truths.

    People ``0..P-1`` (``P = ceil(sum(counts) / images_per_person)``, named by
    :func:`~lightning_deepvision.testing.lfw_person_name`) get ``images_per_person`` funneled
    images each (:func:`~lightning_deepvision.testing.write_lfw`, which also writes its
    ``pairs.txt``); the first ``sum(counts)`` images, in person then number order, are listed in
    ``parts_train.txt``, ``parts_validation.txt`` and ``parts_test.txt`` (``counts`` images
    each), each with its ground truth: the rendered face's mask in the centre of the frame
    (hair red, every face part green), blue elsewhere.

    Args:
        root: Directory to write into (created if needed).
        counts: Images of the train, val and test lists.
        images_per_person: Images per person (at least 2, as ``write_lfw`` needs).
        seed: Seed of the face renderer.

    Returns:
        ``root`` as a :class:`~pathlib.Path`.

    Raises:
        FileExistsError: A file to write exists already (nothing is written).
        ValueError: Bad counts.
    """
    if len(counts) != 3 or min(counts) < 0 or sum(counts) < 1:
        raise ValueError(f"counts must be three non-negative numbers, not all 0, got {counts}")
    root = Path(root)
    total = sum(counts)
    people = max(2, -(-total // images_per_person))
    images = [(p, n) for p in range(people) for n in range(1, images_per_person + 1)][:total]
    truths = [root / LFW_PARTS_GT_DIR / f"{lfw_person_name(p)}_{n:04d}.ppm" for p, n in images]
    lists = [root / name for name in LFW_PARTS_LIST_FILES.values()]
    refuse_existing([*truths, *lists])
    write_lfw(
        root,
        num_people=people,
        images_per_person=images_per_person,
        num_folds=1,
        pairs_per_fold=1,
        image_set="funneled",
        with_people_file=False,
        view1=False,
        seed=seed,
    )
    (root / LFW_PARTS_GT_DIR).mkdir(parents=True, exist_ok=True)
    for (person, number), path in zip(images, truths, strict=True):
        save_image(_ground_truth(person, number, seed), path)
    start = 0
    for path, count in zip(lists, counts, strict=True):
        rows = [f"{lfw_person_name(p)} {n}" for p, n in images[start : start + count]]
        start += count
        with open(path, "x", encoding="utf-8", newline="\n") as handle:
            handle.write("".join(f"{row}\n" for row in rows))
    return root
