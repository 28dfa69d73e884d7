"""Sparse, selective and robust: the neuron analyses of DeepID2+ as a Lightning callback.

Sun, Wang and Tang, "Deeply learned face representations are sparse, selective, and robust",
CVPR 2015, analyse what DeepID2+'s FC-n neurons learned: about half of them fire on each face
and each fires on about half the faces (§5); their binary codes verify almost as well as the
real values (Table 4); single neurons classify identities and attributes with up to about 97 %
balanced accuracy, split into excitatory and inhibitory sets (§6); the top layers are the most
robust to occlusions met only at test time (§7). :class:`NeuronProperties` measures all of it,
on any task and backbone, during validation and test; the statistics themselves are in
:mod:`lightning_deepvision.analysis`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, cast, get_args, runtime_checkable

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities import rank_zero_info
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from lightning_deepvision.analysis import (
    Activation,
    ActivationRecorder,
    occlude_blocks,
    occlude_bottom,
    pack_codes,
)
from lightning_deepvision.analysis.report import (
    NeuronReport,
    default_attribute_names,
    json_safe,
    robustness_levels,
    scalars,
)
from lightning_deepvision.callbacks.pictures import log_figure
from lightning_deepvision.metrics import first_occurrence, pair_scores

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["ANALYSES", "AnalysisName", "LabelledImagesData", "NeuronProperties", "default_layers"]

AnalysisName = Literal["sparsity", "binary_codes", "selectivity", "probes", "robustness"]
ANALYSES: tuple[str, ...] = get_args(AnalysisName)

# The image entries of a batch whose forward calls are recorded.
_IMAGE_KEYS = ("image", "image1", "image2")
_OCCLUSION_LEVELS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)


@runtime_checkable
class LabelledImagesData(Protocol):
    """What a data module provides for the analyses that need labelled images.

    Selectivity and attribute probes need images with identities and/or attributes. When the
    validation (test) batches carry them (``image`` with ``identity`` or ``label``, and/or
    ``attributes``), :class:`NeuronProperties` uses those; when they do not (verification
    evaluates pairs), it reads this dataset, from a data module that implements the method.
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


def default_layers(pl_module: LightningModule) -> dict[str, str]:
    """DeepID2+'s FC-1…FC-4 (DeepID2: its DeepID2 layer) in a task with a DeepID backbone.

    The hooked modules are the FC layers' linear maps; with ``activation="relu"`` their
    recorded outputs are exactly the levels of ``DeepID.forward_levels`` in evaluation mode.

    Raises:
        ValueError: If the module has no DeepID ``backbone``: name the layers.
    """
    from lightning_deepvision.models.deepid import DeepID

    backbone = getattr(pl_module, "backbone", None)
    if not isinstance(backbone, DeepID):
        raise ValueError(
            f"NeuronProperties has default layers only for DeepID backbones; "
            f"{type(pl_module).__name__} has {type(backbone).__name__}: pass "
            "layers={'name': 'module.path', ...} (see model.named_modules())"
        )
    if not backbone.aux_fcs:
        return {"DeepID2": "backbone.fc"}
    layers = {f"FC-{i + 1}": f"backbone.aux_fcs.{i}" for i in range(len(backbone.aux_fcs))}
    layers[f"FC-{len(backbone.aux_fcs) + 1}"] = "backbone.fc"
    return layers


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


