"""Multi-view face data for view reconstruction: Multi-PIE, and the base of its synthetic twin.

The evaluation sets of :class:`ViewReconstructionDataModule` append ``lda_reference_images``
images of the *training* people, flagged ``reference``: the identification metrics of
:class:`~lightning_deepvision.tasks.ReconstructionTask` fit their LDA on them (FIP's
"+ LDA", Zhu et al., ICCV 2013) and never use them as gallery or probe.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch.utils.data import ConcatDataset, Dataset, Subset
from torchvision.transforms import v2

from lightning_deepvision.datamodules.base import BaseDataModule, KeepKeys
from lightning_deepvision.datasets.multipie import TARGET_VIEWS, MultiPIE, TargetView

__all__ = ["MultiPIEDataModule", "ReferenceFlag", "ViewReconstructionDataModule"]

#: The sample entries the reconstruction task reads.
VIEW_KEYS: tuple[str, ...] = (
    "image",
    "target",
    "label",
    "identity",
    "yaw",
    "target_yaw",
    "illumination",
)


class ReferenceFlag(Dataset[dict[str, Any]]):
    """Adds ``reference`` (bool) to every sample of ``dataset``.

    Args:
        dataset: The samples.
        reference: ``True`` for images of training people that only fit the LDA.
    """

    def __init__(self, dataset: Dataset[dict[str, Any]], reference: bool) -> None:
        self.dataset = dataset
        self.reference = reference

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> dict[str, Any]:
        sample = dict(self.dataset[index])
        sample["reference"] = torch.tensor(self.reference)
        return sample


class ViewReconstructionDataModule(BaseDataModule):
    """Train on images with their target views; evaluate with LDA reference images appended.

    Subclasses implement :meth:`view_dataset`. Every stage's images and targets are turned grey
    (``in_chans=1``), optionally centre-cropped, resized to ``image_size`` and scaled to
    ``[0, 1]``; only the entries the task reads (:data:`VIEW_KEYS`, and ``path`` for predict)
    are kept.

    Args:
        image_size: Network input ``(height, width)``.
        in_chans: 1 (grey, as FIP and MVP) or 3.
        crop_size: Centre crop ``(height, width)`` before resizing; ``None``: none.
        target_view: ``"canonical"`` (FIP), ``"random"`` (MVP: another pose of the image) or
            ``"random_canonical"`` (MVP: the person from another pose, canonical conditions).
        lda_reference_images: Training images appended to validation and test for the LDA
            (the first ones, i.e. whole training people; 0: none, and no LDA).
        seed: Seed of the evaluation sets' random target views.
        **kwargs: Loader options of :class:`~lightning_deepvision.datamodules.BaseDataModule`.

    Attributes:
        has_paths: Whether the samples carry ``path`` (kept for predict).
    """

    has_paths: ClassVar[bool] = False

    def __init__(
        self,
        image_size: tuple[int, int] = (32, 32),
        in_chans: int = 1,
        crop_size: tuple[int, int] | None = None,
        target_view: TargetView = "canonical",
        lda_reference_images: int = 1000,
        seed: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if in_chans not in (1, 3):
            raise ValueError(f"in_chans must be 1 or 3, got {in_chans}")
        if target_view not in TARGET_VIEWS:
            raise ValueError(f"target_view must be one of {TARGET_VIEWS}, got {target_view!r}")
        if lda_reference_images < 0:
            raise ValueError(f"lda_reference_images must be >= 0, got {lda_reference_images}")
        self.image_size = (int(image_size[0]), int(image_size[1]))
        self.in_chans = in_chans
        self.crop_size = None if crop_size is None else (int(crop_size[0]), int(crop_size[1]))
        self.target_view = target_view
        self.lda_reference_images = lda_reference_images
        self.seed = seed

    @abstractmethod
    def view_dataset(
        self, split: str, transforms: Callable[[Any], Any], target_seed: int | None
    ) -> Dataset[dict[str, Any]]:
        """The images of ``split`` (``"train"``, ``"val"``, ``"test"``) with their targets."""

    def transforms(self, stage: str) -> Callable[[Any], Any]:
        """Keep the task's entries; grey, crop, resize and scale image and target alike."""
        steps: list[Any] = []
        if self.in_chans == 1:
            steps.append(v2.Grayscale(1))
        if self.crop_size is not None:
            steps.append(v2.CenterCrop(self.crop_size))
        steps += [v2.Resize(self.image_size, antialias=True), v2.ToDtype(torch.float32, scale=True)]
        keys = (*VIEW_KEYS, "path") if stage == "predict" and self.has_paths else VIEW_KEYS
        return KeepKeys(keys, v2.Compose(steps))

    def build_dataset(self, stage: str) -> Dataset[Any]:
        """Training images; evaluation images (with the LDA reference images appended)."""
        if stage == "train":
            return self.view_dataset("train", self.transforms(stage), None)
        split = "val" if stage == "val" else "test"
        evaluated = self.view_dataset(split, self.transforms(stage), self.seed)
        if stage == "predict":
            return evaluated
        if not self.lda_reference_images:
            return ReferenceFlag(evaluated, False)
        train = self.view_dataset("train", self.transforms(stage), self.seed)
        # The first images are whole people (both datasets order images by person): the
        # within-class scatter then spans every pose of a person.
        count = min(self.lda_reference_images, len(train))  # type: ignore[arg-type]
        reference = Subset(train, range(count))
        return ConcatDataset([ReferenceFlag(evaluated, False), ReferenceFlag(reference, True)])


