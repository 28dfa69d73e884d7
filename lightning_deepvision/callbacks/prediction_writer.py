"""Write what a task predicts to files: ``.npy`` arrays and a ``predictions.csv`` index.

``trainer.predict`` of any task of the library (embeddings, class and attribute probabilities,
label maps, boxes, codes, reconstructions) leaves, in ``<log_dir>/predictions``:

* ``<key>.npy`` for each output with a fixed shape per sample, ``(N, ...)`` in sample order
  (the order of the predict dataset), e.g. ``embedding.npy``, ``probabilities.npy``,
  ``mask.npy``; an output that was a dict of per-name values (an attribute task's
  probabilities) is one array whose columns are the names, listed in ``<key>.names.txt``;
* ``<key>.npy`` and ``<key>.offsets.npy`` for each output whose length differs from sample to
  sample (a detector's ``boxes`` and ``scores``): the samples' rows concatenated, sample ``i``
  owning rows ``offsets[i]:offsets[i + 1]`` (one file per key, not one per sample, so that a
  million frames are two files that load in one call);
* ``predictions.csv``: one row per sample with its ``path`` (the input file: the batch's
  ``path``, else the dataset's ``path(i)`` or ``image_path(i)``; a dataset with no files gives
  ``<DatasetClass>[<index>]``), its ``row`` in the arrays, ``<key>_start`` and
  ``<key>_count`` of its rows in each concatenated array, every single-number output (label,
  score, index, ...), and what a person reads first: ``top_class`` and ``top_probability`` of
  class probabilities, ``labels`` (the attributes present, ``;``-separated) of attribute ones.
  CSV rather than Parquet: the library does not depend on pyarrow.

Lightning's :class:`~lightning.pytorch.callbacks.BasePredictionWriter` calls it after each batch
(``write_interval="batch"``), so memory stays bounded: each process writes its batches to shard
files, and when prediction ends the process of rank zero merges them into the arrays above
(through memory-mapped ``.npy`` files) and writes the index, keeping each sample once (a padded
distributed sampler repeats samples) and in dataset order whatever the number of processes.
"""

from __future__ import annotations

import csv
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import lightning.pytorch as pl
import numpy as np
from lightning.pytorch.callbacks import BasePredictionWriter

from lightning_deepvision.callbacks.pictures import free_path
from lightning_deepvision.callbacks.prediction_columns import BatchParts, split_batch
from lightning_deepvision.callbacks.prediction_merge import merge_shards

__all__ = ["PredictionWriter", "path_namer", "read_index"]


