"""Built-in procedural data: every recipe runs on it when nothing is downloaded.

Faces (:class:`SyntheticFaces`, :class:`SyntheticFacePairs`, :func:`render_face`) are rendered
from shape tables by the generic primitives of :mod:`.drawing`, which other synthetic scenes
share. Modules:

- :mod:`.drawing`: random draws, soft-edged shape tables, coverage, compositing, camera;
- :mod:`.face_model`: identity and nuisance parameters of a face, its attributes, the label
  constants (:data:`ATTRIBUTE_NAMES`, :data:`YAW_ANGLES`, :data:`ILLUMINATION_DIRECTIONS`);
- :mod:`.face_scene`: a face as shape tables, with yaw re-projection;
- :mod:`.face_renderer`: pixels, shading and :func:`render_face`;
- :mod:`.faces`: the datasets and :func:`render_images`;
- :mod:`.objects`: objects and patterns for classification (:class:`SyntheticObjects`).

The mask labels are HELEN's (:data:`HELEN_LABELS`, from
:mod:`lightning_deepvision.datasets.face_parts`).
"""

from lightning_deepvision.datasets.face_parts import HELEN_LABELS, HFLIP_LABEL_PERMUTATION
from lightning_deepvision.datasets.synthetic.face_model import (
    ATTRIBUTE_NAMES,
    ILLUMINATION_DIRECTIONS,
    NEUTRAL_ILLUMINATION,
    NUM_ILLUMINATIONS,
    YAW_ANGLES,
)
from lightning_deepvision.datasets.synthetic.face_renderer import render_face
from lightning_deepvision.datasets.synthetic.faces import (
    SPLITS,
    RenderedFaces,
    SyntheticFacePairs,
    SyntheticFaces,
    global_identity,
    render_images,
)
from lightning_deepvision.datasets.synthetic.objects import (
    OBJECT_CLASSES,
    SHAPES_A,
    SHAPES_B,
    SyntheticObjects,
    render_object,
)

__all__ = [
    "ATTRIBUTE_NAMES",
    "HELEN_LABELS",
    "HFLIP_LABEL_PERMUTATION",
    "ILLUMINATION_DIRECTIONS",
    "NEUTRAL_ILLUMINATION",
    "NUM_ILLUMINATIONS",
    "OBJECT_CLASSES",
    "SHAPES_A",
    "SHAPES_B",
    "SPLITS",
    "YAW_ANGLES",
    "RenderedFaces",
    "SyntheticFacePairs",
    "SyntheticFaces",
    "SyntheticObjects",
    "global_identity",
    "render_face",
    "render_images",
    "render_object",
]
