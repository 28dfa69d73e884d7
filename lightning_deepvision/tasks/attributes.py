"""Face-attribute prediction: multi-label training on LNets+ANet, DeepID2 or any features."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal, cast

import torch
from lightning.pytorch.utilities import rank_zero_info
from torch import Tensor, nn
from torch.nn import functional as F
from torchmetrics import MetricCollection

from lightning_deepvision.metrics.attributes import attribute_metrics, attribute_table
from lightning_deepvision.models.registry import model_accepts
from lightning_deepvision.tasks.base import BaseTask

__all__ = ["AttributesTask"]

# Batch entries predict_step hands back unchanged (to trace predictions to their files).
_PASSED_THROUGH = ("attributes", "index", "path", "identity")


class AttributesTask(BaseTask):
    """Predict binary face attributes: one sigmoid per attribute on a backbone's features.

    Liu, Luo, Wang, Tang, "Deep Learning Face Attributes in the Wild", ICCV 2015: ANet's
    features of the (LNet-localised) face feed one linear classifier per attribute, and the
    reported figure is the mean over the 40 CelebA attributes of each attribute's accuracy
    (Table 1: LNets+ANet 87 % on CelebA, 84 % on LFWA; DeepID2 features 84/82, fine-tuned
    87/84). Training minimises the binary cross-entropy of every attribute, optionally with
    positive examples weighted per attribute (``pos_weight``; ``balance_positives`` sets it to
    the negatives/positives ratio of the training set).

    Metrics per stage (:func:`~lightning_deepvision.metrics.attributes.attribute_metrics`):
    ``{stage}/mean_accuracy`` (the papers' figure, and :attr:`monitor`),
    ``{stage}/balanced_accuracy`` (mean over attributes of the mean of the true-positive and
    true-negative rates: CelebA is imbalanced), ``{stage}/majority_accuracy`` (the baseline of
    always answering each attribute's majority class) and ``{stage}/accuracy/<name>`` for every
    attribute. ``test`` prints the per-attribute table. ``predict_step`` returns the
    probabilities keyed by attribute name.

    **Backbones.** ``"anet"`` (the paper's ANet), ``"lnet_anet"`` (LNet localisation first),
    ``"deepid2"`` / ``"deepid2plus"`` (identity features), any registry or timm name, or an
    ``nn.Module`` with ``num_features``. ``init_from`` a
    :class:`~lightning_deepvision.tasks.VerificationTask` checkpoint takes its backbone;
    ``freeze_backbone=True`` then trains only the attribute classifiers on the fixed identity
    features ("DeepID2 features"), ``False`` fine-tunes everything ("DeepID2 + fine-tune").

    Args:
        backbone: Registry name, timm name or ``nn.Module``.
        num_attributes: Number of attributes. ``None`` reads ``num_attributes`` of the data
            module when ``fit`` starts.
        attribute_names: Their names, in column order; ``None`` reads the data module's.
        in_chans: Input channels, given to registry builders that take them.
        input_size: Input ``(height, width)``, given to builders that declare it.
        pos_weight: Weight of the positive term of each attribute's loss (``None``: 1).
        balance_positives: Set ``pos_weight`` from the training set's positive rates
            (``datamodule.attribute_positive_rates()``) when ``fit`` starts.
        threshold: Probability above which an attribute counts as present.
        print_table: Print the per-attribute table at the end of ``test``.
        **kwargs: The shared options of :class:`~lightning_deepvision.tasks.BaseTask`
            (``backbone_kwargs``, ``init_from``, ``freeze_backbone``, ``backbone_lr_scale``,
            ``optimizer``, ``lr``, ``momentum``, ``weight_decay``, ``lr_schedule``, ...).
    """

    monitor: ClassVar[str] = "val/mean_accuracy"
    mode: ClassVar[Literal["min", "max"]] = "max"
    data_hparams: ClassVar[dict[str, str]] = {
        "num_attributes": "num_attributes",
        "attribute_names": "attribute_names",
    }
    head: nn.Linear
    pos_weight: Tensor

    def __init__(
        self,
        backbone: str | nn.Module = "anet",
        num_attributes: int | None = None,
        attribute_names: list[str] | None = None,
        in_chans: int = 3,
        input_size: tuple[int, int] | None = None,
        pos_weight: list[float] | None = None,
        balance_positives: bool = False,
        threshold: float = 0.5,
        print_table: bool = True,
        **kwargs: Any,
    ) -> None:
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {threshold}")
        if (
            attribute_names is not None
            and num_attributes is not None
            and len(attribute_names) != num_attributes
        ):
            raise ValueError(
                f"attribute_names has {len(attribute_names)} names for {num_attributes} attributes"
            )
        if attribute_names is not None and num_attributes is None:
            num_attributes = len(attribute_names)
        if num_attributes is not None and attribute_names is None:
            attribute_names = [f"attribute_{i}" for i in range(num_attributes)]
        super().__init__(backbone=backbone, **kwargs)
        # Columns of the evaluated attributes when a data module holds a subset (LFWA).
        self._columns: Tensor | None = None
        self._evaluated_names: list[str] | None = None
        # Lightning records the arguments as given; the completed ones are what heads use.
        self.hparams["num_attributes"] = num_attributes
        self.hparams["attribute_names"] = attribute_names
        if not self.heads_configured and all(
            self.hp.get(name) is not None for name in self.data_hparams
        ):
            self._configure_heads_once()

    # -- construction --------------------------------------------------------------------------
    def build_backbone(self, name: str, **kwargs: Any) -> nn.Module:
        """A registry backbone without classifier, sized for ``in_chans`` (and ``input_size``)."""
        if model_accepts(name, "num_classes"):
            kwargs.setdefault("num_classes", 0)
        if model_accepts(name, "in_chans"):
            kwargs.setdefault("in_chans", self.hp.in_chans)
        if self.hp.input_size is not None and model_accepts(name, "input_size"):
            kwargs.setdefault("input_size", tuple(self.hp.input_size))
        return super().build_backbone(name, **kwargs)

    def configure_heads(self) -> None:
        """One linear classifier per attribute, and the metrics named after the attributes."""
        names = [str(n) for n in self.hp.attribute_names]
        count = int(self.hp.num_attributes)
        if len(names) != count:
            raise ValueError(f"{len(names)} attribute names for {count} attributes")
        self.head = nn.Linear(self._feature_width(), count)
        weights = self.hp.pos_weight
        if weights is not None and len(weights) != count:
            raise ValueError(f"pos_weight has {len(weights)} values for {count} attributes")
        self.register_buffer(
            "pos_weight",
            torch.tensor(weights if weights is not None else [1.0] * count, dtype=torch.float32),
        )
        metrics = attribute_metrics(names, float(self.hp.threshold))
        for stage in self.metric_stages:
            setattr(self, f"{stage}_metrics", metrics.clone(prefix=f"{stage}/"))

    def _feature_width(self) -> int:
        width = getattr(self.backbone, "num_features", None)
        if isinstance(width, int) and width > 0:
            return width
        if self.hp.input_size is None:
            raise ValueError(
                f"cannot tell the feature width of the backbone {type(self.backbone).__name__}: "
                "give it a num_features attribute, or pass input_size for a trial forward"
            )
        was_training = self.backbone.training
        self.backbone.eval()
        with torch.no_grad():
            out = self.backbone(torch.zeros(1, self.hp.in_chans, *self.hp.input_size))
        self.backbone.train(was_training)
        return int(out.flatten(1).shape[1])

    def setup(self, stage: str) -> None:
        """Sizes from the data module; with ``balance_positives``, the positive weights too.

        An evaluation data module whose attributes are a subset of the task's (LFW's, for a
        CelebA-trained model: the LFWA evaluation) is scored on those attributes only, matched
        by name.
        """
        super().setup(stage)
        datamodule = getattr(self._trainer, "datamodule", None) if self._trainer else None
        names = getattr(datamodule, "attribute_names", None)
        if self._evaluated_names is not None and (
            names is None or list(names) != self._evaluated_names
        ):
            # Back to the task's own attributes after an evaluation on a subset.
            self._columns, self._evaluated_names = None, None
            self._evaluation_metrics(self.attribute_names)
        if stage != "fit" and names is not None and list(names) != self.attribute_names:
            missing = [n for n in names if n not in self.attribute_names]
            if missing:
                raise ValueError(
                    f"the data module's attributes {missing} are not among the task's "
                    f"{self.attribute_names}"
                )
            self._columns = torch.tensor([self.attribute_names.index(n) for n in names])
            self._evaluation_metrics([str(n) for n in names])
            self._evaluated_names = [str(n) for n in names]
        if stage == "fit" and self.hp.balance_positives and self.hp.pos_weight is None:
            datamodule = getattr(self._trainer, "datamodule", None) if self._trainer else None
            rates_of = getattr(datamodule, "attribute_positive_rates", None)
            if not callable(rates_of):
                raise ValueError(
                    "balance_positives needs a data module with attribute_positive_rates(), "
                    "or pass pos_weight"
                )
            rates = torch.as_tensor(rates_of(), dtype=torch.float32).clamp(1e-3, 1 - 1e-3)
            self.pos_weight.copy_((1 - rates) / rates)

    def _evaluation_metrics(self, names: list[str]) -> None:
        metrics = attribute_metrics(names, float(self.hp.threshold))
        for stage in ("val", "test"):
            setattr(self, f"{stage}_metrics", metrics.clone(prefix=f"{stage}/").to(self.device))

    # -- forward -------------------------------------------------------------------------------
    def forward(self, images: Tensor) -> Tensor:
        """Attribute logits ``(B, num_attributes)``."""
        features = cast(Tensor, self.backbone(self.prepare_images(images))).flatten(1)
        return cast(Tensor, self.head(features))

    # -- steps ---------------------------------------------------------------------------------
    def _loss(self, logits: Tensor, targets: Tensor, columns: Tensor | None = None) -> Tensor:
        weight = self.pos_weight if columns is None else self.pos_weight[columns]
        return F.binary_cross_entropy_with_logits(
            logits, targets.to(logits.dtype), pos_weight=weight
        )

    def training_step(self, batch: Mapping[str, Tensor], batch_idx: int) -> Tensor:
        """Binary cross-entropy of every attribute; training metrics accumulated per epoch."""
        targets = batch["attributes"]
        logits = self(batch["image"])
        loss = self._loss(logits, targets)
        self.log("train/loss", loss, prog_bar=True, batch_size=targets.shape[0])
        self.train_metrics.update(logits.detach().sigmoid(), targets)
        return loss

    def _evaluate(self, stage: str, batch: Mapping[str, Tensor]) -> Tensor:
        targets = batch["attributes"]
        logits = self(batch["image"])
        columns = None if self._columns is None else self._columns.to(logits.device)
        if columns is not None:
            logits = logits[:, columns]
        self.log_mean(f"{stage}/loss", self._loss(logits, targets, columns), targets.shape[0])
        probabilities = logits.sigmoid()
        cast(MetricCollection, getattr(self, f"{stage}_metrics")).update(probabilities, targets)
        return probabilities

    def validation_step(self, batch: Mapping[str, Tensor], batch_idx: int) -> Tensor:
        """Accumulate the validation metrics."""
        return self._evaluate("val", batch)

    def test_step(self, batch: Mapping[str, Tensor], batch_idx: int) -> Tensor:
        """Accumulate the test metrics."""
        return self._evaluate("test", batch)

    def _log_stage(self, stage: str) -> dict[str, Tensor]:
        metrics = cast(MetricCollection, getattr(self, f"{stage}_metrics"))
        if not any(m.update_called for m in metrics.values()):
            return {}
        # Computed over every process's counts (torchmetrics syncs): exact under DDP.
        values = cast(dict[str, Tensor], metrics.compute())
        metrics.reset()
        headline = f"{stage}/mean_accuracy"
        self.log_dict({k: v for k, v in values.items() if k != headline})
        self.log(headline, values[headline], prog_bar=stage == "val")
        return values

    def on_train_epoch_end(self) -> None:
        """Log the training metrics of the epoch."""
        self._log_stage("train")

    def on_validation_epoch_end(self) -> None:
        """Log the validation metrics."""
        self._log_stage("val")

    def on_test_epoch_end(self) -> None:
        """Log the test metrics and print the per-attribute table (Liu et al., Table 1)."""
        values = self._log_stage("test")
        if values and self.hp.print_table and self.trainer.is_global_zero:
            names = self._evaluated_names or self.attribute_names
            rank_zero_info(attribute_table(names, values, "test/", {}))

    def predict_step(self, batch: Mapping[str, Any], batch_idx: int) -> dict[str, Any]:
        """Attribute probabilities keyed by name (each ``(B,)``), and the batch's identifiers.

        Returns:
            ``probabilities``: ``{name: (B,) tensor}``; ``present``: ``(B, A)`` 0/1 at the
            threshold; and the batch's ``attributes``, ``index``, ``path``, ``identity`` where
            it has them.
        """
        probabilities = self(batch["image"]).sigmoid()
        out: dict[str, Any] = {
            "probabilities": {n: probabilities[:, i] for i, n in enumerate(self.attribute_names)},
            "present": (probabilities > float(self.hp.threshold)).long(),
        }
        out.update({k: batch[k] for k in _PASSED_THROUGH if k in batch})
        return out

    @property
    def attribute_names(self) -> list[str]:
        """The attribute names, in column order."""
        return [str(n) for n in self.hp.attribute_names]

    def result_summary(self, metrics: Mapping[str, Any]) -> str | None:
        """Mean and balanced accuracy beside the majority-class baseline and chance."""
        prefix = next((p for p in ("test", "val") if f"{p}/mean_accuracy" in metrics), None)
        if prefix is None:
            return None
        parts = [f"mean accuracy {100 * float(metrics[f'{prefix}/mean_accuracy']):.2f} %"]
        if f"{prefix}/majority_accuracy" in metrics:
            parts[0] += (
                f" (majority class {100 * float(metrics[f'{prefix}/majority_accuracy']):.2f} %)"
            )
        if f"{prefix}/balanced_accuracy" in metrics:
            balanced = float(metrics[f"{prefix}/balanced_accuracy"])
            parts.append(f"balanced accuracy {balanced:.4f} (chance 0.5)")
        count = len(self._evaluated_names or self.attribute_names)
        return f"Attributes on {prefix} ({count} attributes): " + ", ".join(parts)
