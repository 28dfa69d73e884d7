"""Rows the neuron analyses keep, and how they cross processes (DeepID2+, CVPR 2015).

Sun, Wang and Tang, "Deeply learned face representations are sparse, selective, and robust",
CVPR 2015. The storage and the distributed gathering behind
:class:`~lightning_deepvision.callbacks.NeuronProperties`: bounded columns of rows on the CPU,
gathered from every process in rank order and de-duplicated by sample ``index`` (the padded
distributed sampler repeats samples), so that the analyses do not depend on the number of
processes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import torch
from lightning.pytorch import LightningModule
from torch import Tensor
from torch.utils.data import Dataset

from lightning_deepvision.metrics import first_occurrence


class _Rows:
    """Columns of rows appended batch by batch on the CPU, up to ``capacity`` rows."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.count = 0
        self.columns: dict[str, list[Tensor]] = {}

    @property
    def room(self) -> int:
        """Rows that still fit."""
        return max(0, self.capacity - self.count)

    def add(self, columns: Mapping[str, Tensor]) -> None:
        """Append the first ``room`` rows of equally long columns."""
        rows = min(self.room, next(iter(columns.values())).shape[0])
        if rows <= 0:
            return
        for key, value in columns.items():
            self.columns.setdefault(key, []).append(value[:rows].detach().cpu())
        self.count += rows

    def cat(self) -> dict[str, Tensor]:
        """The stored columns (an empty dict when nothing was stored)."""
        return {key: torch.cat(parts) for key, parts in self.columns.items()}


class _Indexed(Dataset[dict[str, Any]]):
    """A dataset whose samples also carry their position as ``index``."""

    def __init__(self, dataset: Dataset[Any]) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {**self.dataset[index], "index": torch.tensor(index, dtype=torch.int64)}


def _has_labels(batch: Mapping[str, Any]) -> bool:
    return any(isinstance(batch.get(k), Tensor) for k in ("identity", "label", "attributes"))


def _thumbnails(images: Tensor) -> Tensor:
    """Each image stretched to ``0..255`` (``uint8``), to show whatever its normalisation."""
    flat = images.detach().float().flatten(1)
    low = flat.min(dim=1).values.view(-1, 1, 1, 1)
    high = flat.max(dim=1).values.view(-1, 1, 1, 1)
    scaled = (images.detach().float() - low) / (high - low).clamp(min=1e-8)
    return (scaled * 255).round().clamp(0, 255).to(torch.uint8).cpu()


def _eval_batch_size(datamodule: Any) -> int:
    return int(getattr(datamodule, "eval_batch_size", 0) or 256)


def _attribute_names(dataset: Any) -> list[str] | None:
    # Walk wrappers (Subset, ...) down to the dataset that names its attributes.
    for _ in range(8):
        names = getattr(dataset, "attribute_names", None)
        if names is not None:
            return [str(n) for n in names]
        dataset = getattr(dataset, "dataset", None)
        if dataset is None:
            return None
    return None


def _gather_counts(pl_module: LightningModule, world: int, count: int) -> list[int]:
    if world == 1:
        return [count]
    counts = pl_module.all_gather(torch.tensor([count], device=pl_module.device))
    return [int(c) for c in cast(Tensor, counts).reshape(-1).tolist()]


def _gather(
    pl_module: LightningModule, world: int, columns: Mapping[str, Tensor]
) -> dict[str, Tensor]:
    """Concatenate the rows of every process (in rank order); ``columns`` on the CPU."""
    if world == 1:
        return dict(columns)
    count = next(iter(columns.values())).shape[0] if columns else 0
    counts = _gather_counts(pl_module, world, count)
    most = max(counts)
    if most == 0:
        return {}
    out = {}
    for key in sorted(columns):
        value = columns[key]
        # Collective backends differ in what they carry: bool travels as uint8.
        wire = value.to(torch.uint8) if value.dtype == torch.bool else value
        padded = wire.new_zeros((most, *wire.shape[1:]))
        padded[:count] = wire
        gathered = cast(Tensor, pl_module.all_gather(padded.to(pl_module.device))).cpu()
        merged = torch.cat([gathered[rank, : counts[rank]] for rank in range(world)])
        out[key] = merged.bool() if value.dtype == torch.bool else merged
    return out


def _dedupe(columns: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Keep the first row of every ``index`` (the padded sampler repeats samples)."""
    if not columns:
        return {}
    _, first = first_occurrence(columns["index"])
    return {key: value[first] for key, value in columns.items()}
