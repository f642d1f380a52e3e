"""Mirror symmetry of the built-in tasks that have one (cart-pole, the pendulums, the memory cue).

The physical tasks are symmetric under the reflection of space through the vertical plane of the starting state:

- cart-pole: ``(x, ẋ, θ, θ̇) → (−x, −ẋ, −θ, −θ̇)`` and ``force → −force``. The equations of motion are odd in
  ``(state, force)`` and the termination bounds are symmetric, so a mirrored state pushed with the mirrored force
  is exactly the mirror of the original next state.
- pendulum: ``θ → −θ``, ``θ̇ → −θ̇``, ``u → −u``; the observation ``(cos θ, sin θ, θ̇)`` becomes
  ``(cos θ, −sin θ, −θ̇)``. The reward depends on ``θ²``, ``θ̇²`` and ``u²`` only. ``pendulum-pomdp`` and
  ``pendulum-noisy`` observe ``(cos θ, sin θ)`` plus zero-mean Gaussian noise, whose law is symmetric too.
- memory cue: ``c → −c``, ``a → −a``; the observation ``(c or 0, t / L)`` becomes ``(−c or 0, t / L)`` and the reward
  ``c · a`` is unchanged. A recurrent policy must carry the mirrored cue in its memory: the recurrent test case.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from tensordict import TensorDict

from stride.env.symmetry.mirror import MirrorAugmentation, SignedPermutation

__all__ = [
    "CARTPOLE_MIRROR",
    "MEMORY_MIRROR",
    "PENDULUM_MIRROR",
    "PENDULUM_NOISY_MIRROR",
    "PENDULUM_POMDP_MIRROR",
    "cartpole_symmetry",
    "memory_symmetry",
    "pendulum_noisy_symmetry",
    "pendulum_pomdp_symmetry",
    "pendulum_symmetry",
]

CARTPOLE_MIRROR = MirrorAugmentation(
    {"policy": SignedPermutation.negation(4)}, SignedPermutation.negation(1), name="cartpole"
)
"""Cart-pole mirror: every observation component and the force change sign."""

PENDULUM_MIRROR = MirrorAugmentation(
    {"policy": SignedPermutation.diagonal([1, -1, -1])}, SignedPermutation.negation(1), name="pendulum"
)
"""Pendulum mirror: ``(cos θ, sin θ, θ̇) → (cos θ, −sin θ, −θ̇)``, torque → −torque."""

PENDULUM_POMDP_MIRROR = MirrorAugmentation(
    {"policy": SignedPermutation.diagonal([1, -1])}, SignedPermutation.negation(1), name="pendulum-pomdp"
)
"""Angle-only pendulum mirror: ``(cos θ, sin θ) → (cos θ, −sin θ)``, torque → −torque."""

PENDULUM_NOISY_MIRROR = MirrorAugmentation(
    {"policy": SignedPermutation.diagonal([1, -1]), "teacher": SignedPermutation.diagonal([1, -1, -1])},
    SignedPermutation.negation(1),
    name="pendulum-noisy",
)
"""Noisy pendulum mirror: the student's ``(cos θ, sin θ)`` and the teacher's ``(cos θ, sin θ, θ̇)`` groups."""

MEMORY_MIRROR = MirrorAugmentation(
    {"policy": SignedPermutation.diagonal([-1, 1])}, SignedPermutation.negation(1), name="memory"
)
"""Memory-cue mirror: ``(c, t / L) → (−c, t / L)``, answer → −answer."""


def cartpole_symmetry(
    env: Any = None, obs: Mapping[str, torch.Tensor] | None = None, actions: torch.Tensor | None = None
) -> tuple[TensorDict | None, torch.Tensor | None]:
    """Augmentation function of the built-in ``cartpole`` task (``symmetry_cfg["data_augmentation_func"]``).

    Args:
        env: The env (unused; accepted for rsl_rl's call signature).
        obs: Observations with the ``"policy"`` group. Shape: (B, 4).
        actions: Actions. Shape: (B, 1).

    Returns:
        ``(obs_aug, actions_aug)`` of batch ``2B``: the originals, then their mirror images; None where the input
        was None.
    """
    return CARTPOLE_MIRROR(env=env, obs=obs, actions=actions)


def pendulum_symmetry(
    env: Any = None, obs: Mapping[str, torch.Tensor] | None = None, actions: torch.Tensor | None = None
) -> tuple[TensorDict | None, torch.Tensor | None]:
    """Augmentation function of the built-in ``pendulum`` task (``symmetry_cfg["data_augmentation_func"]``).

    Args:
        env: The env (unused; accepted for rsl_rl's call signature).
        obs: Observations with the ``"policy"`` group. Shape: (B, 3).
        actions: Actions. Shape: (B, 1).

    Returns:
        ``(obs_aug, actions_aug)`` of batch ``2B``: the originals, then their mirror images; None where the input
        was None.
    """
    return PENDULUM_MIRROR(env=env, obs=obs, actions=actions)


def pendulum_pomdp_symmetry(
    env: Any = None, obs: Mapping[str, torch.Tensor] | None = None, actions: torch.Tensor | None = None
) -> tuple[TensorDict | None, torch.Tensor | None]:
    """Augmentation function of the built-in ``pendulum-pomdp`` task (``symmetry_cfg["data_augmentation_func"]``).

    Args:
        env: The env (unused; accepted for rsl_rl's call signature).
        obs: Observations with the ``"policy"`` group. Shape: (B, 2).
        actions: Actions. Shape: (B, 1).

    Returns:
        ``(obs_aug, actions_aug)`` of batch ``2B``: the originals, then their mirror images; None where the input
        was None.
    """
    return PENDULUM_POMDP_MIRROR(env=env, obs=obs, actions=actions)


def pendulum_noisy_symmetry(
    env: Any = None, obs: Mapping[str, torch.Tensor] | None = None, actions: torch.Tensor | None = None
) -> tuple[TensorDict | None, torch.Tensor | None]:
    """Augmentation function of the built-in ``pendulum-noisy`` task (``symmetry_cfg["data_augmentation_func"]``).

    Args:
        env: The env (unused; accepted for rsl_rl's call signature).
        obs: Observations with the ``"policy"`` (B, 2) and ``"teacher"`` (B, 3) groups.
        actions: Actions. Shape: (B, 1).

    Returns:
        ``(obs_aug, actions_aug)`` of batch ``2B``: the originals, then their mirror images; None where the input
        was None.
    """
    return PENDULUM_NOISY_MIRROR(env=env, obs=obs, actions=actions)


def memory_symmetry(
    env: Any = None, obs: Mapping[str, torch.Tensor] | None = None, actions: torch.Tensor | None = None
) -> tuple[TensorDict | None, torch.Tensor | None]:
    """Augmentation function of the built-in ``memory`` task (``symmetry_cfg["data_augmentation_func"]``).

    Args:
        env: The env (unused; accepted for rsl_rl's call signature).
        obs: Observations with the ``"policy"`` group. Shape: (B, 2).
        actions: Actions. Shape: (B, 1).

    Returns:
        ``(obs_aug, actions_aug)`` of batch ``2B``: the originals, then their mirror images; None where the input
        was None.
    """
    return MEMORY_MIRROR(env=env, obs=obs, actions=actions)
