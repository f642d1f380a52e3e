"""Left/right mirror symmetry of the Unitree Go1 joystick task (MuJoCo Playground, envpool's C++ port).

The task is ``Go1JoystickFlatTerrain`` / ``Go1JoystickRoughTerrain`` of MuJoCo Playground, and envpool's ports
of it (``Go1JoystickFlatTerrain-v1``), with two observation groups:

``state`` (48): local linear velocity at the IMU (3), gyro (3), gravity in the IMU frame (3), joint angles minus the
home pose (12), joint velocities (12), the previous action (12), the command ``(vx, vy, yaw rate)`` (3); noisy
in the task, except the last two.

``privileged_state`` (123): ``state`` (48), then noise-free gyro (3), accelerometer (3), gravity (3), local linear
velocity (3), world angular velocity (3), joint angles minus the home pose (12), joint velocities (12), actuator
forces (12), foot contacts (4), world foot velocities (4 × 3), feet air time (4), the perturbation force on the
trunk (3), a perturbation flag (1).

Joints and actuators share one order: legs FR, FL, RR, RL, each (hip abduction, thigh, calf); feet are FR, FL, RR,
RL. The mirror is the reflection through the world x–z plane (``y → −y``), the plane of the robot's body when it
faces +x. It swaps FR ↔ FL and RR ↔ RL; an abduction joint (axis x) changes sign, a thigh or calf joint (axis y)
keeps it, so the home pose (±0.1 abduction) is its own mirror and the PD targets ``home + 0.5 · action`` mirror
like the joints. Vectors mirror as in :mod:`stride.env.symmetry.mujoco`: velocities, forces and gravity
``(x, −y, z)``, angular velocities ``(−x, y, −z)``, the command ``(vx, −vy, −yaw rate)``.

**The IMU is off the mirror plane** (site ``imu`` at y = −6.66 cm in the trunk). Its velocimeter reads
``v + ω × r``; the mirrored robot's IMU still sits at ``r``, not at the mirror of ``r``, so the mirrored reading is
``M·v_imu + ω' × (r − M·r)`` with ``ω'`` the mirrored gyro: a linear term in the observation (``lever arm`` below),
without which the mirrored velocity is off by up to 1.7 m/s on random-action states. The accelerometer reads
``a + α × r + ω × (ω × r)``: its mirror needs the angular acceleration ``α``, which no group holds, so it is
mirrored as a plain vector and is the one inexact slot (privileged only; see docs/robots.md for the figures).

The maps are checked against MuJoCo in ``tests/env/test_symmetry_go1.py``: a mirrored state stepped with the mirrored
action gives the mirror of the original next state, and the observation of the mirrored state is the mirror of
the observation.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch
from tensordict import TensorDict

from stride.env.symmetry.mirror import MirrorAugmentation, SignedPermutation
from stride.env.symmetry.mujoco import _AXIAL, _POSITION, _free_body

__all__ = [
    "GO1_ACTION_MIRROR",
    "GO1_IMU_POSITION",
    "GO1_JOINT_MIRROR",
    "GO1_PRIVILEGED_STATE_MIRROR",
    "GO1_QPOS_MIRROR",
    "GO1_QVEL_MIRROR",
    "GO1_STATE_MIRROR",
    "LeverArmMirror",
    "go1_symmetry",
    "make_go1_symmetry",
]

GO1_IMU_POSITION = (-0.01592, -0.06659, -0.00617)
"""Site ``imu`` in the trunk frame (go1_mjx_feetonly.xml), metres."""

GO1_JOINT_MIRROR = SignedPermutation.from_pairs(
    12, swaps=[(0, 3, -1), (1, 4, 1), (2, 5, 1), (6, 9, -1), (7, 10, 1), (8, 11, 1)]
)
"""Joint angles, velocities, torques (FR, FL, RR, RL × abduction, thigh, calf): legs swap, abduction flips sign."""

GO1_ACTION_MIRROR = GO1_JOINT_MIRROR
"""Actions: actuator ``k`` drives joint ``k`` with target ``home + 0.5 · action``, and the home pose is symmetric."""

_FEET = SignedPermutation.from_pairs(4, swaps=[(0, 1, 1), (2, 3, 1)])
"""Per-foot scalars (contact, air time) in the order FR, FL, RR, RL."""

GO1_QPOS_MIRROR, GO1_QVEL_MIRROR = _free_body(GO1_JOINT_MIRROR)
"""Mirror maps of the full ``qpos`` (19) and ``qvel`` (18) of the Go1 model."""


class LeverArmMirror(SignedPermutation):
    """A signed permutation plus linear cross terms: ``y[i] = sign[i]·x[index[i]] + Σ c·x[s]`` over ``(i, s, c)``.

    The cross terms carry a sensor's lever arm: a velocity read at a point off the mirror plane picks up
    ``ω × r``, which the mirror does not carry to the partner point, so the mirrored reading needs the gyro.

    Args:
        base: The signed permutation.
        terms: ``(target, source, coefficient)`` triples added after the permutation.
    """

    def __init__(self, base: SignedPermutation, terms: Iterable[tuple[int, int, float]]) -> None:
        super().__init__([int(i) for i in base.index], base.sign.tolist())
        triples = list(terms)
        self.target = torch.tensor([t for t, _, _ in triples], dtype=torch.long)
        self.source = torch.tensor([s for _, s, _ in triples], dtype=torch.long)
        self.coefficient = torch.tensor([c for _, _, c in triples], dtype=torch.float64)
        self._term_cache: dict[tuple[torch.device, torch.dtype], tuple[torch.Tensor, ...]] = {}

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the map to the last dimension of ``x`` (a new tensor; ``x`` is not modified)."""
        y = super().__call__(x)
        key = (x.device, x.dtype)
        cached = self._term_cache.get(key)
        if cached is None:
            cached = (
                self.target.to(x.device),
                self.source.to(x.device),
                self.coefficient.to(device=x.device, dtype=x.dtype),
            )
            self._term_cache[key] = cached
        target, source, coefficient = cached
        # y_t += c · x_s
        return y.index_add(-1, target, x.index_select(-1, source) * coefficient)

    def is_involution(self) -> bool:
        """Whether applying the map twice gives the identity (to float64 rounding)."""
        x = torch.linspace(-3.0, 5.0, self.size, dtype=torch.float64)
        return bool(torch.allclose(self(self(x)), x, rtol=0.0, atol=1e-12))


