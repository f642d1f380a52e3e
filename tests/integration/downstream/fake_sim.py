"""Stand-ins for the simulators under Isaac Lab's and mjlab's real code: import stubs and fake batched envs.

The downstream replay (``replay.py``) runs Isaac Lab's and mjlab's own configuration, wrapper, runner and
entrypoint code. That code imports simulator packages (Isaac Sim, Warp, MuJoCo Warp, ...) that cannot be installed
on a CPU test machine; :func:`install_import_stubs` answers those imports with inert modules. The envs here give
the real ``RslRlVecEnvWrapper`` classes what they read from a simulator: observation groups of the sizes of the
real tasks, rewards, terminations, time-outs and same-step resets.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import sys
import types
from collections.abc import Mapping, Sequence
from typing import Any

import torch

__all__ = ["FakeSimEnv", "install_import_stubs"]

# simulator and heavy optional packages the downstream modules import at module level
_STUBBED = (
    "warp",
    "omni",
    "carb",
    "isaacsim",
    "pxr",
    "newton",
    "usdrt",
    "hid",
    "pink",
    "pinocchio",
    "leapp",
    "trimesh",
    "omniverseclient",
    "h5py",
    "hydra",
    "omegaconf",
    "numba",
    "einops",
    "transformers",
    "wandb",
    "mujoco_warp",
    "mujoco",
    "viser",
    "prettytable",
    "psutil",
    "toml",
    "tyro",
    "mediapy",
    "imageio",
    "imageio_ffmpeg",
    "cv2",
    "scipy",
    "mjviser",
)


class _Inert:
    """Any attribute, call or subclassing of a stubbed name gives another inert object (or the decorated function)."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, name: str) -> _Inert:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return _Inert(f"{self._name}.{name}")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if len(args) == 1 and not kwargs and callable(args[0]):
            return args[0]  # used as a decorator
        return _Inert(f"{self._name}()")

    def __mro_entries__(self, bases: tuple[Any, ...]) -> tuple[type, ...]:
        return (object,)

    def __iter__(self) -> Any:
        return iter(())

    def __bool__(self) -> bool:
        return False

    def __or__(self, other: Any) -> Any:  # type annotations such as ``int | mujoco.mjtJoint``
        return self

    __ror__ = __or__

    def __getitem__(self, key: Any) -> _Inert:
        return self

    def __int__(self) -> int:
        return 0

    def __float__(self) -> float:
        return 0.0


class _InertModule(types.ModuleType):
    def __getattr__(self, name: str) -> _Inert:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return _Inert(f"{self.__name__}.{name}")


class _StubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname: str, path: Any, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if fullname.split(".")[0] in _STUBBED:
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        module = _InertModule(spec.name)
        module.__path__ = []
        module.__version__ = "0.0"
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        return None


class _EnvBase:
    """Base of the fake simulator envs (stands in for the simulators' own env classes in isinstance checks)."""


def install_import_stubs(site: str) -> None:
    """Answer imports of simulator packages with inert modules; give ``isaaclab.envs`` fake env classes.

    Args:
        site: The folder holding the unpacked downstream packages (``isaaclab.envs`` submodules load from there).
    """
    sys.meta_path.insert(0, _StubFinder())
    # isaaclab.envs imports the whole simulation stack; the wrapper only needs its classes for isinstance
    envs = types.ModuleType("isaaclab.envs")
    envs.__path__ = [os.path.join(site, "isaaclab", "envs")]
    for name in ("ManagerBasedRLEnv", "DirectRLEnv", "DirectMARLEnv", "ManagerBasedEnv"):
        setattr(envs, name, _EnvBase)
    for name in ("ManagerBasedRLEnvCfg", "DirectRLEnvCfg", "DirectMARLEnvCfg", "ManagerBasedEnvCfg"):
        setattr(envs, name, type(name, (), {}))
    sys.modules["isaaclab.envs"] = envs
    # mjlab: the same for its env classes; its task packages import every task (and the viewer) on import, so they
    # are entered without running their __init__ (the agent configs and runners need none of it)
    mj_envs = _shallow("mjlab.envs", site)
    mj_envs.ManagerBasedRlEnv = _EnvBase
    mj_envs.ManagerBasedRlEnvCfg = type("ManagerBasedRlEnvCfg", (), {})
    for name in (
        "mjlab.tasks",
        "mjlab.tasks.velocity",
        "mjlab.tasks.velocity.config",
        "mjlab.tasks.velocity.config.go1",
        "mjlab.tasks.tracking",
        "mjlab.tasks.tracking.config",
        "mjlab.tasks.tracking.config.g1",
        "mjlab.viewer",
    ):
        _shallow(name, site)


def _shallow(name: str, site: str) -> types.ModuleType:
    """A package whose submodules load from ``site`` but whose own ``__init__`` is not run."""
    module = types.ModuleType(name)
    module.__path__ = [os.path.join(site, *name.split("."))]
    sys.modules[name] = module
    return module


