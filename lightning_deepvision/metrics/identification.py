"""Face identification rate per pose against a frontal gallery, as FIP and MVP report it.

Zhu, Luo, Wang, Tang ("Deep Learning Identity-Preserving Face Space", ICCV 2013, and
"Multi-View Perceptron", NIPS 2014) identify Multi-PIE faces across poses: the frontal images
are the gallery, the images of every other pose the probes, each probe is given the identity of
its nearest gallery image, and the table lists the identification rate of each pose and their
average, for the deep features and for hand-crafted baselines (raw pixels, + LDA). What
torchmetrics lacks and this module adds: the split into gallery and probes by pose, the rate per
pose, an optional Fisher LDA (scikit-learn's ``LinearDiscriminantAnalysis``) fitted on
reference images of the *training* people, and the table.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat, rank_zero_warn

from lightning_deepvision.metrics.functional import canonical_order
from lightning_deepvision.metrics.retrieval import cosine_knn

#: Principal components kept before the LDA (Fisherfaces).
DEFAULT_PCA_COMPONENTS = 100

__all__ = [
    "DEFAULT_PCA_COMPONENTS",
    "PoseIdentification",
    "fit_lda",
    "format_identification_table",
    "pose_identification",
    "yaw_key",
]


def yaw_key(yaw: float) -> str:
    """The name of a pose's column and metric suffix: ``-45``, ``15``."""
    return f"{round(float(yaw)):d}"


def fit_lda(
    reference: Tensor,
    identities: Tensor,
    components: int | None = None,
    pca_components: int = DEFAULT_PCA_COMPONENTS,
) -> Any:
    """Fisher LDA on a PCA of ``reference``: Fisherfaces (scikit-learn's PCA and LDA).

    Belhumeur, Hespanha, Kriegman, "Eigenfaces vs. Fisherfaces", TPAMI 1997: reference sets
    hold a few images per person and often fewer images than dimensions (pixels), where the
    within-class scatter is singular and LDA alone overfits; projecting on the leading
    ``pca_components`` principal components first (at most ``N − classes``) keeps it
    well-posed, and costs one SVD instead of a covariance per class.

    Returns:
        The fitted scikit-learn pipeline (``transform`` projects features).

    Raises:
        ValueError: With fewer than two reference identities.
    """
    from sklearn.decomposition import PCA
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.pipeline import make_pipeline

    classes = identities.unique().numel()
    if classes < 2:
        raise ValueError(
            "LDA needs reference images of at least two training identities, got "
            f"{classes} (give the evaluation reference images of the training people, or turn "
            "LDA off)"
        )
    samples, width = reference.shape
    dims = max(1, min(pca_components, samples - classes, width))
    pipeline = make_pipeline(
        PCA(n_components=dims, svd_solver="randomized", random_state=0),
        LinearDiscriminantAnalysis(solver="svd", n_components=components),
    )
    pipeline.fit(reference.double().cpu().numpy(), identities.cpu().numpy())
    return pipeline


def pose_identification(
    features: Tensor,
    identities: Tensor,
    yaws: Tensor,
    gallery: Tensor,
    reference: Tensor | None = None,
    reference_identities: Tensor | None = None,
    lda_components: int | None = None,
    pca_components: int = DEFAULT_PCA_COMPONENTS,
) -> dict[str, Tensor]:
    """Identification rate of the probes of each pose by their nearest gallery image.

    Each probe (a row not in ``gallery``) takes the identity of the gallery row most
    cosine-similar to it; its pose's rate is the fraction of its probes named correctly. Probes
    whose person has no gallery image are left out (closed-set identification). With
    ``reference`` features (of other people than the gallery's: the training identities), a
    Fisher LDA fitted on them projects gallery and probes first.

    Args:
        features: ``(N, D)`` features of the evaluated images.
        identities: ``(N,)`` identity of each.
        yaws: ``(N,)`` pose of each, degrees.
        gallery: ``(N,)`` bool, the gallery rows.
        reference: ``(M, D)`` features to fit LDA on, or ``None`` for no LDA.
        reference_identities: ``(M,)`` identities of ``reference``.
        lda_components: LDA dimensions (``None``: classes − 1).
        pca_components: Principal components kept before the LDA (see :func:`fit_lda`).

    Returns:
        ``identification_<yaw>`` for every probe pose (:func:`yaw_key`) and
        ``identification_mean``, their average; empty when there are no probes or no gallery.
    """
    gallery = gallery.bool()
    if reference is not None:
        if reference_identities is None:
            raise ValueError("reference features need their reference_identities")
        lda = fit_lda(reference, reference_identities, lda_components, pca_components)
        features = torch.from_numpy(lda.transform(features.double().cpu().numpy())).float()
        identities, yaws, gallery = identities.cpu(), yaws.cpu(), gallery.cpu()
    known = torch.isin(identities, identities[gallery])
    probes = ~gallery & known
    if not bool(gallery.any()) or not bool(probes.any()):
        return {}
    _, nearest = cosine_knn(features[probes].float(), features[gallery].float(), k=1)
    correct = (identities[gallery][nearest[:, 0]] == identities[probes]).float()
    probe_yaws = yaws[probes].round()
    rates = {
        f"identification_{yaw_key(yaw)}": correct[probe_yaws == yaw].mean()
        for yaw in probe_yaws.unique().tolist()
    }
    rates["identification_mean"] = torch.stack(list(rates.values())).mean()
    return rates


