"""Multi-process training under ``torchrun``: process-group set-up, and the few collectives the algorithms call.

Everything distributed lives in this module. The runner calls :func:`setup_distributed` in its constructor and
:func:`start_distributed_learning` at the start of ``learn``; the algorithms call the hooks below, each of which
returns at once (and changes nothing) in a single process:

- :func:`all_reduce_gradients`: gradients of every trainable parameter (and a few loss terms) averaged over the
  ranks as one flat buffer per optimizer step;
- :func:`union_moments`: the count, mean and population variance of the union of every rank's batch, exact
  (count-weighted, with the between-rank term) and bit-identical on every rank (normalizer updates);
- :func:`mean_and_std`: mean and sample standard deviation over every rank's values (advantage normalization).

Launch: ``torchrun --nproc-per-node=K script.py`` (``--nnodes=M`` across machines) sets ``WORLD_SIZE``, ``RANK``,
``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``; NCCL is used on CUDA (device ``cuda:{LOCAL_RANK}``), gloo on
the CPU. Only rank 0 writes files.
"""

from __future__ import annotations

import atexit
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
from torch import distributed as dist
from torch import nn

from stride.utils.checkpoint import latest_checkpoint
from stride.utils.errors import ConfigError

__all__ = [
    "DistributedInfo",
    "all_reduce_gradients",
    "broadcast_from_main",
    "broadcast_object",
    "check_same_setup",
    "distributed_info",
    "is_distributed",
    "is_main_process",
    "mean_and_std",
    "pooled_moments",
    "rank_local_parts",
    "resume_after_restart",
    "setup_distributed",
    "start_distributed_learning",
    "union_moments",
]

_log = logging.getLogger(__name__)

_STORE_TIMEOUT = timedelta(minutes=30)
"""How long a rank waits for the others to reach the process group (torch's default)."""

_IGNORED_CONFIG_KEYS = frozenset({"seed", "device"})
"""Runner config keys that may differ between ranks (Isaac Lab passes ``seed + rank`` and ``cuda:{rank}``)."""


@dataclass(frozen=True)
class DistributedInfo:
    """Where this process sits in a torchrun job (world size 1, rank 0 outside torchrun).

    Attributes:
        world_size: Number of processes (``WORLD_SIZE``).
        rank: Global rank of this process, ``0 <= rank < world_size`` (``RANK``).
        local_rank: Rank on this machine, the CUDA device index (``LOCAL_RANK``).
        restart_count: How often torchrun restarted the job (``TORCHELASTIC_RESTART_COUNT``), 0 at first start.
    """

    world_size: int = 1
    rank: int = 0
    local_rank: int = 0
    restart_count: int = 0

    @property
    def is_distributed(self) -> bool:
        """Whether several processes train together."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Whether this is rank 0, the only rank that writes files and logs."""
        return self.rank == 0


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"environment variable {name}={raw!r} is not an integer; torchrun sets it to one.") from None


def distributed_info() -> DistributedInfo:
    """Read torchrun's variables (``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``, ``TORCHELASTIC_RESTART_COUNT``).

    Raises:
        ConfigError: If a variable is not an integer or the ranks are outside ``[0, WORLD_SIZE)``.
    """
    world_size = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    local_rank = _env_int("LOCAL_RANK", 0)
    restarts = _env_int("TORCHELASTIC_RESTART_COUNT", 0)
    if world_size < 1:
        raise ConfigError(f"WORLD_SIZE={world_size}; expected >= 1 (the number of processes torchrun started).")
    for name, value in (("RANK", rank), ("LOCAL_RANK", local_rank)):
        if not 0 <= value < world_size:
            raise ConfigError(
                f"{name}={value} is outside [0, WORLD_SIZE={world_size}); launch with torchrun, which sets both."
            )
    return DistributedInfo(world_size, rank, local_rank, restarts)


