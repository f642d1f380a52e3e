"""Tests for stride.algorithms.losses: clipped surrogate, value loss and the KL-adaptive learning rate."""

from __future__ import annotations

import math

import pytest
import torch

from stride.algorithms.losses import adaptive_learning_rate, clipped_surrogate_loss, value_function_loss


def _surrogate(ratio: float, advantage: float, clip: float = 0.2) -> torch.Tensor:
    old = torch.tensor([0.3])
    return clipped_surrogate_loss(old + math.log(ratio), old, torch.tensor([advantage]), clip)


class TestClippedSurrogate:
    """The surrogate equals hand-computed values on every side of the clip, for A > 0 and A < 0."""

    @pytest.mark.parametrize(
        ("ratio", "advantage", "expected"),
        [
            (1.5, 2.0, -2.4),  # A > 0, ρ > 1+ε: clipped, −A·(1+ε)
            (0.5, 2.0, -1.0),  # A > 0, ρ < 1−ε: pessimistic unclipped, −A·ρ
            (1.5, -2.0, 3.0),  # A < 0, ρ > 1+ε: pessimistic unclipped, −A·ρ
            (0.5, -2.0, 1.6),  # A < 0, ρ < 1−ε: clipped, −A·(1−ε)
            (1.1, 1.0, -1.1),  # inside the clip range: −A·ρ
            (0.9, -3.0, 2.7),
            (1.0, 4.0, -4.0),
        ],
    )
    def test_hand_values(self, ratio: float, advantage: float, expected: float) -> None:
        assert _surrogate(ratio, advantage).item() == pytest.approx(expected, abs=1e-6)

    def test_batch_mean(self) -> None:
        ratios = torch.tensor([1.5, 0.5, 1.5, 0.5, 1.1])
        adv = torch.tensor([2.0, 2.0, -2.0, -2.0, 1.0])
        old = torch.zeros(5)
        loss = clipped_surrogate_loss(ratios.log(), old, adv, 0.2)
        assert loss.item() == pytest.approx((-2.4 - 1.0 + 3.0 + 1.6 - 1.1) / 5.0, abs=1e-6)

    def test_gradient_is_zero_where_clipped(self) -> None:
        ratios = torch.tensor([1.5, 0.5, 1.5, 0.5, 1.1], dtype=torch.float64)
        adv = torch.tensor([2.0, 2.0, -2.0, -2.0, 1.0], dtype=torch.float64)
        log_prob = ratios.log().requires_grad_(True)
        clipped_surrogate_loss(log_prob, torch.zeros(5, dtype=torch.float64), adv, 0.2).backward()
        assert log_prob.grad is not None
        # d/dlogp of −A·ρ/B = −A·ρ/B where unclipped is active; 0 where the clipped branch wins
        expected = torch.tensor([0.0, -2.0 * 0.5 / 5, 2.0 * 1.5 / 5, 0.0, -1.0 * 1.1 / 5], dtype=torch.float64)
        torch.testing.assert_close(log_prob.grad, expected, rtol=0, atol=1e-12)

    def test_clip_param_changes_the_bound(self) -> None:
        assert _surrogate(2.0, 1.0, clip=0.5).item() == pytest.approx(-1.5, abs=1e-6)
        assert _surrogate(2.0, 1.0, clip=0.1).item() == pytest.approx(-1.1, abs=1e-6)


