"""R23: PPO solves the built-in tasks within a fixed iteration budget on every seed (CPU, about 40 s idle).

Marked ``slow`` (run with ``-m slow``): on a busy 2-core machine these learning runs took minutes each and hit the
test timeout (issue 17). The default tier keeps a short learning smoke test (test_learning_smoke.py).

"Solves" is judged as rsl_rl users measure time to solve: training stops at the first checkpoint (every
``EVAL_EVERY`` iterations) whose deterministic evaluation over 32 fresh episodes reaches the threshold; the test
fails if a seed exhausts the budget without reaching it.
"""

from __future__ import annotations

import time

import pytest

from stride.config.io import ExperimentCfg, load_experiment, preset_path
from stride.env.tasks import make_task
from stride.runners import OnPolicyRunner
from stride.runners.evaluate import evaluate_policy

SEEDS = (1, 2, 3)
# task → (threshold on the deterministic mean return, first evaluation, evaluation period, iteration budget)
BUDGETS = {"cartpole": (475.0, 40, 10, 80), "pendulum": (-200.0, 60, 20, 120)}


def _iterations_to_solve(task: str, seed: int) -> tuple[int | None, list[float], float]:
    threshold, first, every, budget = BUDGETS[task]
    path = preset_path(task)
    assert path is not None
    exp: ExperimentCfg = load_experiment(path)
    env = make_task(task, seed=seed, **exp.env)
    runner = OnPolicyRunner(env, dict(exp.runner, seed=seed), log_dir=None)
    start = time.perf_counter()
    returns: list[float] = []
    target = first
    while target <= budget:
        runner.learn(target - runner.current_learning_iteration, init_at_random_ep_len=exp.init_at_random_ep_len)
        result = evaluate_policy(make_task(task, num_envs=32, seed=1000 + seed), runner.get_inference_policy(), 32)
        runner.alg.train_mode()
        assert result.num_episodes == 32
        returns.append(result.mean_return)
        if result.mean_return >= threshold:
            return target, returns, time.perf_counter() - start
        target += every
    return None, returns, time.perf_counter() - start


@pytest.mark.slow
class TestLearningRegression:
    """The presets reach the solve threshold on 3/3 seeds within their iteration budget."""

    @pytest.mark.parametrize("task", sorted(BUDGETS))
    def test_solves_on_every_seed(self, task: str, record_property: pytest.RecordProperty) -> None:
        results = {seed: _iterations_to_solve(task, seed) for seed in SEEDS}
        for seed, (solved_at, returns, seconds) in results.items():
            record_property(f"{task}_seed{seed}", f"solved_at={solved_at} returns={returns} seconds={seconds:.1f}")
        unsolved = {seed: r[1] for seed, r in results.items() if r[0] is None}
        assert unsolved == {}, f"{task}: seeds that never reached {BUDGETS[task][0]}: {unsolved}"
