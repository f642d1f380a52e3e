"""Off-policy maths: critic targets and loss, C51 projection, Polyak update, SAC temperature loss, tanh-Gaussian."""

from __future__ import annotations

import math

import pytest
import torch

from stride.algorithms.off_policy_targets import (
    categorical_projection,
    clipped_categorical_target,
    clipped_double_q_target,
    ensemble_critic_loss,
    polyak_update,
)
from stride.algorithms.sac import temperature_loss
from stride.models.tanh_actor import squashed_gaussian_log_prob


def _reference_projection(atoms: list[float], probs: list[float], v_min: float, v_max: float) -> list[float]:
    """C51's projection (Bellemare et al., Algorithm 1) written atom by atom."""
    k = len(probs)
    dz = (v_max - v_min) / (k - 1)
    out = [0.0] * k
    for tz, p in zip(atoms, probs, strict=True):
        tz = min(max(tz, v_min), v_max)
        b = (tz - v_min) / dz
        lo, hi = math.floor(b), math.ceil(b)
        if lo == hi:
            out[lo] += p
        else:
            out[lo] += p * (hi - b)
            out[hi] += p * (b - lo)
    return out


class TestCategoricalProjection:
    """categorical_projection equals the atom-by-atom reference and keeps the mass; exact on the support."""

    def test_against_reference(self) -> None:
        gen = torch.Generator().manual_seed(0)
        batch, k, v_min, v_max = 64, 11, -5.0, 5.0
        probs = torch.softmax(torch.randn(batch, k, generator=gen), -1)
        returns = torch.randn(batch, 1, generator=gen) * 3
        discounts = torch.rand(batch, 1, generator=gen)
        atoms = returns + discounts * torch.linspace(v_min, v_max, k) * 1.3  # some fall outside the support
        got = categorical_projection(atoms, probs, v_min, v_max)
        for b in range(batch):
            want = _reference_projection(atoms[b].tolist(), probs[b].tolist(), v_min, v_max)
            assert got[b].tolist() == pytest.approx(want, abs=1e-6)
        assert torch.allclose(got.sum(-1), torch.ones(batch), atol=1e-6)

    def test_identity_and_terminal_golden(self) -> None:
        support = torch.linspace(-1.0, 1.0, 5)
        probs = torch.tensor([[0.1, 0.2, 0.3, 0.4, 0.0]])
        # atoms exactly on the support: unchanged
        assert torch.equal(categorical_projection(support.unsqueeze(0), probs, -1.0, 1.0), probs)
        # a terminal target (discount 0): every atom at G = 0.25 → half on 0.0, half on 0.5
        atoms = torch.full((1, 5), 0.25)
        assert categorical_projection(atoms, probs, -1.0, 1.0).tolist() == [[0.0, 0.0, 0.5, 0.5, 0.0]]