def is_distributed() -> bool:
    """Whether a process group with more than one process is initialized (the hooks below are no-ops otherwise)."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def is_main_process() -> bool:
    """True on rank 0 (and in a single process)."""
    return not is_distributed() or dist.get_rank() == 0


def _check_device(device: torch.device, info: DistributedInfo) -> None:
    if device.type == "cuda":
        expected = torch.device("cuda", info.local_rank)
        if device != expected:
            raise ConfigError(
                f"device is '{device}' but this is local rank {info.local_rank} of a torchrun job: each process "
                f"trains on its own GPU, expected device='{expected}'. Pass device=f'cuda:{{LOCAL_RANK}}' "
                "(os.environ['LOCAL_RANK']) to the runner; the stride CLI does it for --device cuda."
            )
    elif device.type != "cpu":
        raise ConfigError(
            f"device '{device}' is not supported for multi-process training; use 'cpu' (gloo) or "
            "'cuda:{LOCAL_RANK}' (NCCL)."
        )


def setup_distributed(device: str | torch.device) -> DistributedInfo:
    """Join the torchrun job this process belongs to (nothing happens outside torchrun or with one process).

    Initializes the default process group from torchrun's variables (NCCL for a CUDA device, gloo for the CPU)
    unless one is already initialized, in which case it is used as is. Idempotent.

    Args:
        device: The runner's device; on CUDA it must be ``cuda:{LOCAL_RANK}``.

    Returns:
        This process's place in the job.

    Raises:
        ConfigError: If the device does not fit the local rank, ``MASTER_ADDR``/``MASTER_PORT`` are missing, or an
            already initialized process group disagrees with torchrun's variables.
    """
    info = distributed_info()
    if not info.is_distributed:
        return info
    device = torch.device(device)
    _check_device(device, info)
    if not dist.is_available():
        raise ConfigError("WORLD_SIZE > 1 but this torch build has no torch.distributed; install a build with it.")
    if dist.is_initialized():
        if dist.get_world_size() != info.world_size or dist.get_rank() != info.rank:
            raise ConfigError(
                f"a process group is already initialized with world size {dist.get_world_size()} and rank "
                f"{dist.get_rank()}, but WORLD_SIZE={info.world_size} and RANK={info.rank}."
            )
        return info
    missing = [name for name in ("MASTER_ADDR", "MASTER_PORT") if not os.environ.get(name)]
    if missing:
        raise ConfigError(
            f"WORLD_SIZE={info.world_size} but {missing} are not set; launch with torchrun (e.g. "
            "torchrun --nproc-per-node=2 train.py), which sets them."
        )
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend=backend, rank=info.rank, world_size=info.world_size, store=_store(info))
    atexit.register(_destroy_process_group)
    _log.info("rank %d of %d joined the process group (%s)", info.rank, info.world_size, backend)
    return info


def _store(info: DistributedInfo) -> dist.Store | None:
    """The key-value store of the process group: torchrun's agent store under a prefix of its own per restart.

    torchrun's static rendezvous (``--master-addr/--master-port``) keeps one agent store across restarts, so the
    workers of a restarted job could read the addresses their predecessors published and fail to connect. Keys
    under ``stride/attempt_<TORCHELASTIC_RESTART_COUNT>`` cannot be stale. None (torch's default store) outside
    torchrun's agent store.
    """
    if os.environ.get("TORCHELASTIC_USE_AGENT_STORE") != "True":
        return None
    client = dist.TCPStore(
        host_name=os.environ["MASTER_ADDR"],
        port=int(os.environ["MASTER_PORT"]),
        world_size=info.world_size,
        is_master=False,
        timeout=_STORE_TIMEOUT,
    )
    return dist.PrefixStore(f"stride/attempt_{info.restart_count}", client)


def _destroy_process_group() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _collective_device() -> torch.device:
    """The device collectives run on: the current GPU under NCCL, else the CPU."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


# ------------------------------------------------------------------------------------------------------ the hooks
def all_reduce_gradients(parameters: Sequence[nn.Parameter], terms: torch.Tensor) -> torch.Tensor:
    """Average the gradients of ``parameters`` and the values of ``terms`` over the ranks in one all-reduce.

    Every gradient and the terms are packed into one flat buffer (one per dtype), summed across ranks, divided by
    the world size and written back; a parameter without a gradient contributes zeros and receives the mean. With
    the same number of samples per rank, the mean of the ranks' mean-loss gradients is the gradient of the mean loss
    over the union of their mini-batches. No host sync. In one process ``terms`` comes back as is.

    Args:
        parameters: Trainable parameters, in the same order on every rank.
        terms: Small float tensor of loss terms to average along (e.g. the KL that drives the learning rate).

    Returns:
        ``terms`` averaged over the ranks (the same tensor object in one process).
    """
    if not is_distributed():
        return terms
    world_size = dist.get_world_size()
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in parameters]
    by_dtype: dict[torch.dtype, list[int]] = {}
    for i, grad in enumerate(grads):
        by_dtype.setdefault(grad.dtype, []).append(i)
    terms_dtype = terms.dtype if terms.dtype in by_dtype else None
    for dtype, indices in by_dtype.items():
        pieces = [grads[i].reshape(-1) for i in indices]
        if dtype == terms_dtype:
            pieces.append(terms.detach().reshape(-1))
        flat = torch.cat(pieces)
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        flat.div_(world_size)
        offset = 0
        for i in indices:
            n = grads[i].numel()
            reduced = flat[offset : offset + n].view_as(grads[i])
            grad = parameters[i].grad
            if grad is None:
                parameters[i].grad = reduced.clone()
            else:
                grad.copy_(reduced)
            offset += n
        if dtype == terms_dtype:
            terms = flat[offset:].view_as(terms).clone()
    if terms_dtype is None:
        flat_terms = terms.detach().clone()
        dist.all_reduce(flat_terms, op=dist.ReduceOp.SUM)
        terms = flat_terms.div_(world_size)
    return terms


