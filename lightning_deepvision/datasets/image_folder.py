"""Classification images in ``root/<split>/<class>/<image>`` trees, with a compact file index.

The layout of ImageNet's training set, of torchvision's ``ImageFolder`` and of most
classification datasets people build themselves. The pieces here are shared with
:class:`~lightning_deepvision.datasets.imagenet.ImageNet`:

* :class:`ImageIndex`: every relative path in one ``bytes`` string with an offset array, and
  the labels as a small integer array — a few bytes per sample instead of a ``Path`` and an
  ``int`` object each (about 200 bytes together), and nothing that reference counting touches
  in forked loader workers (a list of Python objects is copied page by page into every worker
  as it is read);
* :func:`decode_image_file`: decoding with :mod:`torchvision.io` (libjpeg-turbo / libpng
  straight into a tensor) and :func:`~lightning_deepvision.datasets.image_io.read_image`
  (PIL) for the formats torchvision does not read, such as PGM;
* :class:`IndexedImageDataset`: the ``{"image", "label"}`` dataset over an index;
* :func:`class_folders` and :func:`check_same_classes`, so that a label means the same class
  in every split.
"""

from __future__ import annotations

import errno
import os
import warnings
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torchvision import tv_tensors
from torchvision.io import ImageReadMode

try:
    from torchvision.io import decode_image
except ImportError:  # pragma: no cover - a torchvision without image decoding: PIL does it all
    decode_image = None

from lightning_deepvision.datasets.bad_samples import OnBadSample, SkipsBadSamples
from lightning_deepvision.datasets.errors import (
    CorruptImageError,
    DatasetNotFoundError,
    MissingImageError,
)
from lightning_deepvision.datasets.image_io import (
    IMAGE_EXTENSIONS,
    has_image_extension,
    read_image,
    to_uint8,
)

__all__ = [
    "SPLITS",
    "ClassSetMismatchError",
    "ImageFolderDataset",
    "ImageIndex",
    "IndexedImageDataset",
    "check_same_classes",
    "class_folders",
    "decode_image_file",
    "index_class_folders",
    "list_images",
    "scan_directory",
]

#: The splits an image-folder tree may have, in the order they are compared.
SPLITS: tuple[str, ...] = ("train", "val", "test")

# What torchvision.io.decode_image reads (it tells JPEG, PNG, WebP and GIF apart by content).
_TORCHVISION_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".gif")
_DECODER_DEPRECATION = "The image decoding and encoding capabilities of TorchVision are deprecated"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class ClassSetMismatchError(ValueError):
    """Two splits of a dataset do not have the same classes.

    Labels are indices into the sorted class list of each split, so with different class sets
    the same label would mean different classes in training and evaluation.

    Args:
        first: Where the first class set comes from (a directory or an annotation file).
        second: Where the second class set comes from.
        only_first: Classes only in ``first``.
        only_second: Classes only in ``second``.
    """

    def __init__(
        self,
        first: str | os.PathLike[str],
        second: str | os.PathLike[str],
        only_first: Iterable[str],
        only_second: Iterable[str],
    ) -> None:
        self.first, self.second = Path(first), Path(second)
        self.only_first, self.only_second = sorted(only_first), sorted(only_second)

        def some(names: list[str]) -> str:
            shown = ", ".join(names[:5])
            return f"[{shown}{', ...' if len(names) > 5 else ''}] ({len(names)})"

        super().__init__(
            f"the classes of {str(first)!r} and {str(second)!r} differ: only in the first "
            f"{some(self.only_first)}, only in the second {some(self.only_second)}. Every split "
            "needs the same classes (one folder each, possibly empty), so that a label means the "
            "same class in all of them"
        )


