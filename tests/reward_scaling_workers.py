"""Process bodies of the reward-scaling multi-process test (2 gloo processes on the CPU).

Two scenarios in one process group: ``scaler`` (a ``RewardScaler`` fed a scripted reward stream per rank, synced after
each iteration, counting the collectives of every step and every sync) and ``runner`` (PPO on each rank's own cartpole
envs with and without ``reward_scaling``, counting the collectives of ``learn``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

import torch
from distributed_workers import _join
from torch import distributed as dist

from stride.modules import RewardScaler

NUM_ENVS = 4  # per rank, scaler scenario
NUM_STEPS = 5  # steps per iteration, scaler scenario
NUM_ITERATIONS = 3
GAMMA = 0.9


def script(rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Rank ``rank``'s rewards and dones, each of shape (NUM_ITERATIONS, NUM_STEPS, NUM_ENVS)."""
    gen = torch.Generator().manual_seed(100 + rank)
    shape = (NUM_ITERATIONS, NUM_STEPS, NUM_ENVS)
    rewards = torch.randn(shape, generator=gen) * 2.0 + 1.0 + rank  # the ranks' returns differ in scale
    dones = (torch.rand(shape, generator=gen) < 0.2).float()
    return rewards, dones


@contextlib.contextmanager
def counted_collectives(calls: list[str]) -> Iterator[None]:
    """Append the name of every ``dist.all_gather`` / ``dist.all_reduce`` call to ``calls``."""
    originals = {name: getattr(dist, name) for name in ("all_gather", "all_reduce")}

    def counting(name: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            calls.append(name)
            return originals[name](*args, **kwargs)

        return call

    for name in originals:
        setattr(dist, name, counting(name))
    try:
        yield
    finally:
        for name, fn in originals.items():
            setattr(dist, name, fn)


def run_scaler(rank: int, out_dir: str) -> None:
    """Scale this rank's script; save the scaled rewards, the statistics after each sync and the collective counts."""
    rewards, dones = script(rank)
    scaler = RewardScaler(NUM_ENVS, GAMMA)
    scaled, means, variances, counts, step_calls, sync_calls = [], [], [], [], [], []
    for it in range(NUM_ITERATIONS):
        calls: list[str] = []
        with counted_collectives(calls):
            scaled.append(torch.stack([scaler(rewards[it, t], dones[it, t]) for t in range(NUM_STEPS)]))
        step_calls.append(len(calls))
        calls = []
        with counted_collectives(calls):
            scaler.sync()
        sync_calls.append(len(calls))
        means.append(scaler.stats._mean.reshape(()).clone())
        variances.append(scaler.stats._var.reshape(()).clone())
        counts.append(scaler.stats.count.clone())
    out = {
        "scaled": torch.stack(scaled),
        "mean": torch.stack(means),
        "var": torch.stack(variances),
        "count": torch.stack(counts),
        "step_calls": torch.tensor(step_calls),
        "sync_calls": torch.tensor(sync_calls),
    }
    torch.save(out, os.path.join(out_dir, f"scaler_rank{rank}.pt"))


def run_runner(rank: int, out_dir: str) -> None:
    """PPO on cartpole for NUM_ITERATIONS with and without reward scaling; count each run's collectives."""
    from stride.env.tasks import make_task
    from stride.runners import OnPolicyRunner

    out: dict[str, torch.Tensor] = {}
    for scaling in (False, True):
        cfg = {
            "num_steps_per_env": 6,
            "seed": 5,
            "algorithm": {"num_learning_epochs": 1, "num_mini_batches": 2, "reward_scaling": scaling},
            "actor": {"hidden_dims": [8], "distribution_cfg": {"class_name": "GaussianDistribution"}},
            "critic": {"hidden_dims": [8]},
        }
        runner = OnPolicyRunner(make_task("cartpole", num_envs=8, seed=5 + rank), cfg, log_dir=None)
        calls: list[str] = []
        with counted_collectives(calls):
            runner.learn(NUM_ITERATIONS)
        out[f"calls_{scaling}"] = torch.tensor(len(calls))
        if scaling:
            scaler = runner.alg.reward_scaler
            assert scaler is not None  # the config asks for it
            out.update({f"stats.{k}": v.clone() for k, v in scaler.stats.state_dict().items()})
    torch.save(out, os.path.join(out_dir, f"runner_rank{rank}.pt"))


def scenarios_worker(rank: int, world_size: int, port: int, out_dir: str) -> None:
    """Both scenarios in one process group (one start-up)."""
    _join(rank, world_size, port)
    try:
        run_scaler(rank, out_dir)
        run_runner(rank, out_dir)
    finally:
        dist.destroy_process_group()
