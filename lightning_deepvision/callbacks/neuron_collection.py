"""What the neuron analyses collect, from the evaluation and their own passes (DeepID2+).

Sun, Wang and Tang, "Deeply learned face representations are sparse, selective, and robust",
CVPR 2015. The collecting half of
:class:`~lightning_deepvision.callbacks.NeuronProperties`: per evaluation batch, the packed
binary codes, pair scores, labelled activations and pair inputs of the recorded layers; at the
end, the forward passes of its own (labelled images read from a data module implementing
:class:`LabelledImagesData`, evaluation pairs under test-time occlusion, §7).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal, Protocol, runtime_checkable

import torch
from lightning.pytorch import LightningModule, Trainer
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from lightning_deepvision.analysis import (
    ActivationRecorder,
    occlude_blocks,
    occlude_bottom,
    pack_codes,
)
from lightning_deepvision.callbacks.neuron_rows import (
    _attribute_names,
    _eval_batch_size,
    _gather_counts,
    _has_labels,
    _Indexed,
    _Rows,
    _thumbnails,
)
from lightning_deepvision.metrics import pair_scores

__all__ = ["LabelledImagesData"]


@runtime_checkable
class LabelledImagesData(Protocol):
    """What a data module provides for the analyses that need labelled images.

    Selectivity and attribute probes need images with identities and/or attributes. When the
    validation (test) batches carry them (``image`` with ``identity`` or ``label``, and/or
    ``attributes``), :class:`~lightning_deepvision.callbacks.NeuronProperties` uses those;
    when they do not (verification evaluates pairs), it reads this dataset, from a data module
    that implements the method.
    :class:`~lightning_deepvision.datamodules.SyntheticFacesDataModule` does.
    """

    def labelled_images(self, stage: str, max_images: int) -> Dataset[Any]:
        """At most ``max_images`` labelled images of people unseen in training.

        Args:
            stage: ``"val"`` or ``"test"``: whose people (those of the stage's pairs, say).
            max_images: Upper bound on the dataset's length.

        Returns:
            A dataset of sample dicts with ``image`` (evaluation transforms, as the model is
            fed), and ``identity`` (or ``label``) and/or ``attributes`` (``[A]`` binary). A
            dataset attribute ``attribute_names`` names the attribute columns.
        """
        ...


class _NeuronCollection:
    """The collecting state and steps of :class:`~lightning_deepvision.callbacks.NeuronProperties`.

    The options named below are set by that callback's constructor.
    """

    recorder: ActivationRecorder | None
    analyses: list[str]
    active_threshold: float
    scoring: Literal["cosine", "l2"]
    max_stored: int
    max_images: int
    robustness_pairs: int
    occlusion_fill: float
    seed: int
    _widths: dict[str, int]
    _attribute_names: list[str] | None

    def _reset(self, world_size: int) -> None:
        # Per-process shares of the caps, so that the gathered totals respect them.
        def share(cap: int) -> int:
            return max(1, math.ceil(cap / world_size))

        self._pairs = _Rows(share(self.max_stored // 2 or 1))
        self._singles = _Rows(share(self.max_stored))
        self._labelled = _Rows(share(self.max_images))
        self._robust = _Rows(share(self.robustness_pairs))
        self._seen = 0
        self._widths = {}

    # -- collecting ----------------------------------------------------------------------------
    def _indices(self, trainer: Trainer, batch: Mapping[str, Any], size: int) -> Tensor:
        index = batch.get("index")
        if isinstance(index, Tensor) and index.shape[:1] == (size,):
            return index.reshape(size).long()
        # No index: the position DistributedSampler gives the sample (unique, not de-duplicated).
        world, rank = trainer.world_size, trainer.global_rank
        return (torch.arange(self._seen, self._seen + size) * world + rank).long()

    def _consume(
        self,
        trainer: Trainer,
        records: Mapping[str, Mapping[str, Tensor]],
        batch: Mapping[str, Any],
    ) -> None:
        """Keep the codes, pair scores, labelled activations and pair inputs of a batch."""
        layers = self._layer_names()
        for recorded in records.values():
            self._widths.update({layer: int(v.shape[1]) for layer, v in recorded.items()})
        if {"image1", "image2"} <= records.keys() and "same" in batch:
            first, second = records["image1"], records["image2"]
            same = torch.as_tensor(batch["same"]).reshape(-1).long()
            size = same.shape[0]
            index = self._indices(trainer, batch, size)
            fold = batch.get("fold")
            fold = (
                torch.as_tensor(fold).reshape(-1).long()
                if isinstance(fold, Tensor)
                else torch.zeros(size, dtype=torch.long)
            )
            columns: dict[str, Tensor] = {"index": index, "same": same, "fold": fold}
            for layer in layers:
                if layer in first and layer in second:
                    a, b = first[layer], second[layer]
                    columns[f"score/{layer}"] = pair_scores(a, b, self.scoring)
                    columns[f"code1/{layer}"] = pack_codes(a > self.active_threshold)
                    columns[f"code2/{layer}"] = pack_codes(b > self.active_threshold)
            self._pairs.add(columns)
            if "robustness" in self.analyses and self._robust.room:
                self._robust.add(
                    {
                        "index": index,
                        "same": same,
                        "fold": fold,
                        "image1": batch["image1"],
                        "image2": batch["image2"],
                    }
                )
            self._seen += size
        if "image" in records:
            recorded = records["image"]
            size = next(iter(recorded.values())).shape[0]
            index = self._indices(trainer, batch, size)
            codes = {
                f"code/{layer}": pack_codes(recorded[layer] > self.active_threshold)
                for layer in layers
                if layer in recorded
            }
            self._singles.add({"index": index, **codes})
            if _has_labels(batch):
                self._add_labelled(recorded, batch, index)
            self._seen += size

    def _add_labelled(
        self, recorded: Mapping[str, Tensor], batch: Mapping[str, Any], index: Tensor
    ) -> None:
        size = index.shape[0]
        columns: dict[str, Tensor] = {"index": index, "thumbnail": _thumbnails(batch["image"])}
        identity = batch.get("identity", batch.get("label"))
        if isinstance(identity, Tensor):
            columns["identity"] = identity.reshape(size).long()
        attributes = batch.get("attributes")
        if isinstance(attributes, Tensor):
            columns["attributes"] = attributes.reshape(size, -1).long()
        for layer, values in recorded.items():
            columns[f"act/{layer}"] = values
            self._widths[layer] = int(values.shape[1])
        self._labelled.add(columns)

    def _layer_names(self) -> list[str]:
        return list(self.recorder.layers) if self.recorder is not None else []

    # -- own forward passes --------------------------------------------------------------------
    def _forward(
        self, trainer: Trainer, pl_module: LightningModule, images: Tensor
    ) -> dict[str, Tensor]:
        """Run the model on ``images``; return the recorded layers."""
        assert self.recorder is not None
        with self.recorder.record("own"), trainer.precision_plugin.forward_context():
            pl_module(images.to(pl_module.device))
        return self.recorder.take().get("own", {})

    def _labelled_pass(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> str:
        """Record the labelled images of the data module (sharded over processes)."""
        datamodule = getattr(trainer, "datamodule", None)
        if not isinstance(datamodule, LabelledImagesData):
            return "none"
        dataset = datamodule.labelled_images(stage, self.max_images)
        self._attribute_names = _attribute_names(dataset)
        indexed = _Indexed(dataset)
        world = trainer.world_size
        sampler: DistributedSampler[Any] | None = (
            DistributedSampler(indexed, num_replicas=world, rank=trainer.global_rank, shuffle=False)
            if world > 1
            else None
        )
        loader = DataLoader(
            indexed,
            batch_size=_eval_batch_size(datamodule),
            sampler=sampler,
            num_workers=int(getattr(datamodule, "num_workers", 0) or 0),
            # Its own generator: the loader's base seed must not come from the global one.
            generator=torch.Generator(),
        )
        for batch in loader:
            recorded = self._forward(trainer, pl_module, batch["image"])
            self._add_labelled(recorded, batch, batch["index"].long())
        return "data module"

    def _robustness_scores(
        self, trainer: Trainer, pl_module: LightningModule, levels: list[tuple[str, float]]
    ) -> dict[str, Tensor]:
        """Pair scores of every layer at every occlusion level, ``[pairs, levels]`` per layer."""
        rows = self._robust.cat()
        local = int(rows["index"].shape[0]) if rows else 0
        counts = _gather_counts(pl_module, trainer.world_size, local)
        if max(counts) == 0 or local == 0:
            return {}
        batch_size = _eval_batch_size(getattr(trainer, "datamodule", None))
        # Every process runs as many forward passes (sharded models need all of them).
        batches = math.ceil(max(counts) / batch_size)
        layers = self._layer_names()
        scores: dict[str, list[list[Tensor]]] = {layer: [] for layer in layers}
        for b in range(batches):
            start = min(b * batch_size, max(0, local - 1))
            part = slice(start, min(start + batch_size, local))
            index = rows["index"][part]
            per_level: dict[str, list[Tensor]] = {layer: [] for layer in layers}
            for level_id, (kind, fraction) in enumerate(levels):
                recorded = []
                for slot in (1, 2):
                    images = rows[f"image{slot}"][part]
                    if kind == "area":
                        images = occlude_bottom(images, fraction, self.occlusion_fill)
                    elif kind == "blocks":
                        keys = index * 2 + (slot - 1)
                        images = occlude_blocks(
                            images,
                            fraction,
                            keys,
                            seed=self.seed * 1009 + level_id,
                            fill=self.occlusion_fill,
                        )
                    recorded.append(self._forward(trainer, pl_module, images))
                for layer in layers:
                    a, b2 = recorded[0][layer], recorded[1][layer]
                    per_level[layer].append(pair_scores(a, b2, self.scoring).cpu())
            if b * batch_size < local:  # a padding batch only keeps the processes in step
                for layer in layers:
                    scores[layer].append(per_level[layer])
        out = {
            "index": rows["index"],
            "same": rows["same"],
            "fold": rows["fold"],
        }
        for layer in layers:
            out[f"robust/{layer}"] = torch.cat(
                [torch.stack(level_scores, dim=1) for level_scores in scores[layer]]
            )
        return out
