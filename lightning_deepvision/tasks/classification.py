"""Image classification as AlexNet was trained and tested, with feature transfer and retrieval."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar, Literal, cast

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy

from lightning_deepvision.metrics.retrieval import KNNRetrieval
from lightning_deepvision.models.registry import model_accepts
from lightning_deepvision.tasks.base import BaseTask, SchedulerName

__all__ = ["ClassificationTask"]

# The keys of a batch that predict_step hands back unchanged (to trace predictions to samples).
_PASSED_THROUGH = ("label", "index", "path")


class ClassificationTask(BaseTask):
    """Classify images with a backbone and a linear classifier; top-1 and top-5 accuracy.

    Training and evaluation follow Krizhevsky, Sutskever, Hinton, "ImageNet Classification with
    Deep Convolutional Neural Networks", NIPS 2012: softmax cross-entropy, SGD with momentum
    0.9 and weight decay 5e-4 from a learning rate of 0.01 divided by 10 as training proceeds
    (§5; the paper divides on a validation plateau, the default ``"step"`` schedule three times
    at fixed points), and top-1 / top-5 error (§6). When an evaluation batch holds several
    crops per image (``(B, crops, C, H, W)``, e.g. the ten-crop test of
    :class:`~lightning_deepvision.datamodules.imagenet.ImageNetDataModule`), the softmax
    outputs are averaged over the crops, as the paper's test (§4.1).

    The backbone is built without its classifier; the classifier is the backbone's own (taken
    from its ``reset_classifier``/``get_classifier``, so AlexNet's fc8 keeps the paper's
    initialisation) or a ``Linear`` on its ``num_features`` otherwise, and is owned by the
    task. ``freeze_backbone=True`` therefore trains a linear classifier on fixed features (a
    linear probe: "train on A, freeze, classify B"), ``init_from`` takes the backbone of any
    checkpoint of the library (a verification network's trunk, another classifier) and
    ``backbone_lr_scale`` fine-tunes it at a smaller rate than the fresh classifier.

    The top hidden layer (AlexNet's fc7, a timm model's pre-logits) is the image's feature:
    ``predict_step`` returns it beside the class probabilities, and with ``retrieval_k`` the
    evaluation also reports cosine k-nearest-neighbour retrieval on it (each evaluation image
    queries all the others, as the paper's §6.1 retrieves training images by fc7 distance).

    Args:
        backbone: Registry name (``"alexnet"``, ``"alexnet_tiny"``, ``"deepid2"``, any timm
            model, never downloaded) or an ``nn.Module``. A module should follow timm's contract
            (``reset_classifier``/``get_classifier``, or ``num_features`` with a forward that
            returns the features); otherwise ``input_size`` is needed to infer the feature
            width.
        num_classes: Classes of the softmax. ``None`` reads ``num_classes`` of the data module
            when ``fit`` starts (and stores it in the hyperparameters).
        in_chans: Input channels, given to registry builders that take them.
        input_size: Input ``(height, width)``, given to registry builders that declare it
            (AlexNet, DeepID); ``None`` keeps the builder's default (227×227 for AlexNet).
        label_smoothing: Label smoothing of the training cross-entropy (0: the paper's loss).
        top_k: ``k`` of the second accuracy, logged as ``accuracy_top<k>`` (5 in the paper;
            capped at the number of classes).
        retrieval_k: Report cosine kNN retrieval on the evaluation features: recall at each
            ``k`` (``retrieval_recall_at_<k>``) and mean average precision
            (``retrieval_map``); ``None`` turns it off (the evaluation then keeps no features).
        lr_schedule: As in :class:`~lightning_deepvision.tasks.BaseTask`; ``"step"`` (÷10 three
            times) by default.
        channels_last: Run the backbone in channels-last memory format.
        **kwargs: The shared options of :class:`~lightning_deepvision.tasks.BaseTask`
            (``backbone_kwargs``, ``init_from``, ``freeze_backbone``, ``backbone_lr_scale``,
            ``optimizer``, ``lr``, ``momentum``, ``weight_decay``).
    """

    monitor: ClassVar[str] = "val/accuracy"
    mode: ClassVar[Literal["min", "max"]] = "max"
    data_hparams: ClassVar[dict[str, str]] = {"num_classes": "num_classes"}
    head: nn.Module
    train_retrieval: KNNRetrieval | None
    val_retrieval: KNNRetrieval | None
    test_retrieval: KNNRetrieval | None

    def __init__(
        self,
        backbone: str | nn.Module = "alexnet",
        num_classes: int | None = None,
        in_chans: int = 3,
        input_size: tuple[int, int] | None = None,
        label_smoothing: float = 0.0,
        top_k: int = 5,
        retrieval_k: list[int] | None = None,
        lr_schedule: SchedulerName = "step",
        channels_last: bool = False,
        **kwargs: Any,
    ) -> None:
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
        if top_k < 1:
            raise ValueError(f"top_k must be positive, got {top_k}")
        if retrieval_k is not None and (not retrieval_k or min(retrieval_k) < 1):
            raise ValueError(
                f"retrieval_k must be a non-empty list of positive k, got {retrieval_k}"
            )
        super().__init__(
            backbone=backbone, lr_schedule=lr_schedule, channels_last=channels_last, **kwargs
        )

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

    def configure_losses(self) -> None:
        """Softmax cross-entropy, with the configured label smoothing for training."""
        self.criterion = nn.CrossEntropyLoss(label_smoothing=float(self.hp.label_smoothing))

    def configure_heads(self) -> None:
        """The classifier on the backbone's features, and the metrics sized by the classes."""
        num_classes = int(self.hp.num_classes)
        self.head = self._take_classifier(num_classes)
        # The accuracies need the class count, known only now: the base's metric hook runs in
        # __init__, before a data module may have told it.
        metrics = self.build_metrics(num_classes)
        for stage in self.metric_stages:
            setattr(self, f"{stage}_metrics", metrics.clone(prefix=f"{stage}/"))
        ks = self.hp.retrieval_k
        for stage in ("val", "test"):
            retrieval = KNNRetrieval(ks=[int(k) for k in ks]) if ks else None
            setattr(self, f"{stage}_retrieval", retrieval)

    def _take_classifier(self, num_classes: int) -> nn.Module:
        """The backbone's own classifier for ``num_classes``, taken out of it; else a Linear."""
        reset = getattr(self.backbone, "reset_classifier", None)
        get = getattr(self.backbone, "get_classifier", None)
        if callable(reset) and callable(get):
            reset(num_classes)
            classifier = get()
            reset(0)  # the backbone now returns its features
            if isinstance(classifier, nn.Module) and any(True for _ in classifier.parameters()):
                return classifier
        return nn.Linear(self._feature_width(), num_classes)

    def _feature_width(self) -> int:
        width = getattr(self.backbone, "num_features", None)
        if isinstance(width, int) and width > 0:
            return width
        if self.hp.input_size is None:
            raise ValueError(
                f"cannot tell the feature width of the backbone {type(self.backbone).__name__}: "
                "give it a num_features attribute, or pass input_size for a trial forward"
            )
        # A plain module: one dry run tells its feature width.
        was_training = self.backbone.training
        self.backbone.eval()
        with torch.no_grad():
            probe = torch.zeros(1, self.hp.in_chans, *self.hp.input_size)
            out = self.backbone(probe)
        self.backbone.train(was_training)
        return int(out.flatten(1).shape[1])

    def build_metrics(self, num_classes: int) -> MetricCollection:
        """Top-1 and top-k accuracy (``accuracy``, ``accuracy_top<k>``) over all images."""
        k = min(int(self.hp.top_k), num_classes)
        return MetricCollection(
            {
                "accuracy": MulticlassAccuracy(num_classes, top_k=1, average="micro"),
                f"accuracy_top{self.hp.top_k}": MulticlassAccuracy(
                    num_classes, top_k=k, average="micro"
                ),
            }
        )

    # -- forward -------------------------------------------------------------------------------
    def forward_features(self, images: Tensor) -> Tensor:
        """The top hidden layer of the backbone, ``(B, D)`` (its classifier's input)."""
        return cast(Tensor, self.backbone(self.prepare_images(images))).flatten(1)

    def forward(self, images: Tensor) -> Tensor:
        """Class logits ``(B, num_classes)``."""
        return cast(Tensor, self.head(self.forward_features(images)))

    def classify(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """Log-probabilities and features of ``(B, C, H, W)`` or multi-crop ``(B, N, C, H, W)``.

        With several crops per image, the probabilities are the mean of the crops' softmax
        outputs (Krizhevsky et al. §4.1) and the features the mean of the crops' features.

        Returns:
            ``(log_probabilities (B, num_classes), features (B, D))``.
        """
        crops = images.shape[1] if images.ndim == 5 else 0
        flat = images.flatten(0, 1) if crops else images
        features = self.forward_features(flat)
        log_probs = cast(Tensor, self.head(features)).log_softmax(dim=-1)
        if crops:
            batch = images.shape[0]
            log_probs = log_probs.view(batch, crops, -1).logsumexp(dim=1) - math.log(crops)
            features = features.view(batch, crops, -1).mean(dim=1)
        return log_probs, features

    # -- steps ---------------------------------------------------------------------------------
    def training_step(self, batch: Mapping[str, Tensor], batch_idx: int) -> Tensor:
        """Cross-entropy of the batch; accuracies logged per step and per epoch."""
        labels = batch["label"]
        logits = self(batch["image"])
        loss = cast(Tensor, self.criterion(logits, labels))
        batch_size = labels.shape[0]
        self.log("train/loss", loss, prog_bar=True, batch_size=batch_size)
        self.train_metrics(logits.detach(), labels)
        self.log_dict(self.train_metrics, on_step=True, on_epoch=True, batch_size=batch_size)
        return loss

    def _evaluate(self, stage: str, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        labels = batch["label"]
        log_probs, features = self.classify(batch["image"])
        batch_size = labels.shape[0]
        loss = F.nll_loss(log_probs, labels)
        self.log_mean(f"{stage}/loss", loss, batch_size)
        metrics = cast(MetricCollection, getattr(self, f"{stage}_metrics"))
        metrics.update(log_probs, labels)
        self.log_dict(metrics, batch_size=batch_size, prog_bar=stage == "val")
        retrieval = cast("KNNRetrieval | None", getattr(self, f"{stage}_retrieval", None))
        if retrieval is not None:
            retrieval.update(features, labels, indexes=batch.get("index"))
        return {"log_probabilities": log_probs, "features": features, "label": labels}

    def validation_step(self, batch: Mapping[str, Tensor], batch_idx: int) -> dict[str, Tensor]:
        """Accumulate the accuracies (and retrieval features) of a validation batch."""
        return self._evaluate("val", batch)

    def test_step(self, batch: Mapping[str, Tensor], batch_idx: int) -> dict[str, Tensor]:
        """Accumulate the accuracies of a test batch; outputs feed callbacks (retrieval grid)."""
        return self._evaluate("test", batch)

    def _log_retrieval(self, stage: str) -> None:
        retrieval = cast("KNNRetrieval | None", getattr(self, f"{stage}_retrieval", None))
        if retrieval is None or not retrieval.update_called:
            return
        results = retrieval.compute()
        retrieval.reset()
        # Already computed from the features of every process: syncing averages equal values.
        self.log_dict({f"{stage}/retrieval_{k}": v for k, v in results.items()}, sync_dist=True)

    def on_validation_epoch_end(self) -> None:
        """Log the retrieval metrics of the validation set."""
        self._log_retrieval("val")

    def on_test_epoch_end(self) -> None:
        """Log the retrieval metrics of the test set."""
        self._log_retrieval("test")

    def predict_step(self, batch: Mapping[str, Any], batch_idx: int) -> dict[str, Any]:
        """Class probabilities and top hidden-layer features of each image (for retrieval).

        Returns:
            ``probabilities`` ``(B, num_classes)``, ``features`` ``(B, D)``, and the batch's
            ``label``, ``index`` and ``path`` entries where it has them.
        """
        log_probs, features = self.classify(batch["image"])
        out: dict[str, Any] = {"probabilities": log_probs.exp(), "features": features}
        out.update({k: batch[k] for k in _PASSED_THROUGH if k in batch})
        return out

    def result_summary(self, metrics: Mapping[str, Any]) -> str | None:
        """Top-1 and top-k *error*, as the paper reports them, beside chance."""
        prefix = next((p for p in ("test", "val") if f"{p}/accuracy" in metrics), None)
        if prefix is None:
            return None
        top_k = int(self.hp.top_k)
        num_classes = int(self.hp.num_classes)
        parts = [f"top-1 error {100.0 * (1.0 - float(metrics[f'{prefix}/accuracy'])):.2f} %"]
        key = f"{prefix}/accuracy_top{top_k}"
        if key in metrics:
            parts.append(f"top-{top_k} error {100.0 * (1.0 - float(metrics[key])):.2f} %")
        chance = ", ".join(
            f"top-{k} {100.0 * (1.0 - min(k, num_classes) / num_classes):.1f} %" for k in (1, top_k)
        )
        parts.append(f"(chance: {chance}; {num_classes} classes)")
        retrieval = [
            f"{name.split('/', 1)[1]} = {float(value):.4f}"
            for name, value in metrics.items()
            if name.startswith(f"{prefix}/retrieval_")
        ]
        summary = f"Classification on {prefix}: " + ", ".join(parts[:-1]) + " " + parts[-1]
        return summary + ("; " + ", ".join(retrieval) if retrieval else "")
