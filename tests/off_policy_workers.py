"""Process bodies of the off-policy multi-process tests (SAC and TD3 under a 2-process gloo group).

Two scenarios per algorithm, in one process group: ``update`` (one ``update()`` of 3 gradient steps on prepared
batches, each rank holding its half of the union batch; the test compares with one process on the union) and
``runner`` (an ``OffPolicyRunner`` trained for a few iterations on each rank's own pendulum envs; the test compares
the ranks bit for bit and checks that rank 1 wrote nothing).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

import torch
from distributed_workers import _join
from tensordict import TensorDict
from torch import distributed as dist

from stride.algorithms.off_policy import OffPolicyAlgorithm
from stride.algorithms.sac import SAC
from stride.algorithms.td3 import TD3
from stride.models import tanh_actor
from stride.storage.replay_buffer import ReplayBatch

BATCH = 8  # per rank
STEPS = 3  # gradient steps of the compared update
OBS_GROUPS = {"actor": ["policy"], "critic": ["policy"]}
SYMMETRY = {
    "use_data_augmentation": True,
    "use_mirror_loss": True,
    "mirror_loss_coeff": 0.5,
    "data_augmentation_func": "pendulum",
}


def algorithm_cfg(algo: str, batch_size: int) -> dict[str, Any]:
    """A small config touching every synchronized part: critic, actor, α (SAC), targets, normalizers, symmetry."""
    algorithm: dict[str, Any] = {
        "class_name": algo,
        "batch_size": batch_size,
        "learning_starts": 0,
        "buffer_size": 64,
        "actor_learning_rate": 3e-3,
        "critic_learning_rate": 3e-3,
        "max_grad_norm": 1.0,
        "symmetry_cfg": SYMMETRY,
    }
    if algo == "SAC":
        algorithm["alpha_learning_rate"] = 3e-2
    else:
        algorithm.update(policy_delay=2, target_policy_noise=0.0)  # smoothing noise off: the update is deterministic
    return {
        "algorithm": algorithm,
        "actor": {"hidden_dims": [16, 16], "obs_normalization": True},
        "critic": {"hidden_dims": [16, 16], "obs_normalization": True},
    }


def build(algo: str, batch_size: int, num_envs: int = 2) -> OffPolicyAlgorithm:
    """The algorithm with parameters from seed 0, its buffer holding 2 steps (so ``update`` runs)."""
    torch.manual_seed(0)
    obs = TensorDict({"policy": torch.zeros(num_envs, 3)}, batch_size=[num_envs])
    cls = SAC if algo == "SAC" else TD3
    alg = cls.construct(obs, num_envs, 1, STEPS, algorithm_cfg(algo, batch_size), OBS_GROUPS, "cpu")
    for _ in range(2):
        alg.buffer.add(
            obs, torch.zeros(num_envs, 1), torch.zeros(num_envs), *[torch.zeros(num_envs, dtype=torch.bool)] * 2, obs
        )
    return alg


def union_batches() -> list[ReplayBatch]:
    """STEPS fixed batches of 2·BATCH transitions: rows [r·BATCH, (r+1)·BATCH) are rank r's."""
    gen = torch.Generator().manual_seed(7)
    batches = []
    for _ in range(STEPS):
        obs = torch.randn(2 * BATCH, 3, generator=gen) * torch.tensor([1.0, 2.0, 3.0]) + 0.5
        batches.append(
            ReplayBatch(
                observations={"policy": obs},
                actions=torch.rand(2 * BATCH, 1, generator=gen) * 2 - 1,
                returns=torch.randn(2 * BATCH, generator=gen),
                next_observations={"policy": obs + 0.1 * torch.randn(2 * BATCH, 3, generator=gen)},
                discounts=0.99 * (torch.rand(2 * BATCH, generator=gen) > 0.2).float(),
            )
        )
    return batches


def rows(batch: ReplayBatch, part: slice) -> ReplayBatch:
    """The rows ``part`` of a batch."""
    return ReplayBatch(
        observations={g: t[part] for g, t in batch.observations.items()},
        actions=batch.actions[part],
        returns=batch.returns[part],
        next_observations={g: t[part] for g, t in batch.next_observations.items()},
        discounts=batch.discounts[part],
    )


