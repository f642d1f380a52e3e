"""SAC and TD3 swing up the built-in pendulum with their presets in a tenth of PPO's env steps (slow tier).

Training stops at the first evaluation (every 10 iterations = 640 env steps) whose deterministic mean return over
32 fresh episodes reaches −200. The budget is a tenth of the env steps the PPO preset needed at its fastest measured
seed (19 iterations × 256 envs × 24 steps, ``benchmarks/pendulum_off_policy.py``, BENCHMARKS.md).
"""

from __future__ import annotations

import pytest

from stride.config.io import load_experiment, preset_path
from stride.env.tasks import make_task
from stride.runners import OffPolicyRunner
from stride.runners.evaluate import evaluate_policy

PPO_FASTEST_ENV_STEPS = 19 * 256 * 24
"""The PPO pendulum preset's fewest env steps to a deterministic −200 over seeds 1–3 (116,736)."""


@pytest.mark.slow
class TestOffPolicySolvesPendulum:
    """Each off-policy preset reaches a deterministic return of −200 within a tenth of PPO's env steps."""

    @pytest.mark.parametrize("preset", ["pendulum-sac", "pendulum-td3"])
    def test_solves_within_budget(self, preset: str) -> None:
        path = preset_path(preset)
        assert path is not None
        exp = load_experiment(path)
        runner = OffPolicyRunner(make_task("pendulum", seed=1, **exp.env), dict(exp.runner, seed=1), log_dir=None)
        chunk = 10 * runner.runner_cfg.num_steps_per_env * runner.env.num_envs
        returns: list[float] = []
        while runner.total_env_steps + chunk <= PPO_FASTEST_ENV_STEPS // 10:
            runner.learn(10)
            result = evaluate_policy(make_task("pendulum", num_envs=32, seed=1001), runner.get_inference_policy(), 32)
            runner.alg.train_mode()
            returns.append(round(result.mean_return, 1))
            if result.mean_return >= -200.0:
                break
        assert returns and returns[-1] >= -200.0, f"{preset}: evaluations every {chunk} env steps: {returns}"
