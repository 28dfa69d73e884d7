"""Face verification with joint identification-verification supervision (DeepID2, DeepID2+)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal, Protocol, cast, runtime_checkable

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader
from torchmetrics import MetricCollection

from lightning_deepvision.losses import (
    JointIdentificationVerificationLoss,
    VerificationKind,
    VerificationLoss,
)
from lightning_deepvision.metrics import (
    KFoldVerificationAccuracy,
    ScoringName,
    TARAtFAR,
    VerificationAUROC,
    build_scorer,
)
from lightning_deepvision.models.registry import model_accepts
from lightning_deepvision.tasks.base import BaseTask

FlipTest = Literal["none", "mean", "concat"]


@runtime_checkable
class ScorerFitData(Protocol):
    """What a data module provides so that a scorer that learns (Joint Bayesian) can be fitted.

    :class:`~lightning_deepvision.datamodules.VerificationDataModule` implements it; a user's
    own data module does by defining the method.
    """

    def embedding_fit_dataloader(self, max_images: int) -> DataLoader[Any]:
        """Identity-labelled images (``image``, ``label``) with evaluation transforms."""
        ...


class VerificationTask(BaseTask):
    """Learn face embeddings with identification + verification signals; verify pairs.

    Training follows DeepID2 (Sun, Wang, Tang, "Deep Learning Face Representation by Joint
    Identification-Verification", NIPS 2014): an n-way softmax on the DeepID2 vector plus
    λ·verification loss on pairs of that vector (λ = 0.05), with the verification margin reset
    during training to the threshold that best separates recent pairs. With a deeply supervised
    backbone (DeepID2+, Sun, Wang, Tang, CVPR 2015) every FC-n level gets its own
    identification and verification supervision, weighted by ``level_weights``.

    Evaluation follows LFW's protocol (specs §9a): pairs in folds, the threshold chosen on the
    other folds and applied to the held-out one; mean and std of the fold accuracies, ROC AUC
    and TAR at a fixed FAR. Pairs are scored by a scorer chosen by name
    (:func:`~lightning_deepvision.metrics.build_scorer`): cosine similarity, negative L2
    distance, negative Hamming distance of binarised features (DeepID2+ Table 4), or a Joint
    Bayesian model (Chen et al., ECCV 2012) fitted on training embeddings (DeepID2 §3) before
    each evaluation, from a data module implementing :class:`ScorerFitData`.

    Args:
        backbone: Registry name or ``nn.Module`` mapping images to embeddings; one with
            ``forward_levels(x) -> list[Tensor]`` and ``level_features`` gets deep supervision.
        num_identities: Size of the identification softmax. ``None`` reads ``num_classes`` of
            the data module when ``fit`` starts (and stores it in the hyperparameters).
        in_chans: Input channels.
        input_size: ``(height, width)`` of the input (55×47 in the papers); given to registry
            builders that declare it.
        verification_loss: Verification signal of DeepID2 Table 2: ``"l2"`` (paper default),
            ``"l2+"``, ``"l2-"``, ``"l1"`` or ``"cosine"``.
        verification_weight: λ, the weight of the verification signal (0.05 in the paper).
        verification_warmup_steps: Ramp λ linearly from 0 over this many optimiser steps, so
            that identification shapes the features before the verification signal (whose
            positive term alone would pull a freshly initialised network's embeddings to zero)
            takes effect. 0 applies the full λ from the first step, as in the paper.
        margin: Initial margin m of the verification loss.
        balance_pairs: Weigh the verification loss's positive-pair and negative-pair means
            equally instead of averaging over all pairs of the batch (see
            :class:`~lightning_deepvision.losses.VerificationLoss`). Off by default: it collapses
            DeepID2+'s embeddings when training from scratch; it helps with few identities per
            batch (AT&T, 14 a batch).
        adaptive_margin: Re-set m during training to the best threshold on recent pairs.
        level_weights: Loss weight of each supervised level (DeepID2+'s FC-1…FC-4); ``None``
            weighs all levels equally.
        scoring: How a pair of embeddings is scored at evaluation.
        flip_test: Combine each image's embedding with its mirror's: ``"concat"`` (as DeepID2+
            feeds a region and its flip to the verifier), ``"mean"`` or ``"none"``.
        binarize_threshold: Activation threshold of the binary codes for ``"hamming"``.
        far: False accept rate of the reported TAR, logged as ``tar_at_far_<far>`` (e.g.
            ``val/tar_at_far_1e-2``). Choose one the evaluation set resolves: at least
            1 / (number of mismatched pairs); below it the metric warns.
        joint_bayesian_pca_dim: PCA dimension before Joint Bayesian or LDA (DeepID2 uses 180
            for its 4000-d concatenation); ``None`` keeps the full dimension.
        joint_bayesian_max_images: Training images embedded to fit Joint Bayesian.
        channels_last: Run the backbone in channels-last memory format.
        **kwargs: The shared options of :class:`~lightning_deepvision.tasks.BaseTask`
            (``backbone_kwargs``, ``init_from``, ``freeze_backbone``, ``backbone_lr_scale``,
            ``optimizer``, ``lr``, ``momentum``, ``weight_decay``, ``lr_schedule``).
    """

    monitor: ClassVar[str] = "val/accuracy"
    mode: ClassVar[Literal["min", "max"]] = "max"
    data_hparams: ClassVar[dict[str, str]] = {"num_identities": "num_classes"}
    # Pair metrics need pairs: training batches are identities, so no train clone.
    metric_stages: ClassVar[tuple[str, ...]] = ("val", "test")

    def __init__(
        self,
        backbone: str | nn.Module = "deepid2plus",
        num_identities: int | None = None,
        in_chans: int = 3,
        input_size: tuple[int, int] = (55, 47),
        verification_loss: VerificationKind = "l2",
        verification_weight: float = 0.05,
        verification_warmup_steps: int = 0,
        margin: float = 1.0,
        balance_pairs: bool = False,
        adaptive_margin: bool = True,
        level_weights: list[float] | None = None,
        scoring: ScoringName = "cosine",
        flip_test: FlipTest = "concat",
        binarize_threshold: float = 0.0,
        far: float = 1e-2,
        joint_bayesian_pca_dim: int | None = None,
        joint_bayesian_max_images: int = 10000,
        channels_last: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(backbone=backbone, channels_last=channels_last, **kwargs)

    # -- construction --------------------------------------------------------------------------
    def build_backbone(self, name: str, **kwargs: Any) -> nn.Module:
        """A registry backbone without classifier, sized for ``in_chans`` (and ``input_size``)."""
        if model_accepts(name, "num_classes"):
            kwargs.setdefault("num_classes", 0)
        if model_accepts(name, "in_chans"):
            kwargs.setdefault("in_chans", self.hp.in_chans)
        if model_accepts(name, "input_size"):
            kwargs.setdefault("input_size", tuple(self.hp.input_size))
        return super().build_backbone(name, **kwargs)

    def configure_models(self) -> None:
        """Infer the supervised levels and their loss weights; build the pair scorer."""
        hp = self.hp
        self.level_features = self._infer_level_features()
        weights = hp.level_weights or [1.0] * len(self.level_features)
        if len(weights) != len(self.level_features):
            raise ValueError(
                f"level_weights has {len(weights)} entries but the backbone supervises "
                f"{len(self.level_features)} levels {self.level_features}"
            )
        self.level_weights = [float(w) for w in weights]
        self.identity_heads: nn.ModuleList | None = None
        self.scorer = build_scorer(
            hp.scoring,
            binarize_threshold=hp.binarize_threshold,
            pca_dim=hp.joint_bayesian_pca_dim,
        )

    def _infer_level_features(self) -> list[int]:
        declared = getattr(self.backbone, "level_features", None)
        if declared is not None:
            return [int(d) for d in declared]
        num_features = getattr(self.backbone, "num_features", None)
        if isinstance(num_features, int) and num_features > 0:
            return [num_features]
        # A plain module: one dry run tells its embedding size.
        was_training = self.backbone.training
        self.backbone.eval()
        with torch.no_grad():
            probe = torch.zeros(1, self.hp.in_chans, *self.hp.input_size)
            out = self.backbone(probe)
        self.backbone.train(was_training)
        return [int(out.flatten(1).shape[1])]

    def configure_heads(self) -> None:
        """One identification softmax per supervised level, zero-initialised."""
        # Zero-initialised: the first softmax is uniform. With random heads, the quickest way to
        # lower a fresh network's cross-entropy is to shrink every embedding (random logits
        # only add loss), which kills the ReLU features of all levels within a few dozen steps
        # (measured on DeepID2+: FC-1 98 % zeros after 15 SGD steps). From zero the heads grow
        # along the identity directions and the features never have that incentive.
        num_identities = int(self.hp.num_identities)
        heads = [nn.Linear(d, num_identities) for d in self.level_features]
        for head in heads:
            nn.init.zeros_(head.weight)
            nn.init.zeros_(head.bias)
        self.identity_heads = nn.ModuleList(heads)

    def configure_losses(self) -> None:
        """One joint identification-verification loss per supervised level (own margin each)."""
        hp = self.hp
        self.joint_losses = nn.ModuleList(
            JointIdentificationVerificationLoss(
                verification_weight=hp.verification_weight,
                verification=VerificationLoss(
                    kind=hp.verification_loss,
                    margin=hp.margin,
                    adaptive_margin=hp.adaptive_margin,
                    balance_pairs=bool(hp.balance_pairs),
                ),
            )
            for _ in self.level_features
        )

    def configure_metrics(self) -> MetricCollection:
        """LFW-protocol pair metrics (cloned for validation and test by the base)."""
        tar = TARAtFAR(far=self.hp.far)
        return MetricCollection(
            {
                "accuracy": KFoldVerificationAccuracy(statistic="mean"),
                "accuracy_std": KFoldVerificationAccuracy(statistic="std"),
                "auc": VerificationAUROC(),
                tar.name: tar,
            }
        )

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Read checkpoints written before the scorers were objects (``joint_bayesian.*``)."""
        state = checkpoint.get("state_dict", {})
        old = [k for k in state if k.startswith("joint_bayesian.")]
        for key in old:
            value = state.pop(key)
            if self.hp.scoring == "joint_bayesian":
                state["scorer.model." + key[len("joint_bayesian.") :]] = value

    # -- forward -------------------------------------------------------------------------------
    def forward_levels(self, images: Tensor) -> list[Tensor]:
        """Embeddings of every supervised level; the last is the face representation."""
        images = self.prepare_images(images)
        levels = getattr(self.backbone, "forward_levels", None)
        if callable(levels):
            return list(levels(images))
        return [self.backbone(images).flatten(1)]

    def forward(self, images: Tensor) -> Tensor:
        """The face representation (the last supervised level)."""
        return self.forward_levels(images)[-1]

    def embed(self, images: Tensor) -> Tensor:
        """Evaluation embedding, combined with the mirrored image's per ``flip_test``."""
        embedding = self(images)
        flip = self.hp.flip_test
        if flip == "none":
            return embedding
        mirrored = self(torch.flip(images, dims=[-1]))
        if flip == "mean":
            return (embedding + mirrored) / 2
        return torch.cat([embedding, mirrored], dim=1)

    def score(self, embeddings1: Tensor, embeddings2: Tensor) -> Tensor:
        """Pair scores, higher meaning more likely the same person."""
        return cast(Tensor, self.scorer(embeddings1, embeddings2))

    # -- steps ---------------------------------------------------------------------------------
    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        """Joint identification-verification loss summed over the supervised levels."""
        if self.identity_heads is None:
            raise RuntimeError("identity heads are not built: num_identities is unknown")
        images, labels = batch["image"], batch["label"]
        weight_now = self.current_verification_weight()
        for loss_fn in self.joint_losses:
            cast(JointIdentificationVerificationLoss, loss_fn).verification_weight = weight_now
        total = images.new_zeros(())
        parts: dict[str, Tensor] = {}
        logits = images.new_zeros(())
        for embedding, head, loss_fn, weight in zip(
            self.forward_levels(images),
            self.identity_heads,
            self.joint_losses,
            self.level_weights,
            strict=True,
        ):
            logits = head(embedding)
            parts = loss_fn(embedding, logits, labels)
            total = total + weight * parts["loss"]
        batch_size = images.shape[0]
        final_loss: Any = self.joint_losses[-1]
        self.log("train/loss", total, prog_bar=True, batch_size=batch_size)
        self.log("train/identification", parts["identification"], batch_size=batch_size)
        self.log("train/verification", parts["verification"], batch_size=batch_size)
        self.log("train/margin", final_loss.verification.margin, batch_size=batch_size)
        self.log("train/verification_weight", weight_now, batch_size=batch_size)
        accuracy = (logits.argmax(dim=1) == labels).float().mean()
        self.log("train/identification_accuracy", accuracy, prog_bar=True, batch_size=batch_size)
        return total

    def current_verification_weight(self) -> float:
        """λ at the current step, after the linear warm-up."""
        weight = float(self.hp.verification_weight)
        warmup = int(self.hp.verification_warmup_steps)
        if warmup <= 0 or self._trainer is None:
            return weight
        return weight * min(1.0, self.trainer.global_step / warmup)

    def _pair_scores(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor, Tensor]:
        embeddings1, embeddings2 = self.embed(batch["image1"]), self.embed(batch["image2"])
        return self.score(embeddings1, embeddings2), embeddings1, embeddings2

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        """Score the pairs and accumulate the protocol metrics."""
        scores, _, _ = self._pair_scores(batch)
        self.val_metrics.update(scores, batch["same"], batch["fold"], batch["index"])
        self.log_dict(self.val_metrics, batch_size=scores.shape[0], prog_bar=True)

    def test_step(self, batch: dict[str, Tensor], batch_idx: int) -> dict[str, Tensor]:
        """Score the pairs; the outputs feed callbacks such as the ROC-curve logger."""
        scores, _, _ = self._pair_scores(batch)
        self.test_metrics.update(scores, batch["same"], batch["fold"], batch["index"])
        self.log_dict(self.test_metrics, batch_size=scores.shape[0])
        return {"scores": scores, "same": batch["same"], "index": batch["index"]}

    def predict_step(self, batch: dict[str, Tensor], batch_idx: int) -> dict[str, Tensor]:
        """Embeddings for downstream use: of each pair (with its score) or of each image."""
        if "image1" in batch:
            scores, embeddings1, embeddings2 = self._pair_scores(batch)
            out = {"embedding1": embeddings1, "embedding2": embeddings2, "score": scores}
            out.update({k: batch[k] for k in ("same", "fold", "index") if k in batch})
            return out
        out = {"embedding": self.embed(batch["image"])}
        out.update({k: batch[k] for k in ("label", "index", "path") if k in batch})
        return out

    def result_summary(self, metrics: Mapping[str, Any]) -> str | None:
        """The recipe's answer to "how well does it verify?", from the logged metrics."""
        prefix = next((p for p in ("test", "val") if f"{p}/accuracy" in metrics), None)
        if prefix is None:
            return None
        parts = [f"{prefix}/accuracy = {float(metrics[f'{prefix}/accuracy']):.4f}"]
        if f"{prefix}/accuracy_std" in metrics:
            parts[0] += f" ± {float(metrics[f'{prefix}/accuracy_std']):.4f} over folds"
        parts += [
            f"{key} = {float(value):.4f}"
            for key, value in metrics.items()
            if key.startswith((f"{prefix}/auc", f"{prefix}/tar_at_far"))
        ]
        return "Verification on held-out pairs: " + ", ".join(parts)

    # -- scorers that learn (Joint Bayesian) ---------------------------------------------------
    def on_validation_epoch_start(self) -> None:
        """Fit a learning scorer on current training embeddings."""
        self._fit_scorer()

    def on_test_epoch_start(self) -> None:
        """Fit a learning scorer on current training embeddings."""
        self._fit_scorer()

    def on_predict_epoch_start(self) -> None:
        """Fit a learning scorer on current training embeddings (pair predictions score)."""
        self._fit_scorer()

    @torch.no_grad()
    def _fit_scorer(self) -> None:
        if not self.scorer.requires_fit:
            return
        datamodule = getattr(self.trainer, "datamodule", None)
        if not isinstance(datamodule, ScorerFitData):
            if self.scorer.is_fitted:
                return  # restored from a checkpoint
            raise RuntimeError(
                f"scoring={self.hp.scoring!r} is fitted on identity-labelled training images: "
                "use a data module implementing ScorerFitData (embedding_fit_dataloader), e.g. "
                "a VerificationDataModule, or load a checkpoint with a fitted scorer"
            )
        embeddings, labels = [], []
        for batch in datamodule.embedding_fit_dataloader(self.hp.joint_bayesian_max_images):
            images = batch["image"].to(self.device)
            embeddings.append(self.embed(images).float().cpu())
            labels.append(batch["label"].cpu())
        self.scorer.fit(torch.cat(embeddings), torch.cat(labels))
        self.scorer.to(self.device)
