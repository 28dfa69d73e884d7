"""From collected activations to the results of the DeepID2+ neuron analyses.

:class:`NeuronReport` turns what an evaluation collected (per-pair scores and binary codes,
labelled activations, pair scores under occlusion) into the JSON-ready sections that
:class:`~lightning_deepvision.callbacks.NeuronProperties` logs and writes, and draws their
pictures. It needs no Lightning, so a whole analysis can be run and tested on plain tensors.

The inputs are dicts of equally long columns, one row per pair or image (``<layer>`` is a
layer's display name):

- pairs: ``index``, ``same``, ``fold``, ``score/<layer>`` (real-valued pair score),
  ``code1/<layer>`` and ``code2/<layer>`` (packed binary codes, see
  :func:`~lightning_deepvision.analysis.pack_codes`);
- single images: ``index``, ``code/<layer>``;
- labelled images: ``index``, ``thumbnail`` (``uint8`` images), ``act/<layer>``
  (activations), and ``identity`` and/or ``attributes``;
- occluded pairs: ``index``, ``same``, ``fold``, ``robust/<layer>`` (``[pairs, levels]``
  scores at the levels of :func:`robustness_levels`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import torch
from torch import Tensor

from lightning_deepvision.analysis.codes import SparsityStats, hamming_distance
from lightning_deepvision.analysis.folds import identity_folds, within_identity_folds
from lightning_deepvision.analysis.probes import identity_consistency, linear_probe_accuracy
from lightning_deepvision.analysis.selectivity import (
    Selectivity,
    mean_responses,
    single_neuron_selectivity,
)
from lightning_deepvision.metrics import kfold_verification_accuracy

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "NeuronReport",
    "default_attribute_names",
    "json_safe",
    "robustness_levels",
    "scalars",
]


def robustness_levels(
    occlusion_fractions: Sequence[float], block_fractions: Sequence[float]
) -> list[tuple[str, float]]:
    """The occlusion levels of the robustness test: none, then the areas, then the blocks.

    Returns:
        ``[("clean", 0.0), ("area", f), ..., ("blocks", f), ...]``.
    """
    return (
        [("clean", 0.0)]
        + [("area", float(f)) for f in occlusion_fractions]
        + [("blocks", float(f)) for f in block_fractions]
    )


class NeuronReport:
    """The analyses of DeepID2+ §5-7 over collected columns, and their pictures.

    Args:
        widths: Number of neurons of each layer (packed codes do not tell it).
        active_threshold: A neuron is active above this.
        scoring: The real-valued pair score (``"cosine"`` or ``"l2"``), for the records.
        max_identities: Identities whose selectivity is measured (most images first).
        cross_validate: Cross-validate single-neuron accuracies within identities.
        selective_accuracy: Accuracy from which a neuron counts as selective.
        identity_related: Names of the identity-related attributes; ``None`` infers them from
            :func:`~lightning_deepvision.analysis.identity_consistency`.
        consistency_threshold: Consistency from which an attribute is identity-related.
        occlusion_fractions: Levels of the face-area occlusion.
        block_fractions: Levels of the block occlusion.
        occlusion_fill: Value of the occluded pixels, for the records.
        top_images: Top-activating images shown per neuron.
        pictures: Draw the pictures (into :attr:`figures`).

    Attributes:
        figures: Name → figure drawn by the last calls.
    """

    def __init__(
        self,
        widths: Mapping[str, int],
        *,
        active_threshold: float = 0.0,
        scoring: Literal["cosine", "l2"] = "cosine",
        max_identities: int = 64,
        cross_validate: bool = True,
        selective_accuracy: float = 0.75,
        identity_related: Sequence[str] | None = None,
        consistency_threshold: float = 0.9,
        occlusion_fractions: Sequence[float] = (),
        block_fractions: Sequence[float] = (),
        occlusion_fill: float = 0.0,
        top_images: int = 8,
        pictures: bool = True,
    ) -> None:
        self.widths = dict(widths)
        self.active_threshold = active_threshold
        self.scoring = scoring
        self.max_identities = max_identities
        self.cross_validate = cross_validate
        self.selective_accuracy = selective_accuracy
        self.identity_related = None if identity_related is None else list(identity_related)
        self.consistency_threshold = consistency_threshold
        self.occlusion_fractions = [float(f) for f in occlusion_fractions]
        self.block_fractions = [float(f) for f in block_fractions]
        self.occlusion_fill = occlusion_fill
        self.top_images = top_images
        self.pictures = pictures
        self.figures: dict[str, Figure] = {}

    def sparsity(
        self,
        layers: list[str],
        pairs: Mapping[str, Tensor],
        singles: Mapping[str, Tensor],
        labelled: Mapping[str, Tensor],
    ) -> dict[str, Any]:
        """Sparsity of every layer (DeepID2+ §5), and the ``sparsity`` picture.

        Counts the codes of the evaluation images (pairs and single images); without any,
        the labelled images' activations.
        """
        out: dict[str, Any] = {}
        histograms, fractions = {}, {}
        for layer in layers:
            parts = [pairs.get(f"code1/{layer}"), pairs.get(f"code2/{layer}")]
            parts.append(singles.get(f"code/{layer}"))
            codes = [p for p in parts if p is not None]
            activations = labelled.get(f"act/{layer}")
            if codes:
                stats = SparsityStats(self.widths[layer])
                for packed in codes:
                    stats.update_packed(packed)
                source = "evaluation images"
            elif activations is not None:
                stats = SparsityStats(activations.shape[1])
                stats.update(activations > self.active_threshold)
                source = "labelled images"
            else:
                continue
            out[layer] = {"source": source, **stats.summary()}
            histograms[layer] = stats.active_histogram
            fractions[layer] = stats.active_fraction_per_neuron
        if self.pictures and histograms:
            from lightning_deepvision.analysis.figures import sparsity_figure

            self.figures["sparsity"] = sparsity_figure(histograms, fractions)
        return out

    def binary_codes(self, layers: list[str], pairs: Mapping[str, Tensor]) -> dict[str, Any]:
        """LFW-protocol accuracy of each layer's real values and of its codes by Hamming distance.

        DeepID2+ Table 4. Empty of layers when the pairs lack matched or mismatched ones.
        """
        same, folds = pairs["same"], pairs["fold"]
        out: dict[str, Any] = {"pairs": int(same.shape[0]), "scoring": self.scoring}
        if same.min() == same.max():
            return out  # verification needs matched and mismatched pairs
        for layer in layers:
            if f"score/{layer}" not in pairs:
                continue
            distance = hamming_distance(pairs[f"code1/{layer}"], pairs[f"code2/{layer}"])
            real, _ = kfold_verification_accuracy(pairs[f"score/{layer}"], same, folds)
            binary, _ = kfold_verification_accuracy(
                -distance.double() / self.widths[layer], same, folds
            )
            out[layer] = {
                "real_accuracy": float(real.mean()),
                "real_accuracy_std": float(real.std(unbiased=False)),
                "hamming_accuracy": float(binary.mean()),
                "hamming_accuracy_std": float(binary.std(unbiased=False)),
            }
        return out

    def _targets(
        self, labelled: Mapping[str, Tensor], names: list[str]
    ) -> tuple[Tensor, list[str], int]:
        """Label columns: the attributes, then one-vs-rest for the best-covered identities."""
        columns, labels = [], []
        attributes = labelled.get("attributes")
        if attributes is not None:
            columns.append(attributes.bool())
            labels += names
        identity = labelled.get("identity")
        chosen = 0
        if identity is not None:
            values, counts = torch.unique(identity, return_counts=True)
            # Most images first, then the smaller id; one image cannot be cross-validated.
            order = sorted(range(values.numel()), key=lambda i: (-int(counts[i]), int(values[i])))
            keep = [i for i in order if int(counts[i]) >= 2][: self.max_identities]
            if keep:
                ids = values[keep]
                columns.append(identity.unsqueeze(1) == ids.unsqueeze(0))
                labels += [f"identity {int(v)}" for v in ids]
                chosen = len(keep)
        targets = torch.cat(columns, dim=1) if columns else torch.zeros(0, 0, dtype=torch.bool)
        return targets, labels, chosen

    def selectivity(
        self, layers: list[str], labelled: Mapping[str, Tensor], names: list[str]
    ) -> dict[str, Any]:
        """Single-neuron selectivity for every attribute and the best-covered identities (§6).

        Per layer and label: the five best neurons, the best excitatory and inhibitory ones,
        the numbers of selective excitatory and inhibitory neurons, and the neurons ranked by
        mean response; per layer, the mean best accuracy. Draws ``selectivity``,
        ``attribute_histograms`` and ``top_images``.
        """
        targets, labels, identities = self._targets(labelled, names)
        attributes = len(labels) - identities
        out: dict[str, Any] = {
            "images": int(targets.shape[0]),
            "identities": identities,
            "cross_validated": self.cross_validate,
            "selective_accuracy": self.selective_accuracy,
            "attributes": {},
            "per_identity": {},
            "summary": {},
        }
        if targets.numel() == 0:
            return out
        identity = labelled.get("identity")
        folds = None
        if self.cross_validate:
            folds = (
                within_identity_folds(identity)
                if identity is not None
                else torch.arange(targets.shape[0]) % 2
            )
        per_layer: dict[str, Selectivity] = {}
        for layer in layers:
            activations = labelled.get(f"act/{layer}")
            if activations is None:
                continue
            selectivity = single_neuron_selectivity(activations, targets, folds)
            per_layer[layer] = selectivity
            positive_mean, _ = mean_responses(activations, targets)
            summary: dict[str, float] = {}
            if attributes:
                per_attribute = {}
                for i, name in enumerate(labels[:attributes]):
                    per_attribute[name] = self._label_entry(selectivity, positive_mean, i)
                out["attributes"][layer] = per_attribute
                best = selectivity.accuracy[:attributes].nan_to_num(0.0).max(dim=1).values
                summary["attribute_mean_best"] = float(best.mean())
            if identities:
                rows = selectivity.accuracy[attributes:].nan_to_num(0.0)
                best_per_identity = rows.max(dim=1)
                summary["identity_mean_best"] = float(best_per_identity.values.mean())
                summary["identity_max_best"] = float(best_per_identity.values.max())
                out["per_identity"][layer] = {
                    label: self._label_entry(selectivity, positive_mean, attributes + j)
                    for j, label in enumerate(labels[attributes:])
                }
            out["summary"][layer] = summary
        if self.pictures and per_layer and attributes:
            self._selectivity_figures(per_layer, labelled, labels[:attributes], targets)
        return out

    def _label_entry(
        self, selectivity: Selectivity, positive_mean: Tensor, label: int
    ) -> dict[str, Any]:
        accuracy = selectivity.accuracy[label]
        excitatory = selectivity.excitatory[label]
        selective = accuracy.nan_to_num(0.0) >= self.selective_accuracy
        ranked = torch.argsort(positive_mean[label].nan_to_num(-math.inf), descending=True)
        entry: dict[str, Any] = {
            "best": [
                {"neuron": n, "accuracy": a, "excitatory": e}
                for n, a, e in selectivity.best(label, 5)
            ],
            "excitatory_neurons": int((selective & excitatory).sum()),
            "inhibitory_neurons": int((selective & ~excitatory).sum()),
            "ranked_by_response": [int(i) for i in ranked[:10]],
        }
        for kind, mask in (("best_excitatory", excitatory), ("best_inhibitory", ~excitatory)):
            if mask.any():
                masked = torch.where(mask, accuracy.nan_to_num(-1.0), -2.0)
                neuron = int(masked.argmax())
                entry[kind] = {"neuron": neuron, "accuracy": float(accuracy[neuron])}
        return entry

    def _selectivity_figures(
        self,
        per_layer: Mapping[str, Selectivity],
        labelled: Mapping[str, Tensor],
        names: list[str],
        targets: Tensor,
    ) -> None:
        from lightning_deepvision.analysis.figures import (
            attribute_histograms_figure,
            selectivity_figure,
            top_images_figure,
        )

        count = len(names)
        self.figures["selectivity"] = selectivity_figure(
            {layer: s.accuracy[:count] for layer, s in per_layer.items()},
            {layer: s.excitatory[:count] for layer, s in per_layer.items()},
            names,
        )
        top = list(per_layer)[-1]
        selectivity, activations = per_layer[top], labelled[f"act/{top}"]
        best = [selectivity.best(i, 1)[0] for i in range(count)]
        neurons = [n for n, _, _ in best]
        self.figures["attribute_histograms"] = attribute_histograms_figure(
            top,
            names,
            activations[:, neurons],
            targets[:, :count],
            neurons,
            [a for _, a, _ in best],
            [e for _, _, e in best],
        )
        rows = []
        for i, name in enumerate(names):
            masked = torch.where(
                selectivity.excitatory[i], selectivity.accuracy[i].nan_to_num(-1.0), -2.0
            )
            neuron = int(masked.argmax())
            order = torch.argsort(activations[:, neuron], descending=True)[: self.top_images]
            title = f"{name}\n{top} #{neuron} ({float(selectivity.accuracy[i, neuron]):.2f})"
            rows.append((title, labelled["thumbnail"][order]))
        self.figures["top_images"] = top_images_figure(rows, self.top_images)

    def probes(
        self, layers: list[str], labelled: Mapping[str, Tensor], names: list[str]
    ) -> dict[str, Any]:
        """Linear-probe accuracy of every attribute from every layer, identity-related apart.

        Folds are identity-disjoint when identities are known. Draws ``probes``.
        """
        attributes = labelled["attributes"].bool()
        identity = labelled.get("identity")
        folds = (
            identity_folds(identity)
            if identity is not None
            else torch.arange(attributes.shape[0]) % 2
        )
        consistency = (
            identity_consistency(attributes, identity).tolist()
            if identity is not None
            else [math.nan] * len(names)
        )
        if self.identity_related is not None:
            unknown = sorted(set(self.identity_related) - set(names))
            if unknown:
                raise ValueError(f"identity_related names unknown attributes {unknown}: {names}")
            related = [name in self.identity_related for name in names]
        else:
            related = [c >= self.consistency_threshold for c in consistency]
        out: dict[str, Any] = {
            "identity_disjoint_folds": identity is not None,
            "identity_consistency": dict(zip(names, consistency, strict=True)),
            "identity_related": [n for n, r in zip(names, related, strict=True) if r],
            "identity_unrelated": [n for n, r in zip(names, related, strict=True) if not r],
        }
        accuracy_by_layer: dict[str, list[float]] = {}
        if torch.unique(folds).numel() < 2:
            return out
        for layer in layers:
            activations = labelled.get(f"act/{layer}")
            if activations is None:
                continue
            accuracy = linear_probe_accuracy(activations, attributes, folds)
            values = accuracy.tolist()
            accuracy_by_layer[layer] = values
            entry: dict[str, Any] = dict(zip(names, values, strict=True))
            for key, group in (("identity_related_mean", True), ("identity_unrelated_mean", False)):
                chosen = accuracy[torch.tensor(related) == group]
                entry[key] = float(chosen.nanmean()) if chosen.numel() else math.nan
            out[layer] = entry
        if self.pictures and accuracy_by_layer:
            from lightning_deepvision.analysis.figures import probes_figure

            self.figures["probes"] = probes_figure(accuracy_by_layer, names, related)
        return out

    def robustness(
        self, layers: list[str], robust: Mapping[str, Tensor], levels: list[tuple[str, float]]
    ) -> dict[str, Any]:
        """Verification accuracy of each layer at each occlusion level (DeepID2+ §7).

        Draws ``robustness``.
        """
        same, folds = robust["same"], robust["fold"]
        out: dict[str, Any] = {
            "pairs": int(same.shape[0]),
            "scoring": self.scoring,
            "fill": self.occlusion_fill,
        }
        if same.min() == same.max():
            return out
        kinds = {
            "area": [0.0, *self.occlusion_fractions],
            "blocks": [0.0, *self.block_fractions],
        }
        curves: dict[str, dict[str, list[float]]] = {kind: {} for kind in kinds}
        for layer in layers:
            scores = robust[f"robust/{layer}"]
            accuracy = [
                float(kfold_verification_accuracy(scores[:, i], same, folds)[0].mean())
                for i in range(len(levels))
            ]
            clean = accuracy[0]
            curves["area"][layer] = [clean] + [
                a for a, (kind, _) in zip(accuracy, levels, strict=True) if kind == "area"
            ]
            curves["blocks"][layer] = [clean] + [
                a for a, (kind, _) in zip(accuracy, levels, strict=True) if kind == "blocks"
            ]
        for kind, fractions in kinds.items():
            out[kind] = {"levels": fractions, **curves[kind]}
        if self.pictures:
            from lightning_deepvision.analysis.figures import robustness_figure

            self.figures["robustness"] = robustness_figure(curves, kinds)
        return out


def scalars(stage: str, results: Mapping[str, Any]) -> dict[str, float]:
    """The results worth a curve, as ``neurons/<stage>/<layer>/<name>``."""
    out: dict[str, float] = {}

    def put(layer: str, name: str, value: Any) -> None:
        if isinstance(value, (int, float)):
            out[f"neurons/{stage}/{layer}/{name}"] = float(value)

    for layer, entry in results.get("sparsity", {}).items():
        put(layer, "active_fraction_per_image", entry["active_fraction_per_image_mean"])
        put(layer, "active_fraction_per_image_std", entry["active_fraction_per_image_std"])
        put(layer, "image_fraction_per_neuron", entry["image_fraction_per_neuron_mean"])
        put(layer, "image_fraction_per_neuron_std", entry["image_fraction_per_neuron_std"])
    for layer, entry in results.get("binary_codes", {}).items():
        if isinstance(entry, Mapping):
            put(layer, "real_accuracy", entry["real_accuracy"])
            put(layer, "hamming_accuracy", entry["hamming_accuracy"])
    for layer, entry in results.get("selectivity", {}).get("summary", {}).items():
        put(layer, "attribute_selectivity", entry.get("attribute_mean_best"))
        put(layer, "identity_selectivity", entry.get("identity_mean_best"))
    probes = results.get("probes", {})
    for layer in results.get("layers", {}):
        if isinstance(probes.get(layer), Mapping):
            put(layer, "probe_identity_related", probes[layer]["identity_related_mean"])
            put(layer, "probe_identity_unrelated", probes[layer]["identity_unrelated_mean"])
    robustness = results.get("robustness", {})
    for kind, prefix in (("area", "occlusion"), ("blocks", "block")):
        curves = robustness.get(kind, {})
        for layer, accuracy in curves.items():
            if layer == "levels":
                continue
            for level, value in zip(curves["levels"], accuracy, strict=True):
                put(layer, f"{prefix}_{round(100 * level)}", value)
    return out


def json_safe(value: Any) -> Any:
    """Plain JSON: NaN and infinities become ``null``; tuples become lists."""
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def default_attribute_names(labelled: Mapping[str, Tensor]) -> list[str]:
    """``attribute_0``, ``attribute_1``, ...: names for attributes that came unnamed."""
    attributes = labelled.get("attributes")
    width = 0 if attributes is None else attributes.shape[1]
    return [f"attribute_{i}" for i in range(width)]
