"""The data-module base every data module of the library derives from.

A data module is its datasets per stage (:meth:`BaseDataModule.build_dataset`), their transforms
and, where it needs them, a training sampler and a ``collate_fn``. The loader options are
declared once, here; subclasses declare their dataset options and forward the rest
(``**kwargs``) to this base, so ``--data.help`` lists every option of a data module, typed, with
the loader options apart from the dataset options.
"""

from __future__ import annotations

import logging
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, cast

import torch
from lightning.pytorch import LightningDataModule
from lightning.pytorch.overrides.distributed import UnrepeatedDistributedSampler
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

from lightning_deepvision.datasets.bad_samples import (
    OnBadSample,
    bad_sample_datasets,
    set_bad_sample_policy,
)
from lightning_deepvision.datasets.image_files import ImageFiles
from lightning_deepvision.datasets.samplers import ResumableDataLoader

_log = logging.getLogger(__name__)

#: The datasets a data module can provide, by the loader that reads them.
STAGES: tuple[str, ...] = ("train", "val", "test", "predict")
# The datasets Lightning's stages need (``setup(stage)``).
_NEEDED: dict[str, tuple[str, ...]] = {
    "fit": ("train", "val"),
    "validate": ("val",),
    "test": ("test",),
    "predict": ("predict",),
}


