"""Merge the prediction writer's per-process batch shards into arrays and ``predictions.csv``.

A shard is one batch of one process, an ``.npz`` with the batch's dataset indices
(``__index__``) and its entries by kind (``a:`` stacked arrays, ``r:``/``c:`` concatenated
ragged rows and their counts, ``s:`` table columns; see
:mod:`~lightning_deepvision.callbacks.prediction_columns`). The merge reads the small entries of
every shard first, keeps the first occurrence of each dataset index, orders the samples by it,
then copies each array shard by shard into a memory-mapped ``.npy`` (``numpy.lib.format``),
so that at most one shard's arrays are in memory at a time.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["merge_shards"]


def _file_name(key: str) -> str:
    return key.replace("/", "_")


def merge_shards(
    shards: Sequence[Path],
    directory: Path,
    names: Mapping[str, Sequence[str]],
    path_of: Callable[[int], str],
) -> tuple[dict[str, Path], int]:
    """Write the arrays and ``predictions.csv`` of ``shards`` into ``directory``.

    Args:
        shards: The batch shards of one dataloader, of every process.
        directory: Where the files go (created).
        names: Column names of the arrays built from dicts of per-name values.
        path_of: The ``path`` of a sample by its dataset index, where the predictions carry
            none.

    Returns:
        The files written by key (``"index"``: ``predictions.csv``) and the number of samples.
    """
    directory.mkdir(parents=True, exist_ok=True)
    # Pass 1: indices, ragged counts and columns (small); the first occurrence of a sample wins.
    first: dict[int, tuple[int, int]] = {}
    small: list[dict[str, np.ndarray]] = []
    array_keys: dict[str, None] = {}
    ragged_keys: dict[str, None] = {}
    for number, shard in enumerate(shards):
        with np.load(shard) as data:
            small.append(
                {k: data[k] for k in data.files if k[:2] in ("c:", "s:") or k == "__index__"}
            )
            array_keys.update(dict.fromkeys(k[2:] for k in data.files if k.startswith("a:")))
            ragged_keys.update(dict.fromkeys(k[2:] for k in data.files if k.startswith("r:")))
        for position, index in enumerate(small[-1]["__index__"].tolist()):
            first.setdefault(int(index), (number, position))
    order = sorted(first)
    count = len(order)
    # Per shard: the positions kept and the rows they go to.
    kept: list[tuple[list[int], list[int]]] = [([], []) for _ in shards]
    for row, index in enumerate(order):
        number, position = first[index]
        kept[number][0].append(position)
        kept[number][1].append(row)

    table: dict[str, list[Any]] = {
        "path": [path_of(i) for i in order],
        "row": list(range(count)),
    }
    column_keys = list(dict.fromkeys(k[2:] for s in small for k in s if k.startswith("s:")))
    for key in column_keys:
        values: list[Any] = list(table.get(key, [""] * count))
        for shard_small, (positions, rows) in zip(small, kept, strict=True):
            if f"s:{key}" in shard_small:
                column = shard_small[f"s:{key}"]
                for position, row in zip(positions, rows, strict=True):
                    values[row] = column[position].item()
        table[key] = values

    files: dict[str, Path] = {}
    offsets: dict[str, np.ndarray] = {}
    for key in ragged_keys:
        counts = np.zeros(count, dtype=np.int64)
        for shard_small, (positions, rows) in zip(small, kept, strict=True):
            if f"c:{key}" in shard_small:
                counts[rows] = shard_small[f"c:{key}"][positions]
        offsets[key] = np.concatenate([[0], np.cumsum(counts)])
        table[f"{key}_start"] = offsets[key][:-1].tolist()
        table[f"{key}_count"] = counts.tolist()

    # Pass 2: the arrays, one shard at a time into memory-mapped files.
    outputs: dict[str, np.memmap[Any, Any]] = {}
    for number, shard in enumerate(shards):
        positions, rows = kept[number]
        if not positions:
            continue
        with np.load(shard) as data:
            for key in array_keys:
                if f"a:{key}" not in data.files:
                    continue
                array = data[f"a:{key}"]
                if key not in outputs:
                    files[key] = directory / f"{_file_name(key)}.npy"
                    outputs[key] = np.lib.format.open_memmap(
                        files[key], mode="w+", dtype=array.dtype, shape=(count, *array.shape[1:])
                    )
                outputs[key][rows] = array[positions]
            for key in ragged_keys:
                if f"r:{key}" not in data.files:
                    continue
                _copy_ragged(data, key, positions, rows, offsets[key], outputs, files, directory)
    for output in outputs.values():
        output.flush()
    for key in ragged_keys:
        files[f"{key}.offsets"] = directory / f"{_file_name(key)}.offsets.npy"
        np.save(files[f"{key}.offsets"], offsets[key])
    for key, key_names in names.items():
        if key in files:
            files[f"{key}.names"] = directory / f"{_file_name(key)}.names.txt"
            files[f"{key}.names"].write_text("".join(f"{n}\n" for n in key_names))
    files["index"] = directory / "predictions.csv"
    _write_csv(files["index"], table, count)
    return files, count


def _copy_ragged(
    data: Any,
    key: str,
    positions: list[int],
    rows: list[int],
    offsets: np.ndarray,
    outputs: dict[str, np.memmap[Any, Any]],
    files: dict[str, Path],
    directory: Path,
) -> None:
    """Copy a shard's kept samples of a concatenated array to their rows of the output."""
    values, counts = data[f"r:{key}"], data[f"c:{key}"]
    starts = np.concatenate([[0], np.cumsum(counts)])
    if key not in outputs:
        files[key] = directory / f"{_file_name(key)}.npy"
        outputs[key] = np.lib.format.open_memmap(
            files[key], mode="w+", dtype=values.dtype, shape=(int(offsets[-1]), *values.shape[1:])
        )
    for position, row in zip(positions, rows, strict=True):
        start, end = int(starts[position]), int(starts[position + 1])
        outputs[key][int(offsets[row]) : int(offsets[row + 1])] = values[start:end]


def _write_csv(path: Path, table: Mapping[str, list[Any]], count: int) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(list(table))
        columns = list(table.values())
        for row in range(count):
            writer.writerow([column[row] for column in columns])