def scan_directory(directory: Path, extensions: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """The sub-directories and the image files directly in ``directory``, each sorted.

    Hidden entries (``.*``) are skipped. An entry named like an image (by ``extensions``) is
    taken as a file without asking the file system, so that a flat folder of 50,000 images
    costs no per-file call; only the others are checked for being directories (from the type
    the directory scan already returned, without a ``stat``).
    """
    folders: list[str] = []
    images: list[str] = []
    with os.scandir(directory) as entries:
        for entry in entries:
            name = entry.name
            if name.startswith("."):
                continue
            if name.lower().endswith(extensions):
                images.append(name)
            elif entry.is_dir():
                folders.append(name)
    return sorted(folders), sorted(images)


def class_folders(directory: Path) -> list[str]:
    """The sorted names of the non-hidden sub-directories of ``directory``."""
    return scan_directory(directory, IMAGE_EXTENSIONS)[0]


def check_same_classes(
    first: str | os.PathLike[str],
    first_classes: Iterable[str],
    second: str | os.PathLike[str],
    second_classes: Iterable[str],
) -> None:
    """Raise :class:`ClassSetMismatchError` unless the two class sets are equal.

    Args:
        first: Where ``first_classes`` come from (named in the error).
        first_classes: One class set.
        second: Where ``second_classes`` come from.
        second_classes: The other.
    """
    a, b = set(first_classes), set(second_classes)
    if a != b:
        raise ClassSetMismatchError(first, second, a - b, b - a)


def list_images(directory: Path, extensions: tuple[str, ...]) -> list[str]:
    """The sorted names of the image files directly in ``directory`` (hidden files skipped).

    Names are matched by extension only, without a ``stat`` per file: a directory scan of
    ImageNet's 1.28 M training files then costs about a second. (A directory that happens to be
    named like an image is reported when it is read.)
    """
    return sorted(
        name
        for name in os.listdir(directory)
        if not name.startswith(".") and name.lower().endswith(extensions)
    )


class ImageIndex:
    """Relative image paths and integer labels, held compactly.

    The paths are one UTF-8 ``bytes`` string with ``len + 1`` offsets (``uint32`` while the
    string is under 4 GiB, else ``int64``); the labels are ``int16`` (``int32`` beyond 32,767
    classes). Beyond the path characters a sample costs 6 bytes (:attr:`bytes_per_sample`).

    Args:
        paths: Paths relative to the dataset's image directory, in dataset order.
        labels: The label of each path.
        num_classes: Number of classes (chooses the label type).

    Raises:
        ValueError: If ``paths`` and ``labels`` differ in length.
    """

    def __init__(self, paths: Sequence[str], labels: Sequence[int] | np.ndarray, num_classes: int):
        if len(paths) != len(labels):
            raise ValueError(f"{len(paths)} paths but {len(labels)} labels")
        # surrogateescape: a file name that is not UTF-8 (os.listdir gives its bytes as lone
        # surrogates) is kept byte for byte instead of failing to encode.
        self.data = "".join(paths).encode("utf-8", "surrogateescape")
        lengths = np.fromiter(map(len, paths), dtype=np.int64, count=len(paths))
        if int(lengths.sum()) != len(self.data):  # non-ASCII names: count bytes, not characters
            lengths = np.fromiter(
                (len(p.encode("utf-8", "surrogateescape")) for p in paths),
                dtype=np.int64,
                count=len(paths),
            )
        offsets = np.zeros(len(paths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        self.offsets = offsets.astype(np.uint32) if len(self.data) < 2**32 else offsets
        self.labels = np.asarray(labels, dtype=np.int16 if num_classes < 2**15 else np.int32)

    def __len__(self) -> int:
        return len(self.labels)

    def path(self, index: int) -> str:
        """The relative path of sample ``index``."""
        start, end = int(self.offsets[index]), int(self.offsets[index + 1])
        return self.data[start:end].decode("utf-8", "surrogateescape")

    def label(self, index: int) -> int:
        """The label of sample ``index``."""
        return int(self.labels[index])

    @property
    def bytes_per_sample(self) -> float:
        """Bytes held per sample beyond the path characters (offsets and labels)."""
        return (self.offsets.nbytes + self.labels.nbytes) / max(len(self), 1)


def decode_image_file(
    path: str | os.PathLike[str], referenced_by: str | None = None
) -> tv_tensors.Image:
    """Decode an image file to a ``uint8`` RGB ``tv_tensors.Image`` of shape ``3xHxW``.

    JPEG, WebP and GIF files are read in one system call and decoded by
    :func:`torchvision.io.decode_image` straight into a tensor (grey and CMYK JPEGs become RGB;
    the format is told by content, so ImageNet's PNG saved as ``.JPEG`` is still a PNG); PNG
    (see :func:`decode_with_torchvision`), the other formats (PGM, PPM, BMP, TIFF) and any file
    torchvision refuses go through
    :func:`~lightning_deepvision.datasets.image_io.read_image`, which reports an undecodable
    file as :class:`CorruptImageError` naming it. Both decoders give the same pixels: the EXIF
    orientation is applied, 16-bit PNGs are rescaled to 8 bits (``v // 257``), alpha is dropped
    and an animated GIF gives its first frame (see :mod:`~lightning_deepvision.datasets.image_io`).

    Args:
        path: The image file.
        referenced_by: Where the path came from; when given, a missing file raises
            :class:`MissingImageError` naming it.

    Returns:
        The decoded image, ``uint8``, ``3xHxW``.

    Raises:
        MissingImageError: The file does not exist and ``referenced_by`` was given.
        FileNotFoundError: The file does not exist.
        CorruptImageError: The file exists but is not a decodable image.
    """
    path = Path(path)
    if decode_image is None or not has_image_extension(path, _TORCHVISION_EXTENSIONS):
        return read_image(path, referenced_by)
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            buffer = bytearray(size)  # writable, so that torch can wrap it without a copy
            read = handle.readinto(buffer)
    except FileNotFoundError as err:
        if referenced_by is not None:
            raise MissingImageError(path, referenced_by) from err
        raise FileNotFoundError(errno.ENOENT, "image file not found", str(path)) from err
    except IsADirectoryError as err:
        raise CorruptImageError(path, "is a directory, not an image file") from err
    if not size:
        raise CorruptImageError(path, "empty file (0 bytes)")
    if read != size:
        raise CorruptImageError(path, f"read {read or 0} of {size} bytes (the file is changing)")
    image = decode_with_torchvision(buffer)
    if image is None:
        # Truncated or corrupt data, or a variant torchvision does not read: PIL either decodes
        # it or raises CorruptImageError with its own diagnosis ("image file is truncated").
        return read_image(path, referenced_by)
    return image


def decode_with_torchvision(buffer: bytearray) -> tv_tensors.Image | None:
    """:func:`decode_image_file`'s torchvision decoding of an encoded file's bytes.

    Shared with the in-memory decoding of streamed images
    (:mod:`~lightning_deepvision.datasets.encoded_image`), so both give the same pixels.

    Args:
        buffer: The file's bytes (writable, so that torch wraps them without a copy).

    PNG is left to PIL (``None``): torchvision 0.29's PNG decoder crashes the process
    (segmentation fault) on any error libpng reports inside the image data, as one flipped
    bit gives, which no ``except`` can catch; a loader worker would die without naming the
    file. PIL reports such a file as :class:`CorruptImageError`.

    Returns:
        The ``uint8`` RGB image, or ``None`` where torchvision cannot (or must not) decode the
        bytes.
    """
    if decode_image is None or buffer.startswith(_PNG_SIGNATURE):
        return None
    try:
        with warnings.catch_warnings():
            # torchvision 0.29 deprecates its decoders in favour of TorchCodec, a dependency
            # this library does not take; the warning is for this module, not for its users.
            warnings.filterwarnings("ignore", _DECODER_DEPRECATION, DeprecationWarning)
            image = decode_image(
                torch.frombuffer(buffer, dtype=torch.uint8),
                ImageReadMode.RGB,
                apply_exif_orientation=True,
            )
    except RuntimeError:
        return None
    if image.ndim == 4:  # an animated GIF: its frames, of which PIL reads the first
        image = image[0]
    return tv_tensors.Image(to_uint8(image))  # a 16-bit PNG rescaled as read_image does


class IndexedImageDataset(SkipsBadSamples):
    """Base of the classification datasets over an :class:`ImageIndex`.

    A subclass sets :attr:`image_dir`, :attr:`index`, :attr:`classes` and :attr:`transforms`
    in its ``__init__`` (listing files only; nothing is decoded before ``__getitem__``).

    Each sample is ``{"image", "label"}``: a ``uint8`` 3xHxW ``tv_tensors.Image`` and the
    ``int64`` index of its class in :attr:`classes`; ``transforms`` receive the whole dict.

    Attributes:
        image_dir: The directory the index's paths are relative to.
        index: The compact path and label index.
        classes: Class names (wnids, folder names) in label order.
        transforms: Applied to the sample dict, or ``None``.
    """

    image_dir: Path
    index: ImageIndex
    classes: list[str]
    transforms: Callable[[dict[str, Any]], Any] | None

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.classes)

    @property
    def targets(self) -> np.ndarray:
        """The label of every sample (no decoding), as a fresh ``int64`` array (a copy)."""
        return self.index.labels.astype(np.int64)

    def __len__(self) -> int:
        return len(self.index)

    def path(self, index: int) -> Path:
        """The image file of sample ``index``."""
        return self.image_dir / self.index.path(index)

    def load_sample(self, index: int) -> dict[str, Any]:
        """The sample before transforms: ``{"image", "label"}``."""
        return {
            "image": decode_image_file(self.path(index)),
            "label": torch.tensor(self.index.label(index), dtype=torch.int64),
        }

    def raw_sample(self, index: int) -> dict[str, Any]:
        """:meth:`load_sample` with the image un-decoded, for streaming formats.

        Returns:
            ``image``, an :class:`~lightning_deepvision.datasets.encoded_image.EncodedImage`
            of the file's bytes (its ``decode()`` is this dataset's decoding), and ``label``.
        """
        from lightning_deepvision.datasets.encoded_image import EncodedImage  # imports this

        return {
            "image": EncodedImage.from_file(self.path(index), decoder="torchvision"),
            "label": torch.tensor(self.index.label(index), dtype=torch.int64),
        }

    def get_sample(self, index: int) -> dict[str, Any]:
        """Sample ``index``, transforms applied (``__getitem__`` applies ``on_bad_sample``)."""
        sample = self.load_sample(index)
        if self.transforms is not None:
            sample = self.transforms(sample)
        return sample


def index_class_folders(
    directory: Path, classes: Sequence[str], extensions: tuple[str, ...]
) -> ImageIndex:
    """Index ``directory/<class>/<image>`` for ``classes`` (label = position in ``classes``).

    Images are sorted within each class, so the index is the same on every machine.
    """
    paths: list[str] = []
    counts: list[int] = []
    for name in classes:
        files = list_images(directory / name, extensions)
        paths.extend(f"{name}/{file}" for file in files)
        counts.append(len(files))
    labels = np.repeat(np.arange(len(classes)), counts)
    return ImageIndex(paths, labels, len(classes))


_LAYOUT = (
    "Expected ROOT/<split>/<class>/<image> with the same class folders in every split, e.g. "
    "ROOT/train/cat/001.jpg and ROOT/val/cat/101.jpg (jpg, png or pgm; grey images become "
    "3-channel)."
)


class ImageFolderDataset(IndexedImageDataset):
    """Any ``root/<split>/<class>/<image>`` classification tree.

    Classes are the sorted folder names of the split (as ``torchvision.datasets.ImageFolder``),
    and every other split present under ``root`` (``train``, ``val``, ``test``) must have the
    same class folders, so that a label means the same class everywhere. Files are listed at
    construction (sorted within each class); images are decoded in ``__getitem__``, JPEG and PNG
    by :mod:`torchvision.io`, PGM and other formats by PIL; grey images become 3-channel.

    Args:
        root: The directory holding the split folders.
        split: The split folder to read (``"train"``, ``"val"``, ``"test"``, or any other name).
        transforms: Applied to the sample dict.
        extensions: Image file extensions to index (with the dot; case-insensitive).
        on_bad_sample: ``"raise"`` (default) or ``"skip"``: what an unreadable image file does
            (see :mod:`~lightning_deepvision.datasets.bad_samples`).

    Attributes:
        classes: Class folder names, in label order.
        num_classes: ``len(classes)``.
        targets: The label of every sample.

    Raises:
        DatasetNotFoundError: ``root/<split>`` is missing, or holds no class folder with an
            image.
        ClassSetMismatchError: Another split's class folders differ from this one's.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: str = "train",
        transforms: Callable[[dict[str, Any]], Any] | None = None,
        extensions: Sequence[str] = IMAGE_EXTENSIONS,
        on_bad_sample: OnBadSample = "raise",
    ) -> None:
        self.root = Path(root)
        self.split = split
        self.transforms = transforms
        self.extensions = tuple(e.lower() for e in extensions)
        self.image_dir = self.root / split
        if not self.image_dir.is_dir():
            present = [s for s in SPLITS if (self.root / s).is_dir()]
            found = f" Found the splits {present}." if present else ""
            raise DatasetNotFoundError(
                "ImageFolderDataset", self.root, self.image_dir, f"{_LAYOUT}{found}"
            )
        self.classes = class_folders(self.image_dir)
        for other in SPLITS:
            other_dir = self.root / other
            if other != split and other_dir.is_dir():
                check_same_classes(
                    self.image_dir, self.classes, other_dir, class_folders(other_dir)
                )
        self.index = index_class_folders(self.image_dir, self.classes, self.extensions)
        if len(self.index) == 0:
            stray = len(list_images(self.image_dir, self.extensions))
            hint = f" Found {stray} image(s) directly in it: move them into class folders." * (
                stray > 0
            )
            pattern = "{" + ",".join(self.extensions) + "}"
            raise DatasetNotFoundError(
                "ImageFolderDataset",
                self.root,
                self.image_dir / "<class>" / f"<image>{pattern}",
                f"No image in a class folder. {_LAYOUT}{hint}",
            )
        self.on_bad_sample = on_bad_sample
