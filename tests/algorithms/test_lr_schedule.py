"""The linear learning-rate schedule (stride's ``schedule='linear'``) of PPO: the formula, the horizon the runner
gives it, the errors, and that the optimizer steps with the scheduled rate."""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest
import torch

from stride.env.tasks import make_task
from stride.runners import OnPolicyRunner
from stride.utils.errors import ConfigError
from stride.utils.optim import linear_learning_rate

LR = 2e-3


def _cfg(**algorithm: Any) -> dict[str, Any]:
    return {
        "num_steps_per_env": 8,
        "seed": 3,
        "check_env": False,
        "obs_groups": {"actor": ["policy"], "critic": ["policy"]},
        "algorithm": {"class_name": "PPO", "learning_rate": LR, "num_mini_batches": 2, "num_learning_epochs": 1,
                      "schedule": "linear", **algorithm},
        "actor": {"class_name": "MLPModel", "hidden_dims": [16],
                  "distribution_cfg": {"class_name": "GaussianDistribution", "init_std": 1.0}},
        "critic": {"class_name": "MLPModel", "hidden_dims": [16]},
    }  # fmt: skip


def _rates(runner: OnPolicyRunner, iterations: int) -> list[float]:
    """The learning rate each of ``iterations`` further iterations stepped with (read after each one)."""
    rates = []
    for _ in range(iterations):
        runner.learn(1)
        rates.append(runner.alg.learning_rate)
    return rates


class TestLinearLearningRate:
    """lr_k = lr_0·(1 − min(k, H − 1)/H): golden values, never 0."""

    @pytest.mark.parametrize(
        ("iteration", "horizon", "expected"),
        [(0, 4, 1.0), (1, 4, 0.75), (3, 4, 0.25), (4, 4, 0.25), (100, 4, 0.25), (0, 1, 1.0), (5, 1, 1.0),
         (488, 489, 1 / 489)],
    )  # fmt: skip
    def test_golden(self, iteration: int, horizon: int, expected: float) -> None:
        assert linear_learning_rate(1.0, iteration, horizon) == pytest.approx(expected, rel=1e-12)
        assert linear_learning_rate(3e-4, iteration, horizon) == pytest.approx(3e-4 * expected, rel=1e-12)


class TestPPOLinearSchedule:
    """PPO with schedule='linear' under the OnPolicyRunner."""

    def test_rates_follow_runner_max_iterations(self) -> None:
        cfg = {**_cfg(), "max_iterations": 4}
        before = copy.deepcopy(cfg)
        runner = OnPolicyRunner(make_task("cartpole", num_envs=16, seed=1), cfg)
        rates = _rates(runner, 6)
        # H = 4: 1, 3/4, 1/2, 1/4 of lr_0, then it stays at lr_0/H
        assert rates == pytest.approx([LR * f for f in (1.0, 0.75, 0.5, 0.25, 0.25, 0.25)], rel=1e-6)
        assert runner.alg.cfg.schedule_iterations == 4
        assert cfg == before  # the horizon was filled into a copy

    def test_schedule_iterations_wins_over_max_iterations(self) -> None:
        cfg = {**_cfg(schedule_iterations=2), "max_iterations": 50}
        runner = OnPolicyRunner(make_task("cartpole", num_envs=16, seed=1), cfg)
        assert _rates(runner, 3) == pytest.approx([LR, LR / 2, LR / 2], rel=1e-6)

    def test_optimizer_steps_with_the_scheduled_rate(self) -> None:
        cfg = {**_cfg(), "max_iterations": 10}
        runner = OnPolicyRunner(make_task("cartpole", num_envs=16, seed=1), cfg)
        runner.learn(3)
        for group in runner.alg.optimizer.param_groups:
            assert float(group["lr"]) == pytest.approx(LR * 0.8, rel=1e-6)  # iteration 2 of 10
        # KL, measured as usual, does not move a linear rate
        assert math.isfinite(runner.alg.learning_rate)

    def test_no_horizon_is_a_config_error(self) -> None:
        with pytest.raises(ConfigError, match=r"schedule='linear' needs its horizon.*schedule_iterations.*max_iter"):
            OnPolicyRunner(make_task("cartpole", num_envs=16, seed=1), _cfg())

    def test_bad_horizon_is_a_config_error(self) -> None:
        with pytest.raises(ConfigError, match=r"'algorithm.schedule_iterations' must be >= 1 or None, got 0"):
            OnPolicyRunner(make_task("cartpole", num_envs=16, seed=1), _cfg(schedule_iterations=0))

    def test_update_without_iteration_is_refused(self) -> None:
        runner = OnPolicyRunner(make_task("cartpole", num_envs=16, seed=1), {**_cfg(), "max_iterations": 4})
        runner.learn(1)
        with pytest.raises(ValueError, match="iteration=k"):
            runner.alg.update()

    def test_fixed_and_adaptive_ignore_the_horizon(self) -> None:
        cfg = {**_cfg(schedule="fixed", schedule_iterations=2), "max_iterations": 2}
        runner = OnPolicyRunner(make_task("cartpole", num_envs=16, seed=1), cfg)
        assert _rates(runner, 3) == [pytest.approx(LR, rel=1e-6)] * 3
        assert torch.equal(runner.alg._lr, torch.tensor(LR, dtype=torch.float32))