class _ActionManager:
    def __init__(self, dim: int) -> None:
        self.total_action_dim = dim


class _ObservationManager:
    def __init__(self, env: FakeSimEnv, terms: Mapping[str, Sequence[str]]) -> None:
        self._env = env
        self.active_terms = {k: list(v) for k, v in terms.items()}

    def compute(self) -> dict[str, torch.Tensor]:
        return {k: v.clone() for k, v in self._env.obs_buf.items()}


class _Robot:
    def __init__(self, joint_names: Sequence[str]) -> None:
        self.joint_names = list(joint_names)


class _Scene(dict):
    """``env.scene["robot"]`` and the sensor lookups symmetry functions make."""

    def __init__(self, joint_names: Sequence[str], sensors: Sequence[str]) -> None:
        super().__init__(robot=_Robot(joint_names))
        self.sensors = {name: object() for name in sensors}
        for name in sensors:
            self[name] = self.sensors[name]


class FakeSimEnv(_EnvBase):
    """A batched env with an Isaac Lab / mjlab manager env's surface and simple, seeded dynamics.

    Observation groups have the per-env shapes given; each step mixes the previous observation with the actions,
    rewards favour small actions, a few envs terminate at random and every env times out at
    ``max_episode_length``. Done envs are reset in the same step (their returned observation starts a new
    episode). ``num_steps`` counts ``step`` calls so a test can tell whether a runner stepped the env.
    """

    def __init__(
        self,
        groups: Mapping[str, Sequence[int]],
        num_actions: int,
        num_envs: int,
        max_episode_length: int = 16,
        seed: int = 0,
        joint_names: Sequence[str] = (),
        sensors: Sequence[str] = (),
        terms: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self.num_envs = num_envs
        self.device = "cpu"
        self.max_episode_length = max_episode_length
        self.max_episode_length_s = max_episode_length * 0.02
        self.step_dt = 0.02
        self.num_actions = num_actions
        self.render_mode = None
        self.cfg = types.SimpleNamespace(is_finite_horizon=False, seed=seed, decimation=4)
        self.action_manager = _ActionManager(num_actions)
        self.observation_manager = _ObservationManager(self, terms or {k: [k] for k in groups})
        self.scene = _Scene(joint_names, sensors)
        self.common_step_counter = 0
        self.num_steps = 0
        self.num_resets = 0
        self.single_action_space = None
        self.action_space = None
        self.observation_space = None
        self._gen = torch.Generator().manual_seed(seed)
        self._shapes = {k: tuple(int(s) for s in v) for k, v in groups.items()}
        self.episode_length_buf = torch.zeros(num_envs, dtype=torch.long)
        self.obs_buf = {k: self._fresh(num_envs, shape) for k, shape in self._shapes.items()}

    @property
    def unwrapped(self) -> FakeSimEnv:
        return self

    def _fresh(self, count: int, shape: tuple[int, ...]) -> torch.Tensor:
        if len(shape) == 3:  # image: values in [0, 1]
            return torch.rand((count, *shape), generator=self._gen)
        return torch.randn((count, *shape), generator=self._gen)

    def seed(self, seed: int = -1) -> int:
        self._gen.manual_seed(max(seed, 0))
        return seed

    def reset(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        self.num_resets += 1
        self.episode_length_buf.zero_()
        self.obs_buf = {k: self._fresh(self.num_envs, shape) for k, shape in self._shapes.items()}
        return {k: v.clone() for k, v in self.obs_buf.items()}, {}

    def step(
        self, actions: torch.Tensor
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor, torch.Tensor, dict[str, Any]]:
        self.num_steps += 1
        self.common_step_counter += 1
        actions = actions.detach().to(torch.float32)
        signal = actions.mean(dim=1, keepdim=True)
        for key, shape in self._shapes.items():
            old = self.obs_buf[key]
            noise = self._fresh(self.num_envs, shape)
            if len(shape) == 3:
                self.obs_buf[key] = (0.9 * old + 0.1 * noise).clamp(0.0, 1.0)
            else:
                self.obs_buf[key] = 0.8 * old + 0.2 * noise + 0.1 * signal
        reward = 1.0 - 0.1 * actions.pow(2).mean(dim=1)
        self.episode_length_buf += 1
        truncated = self.episode_length_buf >= self.max_episode_length
        terminated = torch.rand(self.num_envs, generator=self._gen) < 0.02
        done = terminated | truncated
        extras: dict[str, Any] = {"log": {"/fake/mean_action": float(actions.abs().mean())}}
        if bool(done.any()):
            rows = done.nonzero().squeeze(-1)
            self.episode_length_buf[rows] = 0
            for key, shape in self._shapes.items():
                self.obs_buf[key][rows] = self._fresh(int(rows.numel()), shape)
            extras["log"]["Episode_Reward/fake"] = float(reward[rows].mean())
        return {k: v.clone() for k, v in self.obs_buf.items()}, reward, terminated, truncated, extras

    def close(self) -> None:
        return None
