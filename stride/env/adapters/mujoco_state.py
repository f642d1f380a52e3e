"""Capture and restore the full state of in-process Gymnasium MuJoCo envs, for bit-exact resume.

A checkpoint of a run on ``gym:HalfCheetah-v5`` (or any Gymnasium env built on ``gymnasium.envs.mujoco.MujocoEnv``)
must hold the simulator where training stopped, or a resumed run starts fresh episodes from a fresh reset and
diverges from the uninterrupted one. Per sub-env this module records:

* MuJoCo's integration state (``mj_getState`` with ``mjSTATE_INTEGRATION``: time, qpos, qvel, act, warm start,
  controls, ...), which fixes the next ``mj_step`` bit for bit;
* every fixed-size array of ``MjData`` (positions of bodies, contact forces, ...): some envs read derived
  quantities left by the previous step before stepping again (Ant-v5 takes the torso's ``xpos`` as the position
  before the step, Humanoid its centre of mass from ``xipos``), which the integration state alone would not
  restore. Arrays whose size changes from step to step (``efc_*``, the constraint rows) are outputs of the next
  step and are skipped when their size differs;
* the env's ``np_random`` generator (it draws the noise of the next reset) and the ``TimeLimit`` step counter.

Only envs stepped in this process (a ``SyncVectorEnv``) can be captured; ``mujoco`` is imported lazily.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from stride.utils.errors import CheckpointError

__all__ = ["load_mujoco_env_state", "mujoco_env_state"]


def _mjdata_arrays(data: Any) -> dict[str, np.ndarray]:
    """The public numpy-array attributes of an ``MjData`` (views of its memory)."""
    arrays: dict[str, np.ndarray] = {}
    for name in dir(data):
        if name.startswith("_"):
            continue
        value = getattr(data, name, None)
        if isinstance(value, np.ndarray) and value.size > 0:
            arrays[name] = value
    return arrays


def _wrapper_chain(env: Any) -> list[Any]:
    """``env`` and every env it wraps (``.env``), outermost first."""
    chain = [env]
    while hasattr(chain[-1], "env"):
        chain.append(chain[-1].env)
    return chain


def _mujoco() -> Any:
    """The ``mujoco`` module, imported on first use (its bindings carry no type information)."""
    return importlib.import_module("mujoco")


def _is_mujoco_env(env: Any) -> bool:
    unwrapped = getattr(env, "unwrapped", None)
    return hasattr(unwrapped, "model") and hasattr(unwrapped, "data") and hasattr(unwrapped, "np_random")


def mujoco_env_state(envs: Any) -> list[dict[str, Any]] | None:
    """The state of each Gymnasium MuJoCo env of ``envs``, or None when one of them cannot be captured.

    Args:
        envs: The sub-envs of a ``SyncVectorEnv`` (``venv.envs``); None (an asynchronous vector env) gives None.

    Returns:
        One dict per env: ``integration`` (float64 tensor), ``arrays`` (name → tensor copy of each ``MjData``
        array), ``np_random`` (the bit generator's state) and ``elapsed_steps`` (the ``TimeLimit`` counter or None).
    """
    if envs is None or not all(_is_mujoco_env(env) for env in envs):
        return None
    mujoco = _mujoco()
    spec = mujoco.mjtState.mjSTATE_INTEGRATION
    states = []
    for env in envs:
        model, data = env.unwrapped.model, env.unwrapped.data
        integration = np.empty(mujoco.mj_stateSize(model, spec), dtype=np.float64)
        mujoco.mj_getState(model, data, integration, spec)
        elapsed = [w._elapsed_steps for w in _wrapper_chain(env) if hasattr(w, "_elapsed_steps")]
        states.append(
            {
                "integration": torch.from_numpy(integration),
                "arrays": {name: torch.from_numpy(a.copy()) for name, a in _mjdata_arrays(data).items()},
                "np_random": env.unwrapped.np_random.bit_generator.state,
                "elapsed_steps": elapsed[0] if elapsed else None,
            }
        )
    return states


def load_mujoco_env_state(envs: Any, states: list[Mapping[str, Any]]) -> None:
    """Restore what :func:`mujoco_env_state` returned into the same kind of envs.

    Args:
        envs: The sub-envs of a ``SyncVectorEnv``.
        states: One state per env.

    Raises:
        CheckpointError: If the env count, the env type or the size of the integration state differs (the
            checkpoint was made on another task).
    """
    if envs is None or not all(_is_mujoco_env(env) for env in envs):
        raise CheckpointError(
            "env_state holds MuJoCo simulator states but this env's sub-envs are not in-process Gymnasium MuJoCo envs; "
            "load with load_cfg without 'env' to skip it"
        )
    if len(states) != len(envs):
        raise CheckpointError(f"env_state holds {len(states)} MuJoCo envs, this env has {len(envs)}")
    mujoco = _mujoco()
    spec = mujoco.mjtState.mjSTATE_INTEGRATION
    for i, (env, state) in enumerate(zip(envs, states, strict=True)):
        model, data = env.unwrapped.model, env.unwrapped.data
        integration = state["integration"].numpy()
        expected = mujoco.mj_stateSize(model, spec)
        if integration.shape != (expected,):
            raise CheckpointError(
                f"env_state[{i}]: MuJoCo integration state of size {integration.shape[0]}, this env's has {expected} "
                "(a checkpoint of another task?)"
            )
        live = _mjdata_arrays(data)
        for name, saved in state["arrays"].items():
            target = live.get(name)
            # constraint rows (efc_*) change size every step: outputs of the next step, skipped when sizes differ
            if target is not None and target.shape == tuple(saved.shape) and target.flags.writeable:
                np.copyto(target, saved.numpy())
        mujoco.mj_setState(model, data, integration, spec)
        env.unwrapped.np_random.bit_generator.state = state["np_random"]
        if state["elapsed_steps"] is not None:
            for wrapper in _wrapper_chain(env):
                if hasattr(wrapper, "_elapsed_steps"):
                    wrapper._elapsed_steps = state["elapsed_steps"]
