"""Write a tiny seeded identity-folder dataset (``<root>/<identity>/<image>``).

Also holds the two helpers every writer in this package shares: :func:`save_image` (tensor to
file, refusing to overwrite) and :func:`refuse_existing` (check a whole plan before writing
anything, so that a refused call leaves no half-written tree behind).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from lightning_deepvision.datasets.synthetic import render_face

__all__ = ["IMAGE_FORMATS", "refuse_existing", "save_image", "write_identity_folder"]

#: Extension -> PIL format name for the formats the writers produce.
IMAGE_FORMATS: dict[str, str] = {
    "jpg": "JPEG",
    "jpeg": "JPEG",
    "png": "PNG",
    "pgm": "PPM",  # PIL's PPM plugin writes grey images as binary PGM (P5)
    "ppm": "PPM",
    "bmp": "BMP",
    "tif": "TIFF",
    "tiff": "TIFF",
    "webp": "WEBP",
}


def refuse_existing(paths: Iterable[str | os.PathLike[str]]) -> None:
    """Raise :class:`FileExistsError` for the first path that already exists.

    Args:
        paths: Every file a writer is about to create.

    Raises:
        FileExistsError: Naming the existing path; nothing has been written.
    """
    for path in paths:
        if os.path.lexists(path):
            raise FileExistsError(
                f"refusing to overwrite {os.fspath(path)!r}: the test-data writers never "
                "replace existing files (write into an empty or new directory)"
            )


def save_image(image: torch.Tensor, path: str | os.PathLike[str], quality: int = 90) -> None:
    """Save a ``uint8`` 3xHxW (or 1xHxW / HxW) tensor, choosing the format from the extension.

    ``.pgm`` files are written grey. The file is created exclusively, so an existing file is
    never replaced even if it appeared after :func:`refuse_existing` ran.

    Args:
        image: ``uint8`` image tensor.
        path: Destination; the extension picks the format (see :data:`IMAGE_FORMATS`).
        quality: JPEG / WebP quality.

    Raises:
        ValueError: Unsupported extension or a non-``uint8`` tensor.
        FileExistsError: ``path`` exists.
    """
    path = Path(path)
    ext = path.suffix.lower().lstrip(".")
    if ext not in IMAGE_FORMATS:
        raise ValueError(
            f"unsupported image extension {ext!r}; choose one of {list(IMAGE_FORMATS)}"
        )
    if image.dtype != torch.uint8:
        raise ValueError(f"expected a uint8 image tensor, got {image.dtype}")
    array = image.detach().cpu().numpy()
    if array.ndim == 3:
        array = np.ascontiguousarray(array.transpose(1, 2, 0))
        if array.shape[2] == 1:
            array = array[:, :, 0]
    pil = Image.fromarray(array)
    if ext == "pgm" and pil.mode != "L":
        pil = pil.convert("L")
    fmt = IMAGE_FORMATS[ext]
    options = {"quality": quality} if fmt in ("JPEG", "WEBP") else {}
    with open(path, "xb") as handle:
        pil.save(handle, format=fmt, **options)


def write_identity_folder(
    root: str | os.PathLike[str],
    num_identities: int = 8,
    images_per_identity: int = 6,
    image_size: tuple[int, int] = (64, 56),
    ext: str = "jpg",
    seed: int = 0,
) -> Path:
    """Write ``<root>/<identity>/<NNN>.<ext>`` with synthetic faces, readable by ``IdentityFolder``.

    Identities are named ``id_0000``, ``id_0001``, ... (so sorted order is label order) and
    images ``000.<ext>``, ``001.<ext>``, ...; faces come from
    :func:`lightning_deepvision.datasets.synthetic.render_face`, so the same identity
    looks alike across its images. Deterministic for a given ``seed``; tiny and fast, for
    ``Trainer(fast_dev_run=True)`` tests of your own tasks and data modules.

    Args:
        root: Directory to write into (created if needed; it may already hold other files).
        num_identities: Number of identity folders.
        images_per_identity: Images per identity.
        image_size: ``(height, width)`` of each image.
        ext: Image format by extension, one of :data:`IMAGE_FORMATS` (``"pgm"`` writes grey
            images like the AT&T faces).
        seed: Seed of the face renderer.

    Returns:
        ``root`` as a :class:`~pathlib.Path`.

    Raises:
        FileExistsError: One of the files to write already exists (nothing is written).
        ValueError: A non-positive count or size, or an unsupported ``ext``.
    """
    ext = ext.lower().lstrip(".")
    if ext not in IMAGE_FORMATS:
        raise ValueError(f"unsupported ext {ext!r}; choose one of {list(IMAGE_FORMATS)}")
    if num_identities < 1 or images_per_identity < 1 or min(image_size) < 1:
        raise ValueError(
            "num_identities, images_per_identity and image_size must be positive, got "
            f"{num_identities}, {images_per_identity}, {image_size}"
        )
    root = Path(root)
    plan = [
        (i, j, root / f"id_{i:04d}" / f"{j:03d}.{ext}")
        for i in range(num_identities)
        for j in range(images_per_identity)
    ]
    refuse_existing(path for _, _, path in plan)
    size = (int(image_size[0]), int(image_size[1]))
    for identity, sample, path in plan:
        path.parent.mkdir(parents=True, exist_ok=True)
        face = render_face(identity=identity, sample=sample, size=size, seed=seed)
        save_image(face["image"], path)
    return root
