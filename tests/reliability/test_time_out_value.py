"""R06 through PPO: on a task that never terminates but has a time limit, V(s0) learns 1/(1−γ) only when
time-outs are bootstrapped."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from tensordict import TensorDict

from stride.runners import OnPolicyRunner

GAMMA = 0.9
HORIZON = 20


class _ForeverEnv:
    """Reward 1 every step, no termination, a time limit of HORIZON steps, a constant observation."""

    def __init__(self, num_envs: int, report_time_outs: bool) -> None:
        self.num_envs, self.num_actions, self.max_episode_length = num_envs, 1, HORIZON
        self.device, self.cfg = "cpu", {}
        self.episode_length_buf = torch.zeros(num_envs, dtype=torch.long)
        self.report_time_outs = report_time_outs

    def get_observations(self) -> TensorDict:
        return TensorDict({"policy": torch.ones(self.num_envs, 1)}, batch_size=[self.num_envs])

    def step(self, actions: torch.Tensor) -> tuple[TensorDict, torch.Tensor, torch.Tensor, dict[str, Any]]:
        self.episode_length_buf += 1
        dones = self.episode_length_buf >= HORIZON
        self.episode_length_buf[dones] = 0
        extras: dict[str, Any] = {"time_outs": dones.clone()} if self.report_time_outs else {}
        if self.report_time_outs:
            extras["final_obs"] = self.get_observations()
        return self.get_observations(), torch.ones(self.num_envs), dones, extras


def _learned_value(seed: int, report_time_outs: bool) -> float:
    cfg = {
        "num_steps_per_env": 16,
        "seed": seed,
        "obs_groups": {"actor": ["policy"], "critic": ["policy"]},
        "algorithm": {
            "class_name": "PPO",
            "gamma": GAMMA,
            "lam": 0.95,
            "num_mini_batches": 2,
            "schedule": "fixed",
            "learning_rate": 3e-3,
            "use_clipped_value_loss": False,
        },
        "actor": {
            "class_name": "MLPModel",
            "hidden_dims": [8],
            "distribution_cfg": {"class_name": "GaussianDistribution"},
        },
        "critic": {"class_name": "MLPModel", "hidden_dims": [16, 16]},
    }
    env = _ForeverEnv(64, report_time_outs)
    runner = OnPolicyRunner(env, cfg, log_dir=None)  # type: ignore[arg-type]
    runner.learn(40, init_at_random_ep_len=True)
    with torch.no_grad():
        return float(runner.alg.critic.value(env.get_observations())[0])


class TestTimeOutValue:
    """|V(s0) − 1/(1−γ)| < 1 with time-out handling, and clearly not without, on 3/3 seeds."""

    @pytest.mark.parametrize("seed", [1, 2, 3])
    def test_value_fixed_point(self, seed: int, record_property: pytest.RecordProperty) -> None:
        with_handling = _learned_value(seed, report_time_outs=True)
        without = _learned_value(seed, report_time_outs=False)
        record_property("values", f"with={with_handling:.2f} without={without:.2f} target={1 / (1 - GAMMA):.1f}")
        assert abs(with_handling - 1 / (1 - GAMMA)) < 1.0
        assert abs(without - 1 / (1 - GAMMA)) > 2.0
