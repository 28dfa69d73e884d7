"""Write the frames of ``SyntheticPedestrians`` as a raw Caltech Pedestrian tree."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, cast

from torch import Tensor

from lightning_deepvision.datasets.caltech.dataset import SPLIT_SETS, TEST_STRIDE
from lightning_deepvision.datasets.caltech.vbb import CaltechObject
from lightning_deepvision.datasets.synthetic.pedestrians import SyntheticPedestrians
from lightning_deepvision.testing.caltech import write_seq, write_vbb
from lightning_deepvision.testing.identity_folder import refuse_existing

__all__ = ["write_synthetic_caltech"]


def write_synthetic_caltech(
    root: str | os.PathLike[str],
    sets: Sequence[str] = ("set00", "set06"),
    frames_per_set: int = 2,
    frame_size: tuple[int, int] = (240, 320),
    seed: int = 0,
    **scene_options: Any,
) -> Path:
    """Write synthetic street frames as ``setXX/V000.seq`` and ``annotations/setXX/V000.vbb``.

    The frames go through the same writers as :func:`~lightning_deepvision.testing.write_caltech`
    (Norpix ``.seq`` of JPEG frames, ``.vbb`` with the toolbox's struct), so that
    :class:`~lightning_deepvision.datasets.caltech.CaltechPedestrian` reads them back as real
    Caltech: scene ``i`` of a set is shown for 30 frames and annotated on each, so the
    evaluated frames ``30·i + 29`` are the scenes ``0, 1, ...``. Training sets draw the
    ``train`` split's scenes, test sets the ``test`` split's (the frames of
    :class:`~lightning_deepvision.datasets.SyntheticPedestrians` with the same options).

    Args:
        root: Directory to write into (created if needed).
        sets: Caltech set names.
        frames_per_set: Evaluated frames (scenes) per set.
        frame_size: ``(height, width)``.
        seed: Scene seed.
        **scene_options: Further options of ``SyntheticPedestrians`` (``pedestrians``,
            ``height_range``, ``occlusion_probability``, ``group_probability``).

    Returns:
        ``root``.

    Raises:
        FileExistsError: A file to write exists (nothing is written).
        ValueError: An unknown set name.
    """
    known = SPLIT_SETS["train"] + SPLIT_SETS["test"]
    unknown = [s for s in sets if s not in known]
    if unknown:
        raise ValueError(f"unknown sets {unknown}; Caltech has {list(known)}")
    root = Path(root)
    refuse_existing(
        [p for s in sets for p in (root / s / "V000.seq", root / "annotations" / s / "V000.vbb")]
    )
    for set_name in sets:
        split: Literal["train", "test"] = "train" if set_name in SPLIT_SETS["train"] else "test"
        scenes = SyntheticPedestrians(
            split, frames_per_set, frame_size=frame_size, seed=seed, **scene_options
        )
        frames: list[Tensor] = []
        annotations: list[list[CaltechObject]] = []
        for index in range(frames_per_set):
            image = scenes.read_image(index).as_subclass(Tensor)
            objects: list[CaltechObject] = scenes.scene(index).objects
            # Track ids are per video: offset each scene's ids past the previous scenes'.
            offset = 1000 * index
            shifted = [cast(CaltechObject, {**o, "id": int(o["id"]) + offset}) for o in objects]
            frames += [image] * TEST_STRIDE
            annotations += [shifted] * TEST_STRIDE
        (root / set_name).mkdir(parents=True, exist_ok=True)
        (root / "annotations" / set_name).mkdir(parents=True, exist_ok=True)
        write_seq(root / set_name / "V000.seq", frames)
        write_vbb(root / "annotations" / set_name / "V000.vbb", annotations)
    return root
