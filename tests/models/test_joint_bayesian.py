from __future__ import annotations

import pytest
import torch
from torch.distributions import MultivariateNormal

from lightning_deepvision.metrics import pair_scores, verification_auroc
from lightning_deepvision.models.joint_bayesian import JointBayesian

DIM = 24


IDENTITY_VAR = [1.0] * 6 + [0.02] * (DIM - 6)
NOISE_VAR = [0.2] * 6 + [1.5] * (DIM - 6)


def _covariances(
    s_mu_diag: list[float] = IDENTITY_VAR, s_eps_diag: list[float] = NOISE_VAR, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    # Default: identity variance lives in a few directions and intra-personal noise dominates
    # the others, rotated so that no axis is special. Cosine/L2 drown in the noise, JB
    # whitens it.
    d = len(s_mu_diag)
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=torch.float64))
    s_mu = torch.tensor(s_mu_diag, dtype=torch.float64)
    s_eps = torch.tensor(s_eps_diag, dtype=torch.float64)
    return q @ torch.diag(s_mu) @ q.T, q @ torch.diag(s_eps) @ q.T


def _identities(
    num_ids: int,
    per_id: int,
    seed: int,
    offset: torch.Tensor | None = None,
    covariances: tuple[torch.Tensor, torch.Tensor] | None = None,
):
    s_mu, s_eps = covariances if covariances is not None else _covariances()
    d = s_mu.shape[0]
    g = torch.Generator().manual_seed(seed)
    l_mu, l_eps = torch.linalg.cholesky(s_mu), torch.linalg.cholesky(s_eps)
    mu = torch.randn(num_ids, d, generator=g, dtype=torch.float64) @ l_mu.T
    labels = torch.arange(num_ids).repeat_interleave(per_id)
    eps = torch.randn(num_ids * per_id, d, generator=g, dtype=torch.float64) @ l_eps.T
    x = mu[labels] + eps
    if offset is not None:
        x = x + offset
    return x.float(), labels


def _pairs(x: torch.Tensor, labels: torch.Tensor, seed: int):
    i, j = torch.triu_indices(len(labels), len(labels), offset=1)
    same = labels[i] == labels[j]
    g = torch.Generator().manual_seed(seed)
    neg = torch.nonzero(~same).flatten()
    neg = neg[torch.randperm(len(neg), generator=g)[: int(same.sum())]]
    keep = torch.cat([torch.nonzero(same).flatten(), neg])
    return x[i[keep]], x[j[keep]], same[keep]


OFFSET = torch.full((DIM,), 3.0, dtype=torch.float64)


@pytest.fixture(scope="module")
def fitted() -> JointBayesian:
    x, labels = _identities(150, 8, seed=1, offset=OFFSET)
    return JointBayesian().fit(x, labels)


def test_beats_cosine_and_l2_on_held_out_identities(fitted: JointBayesian) -> None:
    x, labels = _identities(80, 4, seed=2, offset=OFFSET)  # identities unseen in training
    x1, x2, same = _pairs(x, labels, seed=0)
    auc_jb = float(verification_auroc(fitted(x1, x2), same))
    # cosine on centred features is the stronger baseline; give it the true mean
    centred1, centred2 = x1 - OFFSET.float(), x2 - OFFSET.float()
    auc_cos = float(verification_auroc(pair_scores(centred1, centred2, "cosine"), same))
    auc_l2 = float(verification_auroc(pair_scores(x1, x2, "l2"), same))
    assert auc_jb > 0.9
    assert auc_jb > auc_cos + 0.05
    assert auc_jb > auc_l2 + 0.05


def test_pca_variant_keeps_identity_subspace() -> None:
    # 16 informative directions (6 identity + 10 noise) and 8 almost empty ones: PCA to 16-d
    # keeps exactly the subspace JB needs.
    cov = _covariances([1.0] * 6 + [0.02] * 10 + [1e-4] * 8, [0.2] * 6 + [1.5] * 10 + [1e-4] * 8)
    x, labels = _identities(150, 8, seed=3, covariances=cov)
    jb = JointBayesian().fit(x, labels, pca_dim=16)
    assert jb.projection.shape == (DIM, 16) and jb.A.shape == (16, 16) and jb.dim == 16
    xt, lt = _identities(80, 4, seed=4, covariances=cov)
    x1, x2, same = _pairs(xt, lt, seed=1)
    auc = float(verification_auroc(jb(x1, x2), same))
    assert auc > float(verification_auroc(pair_scores(x1, x2, "cosine"), same)) + 0.05


