"""Write a tiny CelebA in either official layout, with all five annotation files.

The images are synthetic faces (:func:`~lightning_deepvision.datasets.synthetic.render_face`);
the attributes the renderer draws (``Male``, ``Bangs``, ``Smiling``, ...) are written under their
CelebA names, so a model can learn them, and the other columns are seeded coin flips. The five
landmarks are the centres of the rendered eyes and nose and the corners of the mouth, read from
the renderer's HELEN parsing mask; the face box is the bounding box of the face and hair.
"""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import torch

from lightning_deepvision.datasets.celeba_annotations import (
    BBOX_COLUMNS,
    CELEBA_ATTRIBUTES,
    CELEBA_FILES,
    LANDMARK_COLUMNS,
)
from lightning_deepvision.datasets.face_parts import HELEN_LABELS
from lightning_deepvision.datasets.synthetic import ATTRIBUTE_NAMES, render_face
from lightning_deepvision.testing.identity_folder import refuse_existing, save_image

__all__ = ["celeba_landmarks", "write_celeba"]

Layout = Literal["torchvision", "archive"]
_LABEL = {name: i for i, name in enumerate(HELEN_LABELS)}


def celeba_landmarks(mask: torch.Tensor) -> list[int]:
    """CelebA's ten landmark coordinates of a HELEN-labelled face mask (H x W).

    Eye and nose centres are the mean pixel of their labels; the mouth corners are the left-
    and rightmost lip pixels. A part the mask lacks (hidden by sunglasses) takes its place in a
    frontal CelebA-aligned face, scaled to the mask's size.
    """
    height, width = mask.shape
    default = {  # the mean aligned-CelebA landmarks, as fractions of 178 x 218
        "left_eye": (0.39, 0.51),
        "right_eye": (0.61, 0.51),
        "nose": (0.50, 0.62),
        "left_mouth": (0.40, 0.72),
        "right_mouth": (0.60, 0.72),
    }
    points: list[int] = []

    def centre(labels: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor] | None:
        ys, xs = torch.nonzero(torch.isin(mask, torch.tensor(labels)), as_tuple=True)
        return (xs, ys) if len(xs) else None

    for part in ("left_eye", "right_eye", "nose"):
        found = centre([_LABEL[part]])
        if found is None:
            fx, fy = default[part]
            points += [round(fx * (width - 1)), round(fy * (height - 1))]
        else:
            points += [round(float(found[0].float().mean())), round(float(found[1].float().mean()))]
    lips = centre([_LABEL["upper_lip"], _LABEL["inner_mouth"], _LABEL["lower_lip"]])
    for side, pick in (("left_mouth", 0), ("right_mouth", -1)):
        if lips is None:
            fx, fy = default[side]
            points += [round(fx * (width - 1)), round(fy * (height - 1))]
        else:
            xs, ys = lips
            order = torch.argsort(xs)
            chosen = order[pick]
            points += [int(xs[chosen]), int(ys[chosen])]
    return points


def _face_box(mask: torch.Tensor) -> list[int]:
    ys, xs = torch.nonzero(mask > 0, as_tuple=True)
    if not len(xs):
        return [0, 0, int(mask.shape[1]), int(mask.shape[0])]
    x0, y0 = int(xs.min()), int(ys.min())
    return [x0, y0, int(xs.max()) - x0 + 1, int(ys.max()) - y0 + 1]


