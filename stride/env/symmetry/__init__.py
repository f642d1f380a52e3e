"""Worked mirror-symmetry functions for ``symmetry_cfg["data_augmentation_func"]``, and the pieces to build more.

Each function follows rsl_rl's call ``func(env=..., obs=TensorDict | None, actions=Tensor | None)`` and returns the
originals followed by their mirror images along the batch dimension. The built-in ones can be named by their short
name in a config (``data_augmentation_func: cartpole``) or by import path
(``"stride.env.symmetry:cartpole_symmetry"``, ``"stride.env.symmetry.go1:go1_symmetry"``). The MuJoCo and Go1
functions import nothing from gymnasium, mujoco or envpool.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stride.env.symmetry.cartpole import (
    cartpole_symmetry,
    memory_symmetry,
    pendulum_noisy_symmetry,
    pendulum_pomdp_symmetry,
    pendulum_symmetry,
)
from stride.env.symmetry.go1 import go1_symmetry, make_go1_symmetry
from stride.env.symmetry.mirror import MirrorAugmentation, SignedPermutation
from stride.env.symmetry.mujoco import ant_symmetry, humanoid_symmetry, make_ant_symmetry, make_humanoid_symmetry

__all__ = [
    "SYMMETRY_FUNCTIONS",
    "MirrorAugmentation",
    "SignedPermutation",
    "ant_symmetry",
    "cartpole_symmetry",
    "go1_symmetry",
    "humanoid_symmetry",
    "make_ant_symmetry",
    "make_go1_symmetry",
    "make_humanoid_symmetry",
    "memory_symmetry",
    "pendulum_noisy_symmetry",
    "pendulum_pomdp_symmetry",
    "pendulum_symmetry",
]

SYMMETRY_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "cartpole": cartpole_symmetry,
    "pendulum": pendulum_symmetry,
    "pendulum-pomdp": pendulum_pomdp_symmetry,
    "pendulum-noisy": pendulum_noisy_symmetry,
    "memory": memory_symmetry,
    "Ant-v5": ant_symmetry,
    "Humanoid-v5": humanoid_symmetry,
    "go1": go1_symmetry,
    "Go1JoystickFlatTerrain-v1": go1_symmetry,
    "Go1JoystickRoughTerrain-v1": go1_symmetry,
}
"""Short names accepted as ``data_augmentation_func``: built-in task names, Gymnasium and envpool ids."""
