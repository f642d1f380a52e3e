"""RewardScaler: rewards divided by the running std of the per-env discounted return (SB3 VecNormalize's rule)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stride.modules import RewardScaler
from stride.utils.errors import ConfigError


def _reference(rewards: np.ndarray, dones: np.ndarray, gamma: float, clip: float, eps: float) -> np.ndarray:
    """Scaled rewards by the rule written out: R ← γR + r, std over every R so far, r / sqrt(var + eps), clip."""
    returns = np.zeros(rewards.shape[1])
    history: list[np.ndarray] = []
    out = np.zeros_like(rewards)
    for t in range(rewards.shape[0]):
        returns = gamma * returns + rewards[t]
        history.append(returns.copy())
        var = np.concatenate(history).var()  # population variance of every R seen, this step's included
        out[t] = np.clip(rewards[t] / np.sqrt(var + eps), -clip, clip)
        returns = returns * (1.0 - dones[t])
    return out


class TestRewardScaler:
    """Scaled rewards equal the written-out rule over a random script with episode ends; state, sync and errors."""

    def test_matches_reference(self) -> None:
        gen = np.random.default_rng(0)
        rewards = gen.normal(2.0, 3.0, size=(40, 3))
        dones = (gen.random((40, 3)) < 0.1).astype(np.float64)
        scaler = RewardScaler(3, gamma=0.9, clip=10.0)
        steps = zip(torch.as_tensor(rewards, dtype=torch.float32), torch.as_tensor(dones), strict=True)
        got = torch.stack([scaler(r, d) for r, d in steps])
        expected = _reference(rewards, dones, 0.9, 10.0, 1e-8)
        np.testing.assert_allclose(got.numpy(), expected, rtol=1e-4, atol=1e-5)
        # not vacuous: the scale is far from 1 and episodes did end
        assert abs(float(scaler.scale) - 1.0) > 0.5 and dones.sum() > 5

    def test_golden_two_steps(self) -> None:
        scaler = RewardScaler(2, gamma=0.5)
        first = scaler(torch.tensor([1.0, 2.0]), torch.tensor([0.0, 1.0]))
        # R = [1, 2]: std 0.5, rewards / 0.5; env 1's return restarts at 0
        torch.testing.assert_close(first, torch.tensor([2.0, 4.0]))
        second = scaler(torch.tensor([1.0, 2.0]), torch.tensor([0.0, 0.0]))
        # R = [1.5, 2]; every R so far [1, 2, 1.5, 2] has population variance 0.171875
        torch.testing.assert_close(second, torch.tensor([1.0, 2.0]) / 0.171875**0.5)

    def test_clip(self) -> None:
        scaler = RewardScaler(1, gamma=0.99, clip=3.0)
        # one env's first return has variance 0: the divisor is sqrt(eps) and the reward clips
        assert scaler(torch.tensor([5.0]), torch.tensor([0.0])).item() == 3.0
        # then R = 0.99·5 − 5 = −0.05: std of [5, −0.05] is 2.525, inside the clip
        assert scaler(torch.tensor([-5.0]), torch.tensor([0.0])).item() == pytest.approx(-5.0 / 2.525, rel=1e-5)

    def test_state_dict_holds_statistics_not_returns(self) -> None:
        scaler = RewardScaler(4, gamma=0.99)
        scaler(torch.ones(4), torch.zeros(4))
        assert set(scaler.state_dict()) == {"stats._mean", "stats._var", "stats._std", "stats.count"}
        other = RewardScaler(8, gamma=0.99)
        other.load_state_dict(scaler.state_dict())  # another env count loads: the returns are not saved
        assert float(other.scale) == pytest.approx(float(scaler.scale))

    def test_sync_is_a_no_op_in_one_process(self) -> None:
        scaler = RewardScaler(2, gamma=0.5)
        scaler(torch.tensor([1.0, 2.0]), torch.tensor([0.0, 1.0]))
        before = {k: v.clone() for k, v in scaler.state_dict().items()}
        scaler.sync()  # every step is already in the statistics: nothing pending
        assert all(torch.equal(v, before[k]) for k, v in scaler.state_dict().items())
        assert int(scaler.stats.count) == 2

    @pytest.mark.parametrize("kwargs", [{"num_envs": 0}, {"gamma": 0.0}, {"gamma": 1.5}, {"clip": 0.0}, {"eps": -1.0}])
    def test_bad_arguments(self, kwargs: dict[str, float]) -> None:
        args: dict[str, float] = {"num_envs": 2, "gamma": 0.99, **kwargs}
        with pytest.raises(ConfigError):
            RewardScaler(**args)  # type: ignore[arg-type]
