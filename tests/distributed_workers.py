"""Process bodies of the multi-process tests (importable by spawned children; tests/ is on pytest's pythonpath).

Each worker joins a gloo group on 127.0.0.1, runs one scenario and writes what the test compares into ``out_dir``
(the test's own files, not the library's).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import torch
from tensordict import TensorDict
from torch import distributed as dist

from stride.algorithms.ppo import PPO

NUM_ENVS = 8  # per rank
NUM_STEPS = 6
NUM_MINI_BATCHES = 2
NUM_EPOCHS = 2


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


SYMMETRY = {
    "use_data_augmentation": True,
    "use_mirror_loss": True,
    "mirror_loss_coeff": 0.1,
    "data_augmentation_func": "cartpole",
}
"""Cartpole symmetry with augmentation and mirror loss (the multi-process tests' configs)."""


def ppo_cfg(kind: str) -> dict[str, Any]:
    """A small PPO config touching every synchronized part: normalizers, value normalization, RND, symmetry, GRU."""
    algorithm: dict[str, Any] = {
        "num_learning_epochs": NUM_EPOCHS,
        "num_mini_batches": NUM_MINI_BATCHES,
        "schedule": "adaptive",
        "desired_kl": 0.001,  # small: the learning rate moves during the update
        "learning_rate": 3e-3,
        "value_normalization": True,
        "symmetry_cfg": SYMMETRY,
    }
    model: dict[str, Any] = {"hidden_dims": [16, 16], "obs_normalization": True}
    if kind == "gru":
        model = {**model, "class_name": "RNNModel", "rnn_type": "gru", "rnn_hidden_dim": 8}
    else:
        algorithm["rnd_cfg"] = {
            "num_outputs": 4,
            "predictor_hidden_dims": [16],
            "target_hidden_dims": [16],
            "state_normalization": True,
        }
    return {
        "algorithm": algorithm,
        "actor": {**model, "distribution_cfg": {"class_name": "GaussianDistribution", "init_std": 1.0}},
        "critic": dict(model),
    }


OBS_GROUPS = {"actor": ["policy"], "critic": ["policy"], "rnd_state": ["policy"]}


def rollout(num_envs: int) -> dict[str, torch.Tensor]:
    """A fixed synthetic rollout of ``num_envs`` envs (the first half is rank 0's, the second rank 1's)."""
    gen = torch.Generator().manual_seed(123)
    shape = (NUM_STEPS, num_envs)
    return {
        "obs": torch.randn(*shape, 4, generator=gen) * torch.tensor([1.0, 2.0, 0.5, 3.0]) + 0.3,
        "last_obs": torch.randn(num_envs, 4, generator=gen),
        "actions": torch.randn(*shape, 1, generator=gen),
        "rewards": torch.randn(*shape, generator=gen) + 1.0,
        "dones": (torch.rand(*shape, generator=gen) < 0.15).float(),
    }


def build_ppo(kind: str, num_envs: int) -> PPO:
    """PPO with parameters from seed 0 whatever the number of envs (models are built before anything random)."""
    torch.manual_seed(0)
    obs = TensorDict({"policy": torch.zeros(num_envs, 4)}, batch_size=[num_envs])
    return PPO.construct(obs, num_envs, 1, NUM_STEPS, ppo_cfg(kind), OBS_GROUPS, "cpu")


def fill(alg: PPO, data: dict[str, torch.Tensor], envs: slice) -> None:
    """Write the rollout into the storage through act()'s bookkeeping, with the data's actions."""
    with torch.inference_mode():
        for t in range(NUM_STEPS):
            obs = TensorDict({"policy": data["obs"][t, envs]}, batch_size=[data["obs"][t, envs].shape[0]])
            if alg.is_recurrent:
                alg.storage.add_hidden_states(alg.actor.get_hidden_state(), alg.critic.get_hidden_state())
            params = alg.actor.distribution_params(obs)
            actions = data["actions"][t, envs]
            log_prob = alg.distribution.log_prob(params, actions)
            values = alg._critic_values(obs)
            alg.storage.add_policy_output(obs, actions, log_prob, values, params)
            dones = data["dones"][t, envs]
            alg.storage.add_env_output(data["rewards"][t, envs], dones)
            alg.actor.reset(dones)
            alg.critic.reset(dones)
        last = data["last_obs"][envs]
        alg.compute_returns(TensorDict({"policy": last}, batch_size=[last.shape[0]]))


def _local_perm(epoch: int, rank: int, size: int) -> torch.Tensor:
    return torch.randperm(size, generator=torch.Generator().manual_seed(1000 * epoch + rank))


def rank_perms(rank: int, recurrent: bool) -> list[torch.Tensor]:
    """The permutations rank ``rank`` draws in its update (over transitions, or over envs when recurrent)."""
    size = NUM_ENVS if recurrent else NUM_ENVS * NUM_STEPS
    return [_local_perm(e, rank, size) for e in range(NUM_EPOCHS)]


def union_perms(world_size: int, recurrent: bool) -> list[torch.Tensor]:
    """Permutations of the single-process run on all ranks' envs whose mini-batch k is the union of the ranks' k."""
    perms = []
    for epoch in range(NUM_EPOCHS):
        chunks: list[list[torch.Tensor]] = [[] for _ in range(NUM_MINI_BATCHES)]
        for rank in range(world_size):
            local = rank_perms(rank, recurrent)[epoch]
            if recurrent:
                mapped = local + rank * NUM_ENVS  # env n of rank r is env r·N + n
            else:
                # transition t·N + n of rank r is transition t·(R·N) + r·N + n of the union
                t, n = local // NUM_ENVS, local % NUM_ENVS
                mapped = t * (world_size * NUM_ENVS) + rank * NUM_ENVS + n
            size = mapped.numel() // NUM_MINI_BATCHES
            for k in range(NUM_MINI_BATCHES):
                chunks[k].append(mapped[k * size : (k + 1) * size])
        perms.append(torch.cat([torch.cat(c) for c in chunks]))
    return perms


@contextlib.contextmanager
def fixed_randperm(perms: list[torch.Tensor]) -> Iterator[None]:
    """Make the storage's mini-batch generators draw ``perms`` in order instead of random permutations."""
    original = torch.randperm
    queue = list(perms)

    def fake(n: int, *args: Any, **kwargs: Any) -> torch.Tensor:
        perm = queue.pop(0)
        if perm.numel() != n:
            raise AssertionError(f"randperm({n}) but the prepared permutation has {perm.numel()} entries")
        return perm.clone()

    torch.randperm = fake  # type: ignore[assignment]
    try:
        yield
    finally:
        torch.randperm = original  # type: ignore[assignment]


def state_of(alg: PPO) -> dict[str, torch.Tensor]:
    """Every synchronized number of the algorithm, flattened to named tensors."""
    out: dict[str, torch.Tensor] = {}
    for name, module in (("actor", alg.actor), ("critic", alg.critic)):
        out.update({f"{name}.{k}": v.detach().clone() for k, v in module.state_dict().items()})
    if alg.value_normalizer is not None:
        out.update({f"value_normalizer.{k}": v.clone() for k, v in alg.value_normalizer.state_dict().items()})
    for ext in alg.extensions:
        for key, value in ext.state_dict().items():
            if isinstance(value, torch.Tensor) and key != "discounted_return":
                out[f"{ext.name}.{key}"] = value.clone()
    for i, state in enumerate(alg.optimizer.state.values()):
        out.update({f"optimizer.{i}.{k}": v.clone() for k, v in state.items()})
    out["learning_rate"] = alg._lr.clone()
    return out


def scenarios_worker(rank: int, world_size: int, port: int, out_dir: str) -> None:
    """Every spawned scenario in one process group (one start-up for all of them)."""
    _join(rank, world_size, port)
    try:
        for kind in ("mlp", "gru"):
            ppo_update(rank, world_size, out_dir, kind)
        moments(rank, out_dir)
        mismatch(rank, out_dir)
    finally:
        dist.destroy_process_group()


def ppo_update(rank: int, world_size: int, out_dir: str, kind: str) -> None:
    """One PPO update on this rank's envs of the shared rollout; saves the state after it."""
    alg = build_ppo(kind, NUM_ENVS)
    fill(alg, rollout(world_size * NUM_ENVS), slice(rank * NUM_ENVS, (rank + 1) * NUM_ENVS))
    with fixed_randperm(rank_perms(rank, alg.is_recurrent)):
        alg.update(iteration=0)
    torch.save(state_of(alg), os.path.join(out_dir, f"{kind}_rank{rank}.pt"))


def moments(rank: int, out_dir: str) -> None:
    """Normalizer updates with unequal per-rank data; saves this rank's statistics."""
    from stride.modules.normalization import EmpiricalNormalization
    from stride.utils.distributed import mean_and_std

    norm = EmpiricalNormalization(3)
    for step in range(3):
        norm.update(moments_data(rank, step))
    advantages = moments_data(rank, 9)[:, 0]
    stats = mean_and_std(advantages)
    if stats is None:
        raise AssertionError("mean_and_std returned None inside a process group")
    result = {k: v.clone() for k, v in norm.state_dict().items()}
    result.update({"adv_mean": stats[0], "adv_std": stats[1]})
    torch.save(result, os.path.join(out_dir, f"moments_rank{rank}.pt"))


def moments_data(rank: int, step: int) -> torch.Tensor:
    """Per-rank, per-step samples with different means and scales on each rank (64 rows, 3 features)."""
    gen = torch.Generator().manual_seed(100 * step + rank)
    return torch.randn(64, 3, generator=gen) * (1.0 + 2.0 * rank) + 5.0 * rank - step


def mismatch(rank: int, out_dir: str) -> None:
    """Ranks that build different configs: every rank must raise ConfigError (written to a file), not hang."""
    from stride.utils.distributed import check_same_setup
    from stride.utils.errors import ConfigError

    setup = {"config.algorithm.learning_rate": 1e-3 * (rank + 1), "env.num_envs": 8, "iteration": 0}
    try:
        check_same_setup(setup)
        message = "no error"
    except ConfigError as err:
        message = str(err)
    with open(os.path.join(out_dir, f"mismatch_rank{rank}.txt"), "w", encoding="utf-8") as handle:
        handle.write(message)


def _join(rank: int, world_size: int, port: int) -> None:
    torch.set_num_threads(1)
    os.environ.update(
        {
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
            "WORLD_SIZE": str(world_size),
            "RANK": str(rank),
            "LOCAL_RANK": str(rank),
        }
    )
    from stride.utils.distributed import setup_distributed

    setup_distributed("cpu")


def spawn(fn: Callable[..., None], *args: Any, world_size: int = 2) -> None:
    """Run ``fn(rank, world_size, port, *args)`` in ``world_size`` fresh processes; raises if one fails."""
    import torch.multiprocessing as mp

    mp.start_processes(fn, args=(world_size, free_port(), *args), nprocs=world_size, join=True, start_method="spawn")


def torchrun(
    args: list[str], *, nproc: int = 2, timeout: float = 240, extra: tuple[str, ...] = (), port: int | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m torch.distributed.run`` on 127.0.0.1 with ``nproc`` CPU workers (one thread each)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": REPO_ROOT}
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        f"--nproc-per-node={nproc}",
        "--master-addr=127.0.0.1",
        f"--master-port={port or free_port()}",
        *extra,
        *args,
    ]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout, check=False)


REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN_SCRIPT = os.path.join(REPO_ROOT, "tests", "distributed_train_script.py")