class NeuronProperties(Callback):
    """Measure how sparse, selective and robust a network's neurons are (DeepID2+, CVPR 2015).

    Forward hooks on the chosen layers (by module name; DeepID2+'s FC-1…FC-4 by default)
    record the activations of the images the task evaluates during validation and test. The
    task's own forward calls are used, not repeated: only calls on the batch's own image
    tensors (``image``, ``image1``, ``image2``) are recorded, so mirrored test-time copies
    are left out. Memory is bounded: per image, only its packed binary code (a bit a neuron)
    is kept, and per pair its real-valued score, up to ``max_stored`` images; labelled
    activations up to ``max_images``; pair inputs for the robustness test up to
    ``robustness_pairs``. At the end of the evaluation everything is gathered from all
    processes, repeats of the padded distributed sampler are dropped by sample ``index``, and
    the analyses below run on every process alike (the numbers do not depend on the number of
    processes); rank zero writes the files and pictures.

    - ``sparsity`` (§5): share of neurons active (``> active_threshold``) per image and of
      images per neuron, mean ± std and histograms.
    - ``binary_codes`` (Table 4): LFW-protocol verification accuracy of each layer's binary
      codes by Hamming distance, beside its real-valued accuracy (``scoring``), on the pairs
      the task evaluates.
    - ``selectivity`` (§6): each neuron's balanced single-neuron accuracy (best threshold,
      two-fold cross-validated within identities) for every attribute and for the
      ``max_identities`` identities with most images; the best neurons of each label;
      excitatory and inhibitory counts among neurons of at least ``selective_accuracy``;
      neurons ranked by mean response; per-attribute histograms and the top-activating images.
    - ``probes``: cross-validated (identity-disjoint) linear-probe accuracy of each attribute
      from each layer, averaged separately over identity-related and unrelated attributes.
    - ``robustness`` (§7): verification accuracy of each layer on the evaluation pairs with
      10–70 % of the face area occluded from the bottom, and with random blocks of 10–70 % of
      the image side, applied to both images at test time.

    Labelled images come from the evaluation batches when they carry ``identity`` / ``label``
    or ``attributes``, and otherwise from a data module implementing
    :class:`LabelledImagesData`. Analyses whose data are missing are skipped. Pair scores of a
    layer use one view per image (the task's mirrored copies are not recorded), so the FC-4
    accuracies here may differ from the task's own, flip-augmented ones.

    Cost: what is computed during the evaluation (hooks, codes, scores) adds little to it
    (``benchmarks/neuron_properties.py``); the end-of-evaluation passes cost a fixed number of
    forward passes, whatever the size of the evaluation: ``max_images`` for labelled images
    read from the data module, and ``2 × 15 × robustness_pairs`` for the occlusion test. The
    passes draw no global random numbers, so the run continues as it would without them.

    Results: scalars ``neurons/<stage>/<layer>/<name>`` through ``pl_module.log``; the whole
    analysis in :attr:`results` and in ``<log_dir>/neuron_properties.json`` (one entry per
    stage, the latest run of each; NaN written as ``null``); pictures
    (``neurons/<stage>/sparsity``, ``selectivity``, ``attribute_histograms``, ``top_images``,
    ``probes``, ``robustness``) to Weights & Biases and TensorBoard and as
    ``neurons_<stage>_<name>.png`` in the log directory.

    Args:
        layers: Display name → module name (``model.named_modules()``), or a list of module
            names; ``None``: :func:`default_layers`.
        activation: Applied to each recorded output (see
            :class:`~lightning_deepvision.analysis.ActivationRecorder`): ``"relu"`` suits
            linear layers followed by a separate ReLU, as DeepID2+'s FC-n.
        analyses: Which analyses to run (default: all of :data:`ANALYSES`).
        every_n_epochs: During ``fit``, analyse every n-th validation epoch; the last epoch is
            always analysed; 0: the last only. ``validate`` and ``test`` are always analysed.
        active_threshold: A neuron is active when its activation exceeds this (DeepID2+: 0).
        scoring: Real-valued pair score of each layer: ``"cosine"`` or ``"l2"``.
        max_stored: Images whose codes are kept for sparsity and binary codes (a pair is two).
        max_images: Labelled images analysed for selectivity and probes.
        max_identities: Identities whose selectivity is measured (most images first).
        cross_validate: Two-fold cross-validated single-neuron accuracy (as DeepID2+); else
            in-sample.
        selective_accuracy: Accuracy from which a neuron counts as selective in the
            excitatory / inhibitory counts.
        identity_related: Names of the identity-related attributes; ``None`` infers them:
            those whose :func:`~lightning_deepvision.analysis.identity_consistency` is at least
            ``consistency_threshold``.
        consistency_threshold: See ``identity_related``.
        occlusion_fractions: Shares of the face area occluded from the bottom.
        block_fractions: Sides of the random blocks as shares of the image's shorter side.
        occlusion_fill: Value of the occluded pixels (0: the mean face after normalisation).
        robustness_pairs: Evaluation pairs tested under occlusion.
        top_images: Top-activating images shown per neuron.
        pictures: Draw and log the pictures.
        seed: Seed of the random block positions.
        filename: Name of the JSON file in the log directory.
    """

    def __init__(
        self,
        layers: dict[str, str] | list[str] | None = None,
        activation: Activation = "relu",
        analyses: list[AnalysisName] | None = None,
        every_n_epochs: int = 1,
        active_threshold: float = 0.0,
        scoring: Literal["cosine", "l2"] = "cosine",
        max_stored: int = 20_000,
        max_images: int = 2_000,
        max_identities: int = 64,
        cross_validate: bool = True,
        selective_accuracy: float = 0.75,
        identity_related: list[str] | None = None,
        consistency_threshold: float = 0.9,
        occlusion_fractions: Sequence[float] = _OCCLUSION_LEVELS,
        block_fractions: Sequence[float] = _OCCLUSION_LEVELS,
        occlusion_fill: float = 0.0,
        robustness_pairs: int = 600,
        top_images: int = 8,
        pictures: bool = True,
        seed: int = 0,
        filename: str = "neuron_properties.json",
    ) -> None:
        super().__init__()
        chosen = list(ANALYSES if analyses is None else analyses)
        unknown = sorted(set(chosen) - set(ANALYSES))
        if unknown:
            raise ValueError(f"unknown analyses {unknown}; choose from {list(ANALYSES)}")
        if every_n_epochs < 0:
            raise ValueError(f"every_n_epochs must be >= 0, got {every_n_epochs}")
        if scoring not in ("cosine", "l2"):
            raise ValueError(f"scoring must be 'cosine' or 'l2', got {scoring!r}")
        for name, value in (
            ("max_stored", max_stored),
            ("max_images", max_images),
            ("max_identities", max_identities),
            ("robustness_pairs", robustness_pairs),
            ("top_images", top_images),
        ):
            if value < 1:
                raise ValueError(f"{name} must be positive, got {value}")
        fractions = [*occlusion_fractions, *block_fractions]
        if any(not 0.0 < f <= 1.0 for f in fractions):
            raise ValueError(f"occlusion and block fractions must be in (0, 1], got {fractions}")
        self.layers: dict[str, str] | None = (
            None
            if layers is None
            else dict(layers)
            if isinstance(layers, Mapping)
            else {name: name for name in layers}
        )
        self.activation: Activation = activation
        self.analyses = chosen
        self.every_n_epochs = every_n_epochs
        self.active_threshold = float(active_threshold)
        self.scoring = scoring
        self.max_stored = max_stored
        self.max_images = max_images
        self.max_identities = max_identities
        self.cross_validate = cross_validate
        self.selective_accuracy = float(selective_accuracy)
        self.identity_related = None if identity_related is None else list(identity_related)
        self.consistency_threshold = float(consistency_threshold)
        self.occlusion_fractions = [float(f) for f in occlusion_fractions]
        self.block_fractions = [float(f) for f in block_fractions]
        self.occlusion_fill = float(occlusion_fill)
        self.robustness_pairs = robustness_pairs
        self.top_images = top_images
        self.pictures = pictures
        self.seed = seed
        self.filename = filename
        self.recorder: ActivationRecorder | None = None
        #: The latest analysis of each stage (what the JSON file holds).
        self.results: dict[str, dict[str, Any]] = {}
        self._widths: dict[str, int] = {}
        self._attribute_names: list[str] | None = None
        self._figures: dict[str, Figure] = {}
        self._reset(1)

    # -- lifecycle -----------------------------------------------------------------------------
    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        """Resolve the layers and build the hooks (registered only while analysing)."""
        if self.recorder is None or self.recorder.model is not pl_module:
            layers = self.layers if self.layers is not None else default_layers(pl_module)
            self.recorder = ActivationRecorder(pl_module, layers, self.activation)

    def teardown(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        """Remove the hooks."""
        if self.recorder is not None:
            self.recorder.detach()

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

    def _analysing(self, trainer: Trainer) -> bool:
        if trainer.sanity_checking:
            return False
        if trainer.state.fn != TrainerFn.FITTING:
            return True
        if self.every_n_epochs and (trainer.current_epoch + 1) % self.every_n_epochs == 0:
            return True
        return _last_fit_epoch(trainer)

    def _start(self, trainer: Trainer) -> None:
        if self.recorder is None or not self._analysing(trainer):
            return
        self._reset(trainer.world_size)
        self.recorder.attach()

    def _batch_start(self, batch: Any) -> None:
        if self.recorder is not None and self.recorder.attached and isinstance(batch, Mapping):
            self.recorder.watch({k: batch[k] for k in _IMAGE_KEYS if k in batch})

    def _batch_end(self, trainer: Trainer, batch: Any) -> None:
        if self.recorder is None or not self.recorder.attached:
            return
        records = self.recorder.take()
        if isinstance(batch, Mapping) and records:
            self._consume(trainer, records, batch)

    def _end(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        if self.recorder is None or not self.recorder.attached:
            return
        try:
            results = self._analyse(trainer, pl_module, stage)
        finally:
            self.recorder.detach()
            self._reset(trainer.world_size)
        self._publish(trainer, pl_module, stage, results)

    def on_validation_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Register the hooks if this validation is analysed."""
        self._start(trainer)

    def on_test_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Register the hooks."""
        self._start(trainer)

    def on_validation_batch_start(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        """Watch the batch's image tensors."""
        self._batch_start(batch)

    def on_test_batch_start(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        """Watch the batch's image tensors."""
        self._batch_start(batch)

    def on_validation_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        """Store what the hooks recorded."""
        self._batch_end(trainer, batch)

    def on_test_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        """Store what the hooks recorded."""
        self._batch_end(trainer, batch)

    def on_validation_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Analyse, log and write."""
        self._end(trainer, pl_module, "val")

    def on_test_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Analyse, log and write."""
        self._end(trainer, pl_module, "test")

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

    # -- analysis ------------------------------------------------------------------------------
    def _analyse(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> dict[str, Any]:
        layers = self._layer_names()
        world = trainer.world_size
        results: dict[str, Any] = {
            "epoch": trainer.current_epoch,
            "global_step": trainer.global_step,
            # validate/test of a checkpoint restore its weights, not its step counters.
            "checkpoint": trainer.ckpt_path,
            "layers": dict(self.recorder.layers) if self.recorder is not None else {},
        }
        self._attribute_names = _attribute_names(getattr(trainer, "datamodule", None))
        self._figures = {}
        devices = [pl_module.device] if pl_module.device.type == "cuda" else []
        # The analysis draws nothing from the global generators (the run after it must not
        # change), and its forward passes need no gradient.
        with torch.random.fork_rng(devices=devices), torch.no_grad():
            pairs = _dedupe(_gather(pl_module, world, self._pairs.cat()))
            singles = _dedupe(_gather(pl_module, world, self._singles.cat()))
            wants_labels = {"selectivity", "probes"} & set(self.analyses)
            source = "evaluation batches"
            if wants_labels and self._labelled.count == 0:
                source = self._labelled_pass(trainer, pl_module, stage)
            labelled = _dedupe(_gather(pl_module, world, self._labelled.cat()))
            levels = robustness_levels(self.occlusion_fractions, self.block_fractions)
            robust = (
                _dedupe(
                    _gather(pl_module, world, self._robustness_scores(trainer, pl_module, levels))
                )
                if "robustness" in self.analyses
                else {}
            )
            report = self._report()
            if "sparsity" in self.analyses:
                results["sparsity"] = report.sparsity(layers, pairs, singles, labelled)
            if "binary_codes" in self.analyses and pairs:
                results["binary_codes"] = report.binary_codes(layers, pairs)
            if labelled and wants_labels:
                names = self._attribute_names or default_attribute_names(labelled)
                results["labelled_images"] = {
                    "source": source,
                    "images": int(labelled["index"].shape[0]),
                }
                if "selectivity" in self.analyses:
                    results["selectivity"] = report.selectivity(layers, labelled, names)
                if "probes" in self.analyses and "attributes" in labelled:
                    results["probes"] = report.probes(layers, labelled, names)
            if robust:
                results["robustness"] = report.robustness(layers, robust, levels)
            self._figures = report.figures
        skipped = [
            name
            for name, ran in (
                ("binary_codes", "binary_codes" in results),
                ("selectivity", "selectivity" in results),
                ("probes", "probes" in results),
                ("robustness", "robustness" in results),
            )
            if name in self.analyses and not ran
        ]
        if skipped:
            rank_zero_info(
                f"NeuronProperties ({stage}): no data for {skipped} (binary codes and robustness "
                "need evaluation pairs with both classes; selectivity and probes need labelled "
                "images: labelled evaluation batches or a data module implementing "
                "LabelledImagesData; probes need attributes)"
            )
        return results

    def _report(self) -> NeuronReport:
        return NeuronReport(
            self._widths,
            active_threshold=self.active_threshold,
            scoring=self.scoring,
            max_identities=self.max_identities,
            cross_validate=self.cross_validate,
            selective_accuracy=self.selective_accuracy,
            identity_related=self.identity_related,
            consistency_threshold=self.consistency_threshold,
            occlusion_fractions=self.occlusion_fractions,
            block_fractions=self.block_fractions,
            occlusion_fill=self.occlusion_fill,
            top_images=self.top_images,
            pictures=self.pictures,
        )

    # -- output --------------------------------------------------------------------------------
    def _publish(
        self, trainer: Trainer, pl_module: LightningModule, stage: str, results: dict[str, Any]
    ) -> None:
        results = json_safe(results)
        self.results[stage] = results
        for key, value in scalars(stage, results).items():
            if math.isfinite(value):
                # Every process computed the same value: "max" returns it exactly.
                pl_module.log(key, value, sync_dist=True, reduce_fx="max")
        log_dir = trainer.log_dir or trainer.default_root_dir
        figures, self._figures = self._figures, {}
        if not trainer.is_global_zero:
            return
        directory = Path(log_dir)
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / self.filename
        previous: dict[str, Any] = {}
        if path.is_file():
            try:
                previous = json.loads(path.read_text())
            except (OSError, ValueError):
                previous = {}
        previous[stage] = results
        path.write_text(json.dumps(previous, indent=1, allow_nan=False) + "\n")
        for name, figure in figures.items():
            log_figure(trainer, f"neurons/{stage}/{name}", figure, directory=directory)


# -- helpers -----------------------------------------------------------------------------------
class _Indexed(Dataset[dict[str, Any]]):
    """A dataset whose samples also carry their position as ``index``."""

    def __init__(self, dataset: Dataset[Any]) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {**self.dataset[index], "index": torch.tensor(index, dtype=torch.int64)}


def _last_fit_epoch(trainer: Trainer) -> bool:
    # fast_dev_run sets max_epochs and max_steps to 1.
    max_epochs = trainer.max_epochs
    if max_epochs is not None and max_epochs >= 0 and trainer.current_epoch + 1 >= max_epochs:
        return True
    max_steps = trainer.max_steps
    return max_steps is not None and max_steps >= 0 and trainer.global_step >= max_steps


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
