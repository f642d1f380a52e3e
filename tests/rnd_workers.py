"""Process bodies of the RND multi-process test (2 gloo processes on the CPU).

Two scenarios in one process group: ``extension`` (an RND extension with reward normalization fed a scripted
observation stream per rank, its ``after_update`` called after each iteration, counting the collectives of every step
and of every ``after_update``) and ``runner`` (PPO with RND on each rank's own cartpole envs, with and without
``reward_normalization``, counting the collectives of ``learn``).
"""

from __future__ import annotations

import os
from types import SimpleNamespace
from typing import Any, cast

import torch
from distributed_workers import _join
from reward_scaling_workers import counted_collectives
from torch import distributed as dist

from stride.config.schema import RNDCfg
from stride.extensions.rnd import RandomNetworkDistillation

NUM_ENVS = 4  # per rank, extension scenario
NUM_STEPS = 5  # steps per iteration, extension scenario
NUM_ITERATIONS = 3
NUM_STATES = 3
GAMMA = 0.9
RUNNER_ENVS, RUNNER_STEPS = 8, 6


def observations(rank: int) -> torch.Tensor:
    """Rank ``rank``'s RND states. Shape: (NUM_ITERATIONS, NUM_STEPS, NUM_ENVS, NUM_STATES)."""
    gen = torch.Generator().manual_seed(200 + rank)
    shape = (NUM_ITERATIONS, NUM_STEPS, NUM_ENVS, NUM_STATES)
    return torch.randn(shape, generator=gen) * (1.0 + 2.0 * rank) + 3.0 * rank  # the ranks' novelty differs


def make_rnd() -> RandomNetworkDistillation:
    """The same RND (same random networks) on every rank: weight 1, reward normalization, no state normalization."""
    torch.manual_seed(0)
    cfg = RNDCfg(
        num_outputs=4, predictor_hidden_dims=[8], target_hidden_dims=[8], reward_normalization=True, weight=1.0
    )
    return RandomNetworkDistillation(cfg, ["policy"], NUM_STATES, NUM_ENVS, gamma=GAMMA)


def run_extension(rank: int, out_dir: str) -> None:
    """Feed this rank's states; save the raw and returned intrinsic rewards, the statistics, the collective counts."""
    obs = observations(rank)
    rnd = make_rnd()
    normalizer = rnd.reward_normalizer
    assert normalizer is not None  # reward_normalization is on
    zeros, dones = torch.zeros(NUM_ENVS), torch.zeros(NUM_ENVS)
    # after_update reads storage.observations only for the state normalizer, which is off here
    storage = cast(Any, SimpleNamespace(observations=None))
    raw, returned, means, variances, counts, step_calls, update_calls = [], [], [], [], [], [], []
    for it in range(NUM_ITERATIONS):
        calls: list[str] = []
        with counted_collectives(calls):
            for t in range(NUM_STEPS):
                state = {"policy": obs[it, t]}
                raw.append(rnd.prediction_error(state))
                returned.append(rnd.on_transition(state, zeros, dones, {}))
        step_calls.append(len(calls))
        calls = []
        with counted_collectives(calls):
            rnd.after_update(storage)
        update_calls.append(len(calls))
        means.append(normalizer._mean.reshape(()).clone())
        variances.append(normalizer._var.reshape(()).clone())
        counts.append(normalizer.count.clone())
    out = {
        "raw": torch.stack(raw).reshape(NUM_ITERATIONS, NUM_STEPS, NUM_ENVS),
        "returned": torch.stack(returned).reshape(NUM_ITERATIONS, NUM_STEPS, NUM_ENVS),
        "mean": torch.stack(means),
        "var": torch.stack(variances),
        "count": torch.stack(counts),
        "step_calls": torch.tensor(step_calls),
        "update_calls": torch.tensor(update_calls),
    }
    torch.save(out, os.path.join(out_dir, f"extension_rank{rank}.pt"))


def run_runner(rank: int, out_dir: str) -> None:
    """PPO with RND on cartpole for NUM_ITERATIONS with and without reward normalization; count the collectives."""
    from stride.env.tasks import make_task
    from stride.runners import OnPolicyRunner

    out: dict[str, torch.Tensor] = {}
    for normalize in (False, True):
        rnd_cfg = {"num_outputs": 4, "predictor_hidden_dims": [8], "target_hidden_dims": [8], "weight": 0.5}
        cfg = {
            "num_steps_per_env": RUNNER_STEPS,
            "seed": 5,
            "obs_groups": {"actor": ["policy"], "critic": ["policy"], "rnd_state": ["policy"]},
            "algorithm": {
                "num_learning_epochs": 1,
                "num_mini_batches": 2,
                "rnd_cfg": {**rnd_cfg, "reward_normalization": normalize},
            },
            "actor": {"hidden_dims": [8], "distribution_cfg": {"class_name": "GaussianDistribution"}},
            "critic": {"hidden_dims": [8]},
        }
        runner = OnPolicyRunner(make_task("cartpole", num_envs=RUNNER_ENVS, seed=5 + rank), cfg, log_dir=None)
        calls: list[str] = []
        with counted_collectives(calls):
            runner.learn(NUM_ITERATIONS)
        out[f"calls_{normalize}"] = torch.tensor(len(calls))
        if normalize:
            rnd = cast(RandomNetworkDistillation, runner.alg.rnd)
            assert rnd.reward_normalizer is not None  # the config asks for it
            out.update({f"stats.{k}": v.clone() for k, v in rnd.reward_normalizer.state_dict().items()})
    torch.save(out, os.path.join(out_dir, f"runner_rank{rank}.pt"))


def scenarios_worker(rank: int, world_size: int, port: int, out_dir: str) -> None:
    """Both scenarios in one process group (one start-up)."""
    _join(rank, world_size, port)
    try:
        run_extension(rank, out_dir)
        run_runner(rank, out_dir)
    finally:
        dist.destroy_process_group()