def write_celeba(
    root: str | os.PathLike[str],
    layout: Layout = "torchvision",
    num_identities: int = 10,
    images_per_identity: int = 3,
    image_size: tuple[int, int] = (109, 89),
    partition: tuple[float, float] = (0.6, 0.2),
    seed: int = 0,
) -> Path:
    """Write a tiny CelebA under ``root`` in the ``torchvision`` or ``archive`` layout.

    ``torchvision``: ``<root>/celeba/img_align_celeba/NNNNNN.jpg`` and the five annotation files
    flat in ``<root>/celeba/``. ``archive``: ``<root>/Img/img_align_celeba/``, ``<root>/Anno/``
    (attributes, identities, boxes, aligned landmarks) and ``<root>/Eval/list_eval_partition.txt``.
    The files are formatted as the real ones (count lines, headers, right-aligned columns
    separated by runs of spaces). Images are numbered from 000001 in a seeded shuffle of the
    identities (CelebA's images are not grouped by person); identity ids run from 1. The
    official partition is identity-disjoint: the first ``partition[0]`` of the people (in id
    order) are ``0`` (train), the next ``partition[1]`` ``1`` (val), the rest ``2`` (test).

    Args:
        root: Directory to write into (created if needed).
        layout: ``"torchvision"`` or ``"archive"``.
        num_identities: People (at least 3, one per partition).
        images_per_identity: Images per person.
        image_size: ``(height, width)``; half CelebA's aligned 218 x 178 by default, so a
            fixture takes a second or two (rendering cost grows with the area).
        partition: Fractions of the people in train and val.
        seed: Seed of the renderer and of the shuffles.

    Returns:
        ``root`` as a :class:`~pathlib.Path`.

    Raises:
        FileExistsError: A file to write already exists (nothing is written).
        ValueError: Fewer than three people, or an unknown layout.
    """
    if layout not in ("torchvision", "archive"):
        raise ValueError(f"layout must be 'torchvision' or 'archive', got {layout!r}")
    if num_identities < 3 or images_per_identity < 1:
        raise ValueError(
            "write_celeba needs at least 3 identities (one per partition) and 1 image each, "
            f"got {num_identities} and {images_per_identity}"
        )
    root = Path(root)
    if layout == "torchvision":
        image_dir = root / "celeba" / "img_align_celeba"
        anno_dir = eval_dir = root / "celeba"
    else:
        image_dir, anno_dir, eval_dir = (
            root / "Img" / "img_align_celeba",
            root / "Anno",
            root / "Eval",
        )
    rng = random.Random(seed)
    people = [p for p in range(num_identities) for _ in range(images_per_identity)]
    samples = list(range(len(people)))
    rng.shuffle(samples)  # image order is not person order
    train = max(1, round(partition[0] * num_identities))
    val = max(1, round(partition[1] * num_identities))
    train = min(train, num_identities - 2)
    val = min(val, num_identities - train - 1)

    rows: dict[str, list[str]] = {k: [] for k in ("attributes", "identity", "bbox", "landmarks")}
    rows["partition"] = []
    images: list[tuple[Path, torch.Tensor]] = []
    shared = {
        name: ATTRIBUTE_NAMES.index(name) for name in ATTRIBUTE_NAMES if name in CELEBA_ATTRIBUTES
    }
    for number, slot in enumerate(samples, start=1):
        person, sample = people[slot], slot % images_per_identity
        name = f"{number:06d}.jpg"
        rendered = render_face(person, sample, image_size, seed)
        drawn = rendered["attributes"].tolist()
        values = [
            (1 if drawn[shared[a]] else -1) if a in shared else rng.choice((-1, 1))
            for a in CELEBA_ATTRIBUTES
        ]
        images.append((image_dir / name, rendered["image"]))
        rows["attributes"].append(name + "".join(f"{v:>3}" for v in values))
        rows["identity"].append(f"{name} {person + 1}")
        rows["bbox"].append(f"{name:<10}" + "".join(f"{v:>6}" for v in _face_box(rendered["mask"])))
        rows["landmarks"].append(
            f"{name:<10}" + "".join(f"{v:>5}" for v in celeba_landmarks(rendered["mask"]))
        )
        part = 0 if person < train else 1 if person < train + val else 2
        rows["partition"].append(f"{name} {part}")
    count = str(len(samples))
    texts = {
        anno_dir / CELEBA_FILES["attributes"].file: [count, " ".join(CELEBA_ATTRIBUTES) + " "]
        + rows["attributes"],
        anno_dir / CELEBA_FILES["identity"].file: rows["identity"],
        anno_dir / CELEBA_FILES["bbox"].file: [count, " ".join(BBOX_COLUMNS)] + rows["bbox"],
        anno_dir / CELEBA_FILES["landmarks"].file: [count, " ".join(LANDMARK_COLUMNS)]
        + rows["landmarks"],
        eval_dir / CELEBA_FILES["partition"].file: rows["partition"],
    }
    refuse_existing([*texts, *(path for path, _ in images)])
    image_dir.mkdir(parents=True, exist_ok=True)
    for path, image in images:
        save_image(image, path)
    for path, lines in texts.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "x", encoding="utf-8", newline="\n") as handle:
            handle.write("\n".join(lines) + "\n")
    return root
