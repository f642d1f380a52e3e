"""Time-out bootstrap from V(final obs): the CPU path (critic on the timed-out rows) and the sync-free path (critic on
every row, no host read, used off the CPU) store the same rewards as the formula, and both refuse NaN values."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from tensordict import TensorDict

from stride.env.tasks import make_task
from stride.runners.on_policy_runner import OnPolicyRunner
from stride.utils.errors import NonFiniteError

NUM_ENVS = 8


def _runner(critic: str, value_normalization: bool) -> OnPolicyRunner:
    critic_cfg: dict[str, Any] = {"hidden_dims": [16], "obs_normalization": True}
    if critic != "mlp":
        critic_cfg.update(class_name="RNNModel", rnn_type=critic, rnn_hidden_dim=8)
    cfg = {
        "num_steps_per_env": 4,
        "seed": 5,
        "algorithm": {"num_mini_batches": 2, "value_normalization": value_normalization},
        "actor": {"hidden_dims": [16], "distribution_cfg": {"class_name": "GaussianDistribution"}},
        "critic": critic_cfg,
    }
    return OnPolicyRunner(make_task("cartpole", num_envs=NUM_ENVS, seed=0), cfg, log_dir=None)


def _step(runner: OnPolicyRunner, sync_free: bool, final_scale: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """One act + process_env_step with envs 1, 4, 6 timed out; returns (stored rewards, expected rewards)."""
    alg = runner.alg
    alg.sync_free_bootstrap = sync_free
    # a normalizer and value normalizer away from the identity, so that the bootstrap goes through both
    gen = torch.Generator().manual_seed(0)
    sample = TensorDict({"policy": torch.randn(64, 4, generator=gen) * 3}, batch_size=[64])
    alg.critic.update_normalization(sample)
    if alg.value_normalizer is not None:
        alg.value_normalizer.update(torch.randn(64, generator=gen) * 20 + 5)
    obs = runner.env.get_observations()
    final = TensorDict({"policy": torch.randn(NUM_ENVS, 4, generator=gen) * final_scale}, batch_size=[NUM_ENVS])
    time_outs = torch.zeros(NUM_ENVS, dtype=torch.bool)
    time_outs[[1, 4, 6]] = True
    rewards = torch.arange(NUM_ENVS, dtype=torch.float32)
    with torch.inference_mode():
        alg.act(obs)
        # V(final obs) from the critic state after step t (a recurrent critic has just consumed obs_t)
        hidden = alg.critic.get_hidden_state()
        expected_v = alg._critic_values(final)
        if alg.critic.is_recurrent:
            alg.critic.reset(hidden_state=hidden)
        alg.process_env_step(obs, rewards, torch.zeros(NUM_ENVS), {"time_outs": time_outs, "final_obs": final})
    expected = torch.where(time_outs, rewards + alg.cfg.gamma * expected_v, rewards)
    return alg.storage.rewards[0].squeeze(-1).clone(), expected


class TestBootstrapPaths:
    """Both paths store r + γ·V(final obs) on the timed-out envs and r elsewhere (≤ 1e-5 relative), MLP and GRU
    critics, with and without value normalization; the paths agree with each other."""

    @pytest.mark.parametrize("critic", ["mlp", "gru"])
    @pytest.mark.parametrize("value_normalization", [False, True])
    def test_paths_equal_formula(self, critic: str, value_normalization: bool) -> None:
        stored = {}
        for sync_free in (False, True):
            stored[sync_free], expected = _step(_runner(critic, value_normalization), sync_free)
            torch.testing.assert_close(stored[sync_free], expected, rtol=1e-5, atol=1e-5)
            # the envs without a time-out keep their reward exactly
            assert torch.equal(stored[sync_free][[0, 2, 3, 5, 7]], torch.tensor([0.0, 2.0, 3.0, 5.0, 7.0]))
            assert not torch.equal(stored[sync_free][[1, 4, 6]], torch.tensor([1.0, 4.0, 6.0]))
        torch.testing.assert_close(stored[False], stored[True], rtol=1e-5, atol=1e-5)


class TestNonFiniteFinalObs:
    """A NaN in a timed-out env's final observation is refused on both paths, naming the env; the sync-free path
    keeps it out of storage and raises at compute_returns (its one host read), then starts clean."""

    def test_cpu_path_raises_at_the_step(self) -> None:
        with pytest.raises(NonFiniteError, match=r"timed-out envs \[1, 4, 6\]"):
            _step(_runner("mlp", False), sync_free=False, final_scale=float("nan"))

    def test_sync_free_path_raises_at_compute_returns(self) -> None:
        runner = _runner("mlp", False)
        stored, _ = _step(runner, sync_free=True, final_scale=float("nan"))
        # NaN everywhere in final_obs: only the timed-out envs 1, 4, 6 count, and storage stays finite
        assert torch.isfinite(stored).all()
        assert stored[[1, 4, 6]].tolist() == [1.0, 4.0, 6.0]
        with torch.inference_mode(), pytest.raises(NonFiniteError, match=r"timed-out envs \[1, 4, 6\]"):
            runner.alg.compute_returns(runner.env.get_observations())
        assert not runner.alg._bad_bootstrap.any()
