"""RBM energies, gradients, CD-1, sampling and log Z against brute force on tiny machines."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from scipy.integrate import quad

from lightning_deepvision.models.layers.rbm import RBM, BernoulliRBM, GaussianBernoulliRBM


def all_states(n: int) -> torch.Tensor:
    """Every binary vector of length ``n``, ``(2^n, n)`` float64."""
    return torch.tensor(list(itertools.product([0.0, 1.0], repeat=n)), dtype=torch.float64)


def small_rbm(visible: str = "bernoulli", hidden: str = "bernoulli", **kwargs) -> RBM:
    torch.manual_seed(0)
    rbm = RBM(4, 3, visible=visible, hidden=hidden, init_std=0.8, **kwargs).double()
    with torch.no_grad():
        rbm.visible_bias.normal_(0.0, 0.5)
        rbm.hidden_bias.normal_(0.0, 0.5)
        if isinstance(rbm.log_sigma, torch.nn.Parameter):
            rbm.log_sigma.normal_(0.0, 0.3)
    return rbm


def brute_free_energy(rbm: RBM, v: torch.Tensor) -> torch.Tensor:
    """``-log Σ_h exp(-E(v, h))`` over the 8 hidden states, from :meth:`RBM.energy` alone."""
    hidden = all_states(rbm.num_hidden)
    energies = torch.stack([rbm.energy(v.expand(len(hidden), -1), hidden) for v in v])
    return -torch.logsumexp(-energies, dim=1)


def brute_free_energy_grad(rbm: RBM, v: torch.Tensor) -> dict[str, torch.Tensor]:
    """``∂ mean F(v) / ∂θ = mean Σ_h p(h | v) ∂E(v, h) / ∂θ`` by enumeration and autograd."""
    hidden = all_states(rbm.num_hidden)
    total = torch.zeros((), dtype=torch.float64)
    for row in v:
        energies = rbm.energy(row.expand(len(hidden), -1), hidden)
        posterior = torch.softmax(-energies, 0).detach()
        total = total + (posterior * energies).sum()
    names = [n for n, p in rbm.named_parameters()]
    grads = torch.autograd.grad(total / len(v), [p for _, p in rbm.named_parameters()])
    return dict(zip(names, grads, strict=True))


@pytest.mark.parametrize("visible", ["bernoulli", "gaussian"])
def test_free_energy_matches_the_sum_over_hidden_states(visible: str) -> None:
    rbm = small_rbm(visible, learn_sigma=visible == "gaussian")
    v = all_states(4) if visible == "bernoulli" else torch.randn(5, 4, dtype=torch.float64)
    torch.testing.assert_close(rbm.free_energy(v), brute_free_energy(rbm, v))


@torch.no_grad()
def test_linear_hidden_free_energy_matches_the_integral_over_hidden_units() -> None:
    rbm = small_rbm("bernoulli", "gaussian")
    v = all_states(4)[[3, 9, 14]]
    for row in v:
        row = row[None]
        zero = torch.zeros(1, 3, dtype=torch.float64)
        base = float(rbm.energy(row, zero))
        log_integral = 0.0
        for j in range(3):

            def density(t: float, j: int = j, row: torch.Tensor = row, base: float = base) -> float:
                h = torch.zeros(1, 3, dtype=torch.float64)
                h[0, j] = t
                return math.exp(-(float(rbm.energy(row, h)) - base))

            log_integral += math.log(quad(density, -30, 30)[0])
        assert float(rbm.free_energy(row)) == pytest.approx(base - log_integral, abs=1e-6)


@pytest.mark.parametrize(
    ("visible", "hidden"),
    [("bernoulli", "bernoulli"), ("gaussian", "bernoulli"), ("bernoulli", "gaussian")],
)
def test_closed_form_gradient_matches_autograd_and_brute_force(visible: str, hidden: str) -> None:
    rbm = small_rbm(visible, hidden, learn_sigma=visible == "gaussian")
    v = torch.rand(6, 4, dtype=torch.float64)
    if visible == "bernoulli":
        v = v.round()
    closed = rbm.free_energy_grad(v)
    autograd = torch.autograd.grad(rbm.free_energy(v).mean(), [getattr(rbm, n) for n in closed])
    for (name, grad), reference in zip(closed.items(), autograd, strict=True):
        torch.testing.assert_close(grad, reference, msg=name)
    if hidden == "bernoulli":
        brute = brute_free_energy_grad(rbm, v)
        for name, grad in closed.items():
            torch.testing.assert_close(grad, brute[name], msg=name)


def test_cd1_gradient_is_the_expected_brute_force_cd1_update() -> None:
    """CD-1's expectation: Σ_h0 p(h0 | v0) [∂F(v0) - ∂F(v1(h0))], v1 the visible means."""
    rbm = small_rbm()
    data = torch.tensor([[1.0, 0.0, 1.0, 1.0], [0.0, 1.0, 0.0, 0.0]], dtype=torch.float64)
    hidden = all_states(3)
    expected: dict[str, torch.Tensor] = {}
    for v0 in data:
        positive = brute_free_energy_grad(rbm, v0[None])
        posterior = torch.softmax(-rbm.energy(v0.expand(8, -1), hidden), 0).detach()
        for h0, p in zip(hidden, posterior, strict=True):
            v1 = rbm.visible_mean(h0[None]).detach()
            negative = brute_free_energy_grad(rbm, v1)
            for name in positive:
                update = p * (positive[name] - negative[name]) / len(data)
                expected[name] = expected.get(name, 0) + update
    replicas = data.repeat_interleave(100_000, dim=0)
    generator = torch.Generator().manual_seed(0)
    error, _ = rbm.contrastive_divergence(replicas, k=1, generator=generator)
    for name, value in expected.items():
        torch.testing.assert_close(getattr(rbm, name).grad, value, atol=5e-3, rtol=0, msg=name)
    assert error > 0