def _row_noise(
    mean: torch.Tensor, log_std: torch.Tensor, noise: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """SAC's reparameterized sample with ε a fixed function of the row (sin 100·μ) instead of the drawn ``noise``, so
    a row gets the same ε on a rank as in the single-process union; everything downstream of ε is SAC's own."""
    u = mean + log_std.exp() * torch.sin(100.0 * mean.detach())
    return torch.tanh(u), tanh_actor.squashed_gaussian_log_prob(u, mean, log_std)


@contextlib.contextmanager
def prepared(alg: OffPolicyAlgorithm, batches: list[ReplayBatch]) -> Iterator[None]:
    """``alg.buffer.sample`` returns ``batches`` in order; SAC's noise is the row function above."""
    queue = list(batches)
    original_sample, original_noise = alg.buffer.sample, tanh_actor.squashed_sample
    alg.buffer.sample = lambda *args, **kwargs: queue.pop(0)  # type: ignore[method-assign]
    tanh_actor.squashed_sample = _row_noise  # type: ignore[assignment]
    try:
        yield
    finally:
        alg.buffer.sample = original_sample  # type: ignore[method-assign]
        tanh_actor.squashed_sample = original_noise  # type: ignore[assignment]


def state_of(alg: OffPolicyAlgorithm) -> dict[str, torch.Tensor]:
    """Models, target networks, optimizer moments, log α: every number the update changes."""
    out: dict[str, torch.Tensor] = {}
    state = alg.state_dict()
    for key, value in state.items():
        if isinstance(value, torch.Tensor):
            out[key] = value.detach().clone()
        elif key.endswith("optimizer_state_dict"):
            for i, param_state in value["state"].items():
                out.update({f"{key}.{i}.{k}": v.clone() for k, v in param_state.items()})
        elif isinstance(value, dict):
            out.update({f"{key}.{k}": v.detach().clone() for k, v in value.items() if isinstance(v, torch.Tensor)})
    return out


def run_update(algo: str, rank: int, out_dir: str) -> None:
    """One update of STEPS gradient steps on this rank's halves of the union batches."""
    alg = build(algo, BATCH)
    mine = [rows(b, slice(rank * BATCH, (rank + 1) * BATCH)) for b in union_batches()]
    with prepared(alg, mine):
        alg.update(iteration=0)
    torch.save(state_of(alg), os.path.join(out_dir, f"{algo}_update_rank{rank}.pt"))


def runner_cfg(algo: str) -> dict[str, Any]:
    """A short pendulum run: normalizers merged at every step, symmetry, 3 iterations of 4 steps × 8 envs."""
    cfg = algorithm_cfg(algo, 32)
    cfg["algorithm"].update(buffer_size=512, learning_starts=2)
    return {
        "class_name": "OffPolicyRunner",
        "num_steps_per_env": 4,
        "seed": 11,
        "save_interval": 2,
        "obs_groups": OBS_GROUPS,
        **cfg,
    }


def run_runner(algo: str, rank: int, out_dir: str) -> None:
    """Train on this rank's own envs (seed + rank), each rank given its own run directory; save the state."""
    from stride.env.tasks import make_task
    from stride.runners import OffPolicyRunner

    runner = OffPolicyRunner(
        make_task("pendulum", num_envs=8, seed=11 + rank),
        runner_cfg(algo),
        os.path.join(out_dir, f"{algo}_runs", f"rank{rank}"),
    )
    calls = []
    original = dist.all_gather

    def counting_all_gather(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return original(*args, **kwargs)

    dist.all_gather = counting_all_gather  # type: ignore[assignment]
    try:
        runner.learn(3)
    finally:
        dist.all_gather = original  # type: ignore[assignment]
    state = state_of(runner.alg)
    state["replay_rewards"] = runner.alg.buffer.rewards.clone()  # rank-local: must differ across ranks
    state["all_gathers"] = torch.tensor(len(calls))
    buffer = runner.alg.buffer
    # the normalizers take the observations the env returned: the next observations (no episode ends in 12 steps)
    state["replay_observations"] = buffer.next_observations["policy"][: buffer.size].reshape(-1, 3).clone()
    torch.save(state, os.path.join(out_dir, f"{algo}_runner_rank{rank}.pt"))


def scenarios_worker(rank: int, world_size: int, port: int, out_dir: str) -> None:
    """Every scenario in one process group (one start-up for all of them)."""
    _join(rank, world_size, port)
    try:
        for algo in ("SAC", "TD3"):
            run_update(algo, rank, out_dir)
            run_runner(algo, rank, out_dir)
    finally:
        dist.destroy_process_group()
