"""SAC and TD3 on a CUDA device: the collect step and the update's gradient steps never wait for the host (issue 19's
GPU tier, as tests/algorithms/test_ppo_cuda.py for PPO; skipped without a CUDA device)."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from stride.env.tasks import make_task
from stride.runners import OffPolicyRunner
from stride.utils.nonfinite import EnvGuard

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]

DEVICE = "cuda"
NUM_ENVS = 1024
NUM_STEPS = 8
SYMMETRY = {
    "use_data_augmentation": True,
    "use_mirror_loss": True,
    "mirror_loss_coeff": 0.5,
    "data_augmentation_func": "pendulum",
}
CASES = {
    "sac": ("SAC", {}, {}),
    "td3": ("TD3", {"policy_delay": 2}, {}),
    "sac-c51-symmetry": ("SAC", {"symmetry_cfg": SYMMETRY}, {"num_atoms": 51, "v_min": -100.0, "v_max": 0.0}),
    "td3-c51-symmetry": ("TD3", {"symmetry_cfg": SYMMETRY}, {"num_atoms": 51, "v_min": -100.0, "v_max": 0.0}),
    "sac-bf16": ("SAC", {"use_mixed_precision": True}, {}),
}


def _runner(algo: str, algorithm: dict[str, Any], critic: dict[str, Any]) -> OffPolicyRunner:
    cfg = {
        "class_name": "OffPolicyRunner",
        "num_steps_per_env": NUM_STEPS,
        "save_interval": 1000,
        "seed": 7,
        "obs_groups": {"actor": ["policy"], "critic": ["policy"]},
        "algorithm": {
            "class_name": algo,
            "batch_size": 1024,
            "buffer_size": NUM_ENVS * 64,
            "learning_starts": 2 * NUM_STEPS,  # the first two rollouts act at random, the later ones with the policy
            "n_step": 3,
            "max_grad_norm": 1.0,
            **algorithm,
        },
        "actor": {"hidden_dims": [256, 256], "obs_normalization": True},
        "critic": {"hidden_dims": [256, 256], "obs_normalization": True, **critic},
    }
    # time limit 10 > NUM_STEPS: the second and later rollouts have time-outs with final observations
    env = make_task("pendulum", num_envs=NUM_ENVS, seed=3, device=DEVICE, max_episode_length=10)
    return OffPolicyRunner(env, cfg, log_dir=None, device=DEVICE)


def _synchronize() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _set_sync_check(on: bool) -> None:
    if DEVICE == "cuda":
        torch.cuda.set_sync_debug_mode("error" if on else "default")


def _rollout(runner: OffPolicyRunner, guard: EnvGuard, iteration: int, sync_check: bool) -> None:
    """One rollout as the runner takes it (act, step, guard, store); ``sync_check`` makes any host synchronization
    inside it raise."""
    env, alg = runner.env, runner.alg
    obs = env.get_observations().to(runner.device)
    _synchronize()
    _set_sync_check(sync_check)
    try:
        with torch.inference_mode():
            for step in range(NUM_STEPS):
                actions = alg.act(obs)
                obs, rewards, dones, extras = env.step(actions)
                obs, rewards, dones, extras = guard.check_step(obs, rewards, dones, extras, step, iteration)
                alg.process_env_step(obs, rewards, dones, extras)
            alg.compute_returns(obs)
    finally:
        _set_sync_check(False)
    guard.raise_if_bad(iteration)  # the runner's one read per rollout, outside the checked region


class TestNoHostSync:
    """SAC and TD3 (scalar and C51 critics, symmetry, bfloat16 autocast; observation normalizers; time-outs with final
    observations) collect and make their update's gradient steps under ``torch.cuda.set_sync_debug_mode("error")``:
    no host synchronization. The update's one host read (the loss sums and skip flags) comes after
    ``_gradient_steps`` and is left outside the checked region, as PPO's is."""

    @pytest.mark.parametrize("case", list(CASES))
    def test_collect(self, case: str) -> None:
        runner = _runner(*CASES[case])
        guard = EnvGuard("deferred", num_steps=NUM_STEPS, device=DEVICE)
        # each path warmed up once (allocations, lazy initialisation), then checked
        phases = [(False, "random"), (True, "random"), (False, "policy"), (True, "policy")]
        for it, (check, acting) in enumerate(phases):
            assert (runner.alg.buffer.size >= runner.alg.cfg.learning_starts) == (acting == "policy")
            _rollout(runner, guard, it, sync_check=check)
            runner.alg.update(it)
        assert runner.alg.buffer.size == 4 * NUM_STEPS and runner.alg.num_updates > 0

    @pytest.mark.parametrize("case", list(CASES))
    def test_gradient_steps(self, case: str) -> None:
        runner = _runner(*CASES[case])
        alg = runner.alg
        guard = EnvGuard("deferred", num_steps=NUM_STEPS, device=DEVICE)
        for it in range(2):
            _rollout(runner, guard, it, sync_check=False)
        alg.update(1)  # warm-up: optimizer states, autograd caches
        assert alg.num_updates == alg.cfg.num_updates_per_step * NUM_STEPS  # the warm-up made its steps
        before = [p.detach().clone() for p in alg.actor.parameters()]
        _synchronize()
        _set_sync_check(True)
        try:
            sums, presence, flags = alg._gradient_steps(4)  # TD3 (delay 2): the actor steps at 2 of them
        finally:
            _set_sync_check(False)
        assert len(presence) == len(flags) == 4 and sums.shape == (len(alg.loss_keys) + len(alg.stat_keys),)
        assert not bool(torch.stack(flags).any()) and bool(torch.isfinite(sums).all())
        moved = max(float((p.detach() - b).abs().max()) for p, b in zip(alg.actor.parameters(), before, strict=True))
        assert moved > 0.0  # the actor's steps were applied
