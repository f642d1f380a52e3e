"""A GRU PPO iteration of stride equals rsl_rl 5.5.1's on the same seed (issue 17's GRU gap).

Same seed → identical initial weights and identical first rollouts in both libraries; with one mini-batch per
epoch (so stride's per-epoch shuffle of env groups, the one algorithmic difference, cannot change what a gradient
step sees) the updated actor and critic agree to float rounding.
"""

from __future__ import annotations

import copy
import random
from typing import Any

import numpy as np
import pytest
import torch

from stride.env.tasks import make_task

rsl_runners = pytest.importorskip("rsl_rl.runners")


def _train_cfg(num_mini_batches: int) -> dict[str, Any]:
    model = {"class_name": "RNNModel", "rnn_type": "gru", "rnn_hidden_dim": 16, "rnn_num_layers": 1}
    return {
        "seed": 3,
        "num_steps_per_env": 16,
        "save_interval": 50,
        "obs_groups": {"actor": ["policy"], "critic": ["policy"]},
        "algorithm": {
            "class_name": "PPO",
            "learning_rate": 1e-3,
            "num_learning_epochs": 3,
            "num_mini_batches": num_mini_batches,
            "schedule": "adaptive",
            "desired_kl": 0.01,
            "entropy_coef": 0.005,
            "max_grad_norm": 1.0,
        },
        "actor": {
            **model,
            "hidden_dims": [16],
            "distribution_cfg": {"class_name": "GaussianDistribution", "init_std": 1.0},
        },
        "critic": {**model, "hidden_dims": [16]},
    }


def _one_iteration(runner_cls: type, cfg: dict[str, Any]) -> Any:
    env = make_task("cartpole", num_envs=8, seed=3)
    random.seed(3)
    np.random.seed(3)
    torch.manual_seed(3)
    runner = runner_cls(env, copy.deepcopy(cfg), None, "cpu")
    alg = runner.alg
    alg.train_mode()
    obs = env.get_observations()
    torch.manual_seed(5)
    with torch.inference_mode():
        for _ in range(cfg["num_steps_per_env"]):  # episodes end inside the rollout: trajectories are cut and padded
            obs, rewards, dones, extras = env.step(alg.act(obs))
            alg.process_env_step(obs, rewards, dones, extras)
        alg.compute_returns(obs)
    actions = alg.storage.actions.clone()
    assert 0 < int(alg.storage.dones.sum()) < alg.storage.dones.numel()  # padding and trajectory starts are used
    alg.update()
    return alg, actions


def _max_difference(a: torch.nn.Module, b: torch.nn.Module) -> float:
    pa, pb = dict(a.named_parameters()), dict(b.named_parameters())
    assert sorted(pa) == sorted(pb)
    return max(float((pa[k] - pb[k]).detach().abs().max()) for k in pa)


class TestGruUpdateParity:
    """Same seed: equal weights and rollout; one mini-batch per epoch: equal updates (≤ 1e-5); with 4 mini-batches
    stride's shuffled env groups make the updates differ (the parity is not vacuous)."""

    def test_equal_with_one_mini_batch(self) -> None:
        from stride.runners import OnPolicyRunner

        ours, our_actions = _one_iteration(OnPolicyRunner, _train_cfg(1))
        theirs, their_actions = _one_iteration(rsl_runners.OnPolicyRunner, _train_cfg(1))
        assert torch.equal(our_actions, their_actions.reshape(our_actions.shape))
        assert _max_difference(ours.actor, theirs.actor) <= 1e-5
        assert _max_difference(ours.critic, theirs.critic) <= 1e-5

    def test_shuffled_groups_differ(self) -> None:
        from stride.runners import OnPolicyRunner

        ours, _ = _one_iteration(OnPolicyRunner, _train_cfg(4))
        theirs, _ = _one_iteration(rsl_runners.OnPolicyRunner, _train_cfg(4))
        assert _max_difference(ours.actor, theirs.actor) > 1e-3
