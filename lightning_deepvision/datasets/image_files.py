"""A user's plain folder of images, for prediction: every image under a directory, with its path.

``torchvision.datasets.ImageFolder`` and :class:`~lightning_deepvision.datasets.ImageFolderDataset`
need one sub-folder per class and skip loose files; a folder someone wants embedded or
classified has no classes, may nest folders to any depth and may hold images at its top level.
This dataset lists them all (sorted, so that the row order of the predictions is the same on
every machine) and decodes with the library's decoder, which reports a corrupt file by name.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from lightning_deepvision.datasets.bad_samples import OnBadSample, SkipsBadSamples
from lightning_deepvision.datasets.errors import DatasetNotFoundError
from lightning_deepvision.datasets.image_folder import decode_image_file, scan_directory
from lightning_deepvision.datasets.image_io import IMAGE_EXTENSIONS

__all__ = ["ImageFiles", "list_image_files"]


def list_image_files(root: Path, extensions: tuple[str, ...]) -> list[str]:
    """The image files under ``root`` at any depth, as sorted POSIX paths relative to ``root``.

    Hidden files and folders (``.*``) are skipped; symbolic links to folders are not followed
    (a link cycle would never end). Folders are walked in sorted order and each folder's
    images come before its sub-folders' (the order ``sorted`` gives relative paths would put
    ``a/b/x.jpg`` before ``a/c.jpg``; this order is ``a/c.jpg`` first, as a file browser
    shows them). Either way the order is fixed for a given tree.
    """
    found: list[str] = []
    pending: list[tuple[Path, str]] = [(root, "")]
    while pending:
        directory, prefix = pending.pop()
        folders, images = scan_directory(directory, extensions)
        found.extend(prefix + name for name in images)
        # Reversed, so that popping from the end walks the sub-folders in sorted order.
        for name in reversed(folders):
            if not (directory / name).is_symlink():
                pending.append((directory / name, f"{prefix}{name}/"))
    return found


class ImageFiles(SkipsBadSamples):
    """Every image file under ``root`` (recursively), each sample ``{"image", "path"}``.

    ``image`` is a ``uint8`` 3xHxW ``tv_tensors.Image`` (grey images become 3-channel) and
    ``path`` the file's path as a string (``root`` joined with the relative path), so that a
    prediction can be traced back to its file. Files are listed at construction; images are
    decoded in ``__getitem__``.

    Args:
        root: The folder to read.
        transforms: Applied to the sample dict (the data module's evaluation transforms).
        extensions: Image file extensions to list (with the dot; case-insensitive); by default
            every format the library decodes.
        on_bad_sample: ``"raise"`` (default) or ``"skip"``: what an unreadable image file does
            (see :mod:`~lightning_deepvision.datasets.bad_samples`).

    Attributes:
        files: The relative paths, in sample order.

    Raises:
        DatasetNotFoundError: ``root`` is not a directory, or holds no image file.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        transforms: Callable[[dict[str, Any]], Any] | None = None,
        extensions: Sequence[str] = IMAGE_EXTENSIONS,
        on_bad_sample: OnBadSample = "raise",
    ) -> None:
        self.root = Path(root)
        self.transforms = transforms
        self.extensions = tuple(e.lower() for e in extensions)
        pattern = "{" + ",".join(self.extensions) + "}"
        if not self.root.is_dir():
            raise DatasetNotFoundError(
                "ImageFiles", self.root, self.root, "Expected a folder of images (any depth)."
            )
        self.files = list_image_files(self.root, self.extensions)
        if not self.files:
            raise DatasetNotFoundError(
                "ImageFiles",
                self.root,
                self.root / "**" / f"<image>{pattern}",
                "The folder and its sub-folders hold no image file with these extensions.",
            )
        self.on_bad_sample = on_bad_sample

    def __len__(self) -> int:
        return len(self.files)

    def path(self, index: int) -> Path:
        """The image file of sample ``index``."""
        return self.root / self.files[index]

    def get_sample(self, index: int) -> dict[str, Any]:
        """Sample ``index``, transforms applied (``__getitem__`` applies ``on_bad_sample``)."""
        path = self.path(index)
        sample: dict[str, Any] = {"image": decode_image_file(path), "path": str(path)}
        if self.transforms is not None:
            sample = self.transforms(sample)
        return sample

    def __repr__(self) -> str:
        return f"{type(self).__name__}(root={str(self.root)!r}, files={len(self)})"
