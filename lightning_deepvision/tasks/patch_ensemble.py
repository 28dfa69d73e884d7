"""The DeepID2 patch ensemble as one task: every patch network, one checkpoint."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from lightning_deepvision.metrics import JointBayesianScorer, ScoringName
from lightning_deepvision.models.patch_ensemble import DEEPID2_PATCHES, PatchEnsemble
from lightning_deepvision.tasks.patch_selection import greedy_patch_selection
from lightning_deepvision.tasks.verification import VerificationTask


class PatchEnsembleTask(VerificationTask):
    """DeepID2's patch ensemble trained and evaluated as one verification task.

    Sun, Wang, Tang, "Deep Learning Face Representation by Joint Identification-Verification",
    NIPS 2014, §3 (and DeepID2+, CVPR 2015, §4): patches at several positions, scales and
    colour modes are cut from the aligned face, each by its own ConvNet
    (:class:`~lightning_deepvision.models.PatchEnsemble`); every net is trained by its own
    identification-verification losses (its levels are the task's supervised levels). For
    evaluation the features of each patch *and of its mirror* are concatenated
    (``flip_test="concat"``), reduced by PCA and verified by Joint Bayesian (the defaults
    ``scoring="joint_bayesian"``, ``joint_bayesian_pca_dim=180`` as DeepID2's 180-d). All
    networks live in one module, so ``fit`` writes one checkpoint and ``test --ckpt_path`` reads
    it back.

    **Greedy patch selection** (DeepID2 §3: forward-backward greedy selection of 25 of 400
    patches): with ``select_patches=k``, before each evaluation the training identities'
    embeddings are split by identity into two halves, and patches are added (then dropped while
    that helps) by the verification accuracy of Joint Bayesian fitted on one half and applied to
    pairs of the other; the chosen patches are kept in the model's ``selected`` buffer (saved in
    the checkpoint) and used by the scorer.

    Args:
        backbone: ``"patch_ensemble"``, built from the options below (kept as an argument so
            that configs and checkpoints name it).
        patch_net: Registry name of each patch network (``"deepid2"``, ``"deepid2plus"``, ...).
        patches: ``[top, left, height, width]`` or ``[top, left, height, width, "rgb"|"grey"]``
            per patch, fractions of the aligned face; ``None`` gives the 25 default patches
            (:data:`~lightning_deepvision.models.DEEPID2_PATCHES`).
        patch_size: ``(height, width)`` every patch is resized to (55×47 in the papers).
        input_size: ``(height, width)`` of the aligned face the data module feeds.
        select_patches: Keep this many patches by greedy selection; ``None`` keeps all.
        scoring: Pair scorer (Joint Bayesian by default, as the papers).
        joint_bayesian_pca_dim: PCA dimension before Joint Bayesian (DeepID2: 180).
        **kwargs: The options of :class:`VerificationTask` (losses, ``flip_test``, ...) and of
            :class:`~lightning_deepvision.tasks.BaseTask` (optimiser, transfer).
    """

    def __init__(
        self,
        backbone: str = "patch_ensemble",
        patch_net: str = "deepid2",
        patches: list[list[float | str]] | None = None,
        patch_size: tuple[int, int] = (55, 47),
        input_size: tuple[int, int] = (64, 56),
        select_patches: int | None = None,
        scoring: ScoringName = "joint_bayesian",
        joint_bayesian_pca_dim: int | None = 180,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            backbone=backbone,
            input_size=input_size,
            scoring=scoring,
            joint_bayesian_pca_dim=joint_bayesian_pca_dim,
            **kwargs,
        )

    def build_backbone(self, name: str, **kwargs: Any) -> nn.Module:
        """The patch ensemble (``name == "patch_ensemble"``) sized from the task's options."""
        if name != "patch_ensemble":
            raise ValueError(
                f"PatchEnsembleTask builds its own backbone 'patch_ensemble'; got {name!r}: "
                "choose the per-patch network with patch_net"
            )
        hp = self.hp
        count = len(hp.patches) if hp.patches is not None else None
        if hp.select_patches is not None and not 0 < int(hp.select_patches) <= (
            count or len(DEEPID2_PATCHES)
        ):
            raise ValueError(
                f"select_patches must be between 1 and the number of patches, got "
                f"{hp.select_patches}"
            )
        return PatchEnsemble(
            net=str(hp.patch_net),
            patches=hp.patches,
            in_chans=int(hp.in_chans),
            patch_size=tuple(hp.patch_size),
            net_kwargs=kwargs,
        )

    @property
    def ensemble(self) -> PatchEnsemble:
        """The backbone, typed."""
        assert isinstance(self.backbone, PatchEnsemble)
        return self.backbone

    def forward(self, images: Tensor) -> Tensor:
        """Concatenated features of the selected patches."""
        return self.ensemble.forward_features(self.prepare_images(images))

    def embed(self, images: Tensor) -> Tensor:
        """Each patch's features with (per ``flip_test``) those of the patch's mirror."""
        embedding = self(images)
        flip = self.hp.flip_test
        if flip == "none":
            return embedding
        mirrored = self.ensemble.mirrored_features(self.prepare_images(images))
        if flip == "mean":
            return (embedding + mirrored) / 2
        return torch.cat([embedding, mirrored], dim=1)

    @torch.no_grad()
    def _fit_scorer(self) -> None:
        """Select patches greedily (if asked), then fit the scorer on the selection."""
        if self.hp.get("select_patches") is not None:
            self._select_patches(int(self.hp.select_patches))
        if isinstance(self.scorer, JointBayesianScorer) and self.hp.joint_bayesian_pca_dim:
            # The selection (and a small patch list) may give fewer dimensions than asked for.
            width = self.ensemble.num_features * (2 if self.hp.flip_test == "concat" else 1)
            self.scorer.pca_dim = min(int(self.hp.joint_bayesian_pca_dim), width)
        super()._fit_scorer()

    def _select_patches(self, count: int) -> None:
        datamodule = getattr(self.trainer, "datamodule", None)
        loader_of = getattr(datamodule, "embedding_fit_dataloader", None)
        if not callable(loader_of):
            return  # a checkpoint restores the selection made when it was written
        ensemble = self.ensemble
        ensemble.selected.fill_(True)
        per_patch: list[list[Tensor]] = [[] for _ in range(ensemble.num_patches)]
        labels = []
        for batch in loader_of(self.hp.joint_bayesian_max_images):
            images = self.prepare_images(batch["image"].to(self.device))
            plain = ensemble.patch_embeddings(images)
            mirrored = ensemble.patch_embeddings(images, mirror=True)
            for k, (a, b) in enumerate(zip(plain, mirrored, strict=True)):
                per_patch[k].append(torch.cat([a, b], dim=1).float().cpu())
            labels.append(batch["label"].cpu())
        features = [torch.cat(chunks) for chunks in per_patch]
        chosen = greedy_patch_selection(
            features, torch.cat(labels), count, pca_dim=self.hp.joint_bayesian_pca_dim
        )
        ensemble.selected.copy_(
            torch.tensor([k in chosen for k in range(ensemble.num_patches)], dtype=torch.bool)
        )