class PredictionWriter(BasePredictionWriter):
    """Write every task's predictions as ``.npy`` arrays plus a ``predictions.csv`` index.

    The files are described in this module's docstring. Nothing existing is overwritten: when
    the directory already holds files (an earlier ``predict``), a free name beside it is used
    (``predictions-1``, ...). The process of rank zero prints where the files went.

    Args:
        output_dir: Where the files go; ``None``: ``<trainer.log_dir>/predictions``.
        write_interval: When Lightning hands over predictions: ``"batch"`` (memory stays
            bounded), ``"epoch"`` or ``"batch_and_epoch"`` (written once, at the batches).
        class_names: Names of the classes of ``probabilities`` (the ``top_class`` column);
            ``None`` reads the data module's ``classes`` when it has them (else class numbers).
        threshold: Probability above which an attribute counts as present in ``labels``
            when the task returns no ``present`` entry.

    Attributes:
        directory: Where the last ``predict`` wrote (set on every process).
        files: The files written, by output key (``"index"`` for ``predictions.csv``; set on
            rank zero).
    """

    def __init__(
        self,
        output_dir: str | Path | None = None,
        write_interval: Literal["batch", "epoch", "batch_and_epoch"] = "batch",
        class_names: Sequence[str] | None = None,
        threshold: float = 0.5,
    ) -> None:
        super().__init__(write_interval)
        self.output_dir = None if output_dir is None else Path(output_dir)
        self.class_names = None if class_names is None else [str(n) for n in class_names]
        self.threshold = threshold
        self.directory: Path | None = None
        self.files: dict[str, Path] = {}
        self._names: dict[str, list[str]] = {}
        self._shapes: dict[str, tuple[int, ...]] = {}
        self._classes: list[str] | None = None
        self._path_of: list[Callable[[int], str]] = []

    # -- where ------------------------------------------------------------------------------
    @property
    def shard_dir(self) -> Path:
        """Where the processes write their batches before the merge (removed after it)."""
        if self.directory is None:
            raise RuntimeError("PredictionWriter.shard_dir is known once predict has started")
        return self.directory / ".shards"

    def on_predict_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Pick the output directory (rank zero, shared with every process) and the names."""
        if self.output_dir is not None:
            wanted = self.output_dir
        else:
            # ``log_dir`` is collective under DDP: every process reads it.
            wanted = Path(trainer.log_dir or trainer.default_root_dir) / "predictions"
        chosen = str(wanted)
        if trainer.is_global_zero and wanted.exists() and any(wanted.iterdir()):
            chosen = str(free_path(wanted))
        self.directory = Path(trainer.strategy.broadcast(chosen))
        (self.shard_dir / f"rank{trainer.global_rank}").mkdir(parents=True, exist_ok=True)
        self.files, self._names, self._shapes = {}, {}, {}
        self._classes = self.class_names or _data_classes(trainer)
        loaders = trainer.predict_dataloaders
        loaders = loaders if isinstance(loaders, (list, tuple)) else [loaders]
        self._path_of = [path_namer(getattr(dl, "dataset", dl)) for dl in loaders]

    # -- per batch --------------------------------------------------------------------------
    def write_on_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        prediction: Any,
        batch_indices: Sequence[int] | None,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int,
    ) -> None:
        """Write one batch's predictions to this process's shard."""
        parts = split_batch(prediction, batch)
        self._add_readable_columns(parts)
        size = _size(parts)
        if batch_indices is None or len(batch_indices) != size:
            raise RuntimeError(
                f"batch {batch_idx} has {size} predictions but the loader reported "
                f"{None if batch_indices is None else len(batch_indices)} sample indices: the "
                "prediction writer needs a map-style dataset with a sampler Lightning can track"
            )
        for key, array in parts.arrays.items():
            shape = tuple(array.shape[1:])
            if self._shapes.setdefault(key, shape) != shape:
                raise ValueError(
                    f"prediction {key!r} has the shape {shape} per sample in batch {batch_idx} "
                    f"but {self._shapes[key]} before: its samples cannot be stacked (give the "
                    "predict images one size, e.g. with the data module's evaluation resize)"
                )
        self._names.update(parts.names)
        payload: dict[str, Any] = {"__index__": np.asarray(batch_indices, dtype=np.int64)}
        payload.update({f"a:{k}": v for k, v in parts.arrays.items()})
        for key, values in parts.ragged.items():
            payload[f"r:{key}"] = np.concatenate(values) if values else np.zeros(0)
            payload[f"c:{key}"] = np.asarray([len(v) for v in values], dtype=np.int64)
        payload.update({f"s:{k}": np.asarray(v) for k, v in parts.columns.items()})
        name = f"{dataloader_idx}-{batch_idx:08d}.npz"
        np.savez(self.shard_dir / f"rank{trainer.global_rank}" / name, **payload)

    def write_on_epoch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        predictions: Sequence[Any],
        batch_indices: Sequence[Any],
    ) -> None:
        """Write the epoch's predictions batch by batch (already written with ``batch``)."""
        if self.interval.on_batch:
            return
        per_loader = predictions if len(batch_indices) > 1 else [predictions]
        for loader, (outputs, indices) in enumerate(zip(per_loader, batch_indices, strict=True)):
            for batch_idx, (output, index) in enumerate(zip(outputs, indices, strict=True)):
                self.write_on_batch_end(trainer, pl_module, output, index, None, batch_idx, loader)

    def _add_readable_columns(self, parts: BatchParts) -> None:
        """``top_class``/``top_probability`` of class probabilities, ``labels`` of attributes."""
        probabilities = parts.arrays.get("probabilities")
        if probabilities is None or probabilities.ndim != 2:
            return
        names = parts.names.get("probabilities")
        if names is not None:  # one probability per attribute: list the ones present
            present = parts.arrays.get("present")
            if present is None or present.shape != probabilities.shape:
                present = probabilities > self.threshold
            parts.columns["labels"] = [
                ";".join(n for n, p in zip(names, row, strict=True) if p) for row in present
            ]
            return
        top = probabilities.argmax(axis=1)
        classes = self._classes
        if classes is not None and len(classes) == probabilities.shape[1]:
            parts.columns["top_class"] = [classes[int(i)] for i in top]
        else:
            parts.columns["top_class"] = top.tolist()
        parts.columns["top_probability"] = probabilities[np.arange(len(top)), top].tolist()

    # -- at the end -------------------------------------------------------------------------
    def on_predict_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Merge every process's shards into the arrays and ``predictions.csv`` (rank zero)."""
        trainer.strategy.barrier("prediction_writer_merge")
        if trainer.is_global_zero and self.directory is not None:
            loaders = sorted({int(p.name.split("-")[0]) for p in self.shard_dir.glob("*/*.npz")})
            lines = []
            for loader in loaders:
                out = (
                    self.directory if len(loaders) == 1 else self.directory / f"dataloader_{loader}"
                )
                path_of = self._path_of[loader] if loader < len(self._path_of) else str
                files, count = merge_shards(
                    sorted(self.shard_dir.glob(f"*/{loader}-*.npz")), out, self._names, path_of
                )
                self.files.update(
                    files if len(loaders) == 1 else {f"{loader}/{k}": v for k, v in files.items()}
                )
                lines.append(_report(out, files, count))
            shutil.rmtree(self.shard_dir, ignore_errors=True)
            print(
                "\n".join(lines or [f"Predictions: nothing predicted ({self.directory})"]),
                flush=True,
            )
        trainer.strategy.barrier("prediction_writer_done")


