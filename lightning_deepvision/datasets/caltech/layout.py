"""Caltech Pedestrian's on-disk layout: splits, evaluated frames, annotation folders.

Dollár, Wojek, Schiele, Perona, "Pedestrian Detection: A Benchmark", CVPR 2009, and "Pedestrian
Detection: An Evaluation of the State of the Art", TPAMI 2012 (the evaluation protocol); the
improved annotations of Zhang et al., CVPR 2016. The layout itself is described in
:mod:`lightning_deepvision.datasets.caltech.dataset`.
"""

from __future__ import annotations

from typing import Literal

__all__ = [
    "CALTECH_URL",
    "NEW_ANNOTATION_DIRS",
    "SPLIT_SETS",
    "TEST_STRIDE",
    "new_annotation_names",
]

CALTECH_URL = "https://data.caltech.edu/records/f6rph-90m20"
#: The sets of each split.
SPLIT_SETS: dict[str, tuple[str, ...]] = {
    "train": tuple(f"set{i:02d}" for i in range(6)),
    "test": tuple(f"set{i:02d}" for i in range(6, 11)),
}
#: The official evaluation uses every 30th frame (``skip = 30``), 0-based 29, 59, ...
TEST_STRIDE = 30
#: Folder names of the improved annotations (Zhang et al., CVPR 2016), searched in order.
NEW_ANNOTATION_DIRS: dict[str, tuple[str, ...]] = {
    "test": ("anno_test_1xnew",),
    "train": ("anno_train_1xnew", "anno_train10x_alignedby_RotatedFilters"),
}

Split = Literal["train", "test"]


def new_annotation_names(set_name: str, video: str, frame: int) -> tuple[str, ...]:
    """File names a frame's improved annotation may have: ``setXX_VYYY_IZZZZZ.jpg.txt`` / ``.txt``.

    ``ZZZZZ`` is the 0-based frame; the test release adds ``.jpg`` before ``.txt``.
    """
    stem = f"{set_name}_{video}_I{frame:05d}"
    return (f"{stem}.jpg.txt", f"{stem}.txt")


def _how_to_obtain() -> str:
    return (
        f"Caltech Pedestrian is not downloaded automatically (see {CALTECH_URL}): extract "
        "setXX.tar so that ROOT/setXX/VYYY.seq exist and annotations.zip so that "
        "ROOT/annotations/setXX/VYYY.vbb exist."
    )


def _how_to_obtain_new() -> str:
    return (
        "The improved annotations (Zhang et al., CVPR 2016) are a separate download from the "
        "authors' page: extract anno_test_1xnew/ (and anno_train_1xnew/ or "
        "anno_train10x_alignedby_RotatedFilters/) under ROOT or ROOT/annotations, or pass "
        "new_annotations_dir."
    )
