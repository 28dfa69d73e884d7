"""CelebA for both face tasks: attributes for AttributesTask, identities for VerificationTask."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from torch import Tensor
from torch.utils.data import Dataset, Sampler
from torchvision.transforms import v2

from lightning_deepvision.datamodules.base import KeepKeys
from lightning_deepvision.datamodules.verification import VerificationDataModule
from lightning_deepvision.datasets.celeba import CelebA
from lightning_deepvision.datasets.celeba_annotations import CELEBA_ATTRIBUTES
from lightning_deepvision.datasets.lfw import LFWPairs
from lightning_deepvision.transforms import face_transforms
from lightning_deepvision.transforms.alignment import FaceAlignment
from lightning_deepvision.transforms.face_boxes import FaceBox

#: The sample entries the attribute task reads (``index`` traces predictions to files).
ATTRIBUTE_KEYS: tuple[str, ...] = ("image", "attributes", "index")


class CelebADataModule(VerificationDataModule):
    """CelebA's attributes (``target="attributes"``) or identities (``target="identity"``).

    Liu, Luo, Wang, Tang, ICCV 2015. **Attributes**: train / val / test images with their 40
    attributes, for :class:`~lightning_deepvision.tasks.AttributesTask`. **Identities**:
    CelebA's 10,177 people are the CelebFaces+ training set of DeepID2 (Sun, Wang, Tang, NIPS
    2014), so the training split's identities feed
    :class:`~lightning_deepvision.tasks.VerificationTask` (identity-balanced batches), and
    validation and test verify LFW pairs (``lfw_root``), the papers' protocol.

    ``partition="official"`` uses ``list_eval_partition.txt``; ``"identity"`` the paper's
    identity-disjoint split by identity number (first 8,000 identities train, next 1,000 val,
    last 1,000 test; ``identity_split`` sets the counts).
    ``align=True`` warps each face by the similarity that maps its five landmarks to the
    canonical positions (:class:`~lightning_deepvision.transforms.alignment.FaceAlignment`),
    as DeepID-style crops are taken; otherwise the image is centre-cropped by
    ``center_crop_fraction`` and resized.

    Args:
        root: CelebA root (either layout, see :class:`~lightning_deepvision.datasets.CelebA`).
        target: ``"attributes"`` or ``"identity"``.
        partition: ``"official"`` or ``"identity"``.
        identity_split: Numbers of identities ``(train, val, test)`` for ``"identity"``
            (see :class:`~lightning_deepvision.datasets.CelebA`).
        image_set: ``"aligned"`` or ``"wild"`` images.
        align: Align faces from their landmarks before cropping.
        lfw_root: LFW root holding ``pairs.txt`` (``target="identity"``).
        lfw_val_split: LFW pairs of validation (``"test"``: View 1's ``pairsDevTest.txt``).
        lfw_test_split: LFW pairs of test and predict (``"10fold"``: View 2).
        lfw_center_crop_fraction: Centre crop of the 250x250 LFW frames (their face box was
            enlarged 2.2 times).
        batch_size: Training batch size of the attribute task (identities use P × K).
        input_size: ``(height, width)`` of the network input.
        center_crop_fraction: Centre crop before resizing (without ``align``).
        **kwargs: The options of :class:`VerificationDataModule` (``grayscale``,
            ``identities_per_batch``, ``images_per_identity``, ``seed``) and the loader options.
    """

    def __init__(
        self,
        root: str | Path,
        target: Literal["attributes", "identity"] = "attributes",
        partition: Literal["official", "identity"] = "official",
        identity_split: tuple[int, int, int] = (8000, 1000, 1000),
        image_set: Literal["aligned", "wild"] = "aligned",
        align: bool = False,
        lfw_root: str | Path | None = None,
        lfw_val_split: Literal["10fold", "train", "test"] = "test",
        lfw_test_split: Literal["10fold", "train", "test"] = "10fold",
        lfw_center_crop_fraction: float = 0.5,
        batch_size: int = 128,
        input_size: tuple[int, int] = (64, 56),
        center_crop_fraction: float = 1.0,
        **kwargs: Any,
    ) -> None:
        if target not in ("attributes", "identity"):
            raise ValueError(f"target must be 'attributes' or 'identity', got {target!r}")
        super().__init__(input_size=input_size, center_crop_fraction=center_crop_fraction, **kwargs)
        self.root = Path(root)
        self.target = target
        self.partition = partition
        self.identity_split = (
            int(identity_split[0]),
            int(identity_split[1]),
            int(identity_split[2]),
        )
        self.image_set = image_set
        self.align = align
        self.lfw_root = Path(lfw_root) if lfw_root is not None else None
        self.lfw_val_split = lfw_val_split
        self.lfw_test_split = lfw_test_split
        self.lfw_center_crop_fraction = lfw_center_crop_fraction
        if target == "attributes":
            self.batch_size = batch_size

    # -- datasets ------------------------------------------------------------------------------
    def celeba(self, split: str, target: str, transforms: Callable[[Any], Any] | None) -> CelebA:
        """The CelebA split with this module's options (landmarks added when aligning)."""
        targets = [target, "landmarks"] if self.align else [target]
        return CelebA(
            self.root,
            split,  # type: ignore[arg-type]
            target=targets,  # type: ignore[arg-type]
            transforms=transforms,
            image_set=self.image_set,
            partition=self.partition,
            identity_split=self.identity_split,
        )

    def image_transforms(self, train: bool) -> Callable[[Any], Any]:
        """Face preprocessing, preceded by the landmark alignment when ``align``."""
        preset = super().image_transforms(train)
        if not self.align:
            return preset
        return v2.Compose([FaceAlignment(self.input_size), preset])

    def build_train_dataset(self, transforms: Callable[[Any], Any]) -> Dataset[Any]:
        """The training identities (samples with ``image`` and ``label``)."""
        return self.celeba("train", "identity", transforms)

    def build_pairs_dataset(self, stage: str, transforms: Callable[[Any], Any]) -> Dataset[Any]:
        """LFW pairs for verification (CelebA has no pair list)."""
        if self.lfw_root is None:
            raise ValueError(
                "CelebADataModule(target='identity') verifies LFW pairs: pass lfw_root (the "
                "folder holding pairs.txt and lfw/)"
            )
        split = self.lfw_val_split if stage == "val" else self.lfw_test_split
        # LFW's 250x250 frames are not CelebA's crops, and have no landmarks to align with.
        lfw = face_transforms(
            self.input_size,
            center_crop_fraction=self.lfw_center_crop_fraction,
            grayscale=self.grayscale,
        )
        return LFWPairs(self.lfw_root, split=split, transforms=lfw)

    def sample_transforms(self, train: bool) -> Callable[[Any], Any]:
        """Identity samples: aligned first when ``align`` (it needs the landmarks), then kept."""
        if not self.align:
            return super().sample_transforms(train)
        return _TransformThenKeep(self.image_transforms(train), ("image", "label"))

    def build_dataset(self, stage: str) -> Dataset[Any]:
        """Attribute samples per split, or the verification datasets for identities."""
        if self.target == "identity":
            return super().build_dataset(stage)
        split = "test" if stage == "predict" else stage
        return self.celeba(split, "attributes", self.streaming_transforms(stage))

    def streaming_transforms(self, stage: str) -> Callable[[Any], Any]:
        """The transforms of ``stage``'s samples, attribute or identity (a stream's as well)."""
        if self.target == "identity":
            return super().streaming_transforms(stage)
        preset = self.image_transforms(train=stage == "train")
        if self.align:
            return _TransformThenKeep(preset, ATTRIBUTE_KEYS)
        return KeepKeys(ATTRIBUTE_KEYS, preset)

    def face_window_dataset(self, split: str = "val") -> Dataset[Any]:
        """``split``'s images preprocessed for evaluation, each with its face ``boxes``.

        The box is ``list_bbox_celeba.txt``'s for the in-the-wild images and the five
        landmarks' extent, enlarged to the face, for the aligned ones
        (:class:`~lightning_deepvision.transforms.face_boxes.FaceBox`), moved with the image by
        the preprocessing: what LNet's face-window threshold is chosen against
        (:class:`~lightning_deepvision.callbacks.FaceWindowThreshold`).
        """
        # FaceAlignment also needs the landmarks of the in-the-wild images.
        wild = self.image_set == "wild"
        targets: list[Any] = ["bbox", "landmarks"] if wild and self.align else ["bbox"]
        preset = self.image_transforms(train=False)
        return CelebA(
            self.root,
            split,  # type: ignore[arg-type]
            target=targets if wild else "landmarks",
            transforms=_TransformThenKeep(v2.Compose([preset, FaceBox()]), ("image", "boxes")),
            image_set=self.image_set,
            partition=self.partition,
            identity_split=self.identity_split,
        )

    def train_sampler(self, dataset: Dataset[Any]) -> Sampler[int] | None:  # type: ignore[override]
        """Identity-balanced batches for identities; shuffled images for attributes."""
        return super().train_sampler(dataset) if self.target == "identity" else None

    # -- what the tasks read -------------------------------------------------------------------
    @property
    def num_attributes(self) -> int:
        """40."""
        return len(CELEBA_ATTRIBUTES)

    @property
    def attribute_names(self) -> list[str]:
        """The 40 attribute names, in file order."""
        return list(CELEBA_ATTRIBUTES)

    def attribute_positive_rates(self) -> Tensor:
        """Fraction of training images with each attribute (for ``balance_positives``)."""
        dataset = self.dataset("train")
        attributes = getattr(dataset, "attributes", None)
        if attributes is None:
            attributes = self.celeba("train", "attributes", None).attributes
        assert attributes is not None
        return attributes.float().mean(dim=0)


class _TransformThenKeep:
    """Transform the whole sample (the alignment reads ``landmarks``), then keep ``keys``."""

    def __init__(self, transform: Callable[[Any], Any], keys: tuple[str, ...]) -> None:
        self.transform = transform
        self.keys = keys

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        out = self.transform(sample)
        return {k: out[k] for k in self.keys}