def union_moments(
    mean: torch.Tensor, var: torch.Tensor, count: int | torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, int | torch.Tensor]:
    """The statistics of the union of every rank's batch, identical on every rank.

    Each rank's (mean, population variance, count) is all-gathered in float64 and merged exactly
    (:func:`pooled_moments`). Every rank computes the same sums from the same numbers in the same order, so the
    results are bit-identical across ranks. No host sync.

    Args:
        mean: This rank's batch mean. Shape: any (e.g. (1, D)).
        var: This rank's population variance, same shape.
        count: This rank's number of samples (int or scalar tensor).

    Returns:
        ``(mean, var, count)`` of the union, in the dtype and shape of the inputs (``count`` a float64 tensor);
        the inputs unchanged in one process.
    """
    if not is_distributed():
        return mean, var, count
    shape, dtype = mean.shape, mean.dtype
    n_local = (
        count.to(device=mean.device, dtype=torch.float64).reshape(1)
        if isinstance(count, torch.Tensor)
        else torch.full((1,), float(count), dtype=torch.float64, device=mean.device)
    )
    packed = torch.cat([n_local, mean.detach().reshape(-1).double(), var.detach().reshape(-1).double()])
    rows = [torch.empty_like(packed) for _ in range(dist.get_world_size())]
    dist.all_gather(rows, packed)
    gathered = torch.stack(rows)  # (R, 1 + 2D), rank order
    d = mean.numel()
    union_mean, union_var, total = pooled_moments(gathered[:, 0], gathered[:, 1 : 1 + d], gathered[:, 1 + d :])
    return union_mean.to(dtype).reshape(shape), union_var.to(dtype).reshape(shape), total