def test_exact_em_recovers_covariances() -> None:
    truth = _covariances([1.0, 0.5, 0.3, 0.1], [0.2, 0.5, 0.6, 1.0])
    x, labels = _identities(2000, 5, seed=5, covariances=truth)
    jb = JointBayesian().fit(x.double(), labels, iterations=60, tol=1e-10, em="exact")
    torch.testing.assert_close(jb.sigma_mu, truth[0], atol=0.06, rtol=0)
    torch.testing.assert_close(jb.sigma_eps, truth[1], atol=0.04, rtol=0)
    # the paper's iteration is biased: the weakest identity direction collapses
    paper = JointBayesian().fit(x.double(), labels, iterations=60, tol=1e-10)
    assert float(torch.linalg.eigvalsh(paper.sigma_mu)[0]) < 0.01
    assert float(torch.linalg.eigvalsh(jb.sigma_mu)[0]) > 0.05


def test_paper_em_reaches_its_fixed_point() -> None:
    # One E/M step written per identity with the paper's own expressions
    # (mu = S_mu (F + m G_m) sum x, eps_j = x_j + S_eps G_m sum x) must leave the fitted
    # S_mu and S_eps unchanged.
    x, labels = _identities(
        40, 3, seed=9, covariances=_covariances([1.0, 0.5, 0.3], [0.3, 0.4, 0.6])
    )
    x = x.double()
    jb = JointBayesian().fit(x, labels, iterations=500, tol=1e-13)
    s_mu, s_eps = jb.sigma_mu, jb.sigma_eps
    z = jb.transform(x)
    f = torch.linalg.inv(s_eps)
    mus, epss = [], []
    for identity in labels.unique():
        zi = z[labels == identity]
        m, total = zi.shape[0], zi.sum(0)
        g_m = -torch.linalg.inv(m * s_mu + s_eps) @ s_mu @ f
        mus.append(s_mu @ (f + m * g_m) @ total)
        epss.append(zi + (s_eps @ g_m @ total))
    mu, eps = torch.stack(mus), torch.cat(epss)
    torch.testing.assert_close(mu.T @ mu / len(mus), s_mu, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(eps.T @ eps / len(eps), s_eps, atol=1e-6, rtol=1e-5)


def test_score_is_exact_log_likelihood_ratio_up_to_constant(fitted: JointBayesian) -> None:
    s_mu, s_eps = fitted.sigma_mu, fitted.sigma_eps
    total = s_mu + s_eps
    joint = torch.cat([torch.cat([total, s_mu], 1), torch.cat([s_mu, total], 1)], 0)
    same_model = MultivariateNormal(torch.zeros(2 * DIM, dtype=torch.float64), joint)
    diff_model = MultivariateNormal(torch.zeros(DIM, dtype=torch.float64), total)
    x, _ = _identities(10, 2, seed=6, offset=OFFSET)
    x1, x2 = x[:10].double(), x[10:].double()
    z1, z2 = fitted.transform(x1), fitted.transform(x2)
    llr = (
        same_model.log_prob(torch.cat([z1, z2], 1))
        - diff_model.log_prob(z1)
        - diff_model.log_prob(z2)
    )
    r = fitted(x1, x2)
    assert r.dtype == torch.float64
    torch.testing.assert_close(r - 2 * llr, (r - 2 * llr)[:1].expand(10), atol=1e-6, rtol=0)


def test_symmetric(fitted: JointBayesian) -> None:
    x, _ = _identities(20, 2, seed=7)
    torch.testing.assert_close(fitted(x[:20], x[20:]), fitted(x[20:], x[:20]), atol=1e-5, rtol=1e-6)


def test_state_dict_round_trip(fitted: JointBayesian, tmp_path) -> None:
    path = tmp_path / "jb.pt"
    torch.save(fitted.state_dict(), path)
    fresh = JointBayesian()
    assert not fresh.is_fitted
    fresh.load_state_dict(torch.load(path, weights_only=True))
    x, _ = _identities(16, 2, seed=8)
    assert torch.equal(fresh(x[:16], x[16:]), fitted(x[:16], x[16:]))
    assert set(fitted.state_dict()) == {"mean", "projection", "sigma_mu", "sigma_eps", "A", "G"}


def test_errors() -> None:
    jb = JointBayesian()
    with pytest.raises(RuntimeError, match="not fitted"):
        jb(torch.zeros(2, 4), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="two identities"):
        jb.fit(torch.randn(5, 4), torch.zeros(5))
    with pytest.raises(ValueError, match="two or more samples"):
        jb.fit(torch.randn(5, 4), torch.arange(5))
    with pytest.raises(ValueError, match="em must"):
        jb.fit(torch.randn(6, 4), torch.tensor([0, 0, 1, 1, 2, 2]), em="full")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="pca_dim"):
        jb.fit(torch.randn(6, 4), torch.tensor([0, 0, 1, 1, 2, 2]), pca_dim=5)
    jb.fit(torch.randn(6, 4), torch.tensor([0, 0, 1, 1, 2, 2]))
    with pytest.raises(ValueError, match="shape"):
        jb(torch.zeros(2, 3), torch.zeros(2, 3))
