"""Left/right mirror symmetry of Gymnasium's MuJoCo ``Ant-v5`` and ``Humanoid-v5``.

The mirror is the reflection through the sagittal (x–z) plane, ``y → −y``, with the robot facing +x. Under it:

- a position or linear velocity ``(x, y, z)`` becomes ``(x, −y, z)``;
- an angular velocity or torque (a pseudovector) ``(ωx, ωy, ωz)`` becomes ``(−ωx, ωy, −ωz)``;
- the free joint's quaternion ``(w, x, y, z)`` becomes ``(w, −x, y, −z)``;
- a hinge joint swaps with its mirror-image joint, and its angle, velocity and torque keep or flip their sign
  depending on whether the mirrored axis equals the partner's axis or its negative (read from the XML below).

Every vector in the observation is one of these kinds, so each mirror map is a signed permutation. The maps are
checked against the simulator in ``tests/env/test_symmetry_functions.py``: a mirrored state stepped with the mirrored
action gives the mirror of the original next state (see ``docs/algorithms/symmetry.md`` for the measured errors).

Gymnasium's observation options change the layout; the ``make_*_symmetry`` factories take the same options and
the module-level functions use the defaults. All functions mirror the ``"policy"`` group (the group stride's
Gymnasium adapter gives a ``Box`` observation) and, when present, a ``"critic"`` group with the same layout.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from tensordict import TensorDict

from stride.env.symmetry.mirror import MirrorAugmentation, SignedPermutation

__all__ = [
    "ANT_QPOS_MIRROR",
    "ANT_QVEL_MIRROR",
    "HUMANOID_QPOS_MIRROR",
    "HUMANOID_QVEL_MIRROR",
    "ant_symmetry",
    "humanoid_symmetry",
    "make_ant_symmetry",
    "make_humanoid_symmetry",
    "mujoco_mirror_error",
]

# ------------------------------------------------------------------------------------------- shared pieces
_POSITION = SignedPermutation.diagonal([1, -1, 1])
"""A point or linear velocity: (x, y, z) → (x, −y, z)."""
_AXIAL = SignedPermutation.diagonal([-1, 1, -1])
"""An angular velocity or torque: (ωx, ωy, ωz) → (−ωx, ωy, −ωz)."""
_QUATERNION = SignedPermutation.diagonal([1, -1, 1, -1])
"""The free joint's orientation: M R M for M = diag(1, −1, 1) is the quaternion (w, −x, y, −z)."""
_SPATIAL = SignedPermutation.concat(_AXIAL, _POSITION)
"""MuJoCo's 6-D motion and force vectors (cvel, cfrc_ext): rotational part first, then translational."""
_CINERT = SignedPermutation.diagonal([1, 1, 1, -1, 1, -1, 1, -1, 1, 1])
"""MuJoCo's cinert row (Ixx, Iyy, Izz, Ixy, Ixz, Iyz, m·cx, m·cy, m·cz, m): products with one y flip sign."""


def _joint_space(num_joints: int, swaps: Sequence[tuple[int, int, int]], negate: Sequence[int]) -> SignedPermutation:
    return SignedPermutation.from_pairs(num_joints, swaps, negate)


def _actuator_space(joints: SignedPermutation, actuator_joints: Sequence[int]) -> SignedPermutation:
    """The joint mirror seen through the actuators: actuator k drives joint ``actuator_joints[k]``.

    A motor's control is a generalized force on its joint, so it mirrors like the joint: the mirrored control of
    actuator k is ``sign(j) · control of the actuator driving index(j)``, with ``j`` the joint of actuator k.
    """
    actuator_of = {joint: k for k, joint in enumerate(actuator_joints)}
    index = [actuator_of[int(joints.index[j])] for j in actuator_joints]
    sign = [float(joints.sign[j]) for j in actuator_joints]
    return SignedPermutation(index, sign)


def _free_body(joints: SignedPermutation) -> tuple[SignedPermutation, SignedPermutation]:
    """(qpos, qvel) maps of a floating base (free joint) followed by hinge joints."""
    qpos = SignedPermutation.concat(_POSITION, _QUATERNION, joints)
    # free-joint qvel: linear velocity (world frame), then angular velocity (body frame); both mirror as vectors
    # of their kind whatever the frame, since the mirrored body frame is the mirror of the body frame
    qvel = SignedPermutation.concat(_POSITION, _AXIAL, joints)
    return qpos, qvel


