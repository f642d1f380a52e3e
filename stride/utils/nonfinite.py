"""Guards that stop NaN and inf values at the env boundary, naming where they came from."""

from __future__ import annotations

from collections.abc import Mapping

import torch

from stride.utils.errors import NonFiniteError

__all__ = ["check_finite_step"]


def _bad_envs(x: torch.Tensor) -> torch.Tensor:
    """Indices of the envs (first dimension) with any non-finite entry."""
    flat = x.reshape(x.shape[0], -1) if x.dim() > 1 else x.reshape(-1, 1)
    return (~torch.isfinite(flat)).any(dim=1).nonzero().squeeze(-1)


def check_finite_step(
    obs: Mapping[str, torch.Tensor],
    rewards: torch.Tensor | None,
    event: str,
    max_listed: int = 8,
    others: Mapping[str, torch.Tensor | None] | None = None,
) -> None:
    """Raise if any observation group or the rewards hold NaN or ±inf.

    One fused device reduction decides; only on failure are the offending groups and env indices gathered.

    Args:
        obs: Observation groups, each (N, ...).
        rewards: Rewards (N,), or None at reset.
        event: What produced the values (``"reset"``, ``"step 12 of iteration 3"``), for the message.
        max_listed: How many env indices to list.
        others: Further per-env tensors to check (e.g. ``dones``, ``time_outs``); non-float ones are skipped.

    Raises:
        NonFiniteError: Naming the group (or ``rewards``), the event, the kind of value and the env indices.
    """
    tensors: list[tuple[str, torch.Tensor]] = [
        (k, v) for k, v in obs.items() if isinstance(v, torch.Tensor) and v.is_floating_point()
    ]
    if rewards is not None and rewards.is_floating_point():
        tensors.append(("rewards", rewards))
    for name, value in (others or {}).items():
        if isinstance(value, torch.Tensor) and value.is_floating_point():
            tensors.append((name, value))
    if not tensors:
        return
    ok = torch.stack([torch.isfinite(v).all() for _, v in tensors]).all()
    if bool(ok):
        return
    problems = []
    for name, value in tensors:
        envs = _bad_envs(value)
        if envs.numel() == 0:
            continue
        kinds = []
        if torch.isnan(value).any():
            kinds.append("NaN")
        if torch.isposinf(value).any():
            kinds.append("+inf")
        if torch.isneginf(value).any():
            kinds.append("-inf")
        listed = envs[:max_listed].tolist()
        more = f" (+{envs.numel() - max_listed} more)" if envs.numel() > max_listed else ""
        problems.append(f"'{name}' has {'/'.join(kinds)} in {envs.numel()} env(s) {listed}{more}")
    raise NonFiniteError(
        f"non-finite values from the environment at {event}: " + "; ".join(problems) + ". Nothing was stored. Fix the "
        "env (or set check_for_nan=False to skip this guard)."
    )
