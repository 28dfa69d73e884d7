"""Write a tiny seeded HELEN parsing tree in the distributed layout, read by ``HelenParsing``.

Smith, Zhang, Brandt, Lin, Yang, "Exemplar-Based Face Parsing", CVPR 2013: images
``images/<name>.jpg``, one 8-bit probability map per label ``labels/<name>/<name>_lblXX.png``
and the ``exemplars.txt`` / ``tuning.txt`` / ``testing.txt`` lists of ``index , name`` lines.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from lightning_deepvision.datasets.face_parts import HELEN_LABELS
from lightning_deepvision.datasets.helen import HELEN_LIST_FILES, helen_label_path
from lightning_deepvision.datasets.synthetic import render_face
from lightning_deepvision.testing.identity_folder import refuse_existing, save_image

__all__ = ["helen_probability_maps", "write_helen"]

# A written map holds this probability (of 255) where its label is the answer, and the
# background map a small one everywhere else, so the arg-max has real work to do.
_ON = 230
_BACKGROUND_ELSEWHERE = 25


def helen_probability_maps(mask: torch.Tensor) -> torch.Tensor:
    """The 11 ``uint8`` probability maps ``(11, H, W)`` whose per-pixel arg-max is ``mask``."""
    labels = torch.arange(len(HELEN_LABELS)).view(-1, 1, 1)
    maps = torch.where(mask[None] == labels, _ON, 0)
    maps[0] = torch.where(mask == 0, _ON, _BACKGROUND_ELSEWHERE)
    return maps.to(torch.uint8)


def write_helen(
    root: str | os.PathLike[str],
    counts: tuple[int, int, int] = (6, 2, 2),
    image_size: tuple[int, int] = (80, 64),
    seed: int = 0,
) -> Path:
    """Write a tiny HELEN under ``root``: synthetic faces, their 11 maps and the three lists.

    Image ``i`` is :func:`~lightning_deepvision.datasets.synthetic.render_face` ``(identity=i,
    sample=0)``, named ``<1000 + i>_1`` like HELEN's ``<flickr id>_<n>`` names; the first
    ``counts[0]`` go to ``exemplars.txt``, the next ``counts[1]`` to ``tuning.txt``, the rest to
    ``testing.txt`` (lines ``<index> , <name>``, 1-based as in the release). The label maps
    (:func:`helen_probability_maps`) decode to the rendered mask exactly.

    Args:
        root: Directory to write into (created if needed; it may hold other files).
        counts: Images of the train, val and test lists.
        image_size: ``(height, width)`` of the images and maps.
        seed: Seed of the face renderer.

    Returns:
        ``root`` as a :class:`~pathlib.Path`.

    Raises:
        FileExistsError: A file to write exists already (nothing is written).
        ValueError: A negative count or a size under 16.
    """
    if min(counts) < 0 or len(counts) != 3:
        raise ValueError(f"counts must be three non-negative numbers, got {counts}")
    if min(image_size) < 16:
        raise ValueError(f"image_size must be at least 16x16, got {image_size}")
    root = Path(root)
    names = [f"{1000 + i}_1" for i in range(sum(counts))]
    splits = ("train", "val", "test")
    lists: dict[Path, list[str]] = {}
    start = 0
    for split, count in zip(splits, counts, strict=True):
        chunk = names[start : start + count]
        lists[root / HELEN_LIST_FILES[split]] = [f"{k} , {n}" for k, n in enumerate(chunk, 1)]
        start += count
    images = [root / "images" / f"{name}.jpg" for name in names]
    maps = [helen_label_path(root, n, k) for n in names for k in range(len(HELEN_LABELS))]
    refuse_existing([*lists, *images, *maps])
    size = (int(image_size[0]), int(image_size[1]))
    for i, (name, image_path) in enumerate(zip(names, images, strict=True)):
        face = render_face(identity=i, sample=0, size=size, seed=seed)
        image_path.parent.mkdir(parents=True, exist_ok=True)
        save_image(face["image"], image_path)
        for label, probability in enumerate(helen_probability_maps(face["mask"])):
            path = helen_label_path(root, name, label)
            path.parent.mkdir(parents=True, exist_ok=True)
            save_image(probability[None], path)
    for path, lines in lists.items():
        with open(path, "x", encoding="utf-8", newline="\n") as handle:
            handle.write("".join(f"{line}\n" for line in lines))
    return root
