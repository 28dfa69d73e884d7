"""The synthetic face datasets: identities, LFW-style pairs, and an in-memory pre-render.

The outputs mirror the real datasets the face recipes are written for:

- ``mask`` uses the 11 HELEN face-parsing labels (Smith, Zhang, Brandt, Lin, Yang, "Exemplar-Based
  Face Parsing", CVPR 2013); see :data:`~lightning_deepvision.datasets.face_parts.HELEN_LABELS`.
- ``yaw`` takes the seven Multi-PIE poses of the FIP/MVP protocol and ``illumination`` the 20
  Multi-PIE flash ids (Gross et al., Image and Vision Computing 28(5), 2010); ``target`` is the
  canonical frontal view under neutral light that FIP (Zhu, Luo, Wang, Tang, ICCV 2013)
  reconstructs.
- ``attributes`` are binary, CelebA-style (Liu, Luo, Wang, Tang, ICCV 2015); see
  :data:`~lightning_deepvision.datasets.synthetic.ATTRIBUTE_NAMES`.
- :class:`SyntheticFacePairs` follows the LFW View 2 protocol (Huang et al., UMass TR 07-49,
  2007): identity-disjoint folds, each half matched and half mismatched pairs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal, cast

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset
from torchvision import tv_tensors

from lightning_deepvision.datasets.synthetic._checks import (
    check_index,
    check_item,
    check_positive,
    check_size,
    check_split,
    check_transforms,
)
from lightning_deepvision.datasets.synthetic.face_model import ATTRIBUTE_NAMES
from lightning_deepvision.datasets.synthetic.face_renderer import frontal_image, render_face

__all__ = [
    "SPLITS",
    "RenderedFaces",
    "SyntheticFacePairs",
    "SyntheticFaces",
    "global_identity",
    "render_images",
]

SPLITS: tuple[str, ...] = ("train", "val", "test")
Split = Literal["train", "val", "test"]

Transforms = Callable[[dict[str, Any]], dict[str, Any]]


def global_identity(split: str, label: int) -> int:
    """Global identity id of ``label`` within ``split``.

    Identities are interleaved by split: ``3 * label + {"train": 0, "val": 1, "test": 2}``. The
    splits are therefore disjoint for every ``num_identities``, and growing one split never
    changes the people of another.

    Args:
        split: ``"train"``, ``"val"`` or ``"test"``.
        label: Identity index within the split (``>= 0``).

    Returns:
        The identity argument of :func:`render_face` for that person.

    Raises:
        ValueError: On an unknown split or a negative label.
    """
    check_split(split, SPLITS)
    label = check_index("label", label)
    return 3 * label + SPLITS.index(split)


class SyntheticFaces(Dataset[dict[str, Any]]):
    """Rendered faces of ``num_identities`` people, ``images_per_identity`` images each.

    The built-in stand-in for an identity-labelled face set such as CelebFaces+ (DeepID2, Sun,
    Wang, Tang, NIPS 2014) that also carries parsing masks, attributes, pose, illumination and
    the canonical view, so every face task can run on it. Images are rendered lazily in
    :meth:`__getitem__` by :func:`render_face`; construction renders nothing.

    Identities of the three splits never overlap: label ``l`` of split ``s`` is the global
    identity ``3 * l + {"train": 0, "val": 1, "test": 2}[s]`` (:func:`global_identity`), for any
    ``num_identities``. Index ``i`` is image ``i % images_per_identity`` of label
    ``i // images_per_identity``.

    Each sample is a dict with ``image`` (``tv_tensors.Image``, uint8 3xHxW), ``label`` (int64,
    ``0..num_identities-1``), ``identity`` (int64 global id), ``attributes`` (int64, one per
    :data:`ATTRIBUTE_NAMES`), ``mask`` (``tv_tensors.Mask``, int64 HxW,
    :data:`~lightning_deepvision.datasets.face_parts.HELEN_LABELS`), ``yaw`` (float32, degrees),
    ``illumination`` (int64) and ``target`` (``tv_tensors.Image``, the person's canonical frontal
    view).

    Args:
        split: ``"train"``, ``"val"`` or ``"test"``.
        num_identities: People in the split.
        images_per_identity: Images per person.
        image_size: ``(height, width)``, each at least 16.
        seed: Generator seed; a different seed draws different people and images.
        transforms: Applied to the whole sample dict (``torchvision.transforms.v2`` transforms
            the ``Image`` and ``Mask`` entries jointly and passes the rest through). Note that a
            horizontal flip must relabel the mask via
            :data:`~lightning_deepvision.datasets.face_parts.HFLIP_LABEL_PERMUTATION` and
            negate ``yaw``.

    Attributes:
        targets: Label of every index (no rendering; for samplers).
        identities: Global identity id of every label.
        num_classes: ``num_identities``.
        attribute_names: :data:`ATTRIBUTE_NAMES`.

    Raises:
        ValueError: On an unknown split or a non-positive count, a bad size or a negative seed.
    """

    attribute_names: tuple[str, ...] = ATTRIBUTE_NAMES

    def __init__(
        self,
        split: Split = "train",
        num_identities: int = 500,
        images_per_identity: int = 20,
        image_size: tuple[int, int] = (64, 56),
        seed: int = 0,
        transforms: Transforms | None = None,
    ) -> None:
        self.split = check_split(split, SPLITS)
        self.num_identities = check_positive("num_identities", num_identities)
        self.images_per_identity = check_positive("images_per_identity", images_per_identity)
        self.image_size = check_size(image_size)
        self.seed = check_index("seed", seed)
        check_transforms(transforms)
        self.transforms = transforms
        self.identities: list[int] = [
            global_identity(self.split, label) for label in range(self.num_identities)
        ]
        self.targets: list[int] = [
            label for label in range(self.num_identities) for _ in range(self.images_per_identity)
        ]

    @property
    def labels(self) -> list[int]:
        """Alias of :attr:`targets`."""
        return self.targets

    @property
    def num_classes(self) -> int:
        """Number of identities, i.e. of classes in the identification softmax."""
        return self.num_identities

    def __len__(self) -> int:
        return self.num_identities * self.images_per_identity

    def __getitem__(self, index: int) -> dict[str, Any]:
        index = check_item(index, len(self))
        label, image_index = divmod(index, self.images_per_identity)
        identity = self.identities[label]
        rendered = render_face(identity, image_index, self.image_size, self.seed)
        height, width = self.image_size
        sample: dict[str, Any] = {
            "image": tv_tensors.Image(rendered["image"]),
            "label": torch.tensor(label, dtype=torch.int64),
            "identity": torch.tensor(identity, dtype=torch.int64),
            "attributes": rendered["attributes"],
            "mask": tv_tensors.Mask(rendered["mask"]),
            "yaw": rendered["yaw"],
            "illumination": rendered["illumination"],
            "target": tv_tensors.Image(frontal_image(identity, height, width, self.seed).clone()),
        }
        if self.transforms is not None:
            sample = self.transforms(sample)
        return sample

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(split={self.split!r}, num_identities={self.num_identities}, "
            f"images_per_identity={self.images_per_identity}, image_size={self.image_size}, "
            f"seed={self.seed})"
        )


def _unrank_pairs(rank: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``rank``-th pairs ``(i, j)``, ``i < j < n``, in row-major order of the upper triangle."""
    # Row i starts at offset(i) = i*n - i*(i+1)/2; invert the quadratic, then fix rounding.
    disc = (2 * n - 1) ** 2 - 8 * rank.astype(np.float64)
    i = np.floor(((2 * n - 1) - np.sqrt(np.maximum(disc, 0.0))) / 2).astype(np.int64)
    i = np.clip(i, 0, n - 2)

    def offset(r: np.ndarray) -> np.ndarray:
        return r * n - r * (r + 1) // 2

    i = np.where(offset(i) > rank, i - 1, i)
    i = np.where(offset(i + 1) <= rank, i + 1, i)
    j = rank - offset(i) + i + 1
    return i, j