def _drop_xy(qpos: SignedPermutation) -> SignedPermutation:
    """The qpos map without the first two components (x and y of the base, diagonal in the map)."""
    index = [int(i) - 2 for i in qpos.index[2:]]
    return SignedPermutation(index, qpos.sign[2:].tolist())


def _augmentation(
    name: str, obs_map: SignedPermutation, action_map: SignedPermutation, groups: Sequence[str]
) -> MirrorAugmentation:
    return MirrorAugmentation(dict.fromkeys(groups, obs_map), action_map, name=name)


# --------------------------------------------------------------------------------------------------- Ant-v5
# ant.xml: hinge joints in qpos order hip_1, ankle_1, hip_2, ankle_2, hip_3, ankle_3, hip_4, ankle_4. Leg 1 sits at
# (+x, +y), leg 2 at (−x, +y), leg 3 at (−x, −y), leg 4 at (+x, −y): the mirror swaps legs 1 ↔ 4 and 2 ↔ 3.
# Hips turn about z (mirrored axis = the partner's axis reversed → the angle flips sign); ankle axes (−1,1,0) and
# (1,1,0) mirror onto the negative of the partner's axis together with the opposite angle → the angle keeps its sign.
_ANT_JOINTS = _joint_space(8, swaps=[(0, 6, -1), (1, 7, 1), (2, 4, -1), (3, 5, 1)], negate=[])
_ANT_ACTUATOR_JOINTS = (6, 7, 0, 1, 2, 3, 4, 5)
"""ant.xml's motors in order: hip_4, ankle_4, hip_1, ankle_1, hip_2, ankle_2, hip_3, ankle_3."""
# bodies after the world: torso, then three per leg (leg 1: 1–3, leg 2: 4–6, leg 3: 7–9, leg 4: 10–12)
_ANT_BODIES = (0, 10, 11, 12, 7, 8, 9, 4, 5, 6, 1, 2, 3)

ANT_QPOS_MIRROR, ANT_QVEL_MIRROR = _free_body(_ANT_JOINTS)
"""Mirror maps of Ant's full ``qpos`` (15) and ``qvel`` (14)."""


def make_ant_symmetry(
    exclude_current_positions_from_observation: bool = True,
    include_cfrc_ext_in_observation: bool = True,
    groups: Sequence[str] = ("policy", "critic"),
) -> MirrorAugmentation:
    """The left/right augmentation function of ``Ant-v5`` built with these observation options.

    Args:
        exclude_current_positions_from_observation: Gymnasium's option of the same name.
        include_cfrc_ext_in_observation: Gymnasium's option of the same name.
        groups: Observation groups holding Ant's observation vector.

    Returns:
        A callable ``f(env=..., obs=..., actions=...)`` (rsl_rl's ``data_augmentation_func`` signature).
    """
    parts = [_drop_xy(ANT_QPOS_MIRROR) if exclude_current_positions_from_observation else ANT_QPOS_MIRROR]
    parts.append(ANT_QVEL_MIRROR)
    if include_cfrc_ext_in_observation:
        parts.append(_SPATIAL.repeat(len(_ANT_BODIES), _ANT_BODIES))
    actions = _actuator_space(_ANT_JOINTS, _ANT_ACTUATOR_JOINTS)
    return _augmentation("Ant-v5", SignedPermutation.concat(*parts), actions, groups)


_ANT = make_ant_symmetry()


def ant_symmetry(
    env: Any = None, obs: Mapping[str, torch.Tensor] | None = None, actions: torch.Tensor | None = None
) -> tuple[TensorDict | None, torch.Tensor | None]:
    """Left/right augmentation function of ``Ant-v5`` with the default observation (105 components).

    Args:
        env: The env (unused; accepted for rsl_rl's call signature).
        obs: Observations with the ``"policy"`` group. Shape: (B, 105).
        actions: Actions. Shape: (B, 8).

    Returns:
        ``(obs_aug, actions_aug)`` of batch ``2B``: the originals, then their mirror images.
    """
    return _ANT(env=env, obs=obs, actions=actions)


