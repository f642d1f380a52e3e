"""SAC and TD3 swing up the built-in pendulum with their presets, in a tenth of PPO's env steps (slow tier).

Training stops at the first evaluation (every 20 iterations = 1,280 env steps) whose deterministic mean return over
32 fresh episodes reaches −200; the budget is 400 iterations (25,600 env steps), under a tenth of the 368,640 env
steps the PPO preset needs at its fastest measured seed (60 iterations × 6,144).
"""

from __future__ import annotations

import pytest

from stride.config.io import load_experiment, preset_path
from stride.env.tasks import make_task
from stride.runners import OffPolicyRunner
from stride.runners.evaluate import evaluate_policy

PPO_FASTEST_ENV_STEPS = 60 * 256 * 24
"""The PPO pendulum preset's fewest env steps to −200 (60 iterations, BENCHMARKS.md)."""


@pytest.mark.slow
class TestOffPolicySolvesPendulum:
    """Each off-policy preset reaches a deterministic return of −200 within a tenth of PPO's env steps."""

    @pytest.mark.parametrize("preset", ["pendulum-sac", "pendulum-td3"])
    def test_solves_within_budget(self, preset: str) -> None:
        path = preset_path(preset)
        assert path is not None
        exp = load_experiment(path)
        runner = OffPolicyRunner(make_task("pendulum", seed=1, **exp.env), dict(exp.runner, seed=1), log_dir=None)
        returns: list[float] = []
        while runner.current_learning_iteration < 400:
            runner.learn(20)
            result = evaluate_policy(make_task("pendulum", num_envs=32, seed=1001), runner.get_inference_policy(), 32)
            runner.alg.train_mode()
            returns.append(round(result.mean_return, 1))
            if result.mean_return >= -200.0:
                break
        assert returns[-1] >= -200.0, f"{preset}: evaluations {returns}"
        assert runner.total_env_steps * 10 <= PPO_FASTEST_ENV_STEPS