def pooled_moments(
    counts: torch.Tensor, means: torch.Tensor, variances: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Exact mean and population variance of the union of R disjoint batches from their own statistics.

    Pure function (no collective): :func:`union_moments` applies it to the all-gathered statistics of the ranks.

    Args:
        counts: Samples per batch, ``>= 0``. Shape: (R,).
        means: Mean of each batch. Shape: (R, D).
        variances: Population variance (divisor nᵢ) of each batch. Shape: (R, D).

    Returns:
        ``(mean (D,), var (D,), n)`` of the union; mean 0 and variance 0 when every batch is empty.
    """
    weights = counts.reshape(-1, 1).to(means.dtype)
    total = weights.sum()
    n = total.clamp_min(1.0)
    # n = Σ nᵢ;  mean = Σ nᵢ·meanᵢ / n
    mean = (weights * means).sum(0) / n
    # var = Σ nᵢ·(varᵢ + (meanᵢ − mean)²) / n   (within-batch plus between-batch spread, Chan et al.)
    var = (weights * (variances + (means - mean).square())).sum(0) / n
    return mean, var, total


def mean_and_std(values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Mean and sample standard deviation (divisor n − 1) of ``values`` over every rank.

    Args:
        values: This rank's values, any shape (the same number on every rank).

    Returns:
        0-d ``(mean, std)``, identical on every rank; None in one process (the caller's own statistics apply).
    """
    if not is_distributed():
        return None
    flat = values.reshape(-1)
    var, mean = torch.var_mean(flat, correction=0)
    mean, var, count = union_moments(mean, var, flat.numel())
    n = torch.as_tensor(count, dtype=torch.float64, device=var.device)
    # s² = σ²·n / (n − 1)
    bessel = (n / (n - 1.0).clamp_min(1.0)).to(var.dtype)
    return mean, (var * bessel).sqrt()


# -------------------------------------------------------------------------------------------- start of learning
def broadcast_from_main(tensors: Iterable[torch.Tensor]) -> None:
    """Overwrite ``tensors`` in place with rank 0's values (one flat broadcast per dtype and device).

    Args:
        tensors: The same tensors, in the same order and shapes, on every rank; duplicates are sent once.
    """
    if not is_distributed():
        return
    unique: list[torch.Tensor] = []
    seen: set[int] = set()
    for tensor in tensors:
        if id(tensor) not in seen:
            seen.add(id(tensor))
            unique.append(tensor)
    groups: dict[tuple[torch.dtype, torch.device], list[torch.Tensor]] = {}
    for tensor in unique:
        groups.setdefault((tensor.dtype, tensor.device), []).append(tensor)
    target = _collective_device()
    for (_, device), members in groups.items():
        with torch.no_grad():
            flat = torch.cat([t.detach().reshape(-1) for t in members]).to(target)
            dist.broadcast(flat, src=0)
            flat = flat.to(device)
            offset = 0
            for tensor in members:
                n = tensor.numel()
                tensor.copy_(flat[offset : offset + n].view_as(tensor))
                offset += n


def check_same_setup(setup: Mapping[str, Any]) -> None:
    """Raise on every rank, instead of hanging later, when the ranks do not train the same thing.

    Args:
        setup: Plain, comparable values (config entries, env sizes, observation layout, iteration).

    Raises:
        ConfigError: Naming each entry that differs and every rank's value of it.
    """
    if not is_distributed():
        return
    gathered: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, dict(setup))
    differ: list[str] = []
    for key in sorted({k for entry in gathered for k in entry}):
        values = [entry.get(key, "<missing>") for entry in gathered]
        if any(v != values[0] for v in values[1:]):
            shown = ", ".join(f"rank {r}: {_short(v)}" for r, v in enumerate(values))
            differ.append(f"{key} ({shown})")
    if differ:
        raise ConfigError(
            f"the {len(gathered)} ranks of this torchrun job disagree on {len(differ)} entr"
            f"{'y' if len(differ) == 1 else 'ies'}: {'; '.join(differ[:10])}. Every rank must build the same "
            "config, env sizes and observation groups (only the seed and the device may differ), and load the same "
            "checkpoint."
        )


def broadcast_object(value: Any) -> Any:
    """Rank 0's ``value`` on every rank (e.g. a run directory named after rank 0's clock); ``value`` in one process."""
    if not is_distributed():
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0, device=_collective_device())
    return box[0]


