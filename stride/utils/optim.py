"""Optimizers as stride's algorithms and extensions use them: fused kernels, a device learning rate, device skips."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from stride.utils.errors import ConfigError

__all__ = [
    "apply_schedule",
    "check_schedule",
    "linear_learning_rate",
    "load_optimizer_state",
    "make_optimizer",
    "step_unless",
]


def make_optimizer(name: str, params: Sequence[nn.Parameter], learning_rate: torch.Tensor) -> torch.optim.Optimizer:
    """Build the optimizer with a tensor learning rate, so the adaptive schedule never syncs with the host.

    Adam, AdamW and SGD use torch's fused kernels (faster on CPU and GPU); RMSprop uses the single-tensor path.

    Raises:
        ConfigError: For an unknown optimizer name.
    """
    params = list(params)
    if name == "adam":
        return torch.optim.Adam(params, lr=learning_rate, fused=True)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=learning_rate, fused=True)
    if name == "sgd":
        return torch.optim.SGD(params, lr=learning_rate, fused=True)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=learning_rate, foreach=False)
    raise ConfigError(f"algorithm.optimizer must be one of adam, adamw, sgd, rmsprop; got {name!r}.")


def load_optimizer_state(
    optimizer: torch.optim.Optimizer, state: Mapping[str, Any], learning_rate: torch.Tensor | None = None
) -> None:
    """Load a saved optimizer state, keeping this optimizer's implementation (and its shared tensor learning rate).

    The saved values are copied into the live state tensors where they exist with the same shape, dtype and device:
    a captured CUDA graph holds those tensors (moments, step counters) and must see the loaded values, never a
    rebound copy.

    Args:
        optimizer: The live optimizer.
        state: Its saved ``state_dict()`` (already checked against the parameters).
        learning_rate: The 0-d tensor every parameter group uses as ``lr``, if any; the saved rate is copied into it.
    """
    # torch takes fused/foreach/... from the saved groups; keep this optimizer's own (fast) implementation
    flags = [
        {k: g[k] for k in ("fused", "foreach", "capturable", "differentiable") if k in g}
        for g in optimizer.param_groups
    ]
    live = {param: dict(values) for param, values in optimizer.state.items()}
    optimizer.load_state_dict(dict(state))
    for param, values in optimizer.state.items():
        for key, value in values.items():
            kept = live.get(param, {}).get(key)
            if isinstance(kept, torch.Tensor) and isinstance(value, torch.Tensor) and _same_layout(kept, value):
                if kept is not value:
                    kept.copy_(value)
                values[key] = kept
    for group, own in zip(optimizer.param_groups, flags, strict=True):
        group.update(own)
    if learning_rate is not None:
        # keep the tensor learning rate shared between the schedule and the optimizer
        learning_rate.copy_(torch.as_tensor(optimizer.param_groups[0]["lr"], dtype=torch.float32))
        for group in optimizer.param_groups:
            group["lr"] = learning_rate


def _same_layout(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and a.dtype == b.dtype and a.device == b.device


def step_unless(optimizer: torch.optim.Optimizer, skipped: torch.Tensor) -> None:
    """``optimizer.step()`` unless ``skipped`` (0-d bool tensor): parameters and state stay untouched then.

    Fused optimizers skip on the device when ``found_inf`` is 1, without a host sync; the others read the flag.
    """
    if optimizer.defaults.get("fused"):
        optimizer.found_inf = skipped.to(torch.float32)  # type: ignore[attr-defined]
        optimizer.step()
    elif not bool(skipped):
        optimizer.step()


def linear_learning_rate(initial: float, iteration: int, num_iterations: int) -> float:
    """The learning rate of iteration ``k`` under a linear decay over ``H = num_iterations`` iterations.

    lr_k = lr_0 · (1 − min(k, H − 1) / H): lr_0 at iteration 0, lr_0 / H at the last planned iteration and after
    it (CleanRL's ``anneal_lr`` without ever reaching 0, so iterations past the plan still learn a little).

    Args:
        initial: lr_0, > 0.
        iteration: k, the 0-based iteration, >= 0.
        num_iterations: H, >= 1.
    """
    return initial * (1.0 - min(iteration, num_iterations - 1) / num_iterations)


def check_schedule(schedule: str, schedule_iterations: int | None) -> None:
    """Refuse ``schedule='linear'`` without a horizon.

    Raises:
        ConfigError: When the schedule is linear and ``schedule_iterations`` is None (the runner fills it from its
            ``max_iterations``; an algorithm built by hand must set it).
    """
    if schedule == "linear" and schedule_iterations is None:
        raise ConfigError(
            "algorithm.schedule='linear' needs its horizon: set algorithm.schedule_iterations, or the runner's "
            "max_iterations (the runner then uses it)."
        )


def apply_schedule(
    learning_rate: torch.Tensor, schedule: str, initial: float, iteration: int | None, schedule_iterations: int | None
) -> None:
    """Write iteration ``iteration``'s rate into the shared tensor learning rate when the schedule is linear.

    A host float written into the tensor (no read back): the optimizer and the logs see it from this update on.
    Other schedules are left alone ('adaptive' moves the rate inside the update, 'fixed' never does).

    Raises:
        ValueError: If the schedule is linear and ``iteration`` is None (the rate depends on it).
    """
    if schedule != "linear" or schedule_iterations is None:
        return
    if iteration is None:
        raise ValueError("update() needs iteration=k with schedule='linear' (the rate depends on it).")
    learning_rate.fill_(linear_learning_rate(initial, iteration, schedule_iterations))