def default_num_workers() -> int:
    """Loader workers that leave most cores to the training step: half the usable CPUs, ≤ 8."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(0, min(8, cpus // 2))


class KeepKeys:
    """Keep only the sample entries a task uses, then apply a transform to the rest.

    A dataset may carry masks, views and attributes that a task neither needs to transform nor
    to collate (verification trains on ``image`` and ``label`` only).

    Args:
        keys: The entries to keep.
        transform: Applied to the reduced sample dict (``None``: none).
    """

    def __init__(self, keys: Sequence[str], transform: Callable[[Any], Any] | None = None) -> None:
        self.keys = tuple(keys)
        self.transform = transform

    def __call__(self, sample: Mapping[str, Any]) -> Any:
        """Return ``transform({k: sample[k] for k in keys})``."""
        kept = {k: sample[k] for k in self.keys}
        return kept if self.transform is None else self.transform(kept)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(keys={self.keys}, transform={self.transform!r})"


class BaseDataModule(LightningDataModule, ABC):
    """A ``LightningDataModule`` built from one dataset per stage.

    Subclasses implement :meth:`build_dataset` (and may override :meth:`train_sampler` and
    :meth:`collate_fn`). :meth:`setup` builds only the datasets the stage needs, once; the
    loaders use the options below. ``predict`` reads :meth:`build_dataset` ``("predict")``.

    Args:
        batch_size: Training batch size (per process).
        eval_batch_size: Batch size for validation, test and prediction (per process).
        num_workers: Loader worker processes; ``None`` picks half the usable CPUs (at most 8).
        pin_memory: Pin host memory; ``None`` pins only when CUDA is available.
        persistent_workers: Keep workers alive between epochs (ignored with no workers).
        predict_root: A folder of images (searched recursively) that ``predict`` reads instead
            of the module's own predict split, each sample ``{"image", "path"}`` with
            :meth:`predict_files_transform` (the evaluation transforms).
        on_bad_sample: ``"skip"`` replaces an unreadable sample (corrupt, truncated or
            missing file) by the next readable one in every dataset the module builds,
            counting it across loader workers and logging a summary at the end of the
            stage; ``"raise"`` (default) leaves the datasets raising the error naming the
            file (see :mod:`~lightning_deepvision.datasets.bad_samples`).
        streaming_root: The training set as a litdata stream written by
            :func:`~lightning_deepvision.streaming.optimize_dataset` (``deepvision-optimize``):
            a folder or an object-store URI (``s3://...``). ``train`` then streams it, with
            :meth:`streaming_transforms`, instead of reading the files; the other stages read
            the files as before.
    """

    def __init__(
        self,
        batch_size: int = 128,
        eval_batch_size: int = 256,
        num_workers: int | None = None,
        pin_memory: bool | None = None,
        persistent_workers: bool = True,
        predict_root: str | Path | None = None,
        on_bad_sample: OnBadSample = "raise",
        streaming_root: str | None = None,
    ) -> None:
        super().__init__()
        if on_bad_sample not in ("raise", "skip"):
            raise ValueError(f"on_bad_sample must be 'raise' or 'skip', got {on_bad_sample!r}")
        if batch_size < 1 or eval_batch_size < 1:
            raise ValueError(
                "batch sizes must be positive, got "
                f"batch_size={batch_size}, eval_batch_size={eval_batch_size}"
            )
        if num_workers is not None and num_workers < 0:
            raise ValueError(f"num_workers must be >= 0 or None, got {num_workers}")
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size
        self.num_workers = default_num_workers() if num_workers is None else num_workers
        self.pin_memory = torch.cuda.is_available() if pin_memory is None else pin_memory
        self.persistent_workers = persistent_workers and self.num_workers > 0
        self.datasets: dict[str, Dataset[Any]] = {}
        self.predict_root = None if predict_root is None else Path(predict_root)
        self.on_bad_sample = on_bad_sample
        self.streaming_root = None if streaming_root is None else str(streaming_root)

    # -- to implement ------------------------------------------------------------------------
    @abstractmethod
    def build_dataset(self, stage: str) -> Dataset[Any]:
        """Return the dataset of ``stage`` (one of :data:`STAGES`), with its transforms."""

    def train_sampler(self, dataset: Dataset[Any]) -> Sampler[int] | None:
        """The training sampler; ``None`` shuffles (override for e.g. balanced batches)."""
        return None

    def collate_fn(self, stage: str) -> Callable[[list[Any]], Any] | None:
        """How samples become a batch; ``None`` is torch's default.

        Override for e.g. detection batches with a variable number of boxes per image.
        """
        return None

    def predict_files_transform(self) -> Callable[[Any], Any] | None:
        """The transform of an image of ``predict_root``: the module's evaluation transform.

        The default is ``transforms("val")`` where the module has a ``transforms(stage)``
        method, without the :class:`KeepKeys` wrapper (it would drop ``path`` and ask for the
        entries a folder's images lack); override where a module transforms otherwise.
        """
        transforms = getattr(self, "transforms", None)
        if not callable(transforms):
            return None
        transform = transforms("val")
        while isinstance(transform, KeepKeys):
            transform = transform.transform
        return transform

    def streaming_transforms(self, stage: str) -> Callable[[Any], Any] | None:
        """The transform of a streamed sample of ``stage``: ``transforms(stage)`` by default.

        A stream holds the samples before transforms, so this is the transform the module
        gives the dataset it builds for ``stage``; override where a module builds it otherwise.

        Raises:
            TypeError: The module has no ``transforms(stage)`` and does not override this.
        """
        transforms = getattr(self, "transforms", None)
        if not callable(transforms):
            raise TypeError(
                f"{type(self).__name__} cannot read a stream: it has no transforms(stage) "
                "method, and does not override streaming_transforms(stage)"
            )
        return cast(Callable[[Any], Any] | None, transforms(stage))

    def build_streaming_dataset(self, stage: str) -> Dataset[Any]:
        """``StreamingSamples(streaming_root)``, shuffled from the ``seed_everything`` seed."""
        from lightning_deepvision.streaming import StreamingSamples  # litdata is optional

        assert self.streaming_root is not None
        seed = int(os.environ.get("PL_GLOBAL_SEED", 0))
        return StreamingSamples(
            self.streaming_root, self.streaming_transforms(stage), shuffle=True, seed=seed
        )

    # -- shared ------------------------------------------------------------------------------
    def dataset(self, stage: str) -> Dataset[Any]:
        """The dataset of ``stage``, built on first use (no image is decoded here)."""
        if stage not in STAGES:
            raise ValueError(f"stage must be one of {STAGES}, got {stage!r}")
        if stage not in self.datasets:
            if stage == "train" and self.streaming_root is not None:
                self.datasets[stage] = self.build_streaming_dataset(stage)
            elif stage == "predict" and self.predict_root is not None:
                self.datasets[stage] = ImageFiles(self.predict_root, self.predict_files_transform())
            else:
                self.datasets[stage] = self.build_dataset(stage)
            if self.on_bad_sample == "skip":  # before any loader starts its workers
                set_bad_sample_policy(self.datasets[stage], "skip")
        return self.datasets[stage]

    def setup(self, stage: str) -> None:
        """Build the datasets Lightning's ``stage`` needs."""
        for name in _NEEDED.get(str(stage), ()):
            self.dataset(name)

    def skipped_samples(self) -> dict[str, list[str]]:
        """The files of the samples skipped as unreadable so far, by dataset (all workers)."""
        return {
            stage: [file for inner in bad_sample_datasets(ds) for file in inner.skipped_files]
            for stage, ds in self.datasets.items()
            if any(inner.skipped_count for inner in bad_sample_datasets(ds))
        }

    def teardown(self, stage: str) -> None:
        """Log a warning naming the samples skipped as unreadable (``on_bad_sample``)."""
        for name, dataset in self.datasets.items():
            for inner in bad_sample_datasets(dataset):
                if inner.skipped_count:
                    _log.warning("%s dataset: %s", name, inner.skip_summary())

    def replicas(self) -> tuple[int, int]:
        """``(world size, global rank)`` of the attached trainer; ``(1, 0)`` without one."""
        trainer = self.trainer
        if trainer is None:
            return 1, 0
        return int(trainer.world_size), int(trainer.global_rank)

    def shuffle_sampler(self, dataset: Dataset[Any]) -> Sampler[int]:
        """The default training order: a new permutation each epoch, drawn from ``seed + epoch``.

        Torch's ``RandomSampler`` draws its order from the global generator, so a run resumed
        from a mid-epoch checkpoint could not replay the rest of the epoch; this order depends
        only on the epoch (Lightning sets it) and the seed of ``seed_everything`` (the seed
        Lightning gives its own distributed sampler), and splits each epoch between processes.
        """
        world, rank = self.replicas()
        seed = int(os.environ.get("PL_GLOBAL_SEED", 0))
        return DistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=True, seed=seed)

    def eval_sampler(self, dataset: Dataset[Any]) -> Sampler[int] | None:
        """Each process's share of an evaluation set, no sample twice; ``None`` on one process.

        Lightning's own distributed sampler pads the last shard with repeats of the first
        samples so that every process gets as many batches, and every repeat would count
        twice in a metric. ``UnrepeatedDistributedSampler`` (which Lightning uses for
        ``predict``) leaves the shards uneven instead, and Lightning keeps a
        ``DistributedSampler`` it finds in place. The metrics gather uneven shards (their
        states are sums or concatenations), so numbers are the same on any number of
        processes.
        """
        world, rank = self.replicas()
        if world == 1:
            return None
        return UnrepeatedDistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=False)

    def make_loader(
        self,
        dataset: Dataset[Any],
        *,
        batch_size: int,
        sampler: Sampler[int] | None = None,
        shuffle: bool = False,
        drop_last: bool = False,
        collate_fn: Callable[[list[Any]], Any] | None = None,
        loader_class: type[DataLoader[Any]] = DataLoader,
    ) -> DataLoader[Any]:
        """Return a ``DataLoader`` (or ``loader_class``) with this module's loader options."""
        return loader_class(
            dataset,
            batch_size=batch_size,
            sampler=sampler,
            shuffle=shuffle if sampler is None else False,
            drop_last=drop_last,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.persistent_workers,
            collate_fn=collate_fn,
        )

    def train_dataloader(self) -> DataLoader[Any]:
        """Training batches, full batches only, resumable mid-epoch.

        Drawn by :meth:`train_sampler`, else in :meth:`shuffle_sampler`'s order; the loader is
        a :class:`~lightning_deepvision.datasets.samplers.ResumableDataLoader`, so ``fit
        --ckpt_path last`` from a mid-epoch checkpoint continues with the batches an
        uninterrupted run would have seen.
        """
        dataset = self.dataset("train")
        if self.streaming_root is not None:
            from lightning_deepvision.streaming import StreamingSamples, streaming_loader

            # litdata shards and shuffles a stream itself and resumes from its loader's state;
            # a sampler has no place in an iterable dataset (Lightning adds none either).
            assert isinstance(dataset, StreamingSamples)
            return streaming_loader(
                dataset,
                batch_size=self.batch_size,
                num_workers=self.num_workers,
                pin_memory=self.pin_memory,
                drop_last=True,
                collate_fn=self.collate_fn("train"),
                persistent_workers=self.persistent_workers,
            )
        sampler = self.train_sampler(dataset)
        return self.make_loader(
            dataset,
            batch_size=self.batch_size,
            sampler=self.shuffle_sampler(dataset) if sampler is None else sampler,
            shuffle=True,
            drop_last=True,
            collate_fn=self.collate_fn("train"),
            loader_class=ResumableDataLoader,
        )

    def _eval_loader(self, stage: str) -> DataLoader[Any]:
        dataset = self.dataset(stage)
        return self.make_loader(
            dataset,
            batch_size=self.eval_batch_size,
            sampler=self.eval_sampler(dataset),
            collate_fn=self.collate_fn(stage),
        )

    def val_dataloader(self) -> DataLoader[Any]:
        """Validation batches, in order."""
        return self._eval_loader("val")

    def test_dataloader(self) -> DataLoader[Any]:
        """Test batches, in order."""
        return self._eval_loader("test")

    def predict_dataloader(self) -> DataLoader[Any]:
        """Prediction batches, in order."""
        return self._eval_loader("predict")