def rank_local_parts(parts: Mapping[str, bool], info: DistributedInfo) -> dict[str, bool]:
    """The checkpoint parts a rank restores: on ranks other than 0, not rank 0's own env, RNG and recurrent states.

    A checkpoint is written by rank 0 and holds the state of rank 0's envs (task state, generators, the recurrent
    states carried across its envs). Every other rank keeps its own, so the ranks do not collect the same data.

    Args:
        parts: The load parts selected so far (``env``, ``rng``, ...).
        info: This process's place in the job.

    Returns:
        A copy of ``parts``; on ranks > 0 with ``env``, ``rng`` and ``recurrent_state`` switched off.
    """
    local = dict(parts)
    if not info.is_main:
        local.update({key: False for key in ("env", "rng") if key in local})
        local["recurrent_state"] = False
    return local


def resume_after_restart(runner: Any, run_dir: str | None) -> str | None:
    """After a torchrun restart (``--max-restarts``), load the latest checkpoint of ``run_dir`` into ``runner``.

    Call it on every rank after building the runner and before ``learn``; the iteration, learning rate, optimizer,
    normalizers and extensions continue as they were saved. Nothing happens on the first start
    (``TORCHELASTIC_RESTART_COUNT`` 0 or unset), without a run directory, or when it holds no checkpoint yet.

    Args:
        runner: A stride runner (its ``load`` is called).
        run_dir: The run directory the job writes checkpoints to (the same on every restart).

    Returns:
        The checkpoint loaded, or None.
    """
    if run_dir is None or distributed_info().restart_count == 0:
        return None
    path = latest_checkpoint(run_dir)
    if path is not None:
        _log.warning("torchrun restart %d: resuming from %s", distributed_info().restart_count, path)
        runner.load(path)
    return path


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _flatten(value: Any, prefix: str, out: dict[str, Any]) -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            _flatten(item, f"{prefix}.{key}" if prefix else str(key), out)
    else:
        out[prefix] = value


def _state_tensors(owner: Any, out: list[torch.Tensor]) -> None:
    """Parameters (bare ones too: SAC's log α), buffers, optimizer states and tensor learning rates of ``owner``."""
    for value in vars(owner).values():
        if isinstance(value, nn.Parameter):
            out.append(value)
        elif isinstance(value, nn.Module):
            out.extend(value.parameters())
            out.extend(value.buffers())
        elif isinstance(value, torch.optim.Optimizer):
            for group in value.param_groups:
                if isinstance(group.get("lr"), torch.Tensor):
                    out.append(group["lr"])
                for param in group["params"]:
                    state = value.state.get(param, {})
                    out.extend(state[k] for k in sorted(state) if isinstance(state[k], torch.Tensor))


def start_distributed_learning(runner: Any) -> None:
    """Make every rank start ``learn`` from rank 0's state, after checking that all ranks train the same thing.

    Checks (:func:`check_same_setup`) the runner config (but ``seed`` and ``device``), ``num_envs``,
    ``num_actions``, the observation layout and the iteration; then broadcasts from rank 0 every parameter and
    buffer of the algorithm's models and extensions (normalizers included), the optimizers' states and the tensor
    learning rates. Nothing happens in a single process.

    Args:
        runner: A stride runner (``train_cfg``, ``env``, ``obs_spec``, ``current_learning_iteration``, ``alg``).

    Raises:
        ConfigError: If the ranks disagree (see :func:`check_same_setup`).
    """
    if not is_distributed():
        return
    config: dict[str, Any] = {}
    _flatten({k: v for k, v in runner.train_cfg.items() if k not in _IGNORED_CONFIG_KEYS}, "", config)
    alg = runner.alg
    tensors: list[torch.Tensor] = []
    _state_tensors(alg, tensors)
    for ext in getattr(alg, "extensions", ()):
        _state_tensors(ext, tensors)
    setup = {f"config.{k}": v for k, v in config.items()}
    setup.update(
        {
            "env.num_envs": int(runner.env.num_envs),
            "env.num_actions": int(runner.env.num_actions),
            "obs_spec": runner.obs_spec,
            "iteration": int(runner.current_learning_iteration),
            "synchronized tensors": [(tuple(t.shape), str(t.dtype)) for t in tensors],
        }
    )
    check_same_setup(setup)
    broadcast_from_main(tensors)
