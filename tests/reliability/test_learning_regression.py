"""R23: PPO solves the built-in tasks within a fixed budget on every seed (CPU, whole file well under 2 minutes)."""

from __future__ import annotations

import time

import pytest

from stride.config.io import ExperimentCfg, load_experiment, preset_path
from stride.env.tasks import make_task
from stride.runners import OnPolicyRunner
from stride.runners.evaluate import evaluate_policy

SEEDS = (1, 2, 3)
# task → (solve threshold on the deterministic mean return, iteration budget)
BUDGETS = {"cartpole": (475.0, 60), "pendulum": (-200.0, 80)}


def _train_and_evaluate(task: str, seed: int) -> tuple[float, float]:
    path = preset_path(task)
    assert path is not None
    exp: ExperimentCfg = load_experiment(path)
    runner_cfg = dict(exp.runner, seed=seed)
    env = make_task(task, seed=seed, **exp.env)
    runner = OnPolicyRunner(env, runner_cfg, log_dir=None)
    start = time.perf_counter()
    runner.learn(BUDGETS[task][1], init_at_random_ep_len=exp.init_at_random_ep_len)
    elapsed = time.perf_counter() - start
    eval_env = make_task(task, num_envs=32, seed=1000 + seed)
    result = evaluate_policy(eval_env, runner.get_inference_policy(), num_episodes=32)
    assert result.num_episodes == 32
    return result.mean_return, elapsed


class TestLearningRegression:
    """The presets reach the solve threshold on 3/3 seeds within their iteration budget."""

    @pytest.mark.parametrize("task", sorted(BUDGETS))
    def test_solves_on_every_seed(self, task: str, record_property: pytest.RecordProperty) -> None:
        threshold, _ = BUDGETS[task]
        results = [_train_and_evaluate(task, seed) for seed in SEEDS]
        for seed, (ret, elapsed) in zip(SEEDS, results, strict=True):
            record_property(f"{task}_seed{seed}", f"return={ret:.1f} seconds={elapsed:.1f}")
        returns = [r for r, _ in results]
        assert all(r >= threshold for r in returns), f"{task}: deterministic returns {returns} vs threshold {threshold}"