class SyntheticFacePairs(Dataset[dict[str, Any]]):
    """LFW-style verification pairs of rendered faces of people unseen in training.

    Follows LFW's View 2 protocol (Huang et al., UMass TR 07-49, 2007): the split's people are
    partitioned into ``num_folds`` contiguous, identity-disjoint folds, and each fold holds
    ``pairs_per_fold / 2`` matched pairs (two different images of one person) followed by as
    many mismatched pairs (two people of that fold), with no pair repeated. The people are those
    of :class:`SyntheticFaces` with the same ``split`` (and ``seed``), never training identities.
    The pair list is drawn at construction from integers only; images render lazily.

    Each sample is ``image1``, ``image2`` (``tv_tensors.Image``, uint8 3xHxW), ``same`` (int64
    1/0), ``fold`` (int64) and ``index`` (int64, the pair's index, for exact distributed
    evaluation).

    Args:
        split: ``"val"`` or ``"test"``.
        num_identities: People in the split (at least two per fold).
        images_per_identity: Images per person (at least two).
        num_folds: Number of folds.
        pairs_per_fold: Pairs per fold, even.
        image_size: ``(height, width)``, each at least 16.
        seed: Generator seed.
        transforms: Applied once to the whole sample dict, as for every dataset of the
            library. ``torchvision.transforms.v2`` transforms both ``Image`` entries and passes
            the plain tensors (``same``, ``fold``, ``index``) through, so a deterministic
            pipeline gives each image what a call on that image alone would. A random transform
            draws one set of parameters per call, i.e. the same for both images (a random flip
            flips both or neither); to augment the images independently, transform them inside
            the callable.

    Attributes:
        pairs: ``P x 4`` int64: global identity and image index of the first and second image.
        same: ``P`` int64, 1 for matched pairs.
        folds: ``P`` int64 fold of every pair.
        identities: Global identity id of every label of the split.

    Raises:
        ValueError: On a bad argument, or when a fold has too few people or images for the
            requested number of distinct pairs.
    """

    def __init__(
        self,
        split: Literal["val", "test"] = "test",
        num_identities: int = 200,
        images_per_identity: int = 10,
        num_folds: int = 10,
        pairs_per_fold: int = 60,
        image_size: tuple[int, int] = (64, 56),
        seed: int = 0,
        transforms: Transforms | None = None,
    ) -> None:
        self.split = check_split(split, ("val", "test"))
        self.num_folds = check_positive("num_folds", num_folds)
        self.num_identities = check_positive("num_identities", num_identities)
        if self.num_identities < 2 * self.num_folds:
            raise ValueError(
                f"num_identities must be at least 2 * num_folds = {2 * self.num_folds} (a "
                f"mismatched pair needs two people in its fold), got {num_identities}"
            )
        self.images_per_identity = check_positive("images_per_identity", images_per_identity, 2)
        self.pairs_per_fold = check_positive("pairs_per_fold", pairs_per_fold, 2)
        if self.pairs_per_fold % 2:
            raise ValueError(
                f"pairs_per_fold must be even (half matched, half mismatched), got {pairs_per_fold}"
            )
        self.image_size = check_size(image_size)
        self.seed = check_index("seed", seed)
        check_transforms(transforms)
        self.transforms = transforms
        self.identities: list[int] = [
            global_identity(self.split, label) for label in range(self.num_identities)
        ]
        self.pairs, self.same, self.folds = self._draw_pairs()

    def _draw_pairs(self) -> tuple[Tensor, Tensor, Tensor]:
        half = self.pairs_per_fold // 2
        k = self.images_per_identity
        rng = np.random.default_rng(
            [self.seed, SPLITS.index(self.split), self.num_identities, k, self.num_folds, 0xFA1E]
        )
        identities = np.asarray(self.identities, dtype=np.int64)
        rows: list[np.ndarray] = []
        for fold, people in enumerate(np.array_split(identities, self.num_folds)):
            m = len(people)
            matched_capacity = m * (k * (k - 1) // 2)
            mismatched_capacity = (m * (m - 1) // 2) * k * k
            if half > min(matched_capacity, mismatched_capacity):
                raise ValueError(
                    f"fold {fold} has {m} identities with {k} images each: at most "
                    f"{matched_capacity} distinct matched and {mismatched_capacity} mismatched "
                    f"pairs, but pairs_per_fold={self.pairs_per_fold} needs {half} of each; "
                    "use more identities or images per identity, or fewer pairs per fold"
                )
            # Distinct pairs: draw ranks without replacement, then decode them.
            rank = rng.choice(matched_capacity, size=half, replace=False)
            person, within = np.divmod(rank, k * (k - 1) // 2)
            s1, s2 = _unrank_pairs(within, k)
            matched = np.stack((people[person], s1, people[person], s2), axis=1)
            rank = rng.choice(mismatched_capacity, size=half, replace=False)
            couple, images = np.divmod(rank, k * k)
            p1, p2 = _unrank_pairs(couple, m)
            i1, i2 = np.divmod(images, k)
            mismatched = np.stack((people[p1], i1, people[p2], i2), axis=1)
            rows.append(np.concatenate((matched, mismatched)).astype(np.int64))
        pairs = torch.from_numpy(np.concatenate(rows))
        same = torch.tensor([1] * half + [0] * half, dtype=torch.int64).repeat(self.num_folds)
        folds = torch.arange(self.num_folds, dtype=torch.int64).repeat_interleave(2 * half)
        return pairs, same, folds

    def __len__(self) -> int:
        return self.num_folds * self.pairs_per_fold

    def __getitem__(self, index: int) -> dict[str, Any]:
        index = check_item(index, len(self))
        identity1, sample1, identity2, sample2 = self.pairs[index].tolist()
        sample: dict[str, Any] = {
            "image1": tv_tensors.Image(
                render_face(identity1, sample1, self.image_size, self.seed)["image"]
            ),
            "image2": tv_tensors.Image(
                render_face(identity2, sample2, self.image_size, self.seed)["image"]
            ),
            "same": self.same[index].clone(),
            "fold": self.folds[index].clone(),
            "index": torch.tensor(index, dtype=torch.int64),
        }
        if self.transforms is not None:
            sample = self.transforms(sample)
        return sample

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(split={self.split!r}, num_identities={self.num_identities}, "
            f"images_per_identity={self.images_per_identity}, num_folds={self.num_folds}, "
            f"pairs_per_fold={self.pairs_per_fold}, image_size={self.image_size}, "
            f"seed={self.seed})"
        )


def _stack_images(samples: list[dict[str, Any]]) -> Tensor:
    return torch.stack([torch.as_tensor(sample["image"]) for sample in samples])


def render_images(dataset: SyntheticFaces, num_workers: int = 0, batch_size: int = 256) -> Tensor:
    """Render every image of ``dataset`` once, in index order, into one uint8 tensor.

    Rendering is most of a synthetic sample's cost (about 0.6 of 0.9 ms at 64x56); a training
    run that reads each image once an epoch renders it once an epoch. Rendering up front costs
    ``3·H·W`` bytes an image (10,000 images at 64x56: 107 MB) and one pass over the set, spread
    over ``num_workers`` loader processes.

    Args:
        dataset: The faces to render; its ``transforms`` are not applied.
        num_workers: Loader processes rendering in parallel (0: in this process).
        batch_size: Images rendered per loader batch.

    Returns:
        ``uint8`` tensor ``(len(dataset), 3, H, W)``.
    """
    plain = SyntheticFaces(
        cast(Split, dataset.split),
        dataset.num_identities,
        dataset.images_per_identity,
        dataset.image_size,
        dataset.seed,
    )
    loader = DataLoader(
        plain,
        batch_size=batch_size,
        num_workers=num_workers,
        collate_fn=_stack_images,
        # Its own generator: drawing the loader's base seed from the global one would shift
        # every later random draw of the run (rendering itself uses no global state).
        generator=torch.Generator(),
    )
    return torch.cat(list(loader))


class RenderedFaces(Dataset[dict[str, Any]]):
    """Identity-labelled images held in memory: ``image`` and ``label`` per sample.

    The in-memory counterpart of :class:`SyntheticFaces` for identification training, e.g.
    ``RenderedFaces(render_images(faces), faces.targets, faces.num_classes)``; it carries the
    same ``targets`` and ``num_classes``, so samplers and data modules treat both alike.

    Args:
        images: ``uint8`` tensor ``(N, C, H, W)``.
        targets: Label of every image.
        num_classes: Number of identities.
        transforms: Applied to each sample dict.
    """

    def __init__(
        self,
        images: Tensor,
        targets: Sequence[int],
        num_classes: int,
        transforms: Transforms | None = None,
    ) -> None:
        if images.ndim != 4 or images.shape[0] != len(targets):
            raise ValueError(
                f"images must be (N, C, H, W) with N = len(targets) = {len(targets)}, "
                f"got {tuple(images.shape)}"
            )
        check_transforms(transforms)
        self.images = images
        self.targets: list[int] = list(targets)
        self.num_classes = num_classes
        self.transforms = transforms

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> dict[str, Any]:
        index = check_item(index, len(self))
        sample: dict[str, Any] = {
            "image": tv_tensors.Image(self.images[index]),
            "label": torch.tensor(self.targets[index], dtype=torch.int64),
        }
        if self.transforms is not None:
            sample = self.transforms(sample)
        return sample
