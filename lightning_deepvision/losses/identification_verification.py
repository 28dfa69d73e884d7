"""Joint identification-verification supervision of DeepID2 / DeepID2+.

Sun, Wang, Tang, "Deep Learning Face Representation by Joint Identification-Verification",
NIPS 2014 (DeepID2), Eq. 1-2 and Table 2; reused for every FC-n layer of DeepID2+
(Sun, Wang, Tang, "Deeply learned face representations are sparse, selective, and robust",
CVPR 2015).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

from lightning_deepvision.metrics.functional import best_threshold

__all__ = ["JointIdentificationVerificationLoss", "VerificationKind", "VerificationLoss"]

VerificationKind = Literal["l2", "l2+", "l2-", "l1", "cosine"]
_KINDS: tuple[str, ...] = ("l2", "l2+", "l2-", "l1", "cosine")


class VerificationLoss(nn.Module):
    """Pairwise verification signal of DeepID2 (contrastive loss of Hadsell et al.).

    Sun, Wang, Tang, "Deep Learning Face Representation by Joint Identification-Verification",
    NIPS 2014, Eq. 2 and Table 2. Over all pairs ``i < j`` of the batch:

    - ``"l2"``: same identity ``½‖fi - fj‖²``; different ``½ max(0, m - ‖fi - fj‖)²``.
    - ``"l2+"``: only the same-identity term; ``"l2-"``: only the different-identity term.
    - ``"l1"``: as ``"l2"`` with the L1 distance ``‖fi - fj‖₁`` in both terms.
    - ``"cosine"``: ``½ (y - sigmoid(w·d + b))²`` with ``d`` the cosine similarity, ``y = 1``
      for the same identity and 0 otherwise; ``w`` (init 1) and ``b`` (init 0) are learned.

    The margin ``m`` is not learned by gradient descent: the paper resets it "to the threshold
    that gives the lowest verification error on recent training samples". With
    ``adaptive_margin`` every training-mode forward pushes the detached pair distances into a
    ring buffer of ``history`` pairs, and every ``update_every`` training calls the ``margin``
    buffer is set to the error-minimising threshold on that buffer (skipped while the buffer
    holds only one class). Under ``torch.distributed`` the new margin is averaged over ranks so
    that all replicas keep the same value (one small all-reduce every ``update_every`` steps;
    every rank runs the same number of training steps). The margin is not used by ``"l2+"``
    and ``"cosine"``; for ``"l2+"`` it is still tracked (a useful threshold to log), for
    ``"cosine"`` it stays at its initial value.

    Args:
        kind: Which verification signal of Table 2 to use.
        margin: Initial margin ``m``.
        adaptive_margin: Reset ``m`` from recent training pairs as in the paper.
        history: Number of recent pairs kept for the margin update.
        update_every: Training forward calls between margin updates.
        balance_pairs: Average the positive-pair and the negative-pair terms separately and add
            the two means. If False (default), the plain mean of the per-pair terms over all
            ``B(B-1)/2`` pairs (pairs a kind ignores count as 0), so that positive pairs weigh
            by their share of the pairs — as in the paper, which trains "on sampled pairs"
            (Algorithm 1) of a set of ~10,000 people, nearly all mismatched. Balancing gives
            the positive term, which only pulls embeddings together, as much weight as all
            negatives: measured on DeepID2+ (P=32 × K=4), it drives the ReLU embeddings of every
            level to zero while λ is still ramping through 0.002; the plain mean trains stably
            at λ = 0.05. With few identities per batch, and so a larger share of positive pairs
            among them, balancing can help: DeepID2 on 28 AT&T people, 14 a batch, verifies
            unseen people at 85.9–88.4 % balanced vs 82.5–85.7 % plain (seeds 0–7).

    Note:
        Pair distances are read off one ``B×B`` Gram matrix (a single matmul) rather than from
        ``B(B-1)/2`` explicit difference vectors (``O(B² D)`` memory and traffic); the inputs
        are promoted to float32 so that low-precision autocast cannot swamp small distances.

        The margin starts from the best threshold of the *first* training batch: with the
        initial ``margin`` far below the distances of a freshly initialised network, the
        negative term would be inactive and the positive term alone would collapse every
        embedding to zero before the first scheduled update.
    """

    margin: Tensor
    distance_history: Tensor
    same_history: Tensor
    history_pointer: Tensor
    history_size: Tensor

    def __init__(
        self,
        kind: VerificationKind = "l2",
        margin: float = 1.0,
        adaptive_margin: bool = True,
        history: int = 4096,
        update_every: int = 50,
        balance_pairs: bool = False,
    ) -> None:
        super().__init__()
        if kind not in _KINDS:
            raise ValueError(f"kind must be one of {_KINDS}, got {kind!r}")
        if history < 1:
            raise ValueError(f"history must be >= 1, got {history}")
        if update_every < 1:
            raise ValueError(f"update_every must be >= 1, got {update_every}")
        self.kind = kind
        self.adaptive_margin = adaptive_margin
        self.history = history
        self.update_every = update_every
        self.balance_pairs = balance_pairs
        self.register_buffer("margin", torch.tensor(float(margin)))
        # Ring buffer of recent pair distances: a buffer so that resuming from a checkpoint
        # continues the margin schedule instead of restarting it.
        self.register_buffer("distance_history", torch.zeros(history))
        self.register_buffer("same_history", torch.zeros(history, dtype=torch.bool))
        self.register_buffer("history_pointer", torch.zeros((), dtype=torch.long))
        self.register_buffer("history_size", torch.zeros((), dtype=torch.long))
        # A Python int (saved through get_extra_state): reading a device buffer every step
        # would force a host-device sync.
        self.num_training_calls = 0
        if kind == "cosine":
            self.weight = nn.Parameter(torch.tensor(1.0))
            self.bias = nn.Parameter(torch.tensor(0.0))

    def extra_repr(self) -> str:
        """Kind and current margin, for ``print(module)``."""
        return (
            f"kind={self.kind!r}, margin={float(self.margin):.4g}, "
            f"adaptive_margin={self.adaptive_margin}, balance_pairs={self.balance_pairs}"
        )

    def get_extra_state(self) -> dict[str, int]:
        """Training-call counter of the margin schedule, saved in ``state_dict``."""
        return {"num_training_calls": self.num_training_calls}

    def set_extra_state(self, state: dict[str, int]) -> None:
        """Restore the training-call counter."""
        self.num_training_calls = int(state["num_training_calls"])

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        """Verification loss over all pairs ``i < j`` of the batch.

        Args:
            embeddings: ``[B, D]`` features (DeepID2 vectors).
            labels: ``[B]`` identity labels.

        Returns:
            Scalar loss. Zero (still attached to the graph) when the batch has no pair or no
            pair of a class the chosen kind uses.
        """
        if embeddings.ndim != 2:
            raise ValueError(f"embeddings must be [B, D], got shape {tuple(embeddings.shape)}")
        if labels.shape != embeddings.shape[:1]:
            raise ValueError(
                f"labels must be [B] = [{embeddings.shape[0]}], got {tuple(labels.shape)}"
            )
        # float32 at least: distances of nearby embeddings lose everything in bf16.
        x = (
            embeddings.float()
            if embeddings.dtype in (torch.float16, torch.bfloat16)
            else embeddings
        )
        # All pairs i < j, read off B×B matrices: a Gram matrix is one matmul, whereas
        # materialising the B(B-1)/2 difference vectors costs B²·D memory traffic both ways.
        i, j = torch.triu_indices(x.shape[0], x.shape[0], offset=1, device=x.device)
        same = labels[i] == labels[j]

        if self.kind == "cosine":
            unit = F.normalize(x, dim=1, eps=1e-8)
            similarity = (unit @ unit.T)[i, j]
            prob = torch.sigmoid(self.weight * similarity + self.bias)
            target = same.to(prob.dtype)
            terms = 0.5 * (target - prob) ** 2
            loss = self._reduce(terms, terms, same, x)
            return loss

        if self.kind == "l1":
            distance = torch.cdist(x, x, p=1.0)[i, j]
            pos_terms = 0.5 * distance**2
        else:
            norms = (x * x).sum(dim=1)
            squared = (norms[i] + norms[j] - 2.0 * (x @ x.T)[i, j]).clamp_min(0.0)
            # sqrt has an infinite derivative at 0 (identical embeddings are common when an
            # identity is drawn with replacement): the double-where gives distance exactly 0
            # there with a zero, not NaN, gradient.
            positive = squared > 0
            safe = torch.where(positive, squared, torch.ones_like(squared))
            distance = torch.where(positive, safe.sqrt(), torch.zeros_like(squared))
            pos_terms = 0.5 * squared
        adapt = self.training and self.adaptive_margin
        if adapt and self.num_training_calls == 0:
            self._record(distance.detach(), same)
            self.update_margin()
        margin = self.margin.to(distance.dtype)
        neg_terms = 0.5 * torch.relu(margin - distance) ** 2
        if self.kind == "l2+":
            neg_terms = torch.zeros_like(neg_terms)
        elif self.kind == "l2-":
            pos_terms = torch.zeros_like(pos_terms)
        loss = self._reduce(pos_terms, neg_terms, same, x)

        if adapt:
            if self.num_training_calls > 0:
                self._record(distance.detach(), same)
            self.num_training_calls += 1
            if self.num_training_calls % self.update_every == 0:
                self.update_margin()
        return loss

    def _reduce(self, pos_terms: Tensor, neg_terms: Tensor, same: Tensor, x: Tensor) -> Tensor:
        # x.sum() * 0 keeps the result attached to the graph so that backward() works on a
        # batch without pairs (or without pairs of one class) instead of raising. Masked sums
        # over clamped counts give 0, not NaN, for an empty class without a host sync.
        zero = x.sum() * 0.0
        if not self.balance_pairs:
            terms = torch.where(same, pos_terms, neg_terms)
            return zero + terms.sum() / max(terms.numel(), 1)
        loss = zero
        if self.kind != "l2-":
            positives = same.to(pos_terms.dtype)
            loss = loss + (pos_terms * positives).sum() / positives.sum().clamp_min(1)
        if self.kind != "l2+":
            negatives = (~same).to(neg_terms.dtype)
            loss = loss + (neg_terms * negatives).sum() / negatives.sum().clamp_min(1)
        return loss

    @torch.no_grad()
    def _record(self, distance: Tensor, same: Tensor) -> None:
        n = distance.numel()
        if n > self.history:
            distance, same = distance[-self.history :], same[-self.history :]
            n = self.history
        if n:
            slots = (self.history_pointer + torch.arange(n, device=distance.device)) % self.history
            self.distance_history[slots] = distance.to(self.distance_history.dtype)
            self.same_history[slots] = same
            self.history_pointer.copy_((self.history_pointer + n) % self.history)
            self.history_size.copy_(torch.clamp(self.history_size + n, max=self.history))

    @torch.no_grad()
    def update_margin(self) -> None:
        """Set ``margin`` to the error-minimising threshold on the recent-pair buffer.

        Does nothing while the buffer lacks positive or negative pairs (the "best" threshold
        would then be degenerate and would switch the negative term off or on entirely).
        """
        size = int(self.history_size)
        distances = self.distance_history[:size]
        same = self.same_history[:size]
        if size == 0 or bool(same.all()) or not bool(same.any()):
            return
        # "same" when distance < margin: the strict rule on negated distances, whose
        # threshold stays finite (an infinite margin would switch a loss term off for good).
        threshold, _ = best_threshold(-distances, same, strict=True)
        threshold = (-threshold).to(self.margin.dtype)
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            dist.all_reduce(threshold, op=dist.ReduceOp.SUM)
            threshold = threshold / dist.get_world_size()
        self.margin.copy_(threshold)


class JointIdentificationVerificationLoss(nn.Module):
    """Identification (softmax cross-entropy) plus λ times the verification signal.

    Sun, Wang, Tang, "Deep Learning Face Representation by Joint Identification-Verification",
    NIPS 2014, Eq. 1-2: the gradients are combined as ``∇Ident + λ·∇Verif`` with λ = 0.05
    (Fig. 3: λ = 0 and λ → ∞ are both worse). DeepID2+ (CVPR 2015) applies the same pair of
    signals to every FC-n layer.

    Args:
        verification_weight: λ.
        verification: The verification signal; default ``VerificationLoss()`` (L2, adaptive
            margin).
    """

    def __init__(
        self, verification_weight: float = 0.05, verification: VerificationLoss | None = None
    ) -> None:
        super().__init__()
        self.verification_weight = verification_weight
        self.verification = verification if verification is not None else VerificationLoss()

    @property
    def margin(self) -> Tensor:
        """Current verification margin ``m`` (for logging)."""
        return self.verification.margin

    def forward(self, embeddings: Tensor, logits: Tensor, labels: Tensor) -> dict[str, Tensor]:
        """Compute the joint loss.

        Args:
            embeddings: ``[B, D]`` DeepID2 features fed to the verification signal.
            logits: ``[B, C]`` identity logits of the softmax layer.
            labels: ``[B]`` identity labels in ``[0, C)``.

        Returns:
            ``{"loss": CE + λ·verif, "identification": CE, "verification": verif}``.
        """
        identification = F.cross_entropy(logits, labels)
        verification = self.verification(embeddings, labels)
        loss = identification + self.verification_weight * verification
        return {"loss": loss, "identification": identification, "verification": verification}
