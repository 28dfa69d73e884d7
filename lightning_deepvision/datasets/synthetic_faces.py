"""Old import path of :mod:`lightning_deepvision.datasets.synthetic`; import from there instead.

Kept only so that code written against ``lightning_deepvision.datasets.synthetic_faces`` keeps
importing while it moves to the package; it will be removed.
"""

from lightning_deepvision.datasets.synthetic import (
    ATTRIBUTE_NAMES,
    HELEN_LABELS,
    HFLIP_LABEL_PERMUTATION,
    ILLUMINATION_DIRECTIONS,
    NEUTRAL_ILLUMINATION,
    NUM_ILLUMINATIONS,
    SPLITS,
    YAW_ANGLES,
    RenderedFaces,
    SyntheticFacePairs,
    SyntheticFaces,
    global_identity,
    render_face,
    render_images,
)

__all__ = [
    "ATTRIBUTE_NAMES",
    "HELEN_LABELS",
    "HFLIP_LABEL_PERMUTATION",
    "ILLUMINATION_DIRECTIONS",
    "NEUTRAL_ILLUMINATION",
    "NUM_ILLUMINATIONS",
    "SPLITS",
    "YAW_ANGLES",
    "RenderedFaces",
    "SyntheticFacePairs",
    "SyntheticFaces",
    "global_identity",
    "render_face",
    "render_images",
]
