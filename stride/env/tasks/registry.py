"""Name → class registry of the built-in batched tasks.

``make_task("cartpole", num_envs=4096, device="cuda")`` builds a task by name; ``register_task`` adds a task class
under a new name (the CLI and configs then find it by that name).
"""

from __future__ import annotations

import difflib
import inspect
from typing import Any

import torch

from stride.env.tasks.base import BatchedTask
from stride.env.tasks.cartpole import CartPole
from stride.env.tasks.memory import MemoryCue
from stride.env.tasks.mountain_car import MountainCar
from stride.env.tasks.pendulum import Pendulum
from stride.env.tasks.pendulum_pomdp import PendulumNoisy, PendulumPOMDP
from stride.env.tasks.reach_image import ReachImage
from stride.env.vec_env import VecEnv
from stride.utils.errors import ConfigError

__all__ = ["ADAPTER_PREFIXES", "list_tasks", "make_task", "register_task", "task_class"]

_TASKS: dict[str, type[BatchedTask]] = {
    CartPole.name: CartPole,
    MountainCar.name: MountainCar,
    Pendulum.name: Pendulum,
    PendulumPOMDP.name: PendulumPOMDP,
    PendulumNoisy.name: PendulumNoisy,
    MemoryCue.name: MemoryCue,
    ReachImage.name: ReachImage,
}
"""The registered tasks; the built-ins are listed here, others arrive through :func:`register_task`."""


def register_task(name: str, cls: type[BatchedTask], *, overwrite: bool = False) -> None:
    """Register a task class under ``name``.

    Registering the same class under the same name again is a no-op.

    Args:
        name: Registry name (non-empty, no whitespace), e.g. ``"cartpole"``.
        cls: A subclass of :class:`~stride.env.tasks.base.BatchedTask`.
        overwrite: Replace a different class already registered under ``name``.

    Raises:
        ConfigError: If ``name`` is not a valid name, ``cls`` is not a ``BatchedTask`` subclass, or ``name`` is
            taken by another class and ``overwrite`` is false.
    """
    if not isinstance(name, str) or not name or name != name.strip() or any(ch.isspace() for ch in name):
        raise ConfigError(f"register_task: name must be a non-empty string without whitespace, got {name!r}.")
    if not (isinstance(cls, type) and issubclass(cls, BatchedTask)):
        raise ConfigError(
            f"register_task: '{name}' must map to a subclass of stride.env.tasks.BatchedTask, got {cls!r}. "
            "Subclass BatchedTask and implement _init_state, _sample_initial_state, _physics and _observe."
        )
    existing = _TASKS.get(name)
    if existing is not None and existing is not cls and not overwrite:
        raise ConfigError(
            f"register_task: the name '{name}' is already taken by {existing.__module__}.{existing.__qualname__}; "
            f"got {cls.__module__}.{cls.__qualname__}. Choose another name or pass overwrite=True."
        )
    _TASKS[name] = cls


def list_tasks() -> list[str]:
    """Names of all registered tasks.

    Returns:
        The names, sorted alphabetically.
    """
    return sorted(_TASKS)


def task_class(name: str) -> type[BatchedTask]:
    """Look up the class registered under ``name``.

    Args:
        name: Registry name, e.g. ``"pendulum"``.

    Returns:
        The task class.

    Raises:
        ConfigError: If no task has that name; the message lists the known names and the closest match.
    """
    cls = _TASKS.get(name)
    if cls is None:
        known = list_tasks()
        close = difflib.get_close_matches(str(name).lower(), known, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise ConfigError(
            f"Unknown task {name!r}; known tasks: {', '.join(known)}.{hint} "
            "Custom tasks must be added with stride.env.tasks.register_task(name, cls) first."
        )
    return cls


GYM_PREFIX = "gym:"
"""Task names starting with this prefix are Gymnasium ids, built by the Gymnasium adapter."""

ENVPOOL_PREFIX = "envpool:"
"""Task names starting with this prefix are envpool ids, built by the envpool adapter."""

ADAPTER_PREFIXES = (GYM_PREFIX, ENVPOOL_PREFIX)
"""Prefixes of the task names that an adapter builds (``<prefix><the backend's own id>``)."""


def _make_adapter(name: str, num_envs: int, device: str | torch.device, seed: int, **kwargs: Any) -> VecEnv:
    """Build the adapter a prefixed name asks for (each backend is an optional extra, imported here)."""
    if name.startswith(ENVPOOL_PREFIX):
        from stride.env.adapters.envpool import make_envpool_env

        return make_envpool_env(name[len(ENVPOOL_PREFIX) :], num_envs=num_envs, device=device, seed=seed, **kwargs)
    from stride.env.adapters.gymnasium import make_gymnasium_env

    return make_gymnasium_env(name[len(GYM_PREFIX) :], num_envs=num_envs, device=device, seed=seed, **kwargs)


def make_task(
    name: str,
    num_envs: int = 1,
    device: str | torch.device = "cpu",
    seed: int = 0,
    **kwargs: Any,
) -> BatchedTask | VecEnv:
    """Build the task registered under ``name``.

    A name ``"gym:<id>"`` builds the Gymnasium adapter instead
    (:class:`~stride.env.adapters.gymnasium.GymnasiumVecEnv`; sub-env ``i`` is seeded with ``seed + i``), a name
    ``"envpool:<id>"`` the envpool adapter (:class:`~stride.env.adapters.envpool.EnvpoolVecEnv`).

    Args:
        name: Registry name, e.g. ``"cartpole"``, ``"gym:<Gymnasium id>"``, e.g. ``"gym:HalfCheetah-v5"``, or
            ``"envpool:<envpool id>"``, e.g. ``"envpool:Go1JoystickFlatTerrain-v1"``.
        num_envs: Number of environments in the batch (>= 1).
        device: Torch device of the task.
        seed: Seed of the task's random generator.
        **kwargs: Further constructor arguments of the task class (e.g. ``max_episode_length``).

    Returns:
        The constructed task.

    Raises:
        ConfigError: If ``name`` is unknown, a keyword is not accepted by the task's constructor, or the task
            rejects a value.
    """
    if isinstance(name, str) and name.startswith(ADAPTER_PREFIXES):
        return _make_adapter(name, num_envs, device, seed, **kwargs)
    cls = task_class(name)
    try:
        inspect.signature(cls).bind(num_envs=num_envs, device=device, seed=seed, **kwargs)
    except TypeError as err:
        accepted = [p for p in inspect.signature(cls).parameters if p not in ("num_envs", "device", "seed")]
        raise ConfigError(
            f"make_task('{name}'): {err}. {cls.__qualname__} accepts num_envs, device, seed and "
            f"{', '.join(accepted) if accepted else 'no further arguments'}."
        ) from err
    return cls(num_envs=num_envs, device=device, seed=seed, **kwargs)
