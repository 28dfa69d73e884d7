from __future__ import annotations

import io
import math

import pytest
import torch
import torch.nn.functional as F

from lightning_deepvision.losses import JointIdentificationVerificationLoss, VerificationLoss

# Hand-made 2-D batch: a=(0,0) and b=(0.3,0.4) share identity 0, c=(0.6,0) is identity 1.
# L2 distances: ab = 0.5, ac = 0.6, bc = 0.5.  L1 distances: ab = 0.7, ac = 0.6, bc = 0.7.
EMB = torch.tensor([[0.0, 0.0], [0.3, 0.4], [0.6, 0.0]], dtype=torch.float64)
LABELS = torch.tensor([0, 0, 1])

# Per-pair terms with m = 1: (same ab, diff ac, diff bc).
L2_POS = 0.5 * 0.5**2
L2_NEG = (0.5 * 0.4**2, 0.5 * 0.5**2)
L1_POS = 0.5 * 0.7**2
L1_NEG = (0.5 * 0.4**2, 0.5 * 0.3**2)


def _loss(kind: str, balance: bool = True, margin: float = 1.0) -> VerificationLoss:
    return VerificationLoss(kind, margin=margin, adaptive_margin=False, balance_pairs=balance)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kind", "balanced", "plain"),
    [
        ("l2", L2_POS + sum(L2_NEG) / 2, (L2_POS + sum(L2_NEG)) / 3),
        ("l2+", L2_POS, L2_POS / 3),
        ("l2-", sum(L2_NEG) / 2, sum(L2_NEG) / 3),
        ("l1", L1_POS + sum(L1_NEG) / 2, (L1_POS + sum(L1_NEG)) / 3),
    ],
)
def test_closed_form_distance_kinds(kind: str, balanced: float, plain: float) -> None:
    assert float(_loss(kind, True)(EMB, LABELS)) == pytest.approx(balanced, abs=1e-9)
    assert float(_loss(kind, False)(EMB, LABELS)) == pytest.approx(plain, abs=1e-9)


def test_closed_form_cosine() -> None:
    # a=(1,0), b=(0,1) same identity (cos 0); c=(1,1) other identity (cos 1/sqrt2 to both).
    emb = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], dtype=torch.float64)
    sig = 1 / (1 + math.exp(-1 / math.sqrt(2)))
    pos = 0.5 * (1 - 0.5) ** 2
    neg = 0.5 * sig**2
    loss = _loss("cosine")
    assert float(loss(emb, LABELS).detach()) == pytest.approx(pos + neg, abs=1e-6)
    assert float(_loss("cosine", False)(emb, LABELS).detach()) == pytest.approx(
        (pos + 2 * neg) / 3, abs=1e-6
    )
    # w and b are learned: they receive gradients.
    loss(emb, LABELS).backward()
    assert loss.weight.grad is not None and loss.weight.grad.abs() > 0
    assert loss.bias.grad is not None and loss.bias.grad.abs() > 0


def test_margin_scales_negative_term() -> None:
    # With m = 0.55 the negative pair ac (0.6) is outside the margin, bc (0.5) inside.
    value = float(_loss("l2-", margin=0.55)(EMB, LABELS))
    assert value == pytest.approx((0 + 0.5 * 0.05**2) / 2, abs=1e-9)


def test_gradient_pulls_same_and_pushes_close_different() -> None:
    loss = _loss("l2", margin=1.0)
    # Two same-identity points: gradient on x0 points towards x0 - x1 (descent pulls together).
    x = torch.tensor([[0.0, 0.0], [0.4, 0.0]], requires_grad=True)
    loss(x, torch.tensor([0, 0])).backward()
    assert x.grad is not None
    assert x.grad[0, 0] < 0 and x.grad[1, 0] > 0  # -grad moves x0 right, x1 left
    # Different identities within the margin: descent pushes apart.
    x = torch.tensor([[0.0, 0.0], [0.4, 0.0]], requires_grad=True)
    loss(x, torch.tensor([0, 1])).backward()
    assert x.grad is not None
    assert x.grad[0, 0] > 0 and x.grad[1, 0] < 0
    # Different identities beyond the margin: no gradient at all.
    x = torch.tensor([[0.0, 0.0], [1.5, 0.0]], requires_grad=True)
    loss(x, torch.tensor([0, 1])).backward()
    assert x.grad is not None
    assert torch.equal(x.grad, torch.zeros_like(x))


@pytest.mark.parametrize("kind", ["l2", "l2+", "l2-", "l1", "cosine"])
@pytest.mark.parametrize("labels", [[0, 0, 0, 0], [0, 1, 2, 3], [5]])
def test_no_nan_for_degenerate_batches(kind: str, labels: list[int]) -> None:
    torch.manual_seed(0)
    n = len(labels)
    x = torch.randn(n, 8)
    x[-1] = x[0]  # a zero-distance pair (and the single-sample batch)
    x.requires_grad_(True)
    loss = VerificationLoss(kind)  # type: ignore[arg-type]
    value = loss(x, torch.tensor(labels))
    value.backward()
    assert torch.isfinite(value)
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_zero_distance_negative_pair_has_finite_gradient() -> None:
    x = torch.ones(2, 4, requires_grad=True)
    loss = _loss("l2")
    value = loss(x, torch.tensor([0, 1]))
    value.backward()
    assert float(value.detach()) == pytest.approx(0.5)  # 1/2 (m - 0)^2
    assert x.grad is not None and torch.isfinite(x.grad).all()


