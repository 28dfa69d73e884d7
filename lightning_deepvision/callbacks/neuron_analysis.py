"""The end-of-evaluation analysis of the neuron properties and its output (DeepID2+).

Sun, Wang and Tang, "Deeply learned face representations are sparse, selective, and robust",
CVPR 2015. The analysing half of
:class:`~lightning_deepvision.callbacks.NeuronProperties`: gather what was collected, run the
analyses of :class:`~lightning_deepvision.analysis.report.NeuronReport`, log the scalars, write
the JSON file and log the pictures.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.utilities import rank_zero_info

from lightning_deepvision.analysis.report import (
    NeuronReport,
    default_attribute_names,
    json_safe,
    robustness_levels,
    scalars,
)
from lightning_deepvision.callbacks.neuron_collection import _NeuronCollection
from lightning_deepvision.callbacks.neuron_rows import _attribute_names, _dedupe, _gather
from lightning_deepvision.callbacks.pictures import log_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure


class _NeuronAnalysis(_NeuronCollection):
    """The analysing steps of :class:`~lightning_deepvision.callbacks.NeuronProperties`.

    The options named below are set by that callback's constructor.
    """

    max_identities: int
    cross_validate: bool
    selective_accuracy: float
    identity_related: list[str] | None
    consistency_threshold: float
    occlusion_fractions: list[float]
    block_fractions: list[float]
    top_images: int
    pictures: bool
    filename: str
    results: dict[str, dict[str, Any]]
    _figures: dict[str, Figure]

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