# ---------------------------------------------------------------------------------------------- Humanoid-v5
# humanoid.xml hinge joints in qpos order:
#   0 abdomen_z  1 abdomen_y  2 abdomen_x  3 right_hip_x  4 right_hip_z  5 right_hip_y  6 right_knee
#   7 left_hip_x  8 left_hip_z  9 left_hip_y  10 left_knee  11 right_shoulder1  12 right_shoulder2  13 right_elbow
#   14 left_shoulder1  15 left_shoulder2  16 left_elbow
# abdomen_z (axis z) and abdomen_x (axis x) flip sign, abdomen_y (axis y) keeps it. Hip and knee axes of the two
# legs are each other's mirror reversed (hip_x: (1,0,0) ↔ (−1,0,0), hip_z: (0,0,1) ↔ (0,0,−1); hip_y, knee: y-axes),
# so their angles keep the sign; shoulder axes (2,1,1) ↔ (2,−1,1) and (0,−1,1) ↔ (0,1,1) are plain mirrors (sign
# flips); the elbows (0,−1,1) ↔ (0,−1,−1) mirror reversed (sign kept). The joint ranges agree with every choice.
_HUMANOID_JOINTS = _joint_space(
    17,
    swaps=[(3, 7, 1), (4, 8, 1), (5, 9, 1), (6, 10, 1), (11, 14, -1), (12, 15, -1), (13, 16, 1)],
    negate=[0, 2],
)
_HUMANOID_ACTUATOR_JOINTS = (1, 0, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16)
"""humanoid.xml's motors in order: abdomen_y, abdomen_z, abdomen_x, then the limbs in joint order."""
# bodies after the world: torso, lwaist, pelvis, right_thigh, right_shin, right_foot, left_thigh, left_shin,
# left_foot, right_upper_arm, right_lower_arm, left_upper_arm, left_lower_arm
_HUMANOID_BODIES = (0, 1, 2, 6, 7, 8, 3, 4, 5, 11, 12, 9, 10)

HUMANOID_QPOS_MIRROR, HUMANOID_QVEL_MIRROR = _free_body(_HUMANOID_JOINTS)
"""Mirror maps of Humanoid's full ``qpos`` (24) and ``qvel`` (23)."""


def make_humanoid_symmetry(
    exclude_current_positions_from_observation: bool = True,
    include_cinert_in_observation: bool = True,
    include_cvel_in_observation: bool = True,
    include_qfrc_actuator_in_observation: bool = True,
    include_cfrc_ext_in_observation: bool = True,
    groups: Sequence[str] = ("policy", "critic"),
) -> MirrorAugmentation:
    """The left/right augmentation function of ``Humanoid-v5`` built with these observation options.

    Args:
        exclude_current_positions_from_observation: Gymnasium's option of the same name.
        include_cinert_in_observation: Gymnasium's option of the same name.
        include_cvel_in_observation: Gymnasium's option of the same name.
        include_qfrc_actuator_in_observation: Gymnasium's option of the same name.
        include_cfrc_ext_in_observation: Gymnasium's option of the same name.
        groups: Observation groups holding Humanoid's observation vector.

    Returns:
        A callable ``f(env=..., obs=..., actions=...)`` (rsl_rl's ``data_augmentation_func`` signature).
    """
    qpos = HUMANOID_QPOS_MIRROR
    parts = [_drop_xy(qpos) if exclude_current_positions_from_observation else qpos, HUMANOID_QVEL_MIRROR]
    num_bodies = len(_HUMANOID_BODIES)
    if include_cinert_in_observation:
        parts.append(_CINERT.repeat(num_bodies, _HUMANOID_BODIES))
    if include_cvel_in_observation:
        parts.append(_SPATIAL.repeat(num_bodies, _HUMANOID_BODIES))
    if include_qfrc_actuator_in_observation:
        parts.append(_HUMANOID_JOINTS)
    if include_cfrc_ext_in_observation:
        parts.append(_SPATIAL.repeat(num_bodies, _HUMANOID_BODIES))
    actions = _actuator_space(_HUMANOID_JOINTS, _HUMANOID_ACTUATOR_JOINTS)
    return _augmentation("Humanoid-v5", SignedPermutation.concat(*parts), actions, groups)


_HUMANOID = make_humanoid_symmetry()


