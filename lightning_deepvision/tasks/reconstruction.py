"""Identity-preserving view reconstruction: FIP (canonical view) and MVP (any requested view)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal, cast

import torch
from lightning.pytorch.utilities import rank_zero_info
from torch import Tensor, nn
from torch.nn import functional as F
from torchmetrics import MeanSquaredError, MetricCollection
from torchmetrics.image import PeakSignalNoiseRatio, StructuralSimilarityIndexMeasure

from lightning_deepvision.metrics.identification import (
    PoseIdentification,
    format_identification_table,
)
from lightning_deepvision.models.registry import model_accepts
from lightning_deepvision.tasks.base import BaseTask, OptimizerName

__all__ = ["ReconstructionTask"]

# The hand-crafted baselines: name in the logs -> identify through LDA.
_BASELINES: dict[str, bool] = {"pixels": False, "pixels_lda": True}


class ReconstructionTask(BaseTask):
    """Reconstruct a face at a target view from any view; identify people from the code.

    **FIP** (Zhu, Luo, Wang, Tang, "Deep Learning Identity-Preserving Face Space", ICCV 2013;
    backbone ``"fip"``): the target is the canonical view (frontal, neutral light) and the loss
    ``‖Y − Ŷ‖²`` (mean over pixels). **MVP** (Zhu et al., "Multi-View Perceptron", NIPS 2014;
    backbone ``"mvp"``): the network renders the face at the sample's ``target_yaw`` and
    predicts the input's view; the loss adds ``view_loss_weight`` times the view
    cross-entropy. A backbone is any module with ``forward_all(x, view) -> {"features",
    "reconstruction"[, "view_logits"]}``, ``num_views`` (0: canonical only) and, when
    ``num_views > 0``, ``view_index(yaw)``.

    Batches hold ``image`` and ``target`` (float in ``[0, 1]``), ``identity``, ``yaw``,
    ``target_yaw`` and optionally ``illumination`` and ``reference`` (rows of training people
    that only fit the LDA), as :class:`~lightning_deepvision.datamodules.MultiPIEDataModule`
    and :class:`~lightning_deepvision.datamodules.SyntheticMultiViewDataModule` give them.

    **Metrics.** Reconstruction ``reconstruction_mse``, ``psnr`` and ``ssim`` (torchmetrics) on
    validation and test; face identification per pose from the identity features, the frontal
    images the gallery and the other poses the probes (optionally through an LDA fitted on the
    reference rows): ``{stage}/identification_<yaw>`` and ``{stage}/identification_mean``
    (without ``lda``, the features through LDA are also logged, as ``lda_identification_*``); the
    same for raw pixels (``pixels_identification_*``) and pixels + LDA
    (``pixels_lda_identification_*``), the hand-crafted baselines. The table of all of them is
    printed after ``validate``, ``test`` and the last epoch of ``fit``.

    Args:
        backbone: ``"fip"``, ``"mvp"`` (or ``*_tiny``), or a module as above.
        in_chans: Input channels, given to registry builders.
        input_size: Input ``(height, width)``, given to registry builders.
        view_loss_weight: Weight of MVP's view cross-entropy.
        lda: Identify through an LDA fitted on the reference rows (FIP's "+ LDA").
        lda_components: LDA dimensions (``None``: identities − 1).
        gallery_yaw: Pose of the gallery.
        gallery_illumination: Illumination of the gallery; ``None``: every frontal image.
        pixel_baselines: Also report raw pixels and pixels + LDA.
        optimizer: As in :class:`~lightning_deepvision.tasks.BaseTask` (Adam by default).
        lr: Learning rate.
        weight_decay: Weight decay.
        **kwargs: The other options of :class:`~lightning_deepvision.tasks.BaseTask`.
    """

    monitor: ClassVar[str] = "val/identification_mean"
    mode: ClassVar[Literal["min", "max"]] = "max"
    metric_stages: ClassVar[tuple[str, ...]] = ("val", "test")

    def __init__(
        self,
        backbone: str | nn.Module = "fip",
        in_chans: int = 1,
        input_size: tuple[int, int] = (32, 32),
        view_loss_weight: float = 0.1,
        lda: bool = False,
        lda_components: int | None = None,
        gallery_yaw: float = 0.0,
        gallery_illumination: int | None = None,
        pixel_baselines: bool = True,
        optimizer: OptimizerName = "adam",
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        **kwargs: Any,
    ) -> None:
        if view_loss_weight < 0:
            raise ValueError(f"view_loss_weight must be >= 0, got {view_loss_weight}")
        super().__init__(
            backbone=backbone, optimizer=optimizer, lr=lr, weight_decay=weight_decay, **kwargs
        )

    # -- construction --------------------------------------------------------------------------
    def build_backbone(self, name: str, **kwargs: Any) -> nn.Module:
        """A registry network sized for ``in_chans`` and ``input_size``."""
        if model_accepts(name, "in_chans"):
            kwargs.setdefault("in_chans", int(self.hp.in_chans))
        if model_accepts(name, "in_size"):
            kwargs.setdefault("in_size", tuple(self.hp.input_size))
        return super().build_backbone(name, **kwargs)

    @property
    def num_views(self) -> int:
        """Views the backbone renders (0: the canonical view only)."""
        return int(getattr(self.backbone, "num_views", 0))

    def configure_metrics(self) -> MetricCollection:
        """Reconstruction error, PSNR and SSIM; the identification metrics of each stage."""
        hp = self.hp
        for stage in ("val", "test"):
            metrics = {
                "features": PoseIdentification(
                    hp.gallery_yaw, hp.gallery_illumination, hp.lda, hp.lda_components
                )
            }
            if not hp.lda:  # the features through LDA too, as FIP reports them
                metrics["lda"] = PoseIdentification(
                    hp.gallery_yaw, hp.gallery_illumination, True, hp.lda_components
                )
            if hp.pixel_baselines:
                for name, lda in _BASELINES.items():
                    metrics[name] = PoseIdentification(
                        hp.gallery_yaw, hp.gallery_illumination, lda, hp.lda_components
                    )
            setattr(self, f"{stage}_identification", nn.ModuleDict(metrics))
        return MetricCollection(
            {
                "reconstruction_mse": MeanSquaredError(),
                "psnr": PeakSignalNoiseRatio(data_range=1.0),
                "ssim": StructuralSimilarityIndexMeasure(data_range=1.0),
            }
        )

    # -- forward -------------------------------------------------------------------------------
    def target_views(self, batch: Mapping[str, Tensor]) -> Tensor | None:
        """View indices of the batch's targets (``None`` for a canonical-view network)."""
        if not self.num_views:
            return None
        return self._backbone_call("view_index", batch["target_yaw"])

    def _backbone_call(self, method: str, *args: Any) -> Any:
        # The view-reconstruction contract is duck-typed (any module providing it works).
        return getattr(self.backbone, method)(*args)

    def forward(self, images: Tensor, view: Tensor | None = None) -> dict[str, Tensor]:
        """``features``, ``reconstruction`` (and MVP's ``view_logits``) of ``images``."""
        return cast(
            dict[str, Tensor], self._backbone_call("forward_all", self.prepare_images(images), view)
        )

    def losses(self, batch: Mapping[str, Tensor], out: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """``reconstruction`` loss ``‖Y − Ŷ‖²`` (pixel mean), MVP's ``view`` loss, ``loss``."""
        reconstruction = F.mse_loss(out["reconstruction"], batch["target"])
        losses = {"reconstruction": reconstruction, "loss": reconstruction}
        if "view_logits" in out:
            views = cast(Tensor, self._backbone_call("view_index", batch["yaw"]))
            losses["view"] = F.cross_entropy(out["view_logits"], views)
            losses["loss"] = reconstruction + float(self.hp.view_loss_weight) * losses["view"]
        return losses

    # -- steps ---------------------------------------------------------------------------------
    def training_step(self, batch: Mapping[str, Tensor], batch_idx: int) -> Tensor:
        """The reconstruction (and view) loss of the batch."""
        out = self(batch["image"], self.target_views(batch))
        losses = self.losses(batch, out)
        batch_size = batch["image"].shape[0]
        self.log("train/loss", losses["loss"], prog_bar=True, batch_size=batch_size)
        if "view" in losses:
            self.log("train/view_loss", losses["view"], batch_size=batch_size)
        return losses["loss"]

    def _evaluate(self, stage: str, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        images = batch["image"]
        out = self(images, self.target_views(batch))
        reference = batch.get("reference")
        if reference is None:
            reference = torch.zeros(images.shape[0], dtype=torch.bool, device=images.device)
        evaluated = ~reference.bool()
        identification = cast(nn.ModuleDict, getattr(self, f"{stage}_identification"))
        for name, module in identification.items():
            metric = cast(PoseIdentification, module)
            # The network's rows use its identity features; the baselines the raw pixels.
            features = images.flatten(1) if name in _BASELINES else out["features"]
            metric.update(
                features, batch["identity"], batch["yaw"], batch.get("illumination"), reference
            )
        count = int(evaluated.sum())
        if count:
            kept = {k: v[evaluated] for k, v in batch.items() if isinstance(v, Tensor)}
            kept_out = {k: v[evaluated] for k, v in out.items()}
            losses = self.losses(kept, kept_out)
            self.log_mean(f"{stage}/loss", losses["loss"], count)
            metrics = cast(MetricCollection, getattr(self, f"{stage}_metrics"))
            metrics.update(kept_out["reconstruction"].clamp(0, 1), kept["target"])
            self.log_dict(metrics, batch_size=count)
        return {
            "image": images,
            "target": batch["target"],
            "reconstruction": out["reconstruction"],
            "features": out["features"],
            "reference": reference,
        }

    def validation_step(self, batch: Mapping[str, Tensor], batch_idx: int) -> dict[str, Tensor]:
        """Accumulate the reconstruction and identification metrics of a validation batch."""
        return self._evaluate("val", batch)

    def test_step(self, batch: Mapping[str, Tensor], batch_idx: int) -> dict[str, Tensor]:
        """Accumulate the reconstruction and identification metrics of a test batch."""
        return self._evaluate("test", batch)

    def _log_identification(self, stage: str) -> None:
        identification = cast(nn.ModuleDict, getattr(self, f"{stage}_identification"))
        rows: dict[str, dict[str, Tensor]] = {}
        for name, module in identification.items():
            metric = cast(PoseIdentification, module)
            if not metric.update_called:
                continue
            rates = cast(dict[str, Tensor], metric.compute())
            metric.reset()
            prefix = "" if name == "features" else f"{name}_"
            # Computed from every process's features: equal on all of them.
            self.log_dict({f"{stage}/{prefix}{k}": v for k, v in rates.items()})
            rows[name] = rates
        if self.trainer.sanity_checking or not rows:
            return
        fn = self.trainer.state.fn
        last_epoch = self.trainer.current_epoch + 1 >= (self.trainer.max_epochs or 0)
        if stage == "test" or fn != "fit" or last_epoch or self.trainer.should_stop:
            network = type(self.backbone).__name__
            names = {
                "features": f"{network}{' + LDA' if self.hp.lda else ''}",
                "lda": f"{network} + LDA",
                "pixels": "raw pixels",
                "pixels_lda": "pixels + LDA",
            }
            table = format_identification_table({names.get(k, k): v for k, v in rows.items()})
            rank_zero_info(f"Face identification rate (%) per pose on {stage}:\n{table}")

    def on_validation_epoch_end(self) -> None:
        """Log (and after the last epoch print) the identification table of validation."""
        self._log_identification("val")

    def on_test_epoch_end(self) -> None:
        """Log and print the identification table of the test set."""
        self._log_identification("test")

    def predict_step(self, batch: Mapping[str, Any], batch_idx: int) -> dict[str, Any]:
        """Identity features and the reconstruction at the target view of each image.

        Returns:
            ``features`` ``(B, D)``, ``reconstruction`` ``(B, C, H, W)``, MVP's
            ``view_probabilities`` ``(B, V)``, and the batch's ``identity``, ``yaw``,
            ``target_yaw`` and ``path`` entries where it has them.
        """
        out = self(batch["image"], self.target_views(batch))
        result: dict[str, Any] = {
            "features": out["features"],
            "reconstruction": out["reconstruction"],
        }
        if "view_logits" in out:
            result["view_probabilities"] = out["view_logits"].softmax(dim=1)
        result.update(
            {k: batch[k] for k in ("identity", "yaw", "target_yaw", "path") if k in batch}
        )
        return result

    def result_summary(self, metrics: Mapping[str, Any]) -> str | None:
        """Mean identification rate beside the raw-pixel baseline, and the PSNR."""
        prefix = next((p for p in ("test", "val") if f"{p}/identification_mean" in metrics), None)
        if prefix is None:
            return super().result_summary(metrics)
        parts = [
            f"mean identification {100 * float(metrics[f'{prefix}/identification_mean']):.1f} %"
        ]
        for name, label in (("pixels", "raw pixels"), ("pixels_lda", "pixels + LDA")):
            key = f"{prefix}/{name}_identification_mean"
            if key in metrics:
                parts.append(f"{label} {100 * float(metrics[key]):.1f} %")
        if f"{prefix}/psnr" in metrics:
            parts.append(f"PSNR {float(metrics[f'{prefix}/psnr']):.2f} dB")
        return f"Reconstruction on {prefix}: " + ", ".join(parts)
