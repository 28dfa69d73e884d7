"""Console output of a run for logs: plain progress lines and a model summary without FLOPs.

A live progress bar redraws one line of a terminal. Written to a file (a log, CI, ``nohup``) the
Rich bar appears once, at the very end, and a tqdm bar leaves carriage returns; neither says how
far a long run has come. :class:`LineProgressBar` writes ordinary lines instead, at most one per
``interval`` seconds plus one when each epoch and evaluation ends, without colour codes. The
library's CLI picks it when standard output is not a terminal.

Lightning's model summary always shows a FLOPs column and a ``Total FLOPs`` line, which read 0
unless the module defines ``example_input_array``; :class:`CompactModelSummary` leaves them out
when nothing was counted.
"""

from __future__ import annotations

import math
import time
from typing import Any

from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import ModelSummary, ProgressBar
from lightning.pytorch.utilities import rank_zero_info
from lightning.pytorch.utilities.model_summary.model_summary import _format_summary_table

__all__ = ["CompactModelSummary", "LineProgressBar"]


def _format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) and value != 0 else str(value)
    return str(value)


def _format_duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    return f"{minutes}m{secs:02d}s" if minutes else f"{seconds:.1f}s"


def _format_total(total: int | float) -> str:
    return str(int(total)) if math.isfinite(total) else "?"