class TestValueFunctionLoss:
    """Value loss equals hand values unclipped and clipped (max of the two squared errors)."""

    def test_unclipped(self) -> None:
        values, returns = torch.tensor([1.0, 2.0, -1.0]), torch.tensor([3.0, 0.0, -1.5])
        loss = value_function_loss(values, torch.full((3,), 99.0), returns, 0.2, use_clipped_value_loss=False)
        assert loss.item() == pytest.approx((4.0 + 4.0 + 0.25) / 3.0, abs=1e-6)

    def test_clipped(self) -> None:
        # V_clip = V_old + clip(V − V_old, ±0.2) = [0.2, 0.2, 0.95]
        values, old, returns = (
            torch.tensor([1.0, 2.0, 1.0]),
            torch.tensor([0.0, 0.0, 0.9]),
            torch.tensor([3.0, 0.0, 2.0]),
        )
        loss = value_function_loss(values, old, returns, 0.2, use_clipped_value_loss=True)
        # per sample max((V − R)², (V_clip − R)²) = [max(4, 7.84), max(4, 0.04), max(1, 1)]
        assert loss.item() == pytest.approx((7.84 + 4.0 + 1.0) / 3.0, abs=1e-5)

    def test_clipped_equals_unclipped_inside_range(self) -> None:
        values, old, returns = torch.tensor([1.0, -0.5]), torch.tensor([0.95, -0.45]), torch.tensor([2.0, 1.0])
        clipped = value_function_loss(values, old, returns, 0.2, use_clipped_value_loss=True)
        plain = value_function_loss(values, old, returns, 0.2, use_clipped_value_loss=False)
        assert clipped.item() == pytest.approx(plain.item(), abs=1e-7)
        assert plain.item() == pytest.approx((1.0 + 2.25) / 2.0, abs=1e-6)


def _lr(lr: float, kl: float, desired: float = 0.01) -> torch.Tensor:
    return adaptive_learning_rate(torch.tensor(lr), torch.tensor(kl), desired)


class TestAdaptiveLearningRate:
    """KL > 2d → lr/1.5 (floor 1e-5); 0 < KL < d/2 → lr·1.5 (cap 1e-2); otherwise unchanged; exact values."""

    @pytest.mark.parametrize("kl", [0.0201, 0.03, 1.0])
    def test_decrease(self, kl: float) -> None:
        out = _lr(1e-3, kl)
        assert torch.equal(out, torch.tensor(1e-3) / 1.5)
        assert out.item() == pytest.approx(1e-3 / 1.5, rel=1e-6)

    @pytest.mark.parametrize("kl", [1e-9, 0.001, 0.0049])
    def test_increase(self, kl: float) -> None:
        out = _lr(1e-3, kl)
        assert torch.equal(out, torch.tensor(1e-3) * 1.5)
        assert out.item() == pytest.approx(1.5e-3, rel=1e-6)

    @pytest.mark.parametrize("kl", [0.0, 0.005, 0.0051, 0.01, 0.02, -1e-6])
    def test_unchanged(self, kl: float) -> None:
        # KL == 0 (identical policies), the boundaries d/2 and 2d themselves, in between, and round-off below 0
        assert torch.equal(_lr(1e-3, kl), torch.tensor(1e-3))

    def test_floor(self) -> None:
        assert _lr(1.2e-5, 0.5).item() == pytest.approx(1e-5, rel=1e-6)
        assert _lr(1e-5, 0.5).item() == pytest.approx(1e-5, rel=1e-6)

    def test_cap(self) -> None:
        assert _lr(8e-3, 1e-4).item() == pytest.approx(1e-2, rel=1e-6)
        assert _lr(1e-2, 1e-4).item() == pytest.approx(1e-2, rel=1e-6)

    def test_custom_bounds_and_dtype(self) -> None:
        out = adaptive_learning_rate(torch.tensor(1e-3), torch.tensor(1.0), 0.01, lr_min=9e-4)
        assert out.item() == pytest.approx(9e-4, rel=1e-6)
        out = adaptive_learning_rate(torch.tensor(1e-3), torch.tensor(1e-4), 0.01, lr_max=1.2e-3)
        assert out.item() == pytest.approx(1.2e-3, rel=1e-6)
        assert out.dim() == 0 and out.dtype == torch.float32

    def test_sequence(self) -> None:
        """Applied repeatedly, the rule follows the same sequence as a plain-Python reimplementation."""
        kls = [0.0, 0.001, 0.001, 0.05, 0.012, 0.0, 0.03, 0.03, 0.0001, 0.021]
        lr, ref = torch.tensor(1e-3), 1e-3
        for kl in kls:
            lr = adaptive_learning_rate(lr, torch.tensor(kl), 0.01)
            if kl > 0.02:
                ref = max(ref / 1.5, 1e-5)
            elif 0.0 < kl < 0.005:
                ref = min(ref * 1.5, 1e-2)
            assert lr.item() == pytest.approx(ref, rel=1e-5)
