"""Report, at the end of every epoch, the samples the loaders skipped as unreadable.

With ``on_bad_sample="skip"`` (on the data module or a dataset) an unreadable image is replaced
by the next readable sample; :class:`BadSampleReport` makes those replacements visible while a
run goes on rather than only at its end: the count of each stage's skipped samples is logged as
``skipped_samples/<stage>`` (summed over processes), and a warning names the files skipped since
the previous report. Loader workers mark the skips in memory shared with the main process (see
:mod:`lightning_deepvision.datasets.bad_samples`), so the counts include every worker's.
"""

from __future__ import annotations

import logging
from typing import Any

from lightning.pytorch import Callback, LightningModule, Trainer

from lightning_deepvision.datasets.bad_samples import SkipsBadSamples, bad_sample_datasets

__all__ = ["BadSampleReport"]

log = logging.getLogger(__name__)


class BadSampleReport(Callback):
    """Log how many samples each stage skipped, and warn with the newly skipped files.

    The datasets are those of the trainer's data module (its ``datasets`` by stage, as
    :class:`~lightning_deepvision.datamodules.base.BaseDataModule` keeps them); a stage whose
    dataset does not skip logs nothing.

    Args:
        first: How many of the newly skipped files a warning names.
    """

    def __init__(self, first: int = 5) -> None:
        self.first = first
        self._reported: dict[int, set[str]] = {}  # id(dataset) -> files already named

    def _datasets(self, trainer: Trainer, stage: str) -> list[SkipsBadSamples]:
        datamodule = getattr(trainer, "datamodule", None)
        datasets: dict[str, Any] = getattr(datamodule, "datasets", None) or {}
        found = bad_sample_datasets(datasets[stage]) if stage in datasets else iter(())
        return [d for d in found if d.on_bad_sample == "skip"]

    def _report(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        datasets = self._datasets(trainer, stage)
        if not datasets:
            return
        count = sum(d.skipped_count for d in datasets)
        pl_module.log(f"skipped_samples/{stage}", float(count), reduce_fx="sum", sync_dist=True)
        for dataset in datasets:
            seen = self._reported.setdefault(id(dataset), set())
            if dataset.skipped_count > len(seen):
                new = [file for file in dataset.skipped_files if file not in seen]
                more = f" and {len(new) - self.first} more" if len(new) > self.first else ""
                log.warning(
                    "epoch %d, %s: %d more unreadable sample(s) skipped (%d in all): %s%s",
                    trainer.current_epoch,
                    stage,
                    len(new),
                    dataset.skipped_count,
                    ", ".join(new[: self.first]),
                    more,
                )
                seen.update(new)

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Report the training set's skipped samples."""
        self._report(trainer, pl_module, "train")

    def on_validation_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Report the validation set's skipped samples (not during the sanity check)."""
        if not trainer.sanity_checking:
            self._report(trainer, pl_module, "val")

    def on_test_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Report the test set's skipped samples."""
        self._report(trainer, pl_module, "test")