class TestCriticTargetsAndLoss:
    """The clipped double-Q targets (scalar and C51) and the ensemble loss equal their rules written row by row."""

    def test_scalar_target(self) -> None:
        gen = torch.Generator().manual_seed(1)
        next_q, returns, bonus = torch.randn(2, 6, generator=gen), torch.randn(6, generator=gen), -torch.rand(6)
        discounts = torch.tensor([0.9, 0.0, 0.81, 0.9, 0.0, 0.729])  # zeros: terminations
        got = clipped_double_q_target(next_q, returns, discounts, bonus)
        for b in range(6):
            want = returns[b] + discounts[b] * (min(next_q[0, b], next_q[1, b]) + bonus[b])
            assert float(got[b]) == pytest.approx(float(want), abs=1e-6)
        assert torch.equal(got[1], returns[1])  # terminated: no bootstrap

    def test_categorical_target_takes_the_lower_member(self) -> None:
        gen = torch.Generator().manual_seed(2)
        logits = torch.randn(2, 5, 7, generator=gen) * 2
        support, v_min, v_max = torch.linspace(-3.0, 3.0, 7), -3.0, 3.0
        returns, discounts, bonus = torch.randn(5, generator=gen), torch.full((5,), 0.9), torch.randn(5, generator=gen)
        got = clipped_categorical_target(logits, support, returns, discounts, bonus, v_min, v_max)
        probs = torch.softmax(logits, -1)
        members = set()
        for b in range(5):
            expected = [float((probs[e, b] * support).sum()) for e in range(2)]
            e = expected.index(min(expected))
            members.add(e)
            atoms = [float(returns[b] + 0.9 * (z + bonus[b])) for z in support]
            want = _reference_projection(atoms, probs[e, b].tolist(), v_min, v_max)
            assert got[b].tolist() == pytest.approx(want, abs=1e-6)
        assert members == {0, 1}  # not vacuous: each member was the lower one somewhere

    def test_loss(self) -> None:
        gen = torch.Generator().manual_seed(3)
        q, y = torch.randn(2, 4, 1, generator=gen), torch.randn(4, generator=gen)
        want = sum(sum((float(q[e, b, 0]) - float(y[b])) ** 2 for b in range(4)) / 4 for e in range(2))
        assert float(ensemble_critic_loss(q, y)) == pytest.approx(want, rel=1e-6)
        logits, target = torch.randn(2, 4, 5, generator=gen), torch.softmax(torch.randn(4, 5, generator=gen), -1)
        log_p = torch.log_softmax(logits, -1)
        want = sum(-float((target[b] * log_p[e, b]).sum()) for e in range(2) for b in range(4)) / 4
        assert float(ensemble_critic_loss(logits, target)) == pytest.approx(want, rel=1e-6)


class TestPolyak:
    """polyak_update gives θ' = (1 − τ)θ' + τθ exactly, and τ = 1 copies."""

    def test_exact_values(self) -> None:
        target = [torch.tensor([0.0, 4.0, -8.0]), torch.tensor([[1.0]])]
        online = [torch.tensor([4.0, 0.0, 8.0]), torch.tensor([[3.0]])]
        polyak_update(target, online, 0.25)
        assert target[0].tolist() == [1.0, 3.0, -4.0]
        assert target[1].tolist() == [[1.5]]
        polyak_update(target, online, 1.0)
        assert target[0].tolist() == [4.0, 0.0, 8.0]


class TestTemperatureLoss:
    """The α gradient raises α when entropy is below target and lowers it when above (descent direction)."""

    @pytest.mark.parametrize(("log_prob", "sign"), [(2.0, -1.0), (-3.0, 1.0)])
    def test_gradient_sign(self, log_prob: float, sign: float) -> None:
        # target entropy H̄ = −1: entropy −log π = −2 < −1 (too little) → dJ/dlogα < 0 → α grows; −log π = 3 → α shrinks
        log_alpha = torch.tensor(math.log(0.5), requires_grad=True)
        loss = temperature_loss(log_alpha, torch.full((8,), log_prob), -1.0)
        loss.backward()
        assert log_alpha.grad is not None
        assert math.copysign(1.0, float(log_alpha.grad)) == sign
        # dJ/dlogα = −α (log π + H̄)
        assert float(log_alpha.grad) == pytest.approx(-0.5 * (log_prob - 1.0))


class TestSquashedGaussian:
    """The tanh-corrected log-density equals torch's TransformedDistribution(Normal, TanhTransform)."""

    def test_matches_torch_distributions(self) -> None:
        gen = torch.Generator().manual_seed(3)
        mean, log_std = torch.randn(32, 3, generator=gen), torch.randn(32, 3, generator=gen) * 0.5
        u = mean + log_std.exp() * torch.randn(32, 3, generator=gen)
        dist = torch.distributions.TransformedDistribution(
            torch.distributions.Normal(mean, log_std.exp()), [torch.distributions.TanhTransform()]
        )
        want = dist.log_prob(torch.tanh(u)).sum(-1)
        assert torch.allclose(squashed_gaussian_log_prob(u, mean, log_std), want, atol=1e-3)