def test_cd_lowers_reconstruction_error_and_pcd_keeps_its_chains() -> None:
    torch.manual_seed(0)
    patterns = torch.tensor([[1.0] * 8 + [0.0] * 8, [0.0] * 8 + [1.0] * 8])
    data = patterns[torch.randint(0, 2, (256,))]
    rbm = BernoulliRBM(16, 4)
    optimizer = torch.optim.SGD(rbm.parameters(), lr=0.1, momentum=0.5)
    first, _ = rbm.contrastive_divergence(data)
    for _ in range(200):
        error, _ = rbm.contrastive_divergence(data)
        optimizer.step()
    assert error < 0.25 * first
    chain = torch.bernoulli(torch.full((32, 16), 0.5))
    _, new_chain = rbm.contrastive_divergence(data, k=3, chain=chain)
    assert new_chain.shape == (32, 16) and set(new_chain.unique().tolist()) <= {0.0, 1.0}
    with pytest.raises(ValueError, match="k must be"):
        rbm.contrastive_divergence(data, k=0)


def test_gaussian_rbm_with_learned_sigma_stays_finite_on_standardised_data() -> None:
    torch.manual_seed(0)
    data = torch.randn(512, 2) @ torch.tensor([[1.0, 0.8], [0.0, 0.6]])
    data = torch.cat([data, -data.flip(1)], 1)
    data = (data - data.mean(0)) / data.std(0)
    rbm = GaussianBernoulliRBM(4, 16, learn_sigma=True, init_std=0.01)
    optimizer = torch.optim.SGD(rbm.parameters(), lr=0.01, momentum=0.9)
    first, _ = rbm.contrastive_divergence(data)
    for _ in range(300):
        error, _ = rbm.contrastive_divergence(data)
        optimizer.step()
    assert torch.isfinite(rbm.weight).all() and torch.isfinite(rbm.sigma).all()
    assert bool((rbm.sigma >= rbm.min_sigma).all())
    assert error < 0.5 * first


def test_exact_log_partition_both_ways_and_ais_agree() -> None:
    rbm = small_rbm()
    states_v, states_h = all_states(4), all_states(3)
    energies = torch.stack([rbm.energy(v.expand(8, -1), states_h) for v in states_v])
    brute = torch.logsumexp(-energies.flatten(), 0)
    torch.testing.assert_close(rbm.log_partition_exact(), brute)
    wide = RBM(3, 4).double()  # enumerates the visible side
    narrow = RBM(4, 3, weight=torch.nn.Parameter(wide.weight.detach().T.clone())).double()
    narrow.visible_bias.data = wide.hidden_bias.detach().clone()
    narrow.hidden_bias.data = wide.visible_bias.detach().clone()
    torch.testing.assert_close(wide.log_partition_exact(), narrow.log_partition_exact())

    torch.manual_seed(1)
    larger = RBM(12, 6, init_std=0.5).double()
    exact = float(larger.log_partition_exact())
    generator = torch.Generator().manual_seed(0)
    estimate = float(larger.log_partition_ais(num_chains=200, betas=1000, generator=generator))
    assert estimate == pytest.approx(exact, abs=0.1)
    data = all_states(12)[:5]
    log_p = larger.log_likelihood(data, torch.tensor(exact, dtype=torch.float64))
    torch.testing.assert_close(log_p, (-larger.free_energy(data) - exact).mean())
    with pytest.raises(ValueError, match="Bernoulli–Bernoulli"):
        RBM(4, 3, hidden="gaussian").log_partition_ais()


def test_gibbs_samples_follow_the_model_marginals() -> None:
    rbm = small_rbm()
    states = all_states(4)
    probabilities = torch.softmax(-rbm.free_energy(states), 0)
    marginals = probabilities @ states
    generator = torch.Generator().manual_seed(0)
    samples = rbm.sample(20_000, steps=100, generator=generator)
    torch.testing.assert_close(samples.mean(0), marginals, atol=0.02, rtol=0)


def test_from_linear_shares_the_layer_parameters() -> None:
    linear = torch.nn.Linear(6, 5)
    rbm = RBM.from_linear(linear)
    assert rbm.weight is linear.weight and rbm.hidden_bias is linear.bias
    v = torch.rand(3, 6)
    torch.testing.assert_close(rbm(v), torch.sigmoid(linear(v)))
    with pytest.raises(ValueError, match="bias=False"):
        RBM.from_linear(torch.nn.Linear(6, 5, bias=False))
    with pytest.raises(ValueError, match="visible must be"):
        RBM(4, 3, visible="binary")  # type: ignore[arg-type]
