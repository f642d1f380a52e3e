"""PPO on a CUDA device: the rollout and the mini-batch loop never wait for the host, and the compiled update equals
the eager one there (issue 20's GPU tier; skipped without a CUDA device, run by ``benchmarks/gpu_session.sh``)."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from stride.env.tasks import make_task
from stride.runners import OnPolicyRunner
from stride.utils.nonfinite import EnvGuard

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]

NUM_ENVS = 1024
NUM_STEPS = 16


def _cfg(mode: str | None = None, **algorithm: Any) -> dict[str, Any]:
    return {
        "num_steps_per_env": NUM_STEPS,
        "save_interval": 1000,
        "seed": 7,
        "torch_compile_mode": mode,
        "obs_groups": {"actor": ["policy"], "critic": ["policy"]},
        "algorithm": {"class_name": "PPO", "num_mini_batches": 4, "num_learning_epochs": 2, **algorithm},
        "actor": {
            "class_name": "MLPModel",
            "hidden_dims": [256, 256],
            "obs_normalization": True,
            "distribution_cfg": {"class_name": "GaussianDistribution", "init_std": 1.0},
        },
        "critic": {"class_name": "MLPModel", "hidden_dims": [256, 256], "obs_normalization": True},
    }


def _runner(mode: str | None = None, **algorithm: Any) -> OnPolicyRunner:
    # time limit 10 < NUM_STEPS: every rollout has time-outs, so the final-obs bootstrap path runs too
    env = make_task("cartpole", num_envs=NUM_ENVS, seed=3, device="cuda", max_episode_length=10)
    return OnPolicyRunner(env, _cfg(mode, **algorithm), log_dir=None, device="cuda")


def _rollout(runner: OnPolicyRunner, guard: EnvGuard, iteration: int, sync_check: bool) -> None:
    """One rollout as the runner takes it (act, step, guard, store, returns); ``sync_check`` makes any host
    synchronization inside it raise."""
    env, alg = runner.env, runner.alg
    obs = env.get_observations().to(runner.device)
    torch.cuda.synchronize()
    if sync_check:
        torch.cuda.set_sync_debug_mode("error")
    try:
        with torch.inference_mode():
            for _ in range(NUM_STEPS):
                actions = alg.act(obs)
                obs, rewards, dones, extras = env.step(actions)
                obs, rewards, dones, extras = guard.check_step(obs, rewards, dones, extras, alg.storage.step, iteration)
                alg.process_env_step(obs, rewards, dones, extras)
            alg.compute_returns(obs)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    guard.raise_if_bad(iteration)  # the runner's one read per rollout, outside the checked region


class TestNoHostSync:
    """With the deferred guard, a PPO rollout (MLP, obs and value normalization, time-outs every rollout) and the
    update's mini-batch loop run under ``torch.cuda.set_sync_debug_mode("error")``: no host synchronization."""

    @pytest.mark.parametrize("value_normalization", [False, True], ids=["plain", "value-norm"])
    def test_rollout(self, value_normalization: bool) -> None:
        runner = _runner(value_normalization=value_normalization)
        guard = EnvGuard("deferred", num_steps=NUM_STEPS, device="cuda")
        _rollout(runner, guard, 0, sync_check=False)  # warm-up: allocations, lazy initialisation
        runner.alg.update(0)
        _rollout(runner, guard, 1, sync_check=True)
        assert int(runner.alg.storage.step) == NUM_STEPS

    @pytest.mark.parametrize("schedule", ["adaptive", "fixed"])
    def test_mini_batch_loop(self, schedule: str) -> None:
        runner = _runner(schedule=schedule)
        alg = runner.alg
        guard = EnvGuard("deferred", num_steps=NUM_STEPS, device="cuda")
        _rollout(runner, guard, 0, sync_check=False)
        alg.update(0)  # warm-up: optimizer state, autograd graph caches
        _rollout(runner, guard, 1, sync_check=False)
        before = [p.detach().clone() for p in alg.actor.parameters()]
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error")
        try:
            # the body of PPO.update before its single read of the loss sums
            for batch in alg.storage.mini_batch_generator(alg.cfg.num_mini_batches, alg.cfg.num_learning_epochs):
                alg._update_step(batch)
            alg._update_normalizers()
        finally:
            torch.cuda.set_sync_debug_mode("default")
        moved = max(float((p.detach() - b).abs().max()) for p, b in zip(alg.actor.parameters(), before, strict=True))
        assert moved > 0.0  # the steps were applied


class TestCompiledEqualsEagerOnCuda:
    """``torch_compile_mode='default'`` on CUDA: after 3 iterations of learning the actor and critic parameters equal
    eager training's within 1e-5 (the CPU counterpart is tests/utils/test_compile.py)."""

    def test_parameters_after_learning(self) -> None:
        states = []
        for mode in (None, "default"):
            runner = _runner(mode)
            runner.learn(3)
            states.append({**runner.alg.actor.state_dict(), **runner.alg.critic.state_dict()})
        eager, comp = states
        assert list(comp) == list(eager)
        diff = max(float((comp[k].double() - eager[k].double()).abs().max()) for k in eager)
        assert diff <= 1e-5