def humanoid_symmetry(
    env: Any = None, obs: Mapping[str, torch.Tensor] | None = None, actions: torch.Tensor | None = None
) -> tuple[TensorDict | None, torch.Tensor | None]:
    """Left/right augmentation function of ``Humanoid-v5`` with the default observation (348 components).

    Args:
        env: The env (unused; accepted for rsl_rl's call signature).
        obs: Observations with the ``"policy"`` group. Shape: (B, 348).
        actions: Actions. Shape: (B, 17).

    Returns:
        ``(obs_aug, actions_aug)`` of batch ``2B``: the originals, then their mirror images.
    """
    return _HUMANOID(env=env, obs=obs, actions=actions)


# ------------------------------------------------------------------------------------------- simulator check
def mujoco_mirror_error(
    env_id: str,
    augmentation: MirrorAugmentation,
    qpos_map: SignedPermutation,
    qvel_map: SignedPermutation,
    num_states: int = 20,
    steps_between: int = 5,
    seed: int = 0,
    **make_kwargs: Any,
) -> dict[str, float]:
    """Measure how far a Gymnasium MuJoCo env is from equivariance under a mirror.

    States are taken from a random-action rollout (so feet touch the ground). From each state ``s`` with a random
    action ``a``, one env steps ``(s, a)`` and a second env steps ``(M s, M a)``, with the constraint solver's warm
    start mirrored too; the errors compare the second env's result with the mirror of the first's.

    Args:
        env_id: Gymnasium id, e.g. ``"Ant-v5"`` (gymnasium and mujoco must be installed).
        augmentation: The observation / action mirror under test (its ``"policy"`` map is used).
        qpos_map: Mirror of the full ``qpos``.
        qvel_map: Mirror of ``qvel``.
        num_states: Number of states compared.
        steps_between: Random-action env steps between two compared states.
        seed: Seed of the rollout and the actions.
        **make_kwargs: Passed to ``gymnasium.make`` (e.g. observation options, ``xml_file``).

    Returns:
        Max absolute errors over all states: ``qpos``, ``qvel``, ``obs`` (next observation), ``reward``; and
        ``obs_scale``, the largest absolute observation component seen, for scale.
    """
    import gymnasium
    import numpy as np

    envs: list[Any] = [gymnasium.make(env_id, **make_kwargs).unwrapped for _ in range(2)]
    original, mirrored = envs
    rng = np.random.default_rng(seed)
    original.reset(seed=seed)
    mirrored.reset(seed=seed)
    low, high = original.action_space.low, original.action_space.high

    def as_tensor(x: Any) -> torch.Tensor:
        return torch.from_numpy(np.array(x, dtype=np.float64))

    errors: dict[str, float] = {key: 0.0 for key in ("qpos", "qvel", "obs", "reward", "obs_scale")}
    for _ in range(num_states):
        for _ in range(steps_between):
            _, _, terminated, _, _ = original.step(rng.uniform(low, high))
            if terminated:
                original.reset(seed=int(rng.integers(2**31)))
        qpos, qvel = original.data.qpos.copy(), original.data.qvel.copy()
        warm_start = original.data.qacc_warmstart.copy()
        action = rng.uniform(low, high)
        original.set_state(qpos, qvel)
        original.data.qacc_warmstart[:] = warm_start
        obs, reward, *_ = original.step(action)
        mirrored.set_state(qpos_map(as_tensor(qpos)).numpy(), qvel_map(as_tensor(qvel)).numpy())
        mirrored.data.qacc_warmstart[:] = qvel_map(as_tensor(warm_start)).numpy()
        obs_m, reward_m, *_ = mirrored.step(augmentation.mirror_actions(as_tensor(action)).numpy())
        # e = max |step(M s, M a) − M step(s, a)|
        pairs = {
            "qpos": (mirrored.data.qpos, qpos_map(as_tensor(original.data.qpos))),
            "qvel": (mirrored.data.qvel, qvel_map(as_tensor(original.data.qvel))),
            "obs": (obs_m, augmentation.obs_maps["policy"](as_tensor(obs))),
        }
        for key, (got, expected) in pairs.items():
            errors[key] = max(errors[key], float((as_tensor(got) - expected).abs().max()))
        errors["reward"] = max(errors["reward"], abs(float(reward_m) - float(reward)))
        errors["obs_scale"] = max(errors["obs_scale"], float(np.abs(obs).max()))
    for env in envs:
        env.close()
    return errors
