"""Loader plumbing shared by the library's data modules."""

from __future__ import annotations

import os
from typing import Any

import torch
from lightning.pytorch import LightningDataModule
from torch.utils.data import DataLoader, Dataset, Sampler


def default_num_workers() -> int:
    """Loader workers that leave most cores to the training step: half the usable CPUs, ≤ 8."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(0, min(8, cpus // 2))


class BaseDataModule(LightningDataModule):
    """A ``LightningDataModule`` with the loader options kept apart from the dataset options.

    Args:
        batch_size: Training batch size (per process).
        eval_batch_size: Batch size for validation, test and prediction (per process).
        num_workers: Loader worker processes; ``None`` picks half the usable CPUs (at most 8).
        pin_memory: Pin host memory; ``None`` pins only when CUDA is available.
        persistent_workers: Keep workers alive between epochs (ignored with no workers).
    """

    def __init__(
        self,
        batch_size: int = 128,
        eval_batch_size: int = 256,
        num_workers: int | None = None,
        pin_memory: bool | None = None,
        persistent_workers: bool = True,
    ) -> None:
        super().__init__()
        if batch_size < 1 or eval_batch_size < 1:
            raise ValueError(
                "batch sizes must be positive, got "
                f"batch_size={batch_size}, eval_batch_size={eval_batch_size}"
            )
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size
        self.num_workers = default_num_workers() if num_workers is None else num_workers
        self.pin_memory = torch.cuda.is_available() if pin_memory is None else pin_memory
        self.persistent_workers = persistent_workers and self.num_workers > 0

    def make_loader(
        self,
        dataset: Dataset[Any],
        *,
        batch_size: int,
        sampler: Sampler[int] | None = None,
        shuffle: bool = False,
        drop_last: bool = False,
    ) -> DataLoader[Any]:
        """Return a ``DataLoader`` with this module's loader options."""
        return DataLoader(
            dataset,
            batch_size=batch_size,
            sampler=sampler,
            shuffle=shuffle if sampler is None else False,
            drop_last=drop_last,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.persistent_workers,
        )