def _size(parts: BatchParts) -> int:
    for group in (parts.arrays, parts.ragged, parts.columns):
        for value in group.values():
            return len(value)
    return 0


def path_namer(dataset: Any) -> Callable[[int], str]:
    """How to name sample ``i`` of ``dataset`` where its predictions carry no ``path``.

    A dataset over files that tells a sample's file (``path(i)``, ``image_path(i)``: image
    folders, ImageNet, CelebA) names it; any other gives ``<DatasetClass>[<i>]``.
    """
    for name in ("path", "image_path"):
        method = getattr(dataset, name, None)
        if callable(method):
            return lambda index: str(method(index))
    label = type(dataset).__name__
    return lambda index: f"{label}[{index}]"


def _data_classes(trainer: pl.Trainer) -> list[str] | None:
    """The data module's class names, when it can list them without its data missing."""
    datamodule = getattr(trainer, "datamodule", None)
    try:
        classes = getattr(datamodule, "classes", None)
    except OSError:  # a module pointed at a folder of images may have no dataset to ask
        return None
    return [str(c) for c in classes] if isinstance(classes, (list, tuple)) else None


def _report(directory: Path, files: dict[str, Path], count: int) -> str:
    shown = ", ".join(p.name for k, p in files.items() if k != "index")
    return f"Predictions of {count} samples written to {directory}: predictions.csv, {shown}"


def read_index(path: str | Path) -> list[dict[str, str]]:
    """The rows of a ``predictions.csv``, as dicts of strings."""
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))