class DatasetDataModule(BaseDataModule):
    """One dataset class over an official on-disk layout, one split per stage.

    The usual case: ``dataset_class(root, split=splits[stage], transforms=...,
    **dataset_options())``. Subclasses set :attr:`dataset_class` and :attr:`splits` and
    implement :meth:`transforms`.

    Args:
        root: Where the dataset lies (its official layout).
        **kwargs: Loader options of :class:`BaseDataModule`.

    Attributes:
        dataset_class: The dataset read, taking ``(root, split, transforms, ...)``.
        splits: The dataset's split name per stage (``train``, ``val``, ``test``, ``predict``).
    """

    dataset_class: ClassVar[Callable[..., Dataset[Any]]]
    splits: ClassVar[Mapping[str, str]] = {
        "train": "train",
        "val": "val",
        "test": "test",
        "predict": "test",
    }

    def __init__(self, root: str | Path, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.root = Path(root)

    @abstractmethod
    def transforms(self, stage: str) -> Callable[[Any], Any] | None:
        """The sample transform of ``stage``."""

    def dataset_options(self) -> dict[str, Any]:
        """Extra keyword arguments of :attr:`dataset_class` (override)."""
        return {}

    def build_dataset(self, stage: str) -> Dataset[Any]:
        """``dataset_class(root, split=splits[stage], transforms=transforms(stage), ...)``."""
        if stage not in self.splits:
            raise ValueError(f"{type(self).__name__} has no {stage!r} split")
        return self.dataset_class(
            self.root,
            split=self.splits[stage],
            transforms=self.transforms(stage),
            **self.dataset_options(),
        )
