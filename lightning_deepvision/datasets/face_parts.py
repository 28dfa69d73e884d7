"""Face-part label sets shared by the face-parsing data and the face transforms.

The 11 HELEN face-parsing labels (Smith, Zhang, Brandt, Lin, Yang, "Exemplar-Based Face
Parsing", CVPR 2013) are the library's parsing convention: the HELEN reader, the synthetic faces
and the horizontal-flip preset all use them. "left"/"right" are the image's (the viewer's), so a
mirror image must swap every left label with its right counterpart.
"""

from __future__ import annotations

__all__ = ["HELEN_LABELS", "HFLIP_LABEL_PERMUTATION", "hflip_permutation"]

HELEN_LABELS: tuple[str, ...] = (
    "background",
    "face_skin",
    "left_eyebrow",
    "right_eyebrow",
    "left_eye",
    "right_eye",
    "nose",
    "upper_lip",
    "inner_mouth",
    "lower_lip",
    "hair",
)
"""Names of the mask labels 0..10, in HELEN's order (Smith et al., CVPR 2013)."""


def hflip_permutation(class_names: tuple[str, ...] | list[str]) -> tuple[int, ...]:
    """Label table of a horizontal mirror: ``left_*`` and ``right_*`` classes swap.

    Args:
        class_names: Mask class names in label order; names starting with ``left_`` are paired
            with the same name starting with ``right_`` (and vice versa).

    Returns:
        ``perm`` such that a flipped mask must be relabelled ``perm[mask]``.

    Raises:
        ValueError: If a ``left_``/``right_`` name has no counterpart.
    """
    names = list(class_names)
    index = {name: i for i, name in enumerate(names)}
    table = []
    for i, name in enumerate(names):
        for this, other in (("left_", "right_"), ("right_", "left_")):
            if name.startswith(this):
                twin = other + name[len(this) :]
                if twin not in index:
                    raise ValueError(f"class {name!r} has no mirror class {twin!r}")
                table.append(index[twin])
                break
        else:
            table.append(i)
    return tuple(table)


HFLIP_LABEL_PERMUTATION: tuple[int, ...] = hflip_permutation(HELEN_LABELS)
"""``mask.flip(-1)`` must be relabelled through this table: a mirror swaps left and right."""