class LineProgressBar(ProgressBar):
    """Progress written as plain, periodic lines (for output that is not a terminal).

    While an epoch (or a validation, test or prediction run) is under way, a line is written
    after its first batch and then at most once every ``interval`` seconds; one more line
    closes each epoch and each evaluation. A training line reads::

        epoch 2/5 step 120/300 (global 720) | 3.2 it/s | 0m38s | train/loss=2.31 val/accuracy=0.8123

    Args:
        interval: Least number of seconds between two lines of the same loop (0: every batch).
    """

    def __init__(self, interval: float = 30.0) -> None:
        super().__init__()
        if interval < 0:
            raise ValueError(f"interval must be >= 0, got {interval}")
        self.interval = interval
        self._enabled = True
        self._started = 0.0
        self._last_line = -math.inf

    # -- ProgressBar interface ----------------------------------------------------------------
    def disable(self) -> None:
        """Write nothing (Lightning calls it on every process but the first)."""
        self._enabled = False

    def enable(self) -> None:
        """Write lines again."""
        self._enabled = True

    @property
    def is_enabled(self) -> bool:
        """Whether lines are written."""
        return self._enabled

    # -- helpers ------------------------------------------------------------------------------
    def _start(self) -> None:
        self._started = time.monotonic()
        self._last_line = -math.inf

    def _due(self, done: int) -> bool:
        now = time.monotonic()
        if done == 1 or now - self._last_line >= self.interval:
            self._last_line = now
            return True
        return False

    def _rate(self, done: int) -> str:
        elapsed = time.monotonic() - self._started
        rate = done / elapsed if elapsed > 0 else math.inf
        return f"{rate:.2f} it/s" if math.isfinite(rate) else "- it/s"

    def _metrics(self, trainer: Trainer, pl_module: LightningModule) -> str:
        metrics = self.get_metrics(trainer, pl_module)
        metrics.pop("v_num", None)
        return " ".join(f"{key}={_format_value(value)}" for key, value in metrics.items())

    def _write(self, *parts: str) -> None:
        print(" | ".join(part for part in parts if part), flush=True)

    # -- training -----------------------------------------------------------------------------
    def on_train_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Start the epoch's clock."""
        self._start()
        self._epoch_batches = 0

    def _epoch_label(self, trainer: Trainer) -> str:
        # Counted from 0 out of the last epoch, as the Rich bar and the checkpoint names do.
        max_epochs = trainer.max_epochs
        last = f"/{max_epochs - 1}" if max_epochs is not None and max_epochs > 0 else ""
        return f"epoch {trainer.current_epoch}{last}"

    def on_train_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        """Write a line after the first batch, then once per ``interval``."""
        self._epoch_batches = batch_idx + 1
        if not self._enabled or not self._due(batch_idx + 1):
            return
        total = _format_total(self.total_train_batches)
        self._write(
            f"{self._epoch_label(trainer)} step {batch_idx + 1}/{total} "
            f"(global {trainer.global_step})",
            self._rate(batch_idx + 1),
            _format_duration(time.monotonic() - self._started),
            self._metrics(trainer, pl_module),
        )

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Close the epoch with its duration and the latest metrics (validation included)."""
        if not self._enabled:
            return
        done = getattr(self, "_epoch_batches", 0)
        self._write(
            f"{self._epoch_label(trainer)} done: {done} steps (global {trainer.global_step})",
            self._rate(done) if done else "",
            _format_duration(time.monotonic() - self._started),
            self._metrics(trainer, pl_module),
        )

    # -- evaluation ---------------------------------------------------------------------------
    def _eval_start(self) -> None:
        self.reset_dataloader_idx_tracker()
        self._eval_started = time.monotonic()
        self._eval_last_line = -math.inf

    def _eval_batch(self, label: str, done: int, total: int | float) -> None:
        now = time.monotonic()
        if done != 1 and now - self._eval_last_line < self.interval:
            return
        self._eval_last_line = now
        elapsed = now - self._eval_started
        rate = f"{done / elapsed:.2f} it/s" if elapsed > 0 else "- it/s"
        self._write(f"{label} {done}/{_format_total(total)}", rate, _format_duration(elapsed))

    def _eval_end(self, label: str, trainer: Trainer, pl_module: LightningModule) -> None:
        elapsed = _format_duration(time.monotonic() - self._eval_started)
        self._write(f"{label} done", elapsed, self._metrics(trainer, pl_module))

    def on_validation_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Start the validation clock (the sanity check writes nothing)."""
        self._eval_start()

    def on_validation_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        """Write a line after the first batch, then once per ``interval``."""
        if self._enabled and not trainer.sanity_checking:
            self.has_dataloader_changed(dataloader_idx)  # the base reads totals per loader
            total = self.total_val_batches_current_dataloader
            self._eval_batch("validation", batch_idx + 1, total)

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Write the validation result."""
        if self._enabled and not trainer.sanity_checking:
            self._eval_end("validation", trainer, pl_module)

    def on_test_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Start the test clock."""
        self._eval_start()

    def on_test_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        """Write a line after the first batch, then once per ``interval``."""
        if self._enabled:
            self.has_dataloader_changed(dataloader_idx)
            self._eval_batch("test", batch_idx + 1, self.total_test_batches_current_dataloader)

    def on_test_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Write the test result."""
        if self._enabled:
            self._eval_end("test", trainer, pl_module)

    def on_predict_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Start the prediction clock."""
        self._eval_start()

    def on_predict_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        """Write a line after the first batch, then once per ``interval``."""
        if self._enabled:
            self.has_dataloader_changed(dataloader_idx)
            total = self.total_predict_batches_current_dataloader
            self._eval_batch("predict", batch_idx + 1, total)

    def on_predict_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Write how long prediction took."""
        if self._enabled:
            elapsed = _format_duration(time.monotonic() - self._eval_started)
            self._write("predict done", elapsed)


class CompactModelSummary(ModelSummary):
    """Lightning's plain-text ``ModelSummary`` without FLOPs when none were counted.

    Lightning counts FLOPs only for a module with an ``example_input_array``; otherwise its
    summary shows a column of zeros and ``Total FLOPs: 0``, which reads as a measurement.
    The table is logged through Lightning's logger, like the original.

    Args:
        max_depth: Depth of nested modules listed (0 turns the summary off).
    """

    @staticmethod
    def summarize(
        summary_data: list[tuple[str, list[str]]],
        total_parameters: int,
        trainable_parameters: int,
        model_size: float,
        total_training_modes: dict[str, int],
        total_flops: int,
        **summarize_kwargs: Any,
    ) -> None:
        """Log the table; the FLOPs column and total only when FLOPs were counted."""
        if not total_flops:
            summary_data = [column for column in summary_data if column[0] != "FLOPs"]
        table = _format_summary_table(
            total_parameters,
            trainable_parameters,
            model_size,
            total_training_modes,
            total_flops,
            *summary_data,
        )
        if not total_flops:
            table = table.rsplit("\n", 1)[0]  # the "Total Flops" line closes the table
        rank_zero_info("\n" + table)