def _separable_batch(generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    # Two identities: each within a ball of radius 0.25 (same distances < 0.5), centres 3 apart
    # (different distances > 2.5).
    labels = torch.tensor([0, 0, 0, 1, 1, 1])
    centres = torch.tensor([[0.0, 0.0], [3.0, 0.0]])
    direction = F.normalize(torch.randn(6, 2, generator=generator), dim=1)
    radius = 0.25 * torch.rand(6, 1, generator=generator)
    return centres[labels] + radius * direction, labels


def test_margin_update_finds_separating_threshold() -> None:
    loss = VerificationLoss("l2", margin=10.0, update_every=5, history=256)
    loss.train()
    g = torch.Generator().manual_seed(0)
    emb, labels = _separable_batch(g)
    loss(emb, labels)
    # The first training batch calibrates the margin at once (a freshly initialised net's
    # distances can be far from the initial margin) ...
    first = float(loss.margin)
    assert 0.5 <= first <= 2.5
    for step in range(2, 11):
        emb, labels = _separable_batch(g)
        loss(emb, labels)
        if step < 5:
            assert float(loss.margin) == first  # ... then only every update_every calls
    d = loss.distance_history[: int(loss.history_size)]
    same = loss.same_history[: int(loss.history_size)]
    assert int(loss.history_size) == 150  # 10 batches x 15 pairs, within history
    margin = float(loss.margin)
    assert float(d[same].max()) < margin < float(d[~same].min())
    assert 0.5 <= margin <= 2.5


def test_margin_frozen_in_eval_and_when_disabled() -> None:
    g = torch.Generator().manual_seed(1)
    for module in (VerificationLoss(update_every=1).eval(), _loss("l2").train()):
        emb, labels = _separable_batch(g)
        module(emb, labels)
        assert float(module.margin) == 1.0
        assert int(module.history_size) == 0


def test_ring_buffer_wraps_and_keeps_latest() -> None:
    loss = VerificationLoss("l2", history=20, update_every=1000)
    g = torch.Generator().manual_seed(2)
    last = None
    for _ in range(3):  # 45 pairs through a 20-slot buffer
        emb, labels = _separable_batch(g)
        loss(emb, labels)
        last = emb
    assert last is not None
    assert int(loss.history_size) == 20
    i, j = torch.triu_indices(6, 6, offset=1)
    latest = (last[i] - last[j]).norm(dim=1)
    # the newest 15 distances are all in the buffer
    buf = loss.distance_history
    # (the loss reads distances off a Gram matrix: equal to float32 rounding)
    assert all(bool(torch.isclose(buf, v, rtol=1e-4, atol=1e-3).any()) for v in latest)


def test_margin_is_in_state_dict_and_restores() -> None:
    loss = VerificationLoss("l2", update_every=1)
    emb, labels = _separable_batch(torch.Generator().manual_seed(3))
    loss(emb, labels)
    buffer = io.BytesIO()
    torch.save(loss.state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)  # as Lightning checkpoints load
    assert {"margin", "distance_history", "same_history"} <= set(state)
    restored = VerificationLoss("l2", update_every=1)
    restored.load_state_dict(state)
    assert float(restored.margin) == float(loss.margin) != 1.0
    assert restored.num_training_calls == loss.num_training_calls == 1
    assert torch.equal(restored.distance_history, loss.distance_history)
    joint = JointIdentificationVerificationLoss(verification=loss)
    assert "verification.margin" in joint.state_dict()
    assert joint.margin is loss.margin


def test_joint_loss_combines_with_lambda() -> None:
    torch.manual_seed(0)
    emb = torch.randn(8, 16)
    logits = torch.randn(8, 4)
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    ce = F.cross_entropy(logits, labels)
    zero = JointIdentificationVerificationLoss(verification_weight=0.0)
    out = zero(emb, logits, labels)
    assert torch.allclose(out["loss"], ce)
    assert torch.allclose(out["identification"], ce)
    assert set(out) == {"loss", "identification", "verification"}
    joint = JointIdentificationVerificationLoss()  # lambda = 0.05 (paper)
    out = joint(emb, logits, labels)
    assert out["verification"] > 0
    assert torch.allclose(out["loss"], ce + 0.05 * out["verification"])


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="kind"):
        VerificationLoss("l3")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="labels"):
        VerificationLoss()(torch.randn(4, 2), torch.zeros(3, dtype=torch.long))


def test_default_averages_over_all_pairs() -> None:
    # The paper's sampled pairs are nearly all mismatched: by default positives weigh by their
    # share of the batch's pairs, not as much as all negatives together.
    plain = VerificationLoss("l2", adaptive_margin=False, balance_pairs=False)
    default = VerificationLoss("l2", adaptive_margin=False)
    assert float(default(EMB, LABELS)) == float(plain(EMB, LABELS))