class MultiPIEDataModule(ViewReconstructionDataModule):
    """Multi-PIE (:class:`~lightning_deepvision.datasets.MultiPIE`) for FIP and MVP.

    The ``"fip"`` protocol (session 1, the seven poses −45° … +45°, 20 illuminations, the first
    100 subjects train and the others test; specs §11) is the default. The protocol has no
    validation people: with ``val_subjects`` the last ones of the training subjects validate
    (and do not train); with 0, validation reads the test people.

    Args:
        root: Directory holding ``session01/`` … (the official layout).
        protocol: A name of :data:`~lightning_deepvision.datasets.multipie.MULTIPIE_PROTOCOLS`,
            or ``None`` (all images, filtered by the options below).
        cameras: Keep these cameras.
        illuminations: Keep these shots.
        train_subjects: Training subjects (the lowest ids).
        val_subjects: Training subjects held out for validation.
        target_camera: Camera of the canonical view.
        target_illumination: Shot of the canonical view (``None``: the input's).
        skip_invalid: Skip (and count) badly named files and images without target.
        **kwargs: The options of :class:`ViewReconstructionDataModule` and the loader options.
    """

    has_paths: ClassVar[bool] = True

    def __init__(
        self,
        root: str | Path,
        protocol: str | None = "fip",
        cameras: Sequence[str] | None = None,
        illuminations: Sequence[int] | None = None,
        train_subjects: int | None = None,
        val_subjects: int = 0,
        target_camera: str = "05_1",
        target_illumination: int | None = 7,
        skip_invalid: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.root = Path(root)
        self.options: dict[str, Any] = {
            "protocol": protocol,
            "cameras": None if cameras is None else list(cameras),
            "illuminations": None if illuminations is None else list(illuminations),
            "train_subjects": train_subjects,
            "target_camera": target_camera,
            "target_illumination": target_illumination,
            "target_view": self.target_view,
            "skip_invalid": skip_invalid,
        }
        if val_subjects < 0:
            raise ValueError(f"val_subjects must be >= 0, got {val_subjects}")
        self.val_subjects = val_subjects
        self._train_subjects: list[int] | None = None

    def _subjects(self) -> list[int]:
        if self._train_subjects is None:
            self._train_subjects = MultiPIE(self.root, "train", **self.options).subjects
        return self._train_subjects

    def view_dataset(
        self, split: str, transforms: Callable[[Any], Any], target_seed: int | None
    ) -> Dataset[dict[str, Any]]:
        """The protocol's ``split``; ``val`` is held-out training people or the test people."""
        options = {**self.options, "target_seed": target_seed, "transforms": transforms}
        if split == "test" or (split == "val" and not self.val_subjects):
            return MultiPIE(self.root, "test", **options)
        subjects = self._subjects()
        if self.val_subjects >= len(subjects):
            raise ValueError(
                f"val_subjects={self.val_subjects} leaves no training subject of {len(subjects)}"
            )
        cut = len(subjects) - self.val_subjects if self.val_subjects else len(subjects)
        chosen = subjects[:cut] if split == "train" else subjects[cut:]
        return MultiPIE(self.root, "train", subjects=chosen, **options)