def _imu_velocity_terms(velocity: int, gyro: int, imu_y: float) -> list[tuple[int, int, float]]:
    """Cross terms of a velocity read at the IMU (slots ``velocity:velocity+3``, gyro at ``gyro:gyro+3``).

    With ``d = r − M·r = (0, 2·r_y, 0)`` and the mirrored gyro ``ω' = (−ωx, ωy, −ωz)``:
    ``v' = M·v + ω' × d = (vx + 2 r_y ωz, −vy, vz − 2 r_y ωx)``.
    """
    lever = 2.0 * imu_y
    return [(velocity, gyro + 2, lever), (velocity + 2, gyro, -lever)]


def _state_maps(imu_lever_arm: bool, imu_y: float) -> tuple[SignedPermutation, SignedPermutation]:
    state = SignedPermutation.concat(
        _POSITION,  # local linear velocity at the IMU
        _AXIAL,  # gyro
        _POSITION,  # gravity in the IMU frame
        GO1_JOINT_MIRROR,  # joint angles − home
        GO1_JOINT_MIRROR,  # joint velocities
        GO1_ACTION_MIRROR,  # previous action
        SignedPermutation.diagonal([1, -1, -1]),  # command (vx, vy, yaw rate)
    )
    privileged = SignedPermutation.concat(
        state,
        _AXIAL,  # gyro
        _POSITION,  # accelerometer (inexact: needs the angular acceleration, see the module docstring)
        _POSITION,  # gravity
        _POSITION,  # local linear velocity
        _AXIAL,  # world angular velocity
        GO1_JOINT_MIRROR,  # joint angles − home
        GO1_JOINT_MIRROR,  # joint velocities
        GO1_JOINT_MIRROR,  # actuator forces
        _FEET,  # foot contacts
        _POSITION.repeat(4, [int(i) for i in _FEET.index]),  # world foot velocities
        _FEET,  # feet air time
        _POSITION,  # perturbation force on the trunk (world)
        SignedPermutation.identity(1),  # perturbation flag
    )
    if not imu_lever_arm:
        return state, privileged
    state_terms = _imu_velocity_terms(0, 3, imu_y)  # noisy velocity corrected with the noisy gyro
    privileged_terms = state_terms + _imu_velocity_terms(57, 48, imu_y)  # clean velocity with the clean gyro
    return LeverArmMirror(state, state_terms), LeverArmMirror(privileged, privileged_terms)


GO1_STATE_MIRROR, GO1_PRIVILEGED_STATE_MIRROR = _state_maps(True, GO1_IMU_POSITION[1])
"""Mirror maps of the ``state`` (48) and ``privileged_state`` (123) groups, IMU lever arm included."""


def make_go1_symmetry(
    state_groups: Sequence[str] = ("state",),
    privileged_groups: Sequence[str] = ("privileged_state",),
    imu_lever_arm: bool = True,
) -> MirrorAugmentation:
    """The left/right augmentation function of the Go1 joystick task with these group names.

    Args:
        state_groups: Observation groups holding the 48-component ``state`` vector.
        privileged_groups: Observation groups holding the 123-component ``privileged_state`` vector.
        imu_lever_arm: Correct the IMU velocities for the IMU's offset from the mirror plane (exact); False gives
            the plain signed permutation (off by ``2·r_y·|ω|`` in the velocity).

    Returns:
        A callable ``f(env=..., obs=..., actions=...)`` (rsl_rl's ``data_augmentation_func`` signature).
    """
    state, privileged = _state_maps(imu_lever_arm, GO1_IMU_POSITION[1])
    maps = dict.fromkeys(state_groups, state) | dict.fromkeys(privileged_groups, privileged)
    return MirrorAugmentation(maps, GO1_ACTION_MIRROR, name="Go1Joystick")


_GO1 = MirrorAugmentation(
    {"state": GO1_STATE_MIRROR, "privileged_state": GO1_PRIVILEGED_STATE_MIRROR}, GO1_ACTION_MIRROR, "Go1Joystick"
)


def go1_symmetry(
    env: Any = None, obs: Mapping[str, torch.Tensor] | None = None, actions: torch.Tensor | None = None
) -> tuple[TensorDict | None, torch.Tensor | None]:
    """Left/right augmentation function of the Go1 joystick task (``symmetry_cfg["data_augmentation_func"]``).

    Args:
        env: The env (unused; accepted for rsl_rl's call signature).
        obs: Observations with the ``"state"`` (B, 48) and/or ``"privileged_state"`` (B, 123) groups.
        actions: Actions. Shape: (B, 12).

    Returns:
        ``(obs_aug, actions_aug)`` of batch ``2B``: the originals, then their mirror images; None where the input
        was None.
    """
    return _GO1(env=env, obs=obs, actions=actions)
