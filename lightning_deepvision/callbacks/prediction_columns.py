"""Turn what a task's ``predict_step`` returns into per-sample arrays and table columns.

The tasks return predictions in three shapes: a dict of batched tensors (embeddings, class
probabilities, label maps, reconstructions), a dict of per-name ``(B,)`` tensors (attribute
probabilities, one per attribute), and a list with one dict per sample (detections, whose number
of boxes differs from frame to frame). :func:`split_batch` sorts every entry of any of them into

* **arrays**: a fixed shape per sample, stacked in sample order into one ``.npy`` per key;
* **ragged**: a variable first dimension per sample (boxes, scores), concatenated into one
  ``.npy`` per key, each sample's rows given by a start and a count in ``predictions.csv``;
* **columns**: one value per sample (a path, a label, a score), written to ``predictions.csv``.

A dict of per-name tensors becomes one array whose columns are the names (kept in
:attr:`BatchParts.names`), so that ``probabilities.npy`` of an attribute task is ``(N, A)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

__all__ = ["BatchParts", "batch_size_of", "split_batch", "to_numpy"]


@dataclass
class BatchParts:
    """One batch's predictions, sorted by how they are written (see the module docstring).

    Attributes:
        arrays: Key → ``(B, ...)`` array, a fixed shape per sample.
        ragged: Key → one ``(k_i, ...)`` array per sample.
        columns: Key → ``B`` values (numbers or strings) for the table.
        names: Key of an array built from a dict of per-name tensors → the names, in column
            order.
    """

    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    ragged: dict[str, list[np.ndarray]] = field(default_factory=dict)
    columns: dict[str, list[Any]] = field(default_factory=dict)
    names: dict[str, list[str]] = field(default_factory=dict)


def to_numpy(value: Tensor | np.ndarray) -> np.ndarray:
    """A tensor as a NumPy array on the host (``bfloat16``/``float16`` as ``float32``)."""
    if isinstance(value, np.ndarray):
        return value
    value = value.detach()
    if value.dtype in (torch.bfloat16, torch.float16):
        value = value.float()  # NumPy has no bfloat16; float16 would cost precision downstream
    return value.cpu().numpy()


def _is_strings(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)


def _add_batched(parts: BatchParts, key: str, value: Any, size: int) -> None:
    """Sort one entry of a dict of batched values (first dimension ``size``)."""
    if isinstance(value, Mapping):
        names = [str(n) for n in value]
        columns = [to_numpy(torch.as_tensor(value[n])) for n in value]
        if any(c.shape != (size,) for c in columns):
            shapes = {n: tuple(c.shape) for n, c in zip(names, columns, strict=True)}
            raise ValueError(
                f"prediction {key!r} is a dict whose values must each be one number per sample "
                f"(shape ({size},)), got {shapes}"
            )
        parts.arrays[key] = np.stack(columns, axis=1)
        parts.names[key] = names
    elif _is_strings(value):
        parts.columns[key] = list(value)
    elif isinstance(value, (Tensor, np.ndarray)):
        array = to_numpy(value)
        if array.ndim == 0 or array.shape[0] != size:
            raise ValueError(
                f"prediction {key!r} has shape {tuple(array.shape)}: expected {size} samples "
                "along the first dimension (the batch's size)"
            )
        if array.ndim == 1:
            parts.columns[key] = array.tolist()
        else:
            parts.arrays[key] = array
    elif isinstance(value, (list, tuple)) and all(isinstance(v, Tensor) for v in value):
        parts.ragged[key] = [to_numpy(v) for v in value]
    else:
        raise TypeError(
            f"prediction {key!r} is a {type(value).__name__}: expected a tensor, a list of "
            "tensors or strings, or a dict of per-sample tensors"
        )


def _add_per_sample(parts: BatchParts, samples: Sequence[Mapping[str, Any]]) -> None:
    """Sort a list of per-sample dicts: 0-d values and strings are columns, the rest ragged."""
    keys = list(dict.fromkeys(k for sample in samples for k in sample))
    for key in keys:
        values = [sample.get(key) for sample in samples]
        if all(isinstance(v, str) for v in values):
            parts.columns[key] = list(values)
            continue
        arrays = [to_numpy(torch.as_tensor(v)) for v in values]
        if all(a.ndim == 0 for a in arrays):
            parts.columns[key] = [a.item() for a in arrays]
        elif all(a.ndim >= 1 for a in arrays):
            parts.ragged[key] = arrays
        else:
            raise ValueError(f"prediction {key!r} mixes single numbers and arrays across samples")


def batch_size_of(prediction: Any, batch: Any) -> int:
    """Number of samples of a batch, from the prediction (or the batch's images)."""
    if isinstance(prediction, (list, tuple)):
        return len(prediction)
    for value in prediction.values():
        if isinstance(value, (Tensor, np.ndarray)) and value.ndim >= 1:
            return int(value.shape[0])
        if isinstance(value, Mapping):
            return batch_size_of(dict(value), batch)
        if isinstance(value, (list, tuple)):
            return len(value)
    if isinstance(batch, Mapping):
        for key in ("image", "image1"):
            if key in batch:
                return int(batch[key].shape[0])
    raise ValueError("cannot tell the number of samples of a prediction with no batched entry")


def split_batch(prediction: Any, batch: Any = None) -> BatchParts:
    """Sort a ``predict_step`` output into arrays, ragged arrays and table columns.

    Args:
        prediction: A dict of batched values, or a list of per-sample dicts.
        batch: The input batch; its ``path`` entry becomes the ``path`` column when the
            prediction has none.

    Returns:
        The sorted parts; every column and array has one entry per sample.

    Raises:
        TypeError: ``prediction`` (or one of its entries) is of no shape listed above.
        ValueError: An entry does not have one value per sample.
    """
    parts = BatchParts()
    if isinstance(prediction, (list, tuple)) and all(isinstance(p, Mapping) for p in prediction):
        _add_per_sample(parts, prediction)
    elif isinstance(prediction, Mapping):
        size = batch_size_of(prediction, batch)
        for key, value in prediction.items():
            _add_batched(parts, str(key), value, size)
    else:
        raise TypeError(
            f"predict_step returned a {type(prediction).__name__}: the prediction writer needs "
            "a dict of batched values or a list of per-sample dicts"
        )
    if (
        "path" not in parts.columns
        and isinstance(batch, Mapping)
        and _is_strings(batch.get("path"))
    ):
        parts.columns["path"] = list(batch["path"])
    return parts