class PoseIdentification(Metric):
    """Accumulates features over batches and processes; computes :func:`pose_identification`.

    The gallery is every evaluated image at ``gallery_yaw`` (and, when given, under
    ``gallery_illumination``); the probes are the images of the other poses. Rows marked
    ``reference`` (images of training people) are never gallery or probe: with ``lda`` they fit
    the LDA projection (with fewer than two reference people it warns and reports nothing).

    Args:
        gallery_yaw: Pose of the gallery (0: frontal).
        gallery_illumination: Illumination id of the gallery; ``None``: any.
        lda: Project by an LDA fitted on the reference rows.
        lda_components: LDA dimensions (``None``: classes − 1).
        pca_components: Principal components kept before the LDA (see :func:`fit_lda`).
    """

    full_state_update = False
    features: list[Tensor]
    identities: list[Tensor]
    yaws: list[Tensor]
    illuminations: list[Tensor]
    reference: list[Tensor]

    def __init__(
        self,
        gallery_yaw: float = 0.0,
        gallery_illumination: int | None = None,
        lda: bool = False,
        lda_components: int | None = None,
        pca_components: int = DEFAULT_PCA_COMPONENTS,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.pca_components = pca_components
        self.gallery_yaw = float(gallery_yaw)
        self.gallery_illumination = gallery_illumination
        self.lda = lda
        self.lda_components = lda_components
        for name in ("features", "identities", "yaws", "illuminations", "reference"):
            self.add_state(name, default=[], dist_reduce_fx="cat")

    def update(
        self,
        features: Tensor,
        identities: Tensor,
        yaws: Tensor,
        illuminations: Tensor | None = None,
        reference: Tensor | None = None,
    ) -> None:
        """Add a batch: ``(B, D)`` features, identities, yaws, illuminations, reference flags."""
        batch = features.shape[0]
        self.features.append(features.detach().flatten(1).float())
        self.identities.append(identities.detach().long())
        self.yaws.append(yaws.detach().float())
        if illuminations is None:
            illuminations = torch.full((batch,), -1, device=features.device)
        self.illuminations.append(illuminations.detach().long())
        if reference is None:
            reference = torch.zeros(batch, dtype=torch.bool, device=features.device)
        self.reference.append(reference.detach().bool())

    def compute(self) -> dict[str, Tensor]:
        """Rates per probe pose and their mean (empty without gallery or probes)."""
        # Synchronised across processes, the states are tensors instead of lists.
        if isinstance(self.features, list) and not self.features:
            return {}
        features = dim_zero_cat(self.features)
        if features.numel() == 0:
            return {}
        identities = dim_zero_cat(self.identities)
        yaws = dim_zero_cat(self.yaws)
        illuminations = dim_zero_cat(self.illuminations)
        reference = dim_zero_cat(self.reference)
        # Gathered from several processes, images arrive in rank order: sorted by content,
        # ties in the nearest-neighbour search break alike on any number of processes.
        columns = [identities, yaws, illuminations, reference]
        order = canonical_order(
            torch.cat([features.double(), *(c.double()[:, None] for c in columns)], 1)
        )
        features, identities, yaws, illuminations, reference = (
            t[order] for t in (features, *columns)
        )
        evaluated = ~reference
        gallery = (yaws[evaluated] - self.gallery_yaw).abs() < 0.5
        if self.gallery_illumination is not None:
            gallery &= illuminations[evaluated] == self.gallery_illumination
        # Frontal images outside the gallery (other lights) are no probes of a pose.
        keep = gallery | ((yaws[evaluated] - self.gallery_yaw).abs() >= 0.5)
        use_lda = self.lda and identities[reference].unique().numel() >= 2
        if self.lda and not use_lda:
            # An LDA row computed without LDA would be mislabelled: report nothing instead.
            rank_zero_warn(
                "PoseIdentification(lda=True) got reference images of fewer than two people: "
                "no LDA rates (append more training images to the evaluation set)"
            )
            return {}
        return pose_identification(
            features[evaluated][keep],
            identities[evaluated][keep],
            yaws[evaluated][keep],
            gallery[keep],
            reference=features[reference] if use_lda else None,
            reference_identities=identities[reference] if use_lda else None,
            lda_components=self.lda_components,
            pca_components=self.pca_components,
        )


def format_identification_table(rows: Mapping[str, Mapping[str, Any]]) -> str:
    """The lecture's table: one row per method, one column per pose and the average, in %.

    Args:
        rows: Method name → the output of :func:`pose_identification` (or of the logged metrics
            with the stage prefix removed).

    Returns:
        The table as text (empty when no row has a rate).
    """
    poses = sorted(
        {
            int(key.rsplit("_", 1)[1])
            for rates in rows.values()
            for key in rates
            if key.startswith("identification_") and key != "identification_mean"
        }
    )
    if not poses:
        return ""
    header = ["method", *(f"{p:+d}°" for p in poses), "avg"]
    lines = [header]
    for name, rates in rows.items():
        keys = [f"identification_{p}" for p in poses] + ["identification_mean"]
        cells = [f"{100 * float(rates[k]):.1f}" if k in rates else "-" for k in keys]
        lines.append([name, *cells])
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join(
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(line, widths, strict=True))
        )
        for line in lines
    )
