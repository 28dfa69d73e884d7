"""Reconstruct the input through a low-dimensional code, measured against PCA of the same size."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal, cast

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch.utils.data import DataLoader
from torchmetrics import MeanMetric, MetricCollection
from torchvision.utils import make_grid

from lightning_deepvision.callbacks.pictures import log_image
from lightning_deepvision.models.registry import model_accepts
from lightning_deepvision.tasks.base import BaseTask, OptimizerName, SchedulerName

__all__ = ["AutoencoderTask"]

ReconstructionLoss = Literal["bce", "mse"]


class AutoencoderTask(BaseTask):
    """Train an auto-encoder to reconstruct its input; report the error beside PCA's.

    Hinton & Salakhutdinov, "Reducing the Dimensionality of Data with Neural Networks",
    Science 2006: the 784-1000-500-250-30 auto-encoder (pre-trained as a stack of RBMs, see
    :class:`~lightning_deepvision.callbacks.LayerwisePretraining`) is fine-tuned to minimise the
    cross-entropy between the pixel intensities and their logistic reconstructions
    (``loss="bce"``, ``backprop.m``; ``"mse"`` for real-valued data), and compared with PCA
    using as many components as the code has units (Fig. 2: average squared error per image).

    The evaluation logs ``reconstruction_error`` (squared error summed over the pixels of an
    image, averaged over the images, as the paper reports it) and, when a data module is
    attached, ``pca_reconstruction_error``: PCA (scikit-learn) fitted on up to ``pca_samples``
    training images with the code size, applied to the same evaluation images. A picture of
    originals, reconstructions and PCA reconstructions (the paper's Fig. 2) is logged after
    each validation and test epoch.

    The backbone maps an image batch to the reconstruction's logits (``"bce"``) or values
    (``"mse"``) in the input's shape, has ``encode`` for the code (``predict_step`` returns it)
    and ``num_features`` for its size, as
    :class:`~lightning_deepvision.models.mlp.DeepAutoencoder` does.

    Args:
        backbone: Registry name (``"deep_autoencoder"``, ``"deep_autoencoder_tiny"``) or an
            ``nn.Module``.
        loss: ``"bce"`` (inputs in [0, 1]) or ``"mse"``.
        in_chans: Input channels, given to registry builders that take them.
        input_size: Input ``(height, width)``, given to registry builders that take it.
        pca_components: Components of the PCA baseline; ``None``: the code size; 0: no
            baseline.
        pca_samples: Training images the PCA is fitted on.
        num_images: Images in the picture (0: none).
        optimizer: As in :class:`~lightning_deepvision.tasks.BaseTask` (``"adam"`` here: a
            short CPU fine-tuning; Hinton fine-tunes with conjugate gradients).
        lr: Learning rate.
        weight_decay: Weight decay.
        lr_schedule: As in :class:`~lightning_deepvision.tasks.BaseTask`.
        **kwargs: The other options of :class:`~lightning_deepvision.tasks.BaseTask`.
    """

    monitor: ClassVar[str] = "val/reconstruction_error"
    mode: ClassVar[Literal["min", "max"]] = "min"
    pca_mean: Tensor | None
    pca_components_: Tensor | None

    def __init__(
        self,
        backbone: str | nn.Module = "deep_autoencoder",
        loss: ReconstructionLoss = "bce",
        in_chans: int = 1,
        input_size: tuple[int, int] | None = (28, 28),
        pca_components: int | None = None,
        pca_samples: int = 10000,
        num_images: int = 10,
        optimizer: OptimizerName = "adam",
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        lr_schedule: SchedulerName = "cosine",
        **kwargs: Any,
    ) -> None:
        if loss not in ("bce", "mse"):
            raise ValueError(f"loss must be 'bce' or 'mse', got {loss!r}")
        super().__init__(
            backbone=backbone,
            optimizer=optimizer,
            lr=lr,
            weight_decay=weight_decay,
            lr_schedule=lr_schedule,
            **kwargs,
        )
        self.pca_mean, self.pca_components_ = None, None
        self._picture: dict[str, Tensor] = {}

    def build_backbone(self, name: str, **kwargs: Any) -> nn.Module:
        """A registry auto-encoder sized for ``in_chans`` and ``input_size``."""
        if model_accepts(name, "in_chans"):
            kwargs.setdefault("in_chans", self.hp.in_chans)
        if self.hp.input_size is not None and model_accepts(name, "input_size"):
            kwargs.setdefault("input_size", tuple(self.hp.input_size))
        return super().build_backbone(name, **kwargs)

    def configure_metrics(self) -> MetricCollection:
        """Mean squared error per image of the network, and of the PCA baseline."""
        return MetricCollection(
            {"reconstruction_error": MeanMetric(), "pca_reconstruction_error": MeanMetric()}
        )

    @property
    def code_size(self) -> int:
        """Units of the code (the backbone's ``num_features``)."""
        return int(getattr(self.backbone, "num_features", 0))

    # -- PCA baseline ----------------------------------------------------------------------------
    def setup(self, stage: str) -> None:
        """Fit the PCA baseline on the training images of the data module (when there is one)."""
        super().setup(stage)
        components = self.hp.pca_components
        components = self.code_size if components is None else int(components)
        datamodule = getattr(self._trainer, "datamodule", None) if self._trainer else None
        if components <= 0 or datamodule is None or self.pca_mean is not None:
            return
        from sklearn.decomposition import PCA

        dataset = getattr(datamodule, "dataset", None)
        # In order, so that every process fits the same PCA.
        loader = (
            DataLoader(dataset("train"), batch_size=256)
            if callable(dataset)
            else datamodule.train_dataloader()
        )
        rows, count = [], 0
        for batch in loader:
            images = batch["image"].flatten(1).double()
            rows.append(images)
            count += images.shape[0]
            if count >= int(self.hp.pca_samples):
                break
        data = torch.cat(rows)[: int(self.hp.pca_samples)].numpy()
        pca = PCA(n_components=min(components, *data.shape)).fit(data)
        self.pca_mean = torch.from_numpy(pca.mean_).float()
        self.pca_components_ = torch.from_numpy(pca.components_).float()

    def pca_reconstruct(self, images: Tensor) -> Tensor | None:
        """The PCA reconstruction of a batch in its shape (``None`` without a fitted PCA)."""
        if self.pca_mean is None or self.pca_components_ is None:
            return None
        mean = self.pca_mean.to(images.device)
        components = self.pca_components_.to(images.device)
        flat = images.flatten(1) - mean
        return ((flat @ components.T) @ components + mean).view_as(images)

    # -- steps -----------------------------------------------------------------------------------
    def reconstruct(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """``(output of the backbone, reconstruction)``: logits and their sigmoid for ``"bce"``."""
        out = cast(Tensor, self.backbone(self.prepare_images(images)))
        return out, (torch.sigmoid(out) if self.hp.loss == "bce" else out)

    def _loss(self, out: Tensor, images: Tensor) -> Tensor:
        if self.hp.loss == "bce":
            per_pixel = F.binary_cross_entropy_with_logits(out, images, reduction="none")
        else:
            per_pixel = (out - images) ** 2
        return per_pixel.flatten(1).sum(1).mean()

    def training_step(self, batch: Mapping[str, Tensor], batch_idx: int) -> Tensor:
        """Cross-entropy (or squared error) summed over pixels, mean over the batch."""
        images = batch["image"]
        out, reconstruction = self.reconstruct(images)
        loss = self._loss(out, images)
        error = ((reconstruction.detach() - images) ** 2).flatten(1).sum(1)
        self.log("train/loss", loss, prog_bar=True, batch_size=images.shape[0])
        self.log("train/reconstruction_error", error.mean(), batch_size=images.shape[0])
        return loss

    def _evaluate(self, stage: str, batch: Mapping[str, Tensor], batch_idx: int) -> None:
        images = batch["image"]
        out, reconstruction = self.reconstruct(images)
        self.log_mean(f"{stage}/loss", self._loss(out, images), images.shape[0])
        metrics = cast(MetricCollection, getattr(self, f"{stage}_metrics"))
        metrics["reconstruction_error"].update(((reconstruction - images) ** 2).flatten(1).sum(1))
        pca = self.pca_reconstruct(images)
        logged = ["reconstruction_error"]
        if pca is not None:
            metrics["pca_reconstruction_error"].update(((pca - images) ** 2).flatten(1).sum(1))
            logged.append("pca_reconstruction_error")
        for name in logged:
            self.log(
                f"{stage}/{name}", metrics[name], prog_bar=stage == "val" and name == logged[0]
            )
        if batch_idx == 0 and int(self.hp.num_images) > 0:
            rows = [images, reconstruction] + ([pca] if pca is not None else [])
            self._picture[stage] = torch.cat([r[: int(self.hp.num_images)].detach() for r in rows])

    def validation_step(self, batch: Mapping[str, Tensor], batch_idx: int) -> None:
        """Accumulate the reconstruction errors of a validation batch."""
        self._evaluate("val", batch, batch_idx)

    def test_step(self, batch: Mapping[str, Tensor], batch_idx: int) -> None:
        """Accumulate the reconstruction errors of a test batch."""
        self._evaluate("test", batch, batch_idx)

    def _log_picture(self, stage: str) -> None:
        images = self._picture.pop(stage, None)
        trainer = self._trainer
        if images is None or trainer is None or trainer.sanity_checking:
            return
        directory = trainer.log_dir  # a collective call: every process makes it
        if not trainer.is_global_zero:
            return
        images = images.float().cpu()
        if self.hp.loss == "mse":  # real values: one stretch for the whole picture
            images = (images - images.amin()) / (images.amax() - images.amin()).clamp_min(1e-12)
        if images.shape[1] != 3:
            images = images.mean(1, keepdim=True).expand(-1, 3, -1, -1)
        grid = make_grid(images.clamp(0, 1), nrow=int(self.hp.num_images), pad_value=1.0)
        pixels = (grid * 255).round().to(torch.uint8)
        name = f"{stage}_reconstructions/epoch={trainer.current_epoch:03d}.png"
        log_image(trainer, f"{stage}/reconstructions", pixels, png_name=name, directory=directory)

    def on_validation_epoch_end(self) -> None:
        """Picture originals, reconstructions and PCA reconstructions (rows)."""
        self._log_picture("val")

    def on_test_epoch_end(self) -> None:
        """Picture originals, reconstructions and PCA reconstructions (rows)."""
        self._log_picture("test")

    def predict_step(self, batch: Mapping[str, Any], batch_idx: int) -> dict[str, Any]:
        """The code and the reconstruction of each image (and its ``label``, ``path`` if given)."""
        images = batch["image"]
        encode = getattr(self.backbone, "encode", None)
        out: dict[str, Any] = {"reconstruction": self.reconstruct(images)[1]}
        if callable(encode):
            out["code"] = encode(self.prepare_images(images))
        out.update({k: batch[k] for k in ("label", "path") if k in batch})
        return out

    def result_summary(self, metrics: Mapping[str, Any]) -> str | None:
        """The squared reconstruction error per image, beside PCA's with the same code size."""
        prefix = next((p for p in ("test", "val") if f"{p}/reconstruction_error" in metrics), None)
        if prefix is None:
            return None
        error = float(metrics[f"{prefix}/reconstruction_error"])
        summary = f"Reconstruction on {prefix}: squared error {error:.2f} per image"
        baseline = metrics.get(f"{prefix}/pca_reconstruction_error")
        if baseline is not None and self.pca_components_ is not None:
            components = self.pca_components_.shape[0]
            summary += f" (PCA with {components} components: {float(baseline):.2f})"
        return summary
