"""Per-pixel face parsing: an image in, its label map out (HELEN, LFW Part Labels, synthetic)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal, cast

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from lightning_deepvision.datasets.face_parts import hflip_permutation
from lightning_deepvision.metrics.parsing import ParsingScores, parsing_scores
from lightning_deepvision.models.parsing import LabelMapAutoencoder
from lightning_deepvision.models.registry import model_accepts
from lightning_deepvision.tasks.base import BaseTask, OptimizerName, SchedulerName
from lightning_deepvision.transforms.parsing import ORIGINAL_MASK_KEY

__all__ = ["ParsingTask"]

_PASSED_THROUGH = ("index", "path")
_STAGES = ("train", "val", "test")


class ParsingTask(BaseTask):
    """Label every pixel of a face: per-pixel cross-entropy, mIoU and HELEN's F-measures.

    Face parsing as a cross-modality data transformation (Luo, Wang, Tang, "Hierarchical Face
    Parsing via Deep Learning", CVPR 2012): the backbone maps the image to per-pixel features
    (:class:`~lightning_deepvision.models.parsing.CrossModalityParsingNet` by default, or any
    timm model through :class:`~lightning_deepvision.models.timm_parsing.TimmParsingNet`), a
    1×1 classifier owned by the task turns them into label logits, upsampled to the label
    map's size, and training minimises the per-pixel cross-entropy (optionally class-weighted).

    **Shape prior** (``shape_prior=True``): a
    :class:`~lightning_deepvision.models.parsing.LabelMapAutoencoder` (the label modality's
    pathway) learns to reconstruct the true label maps, and to map the network's own predicted
    probabilities onto true maps; with a backbone that exposes its shared code (``encode``),
    the image code is also pulled towards the label code of the true map (``code_weight``), so
    both modalities share one representation. Evaluation and prediction mix the network's
    log-probabilities with the prior's reconstruction of them (``prior_mix``).

    **Auto-encoder pre-training** (``image_pretrain_epochs``): the first epochs of ``fit``
    train the image pathway to reconstruct its input (a 1×1 reconstruction layer on the
    features, mean squared error) before the parsing loss takes over, as the paper pre-trains
    its deep autoencoders without labels.

    **Mirror test view** (``flip_test``): evaluation and prediction average the per-pixel
    probabilities of the image and of its mirror, whose map is mirrored back with the left and
    right classes swapped (:func:`~lightning_deepvision.datasets.face_parts.hflip_permutation`
    of the class names), as the DeepID nets use a face and its flip as two test views (Sun,
    Wang, Tang, CVPR 2014). Mirrored training faces make a network mirror-symmetric only on
    average, not filter by filter: a few epochs in, it may have learned one side's thin parts
    (a brow one or two pixels high) and not yet the other's. The average labels both sides
    alike, exactly: the map of a mirrored face is the mirrored map, left and right swapped.

    **Metrics** (per stage, over the whole epoch): ``{stage}/miou``, ``pixel_accuracy``,
    ``iou_<class>`` and ``f1_<class>`` under the class names, ``f1_overall`` (HELEN's
    F-measure over brows, eyes, nose and mouth = lips + inner mouth; see
    :mod:`lightning_deepvision.metrics.parsing`), and two baselines' mIoU:
    ``miou_background_baseline`` (every pixel background) and, after training in the same run,
    ``miou_majority_baseline`` (each pixel its most frequent training label). The training
    scores and the label histogram of the majority baseline are taken from every
    :attr:`stats_every_n_steps`-th training batch.

    Args:
        backbone: Registry name (``"cross_modality_parsing"``, ``"timm_parsing"``, their
            ``_tiny`` variants) or an ``nn.Module`` with ``num_features`` that returns per-pixel
            features ``(B, num_features, h, w)``.
        num_classes: Labels; ``None`` reads ``num_classes`` of the data module.
        class_names: Label names (metric keys); ``None`` reads ``class_names`` of the data
            module, else ``class_<k>``.
        in_chans: Input channels, for registry builders that take them.
        class_weights: Weight of each class in the cross-entropy (``None``: equal).
        components: Component groups of ``f1_overall`` (``None``: HELEN's).
        shape_prior: Train and apply the label-map autoencoder shape prior.
        shape_prior_weight: Weight of the prior's reconstruction losses.
        code_weight: Weight of the image-code → label-code loss (backbones with ``encode``).
        prior_mix: Share of the prior's log-probabilities in the evaluated prediction.
        image_pretrain_epochs: Epochs of image auto-encoder pre-training at the start of fit.
        flip_test: Average each evaluated and predicted map with its mirror's (one more forward).
        report_baselines: Log the two baselines' mIoU.
        optimizer: As in :class:`~lightning_deepvision.tasks.BaseTask` (Adam by default).
        lr: Learning rate.
        weight_decay: Weight decay.
        lr_schedule: Learning-rate schedule (cosine by default).
        **kwargs: The other options of :class:`~lightning_deepvision.tasks.BaseTask`.
    """

    monitor: ClassVar[str] = "val/miou"
    #: Training batches between two updates of the training scores and label histogram.
    stats_every_n_steps: ClassVar[int] = 8
    mode: ClassVar[Literal["min", "max"]] = "max"
    data_hparams: ClassVar[dict[str, str]] = {"num_classes": "num_classes"}
    head: nn.Module
    shape_prior_net: LabelMapAutoencoder | None
    reconstruction: nn.Module | None

    def __init__(
        self,
        backbone: str | nn.Module = "cross_modality_parsing",
        num_classes: int | None = None,
        class_names: list[str] | None = None,
        in_chans: int = 3,
        class_weights: list[float] | None = None,
        components: dict[str, list[str]] | None = None,
        shape_prior: bool = False,
        shape_prior_weight: float = 0.5,
        code_weight: float = 0.1,
        prior_mix: float = 0.5,
        image_pretrain_epochs: int = 0,
        flip_test: bool = False,
        report_baselines: bool = True,
        optimizer: OptimizerName = "adam",
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        lr_schedule: SchedulerName = "cosine",
        **kwargs: Any,
    ) -> None:
        if not 0.0 <= prior_mix <= 1.0:
            raise ValueError(f"prior_mix must be in [0, 1], got {prior_mix}")
        if image_pretrain_epochs < 0:
            raise ValueError(f"image_pretrain_epochs must be >= 0, got {image_pretrain_epochs}")
        super().__init__(
            backbone=backbone,
            optimizer=optimizer,
            lr=lr,
            weight_decay=weight_decay,
            lr_schedule=lr_schedule,
            **kwargs,
        )
        # Per-pixel training-label histogram of this run, for the majority baseline (not saved).
        self._label_counts: Tensor | None = None
        self._majority: Tensor | None = None

    # -- construction --------------------------------------------------------------------------
    def build_backbone(self, name: str, **kwargs: Any) -> nn.Module:
        """A registry network without classifier (the task owns it), for ``in_chans``."""
        if model_accepts(name, "num_classes"):
            kwargs.setdefault("num_classes", 0)
        if model_accepts(name, "in_chans"):
            kwargs.setdefault("in_chans", self.hp.in_chans)
        return super().build_backbone(name, **kwargs)

    @property
    def num_features(self) -> int:
        """Channels of the backbone's per-pixel features."""
        width = getattr(self.backbone, "num_features", None)
        if not isinstance(width, int) or width < 1:
            raise ValueError(
                f"the backbone {type(self.backbone).__name__} needs a num_features attribute "
                "(channels of its per-pixel features)"
            )
        return width

    def configure_models(self) -> None:
        """The reconstruction layer of the image auto-encoder pre-training, when asked for."""
        self.reconstruction = None
        if self.hp.image_pretrain_epochs:
            self.reconstruction = nn.Conv2d(self.num_features, int(self.hp.in_chans), 1)
        self.shape_prior_net = None

    def configure_heads(self) -> None:
        """Classifier, class weights, shape prior and the per-stage scores, sized by classes."""
        k = int(self.hp.num_classes)
        self.head = nn.Conv2d(self.num_features, k, 1)
        weights = self.hp.class_weights
        if weights is not None and len(weights) != k:
            raise ValueError(f"class_weights has {len(weights)} entries for {k} classes")
        self.register_buffer(
            "class_weight",
            None if weights is None else torch.tensor([float(w) for w in weights]),
            persistent=False,
        )
        if self.hp.shape_prior:
            # Codes of the same shape as the image pathway's, so that they can be tied.
            widths = getattr(self.backbone, "widths", (16, 32, 64))
            code = getattr(self.backbone, "code_channels", widths[-1])
            self.shape_prior_net = LabelMapAutoencoder(k, widths, code)
        self.build_scores()

    def build_scores(self) -> None:
        """The per-stage :class:`ParsingScores` (and the baseline's) under the class names."""
        names = self.class_names
        if self.hp.get("flip_test"):
            hflip_permutation(names)  # a left_/right_ class without its twin: say so now
        components = self.hp.components
        for stage in _STAGES:
            setattr(self, f"{stage}_scores", ParsingScores(names, components))
        for stage in ("val", "test"):
            setattr(self, f"{stage}_majority_scores", ParsingScores(names, components))

    @property
    def class_names(self) -> list[str]:
        """The label names (given, from the data module, or ``class_<k>``)."""
        names = self.hp.get("class_names")
        k = int(self.hp.num_classes)
        if names is None:
            return [f"class_{i}" for i in range(k)]
        if len(names) != k:
            raise ValueError(f"{len(names)} class_names for {k} classes: {list(names)}")
        return [str(n) for n in names]

    def setup(self, stage: str) -> None:
        """Take ``class_names`` from the data module when not given, then the base's setup."""
        datamodule = getattr(self._trainer, "datamodule", None) if self._trainer else None
        names = getattr(datamodule, "class_names", None)
        if self.hp.get("class_names") is None and names is not None:
            self.hparams["class_names"] = [str(n) for n in names]
            if self.heads_configured:
                self.build_scores()
        super().setup(stage)

    # -- forward -------------------------------------------------------------------------------
    def forward(self, images: Tensor, size: Sequence[int] | None = None) -> Tensor:
        """Label logits ``(B, K, *size)`` (``size``: the input's by default)."""
        features = cast(Tensor, self.backbone(self.prepare_images(images)))
        return self._logits(features, images.shape[-2:] if size is None else size)

    def _logits(self, features: Tensor, size: Sequence[int]) -> Tensor:
        logits = cast(Tensor, self.head(features))
        if tuple(logits.shape[-2:]) != tuple(size):
            logits = F.interpolate(logits, size=tuple(size), mode="bilinear", align_corners=False)
        return logits

    def log_probabilities(self, images: Tensor, size: Sequence[int] | None = None) -> Tensor:
        """Per-pixel log-probabilities (shape prior mixed in), averaged with the mirror's.

        With ``flip_test`` the result is the log of the mean probability of the image's map and
        of its mirror's map mirrored back with the left/right classes swapped.
        """
        log_probs = self._single_view_log_probabilities(images, size)
        if not self.hp.get("flip_test"):
            return log_probs
        mirrored = self._single_view_log_probabilities(images.flip(-1), size).flip(-1)
        # Channel c of the mirror's map is class c of the mirror image, class perm[c] here.
        table = torch.tensor(hflip_permutation(self.class_names), device=mirrored.device)
        return torch.logaddexp(log_probs, mirrored[:, table]) - math.log(2.0)

    def _single_view_log_probabilities(
        self, images: Tensor, size: Sequence[int] | None = None
    ) -> Tensor:
        log_probs = self(images, size).log_softmax(dim=1)
        if self.shape_prior_net is None or not self.hp.prior_mix:
            return log_probs
        prior = self.shape_prior_net(log_probs.exp()).log_softmax(dim=1)
        mix = float(self.hp.prior_mix)
        return (1.0 - mix) * log_probs + mix * prior

    def predict_masks(self, images: Tensor, size: Sequence[int] | None = None) -> Tensor:
        """Label maps ``(B, *size)``, int64."""
        return self.log_probabilities(images, size).argmax(dim=1)

    # -- training ------------------------------------------------------------------------------
    def _pretraining(self) -> bool:
        return (
            self.reconstruction is not None and self.current_epoch < self.hp.image_pretrain_epochs
        )

    def training_step(self, batch: Mapping[str, Tensor], batch_idx: int) -> Tensor:
        """Cross-entropy (plus the shape-prior terms), or reconstruction while pre-training."""
        images, masks = batch["image"], batch["mask"]
        batch_size = images.shape[0]
        if self._pretraining():
            assert self.reconstruction is not None
            features = cast(Tensor, self.backbone(self.prepare_images(images)))
            restored = self.reconstruction(features)
            if restored.shape[-2:] != images.shape[-2:]:
                restored = F.interpolate(restored, size=images.shape[-2:], mode="bilinear")
            loss = F.mse_loss(restored, images)
            self.log("train/reconstruction_loss", loss, prog_bar=True, batch_size=batch_size)
            return loss
        size = masks.shape[-2:]
        encode = getattr(self.backbone, "encode", None)
        tie_codes = self.shape_prior_net is not None and callable(encode) and self.hp.code_weight
        if tie_codes:
            pyramid = cast(list[Tensor], encode(self.prepare_images(images)))  # type: ignore[misc]
            logits = self._logits(self.backbone.decode(pyramid), size)  # type: ignore[operator]
        else:
            logits = self(images, size)
        weight = cast("Tensor | None", self.class_weight)
        loss = F.cross_entropy(logits, masks, weight=weight)
        self.log("train/cross_entropy", loss, batch_size=batch_size)
        if self.shape_prior_net is not None:
            loss = loss + self._prior_loss(logits, masks, pyramid[-1] if tie_codes else None)
        self.log("train/loss", loss, prog_bar=True, batch_size=batch_size)
        # A sample of the batches is plenty for the training scores and the label histogram,
        # and each costs a few percent of a small network's step.
        if batch_idx % self.stats_every_n_steps == 0:
            cast(ParsingScores, self.train_scores).update(logits.detach().argmax(dim=1), masks)
            if self.hp.report_baselines:
                self._count_labels(masks)
        return loss

    def _prior_loss(self, logits: Tensor, masks: Tensor, code: Tensor | None) -> Tensor:
        prior = self.shape_prior_net
        assert prior is not None
        k = int(self.hp.num_classes)
        one_hot = F.one_hot(masks, k).permute(0, 3, 1, 2).to(logits.dtype)
        label_code = prior.encode(one_hot)
        reconstruction = F.cross_entropy(prior.decode(label_code, masks.shape[-2:]), masks)
        # The prior also learns to turn the network's imperfect maps into true ones.
        refined = F.cross_entropy(prior(logits.detach().softmax(dim=1)), masks)
        loss = float(self.hp.shape_prior_weight) * (reconstruction + refined)
        self.log("train/shape_prior_loss", reconstruction + refined, batch_size=masks.shape[0])
        if code is not None and code.shape == label_code.shape:
            tie = F.mse_loss(code, label_code.detach())
            self.log("train/code_loss", tie, batch_size=masks.shape[0])
            loss = loss + float(self.hp.code_weight) * tie
        return loss

    def _count_labels(self, masks: Tensor) -> None:
        """Accumulate each pixel's training-label histogram (for the majority baseline)."""
        k = int(self.hp.num_classes)
        if self._label_counts is not None and self._label_counts.shape[1:] != masks.shape[-2:]:
            self._label_counts = None  # the training size changed: start again
        if self._label_counts is None:
            self._label_counts = masks.new_zeros((k, *masks.shape[-2:]), dtype=torch.int64)
        labels = masks.reshape(masks.shape[0], -1).clamp(0, k - 1)
        # counts[label of pixel j in image i, j] += 1, for every i (4x faster than bincount).
        self._label_counts.view(k, -1).scatter_add_(
            0, labels, torch.ones_like(labels, dtype=torch.int64)
        )

    def on_train_epoch_end(self) -> None:
        """Log the epoch's training scores."""
        self._log_scores("train")

    # -- evaluation ----------------------------------------------------------------------------
    def _on_eval_start(self) -> None:
        self._majority = None
        if self._label_counts is not None:
            counts = self.trainer.strategy.reduce(self._label_counts, reduce_op="sum")
            self._majority = cast(Tensor, counts).argmax(dim=0)

    def on_validation_epoch_start(self) -> None:
        """Fix the majority baseline from the training labels counted so far."""
        self._on_eval_start()

    def on_test_epoch_start(self) -> None:
        """Fix the majority baseline from the training labels counted in this run."""
        self._on_eval_start()

    def _evaluate(self, stage: str, batch: Mapping[str, Any]) -> dict[str, Tensor]:
        images, masks = batch["image"], batch["mask"]
        log_probs = self.log_probabilities(images, masks.shape[-2:])
        loss = F.nll_loss(log_probs, masks)
        self.log_mean(f"{stage}/loss", loss, images.shape[0])
        predictions = log_probs.argmax(dim=1)
        scores = cast(ParsingScores, getattr(self, f"{stage}_scores"))
        majority = cast(ParsingScores, getattr(self, f"{stage}_majority_scores"))
        originals = batch.get(ORIGINAL_MASK_KEY)
        if originals is not None:
            self._score_at_original_size(log_probs, cast(list[Tensor], originals), scores, majority)
            return {"prediction": predictions, "mask": masks}
        scores.update(predictions, masks)
        if self._majority is not None and self._majority.shape == masks.shape[-2:]:
            majority.update(self._majority.expand_as(masks), masks)
        return {"prediction": predictions, "mask": masks}

    def _score_at_original_size(
        self,
        log_probs: Tensor,
        originals: list[Tensor],
        scores: ParsingScores,
        majority: ParsingScores,
    ) -> None:
        """Score each map resized back to its image's own size (as HELEN papers report).

        The log-probabilities are resized bilinearly before the arg-max (finer borders than
        resizing the label map); the majority baseline's map is resized with nearest labels.
        """
        for k, original in enumerate(originals):
            truth = original.to(device=log_probs.device, dtype=torch.int64)[None]
            size = tuple(truth.shape[-2:])
            resized = F.interpolate(log_probs[k : k + 1], size=size, mode="bilinear")
            scores.update(resized.argmax(dim=1), truth)
            if self._majority is not None:
                baseline = F.interpolate(self._majority[None, None].float(), size=size)
                majority.update(baseline[:, 0].long(), truth)

    def validation_step(self, batch: Mapping[str, Tensor], batch_idx: int) -> dict[str, Tensor]:
        """Accumulate the scores of a validation batch; the maps go to callbacks (overlays)."""
        return self._evaluate("val", batch)

    def test_step(self, batch: Mapping[str, Tensor], batch_idx: int) -> dict[str, Tensor]:
        """Accumulate the scores of a test batch; the maps go to callbacks (overlays)."""
        return self._evaluate("test", batch)

    def on_validation_epoch_end(self) -> None:
        """Log the validation scores and baselines."""
        self._log_scores("val")

    def on_test_epoch_end(self) -> None:
        """Log the test scores and baselines."""
        self._log_scores("test")

    def _log_scores(self, stage: str) -> None:
        scores = cast(ParsingScores, getattr(self, f"{stage}_scores"))
        if not scores.update_called:
            return
        values = {f"{stage}/{k}": v for k, v in scores.compute().items()}
        if self.hp.report_baselines and stage != "train":
            # The labels of every process: compute() gives the local matrix back afterwards.
            with scores.sync_context():
                truth = scores.confmat.sum(dim=1)
            background = torch.zeros_like(scores.confmat)
            background[:, 0] = truth
            values[f"{stage}/miou_background_baseline"] = parsing_scores(
                background, self.class_names
            )["miou"]
            majority = cast(ParsingScores, getattr(self, f"{stage}_majority_scores"))
            if majority.update_called:
                values[f"{stage}/miou_majority_baseline"] = majority.compute()["miou"]
            majority.reset()
        scores.reset()
        # Computed from the confusion matrix of every process: syncing averages equal values.
        self.log_dict(values, sync_dist=True)

    def predict_step(self, batch: Mapping[str, Any], batch_idx: int) -> dict[str, Any]:
        """Label maps of the batch's images.

        Returns:
            ``mask`` (int64 ``(B, H, W)``, at the input's size) and the batch's ``index`` and
            ``path`` entries where it has them.
        """
        out: dict[str, Any] = {"mask": self.predict_masks(batch["image"])}
        out.update({k: batch[k] for k in _PASSED_THROUGH if k in batch})
        return out

    def result_summary(self, metrics: Mapping[str, Any]) -> str | None:
        """MIoU and HELEN's overall F-measure beside the two baselines."""
        prefix = next((p for p in ("test", "val") if f"{p}/miou" in metrics), None)
        if prefix is None:
            return None
        parts = [f"mIoU {float(metrics[f'{prefix}/miou']):.4f}"]
        if f"{prefix}/f1_overall" in metrics:
            parts.append(f"overall F1 {float(metrics[f'{prefix}/f1_overall']):.4f}")
        baselines = [
            f"{label} mIoU {float(metrics[key]):.4f}"
            for label, key in (
                ("all-background", f"{prefix}/miou_background_baseline"),
                ("per-pixel majority", f"{prefix}/miou_majority_baseline"),
            )
            if key in metrics
        ]
        summary = f"Parsing on {prefix}: " + ", ".join(parts)
        return summary + (f" (baselines: {', '.join(baselines)})" if baselines else "")
