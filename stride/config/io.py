"""YAML reading and writing of experiment files, with errors that name the file."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import yaml

from stride.config.strict import build, to_dict
from stride.utils.errors import ConfigError

__all__ = [
    "PREFIX_PRESETS",
    "TASK_PRESETS",
    "ExperimentCfg",
    "dump_yaml",
    "load_experiment",
    "load_yaml",
    "parse_yaml",
    "preset_for_task",
    "preset_path",
    "set_value",
    "task_preset",
]


@dataclass(kw_only=True)
class ExperimentCfg:
    """A whole training run: which task, how the env is built, the runner config and the launch options."""

    task: str = "cartpole"
    """Registered task name (``stride tasks`` lists them; ``stride.env.tasks.register_task`` adds your own)."""

    env: dict[str, Any] = field(default_factory=dict)
    """Keyword arguments of the task constructor (``num_envs``, ``max_episode_length``, ...)."""

    init_at_random_ep_len: bool = False
    """Start every env at a random point of its time limit (decorrelates episode ends)."""

    runner: dict[str, Any] = field(default_factory=dict)
    """The runner's train_cfg (rsl_rl v5 format)."""


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader that also reads ``1e-3`` and ``3E+4`` as floats, as YAML 1.2 and Python do.

    YAML 1.1 (PyYAML) requires a dot in a float (``1.0e-3``) and reads ``1e-3`` as a string, which configs copied
    from papers and Python code often contain.
    """


# a copy of the resolvers, so PyYAML's own SafeLoader is left unchanged
_Loader.yaml_implicit_resolvers = {key: list(value) for key, value in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"), list("-+0123456789")
)


def parse_yaml(text: str) -> Any:
    """Parse YAML text with stride's loader (safe, and ``1e-3`` is a float)."""
    return yaml.load(text, Loader=_Loader)  # a SafeLoader subclass


def load_yaml(path: str) -> dict[str, Any]:
    """Read a YAML mapping; a top-level ``base:`` key names a file the mapping extends.

    ``base`` is a built-in preset name (``mujoco``) or a YAML path relative to this file. The base is read the same
    way (it may have a base of its own), and this file's keys are laid over it: mappings merge key by key, anything
    else (scalars, lists) replaces the base's value. The result holds no ``base`` key.

    Raises:
        ConfigError: If a file is missing, not valid YAML, or not a mapping, or the bases form a cycle.
    """
    return _load_with_bases(path, ())


def _load_with_bases(path: str, chain: tuple[str, ...]) -> dict[str, Any]:
    data = _read_mapping(path)
    base = data.pop("base", None)
    if base is None:
        return data
    if not isinstance(base, str):
        raise ConfigError(f"config file '{path}': 'base' must be a preset name or a YAML path, got {base!r}.")
    here = os.path.abspath(path)
    builtin = None if base.endswith((".yaml", ".yml")) else preset_path(base)
    base_path = os.path.abspath(builtin or os.path.join(os.path.dirname(here), base))
    if base_path in (*chain, here):
        raise ConfigError(f"config file '{path}': its bases form a cycle ({' -> '.join((*chain, here, base_path))}).")
    if not os.path.isfile(base_path):
        raise ConfigError(
            f"config file '{path}': base {base!r} is neither a built-in preset nor a file next to it ('{base_path}')."
        )
    return _merged(_load_with_bases(base_path, (*chain, here)), data)


def _merged(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``override`` laid over ``base``: mappings merged key by key, other values replaced; base's key order first."""
    result = dict(base)
    for key, value in override.items():
        old = result.get(key)
        result[key] = _merged(old, value) if isinstance(old, dict) and isinstance(value, dict) else value
    return result


def _read_mapping(path: str) -> dict[str, Any]:
    """One YAML file's top-level mapping, as written."""
    if not os.path.isfile(path):
        raise ConfigError(f"config file '{path}' does not exist.")
    try:
        with open(path, encoding="utf-8") as handle:
            data = parse_yaml(handle.read())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ConfigError(f"config file '{path}' is not valid YAML{where}: {getattr(err, 'problem', err)}.") from err
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file '{path}' must hold a mapping at the top level, got {type(data).__name__}.")
    return data


def dump_yaml(data: Any, path: str) -> None:
    """Write ``data`` (dataclasses allowed) as YAML, keys in their given order."""
    with open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(to_dict(data), handle, sort_keys=False)


def preset_path(task: str) -> str | None:
    """Path of the built-in preset YAML of ``task``, or None when the task has none."""
    candidate = resources.files("stride") / "configs" / f"{task}.yaml"
    return str(candidate) if candidate.is_file() else None


TASK_PRESETS: dict[str, str] = {
    "envpool:Go1JoystickFlatTerrain-v1": "go1-joystick",
}
"""Tasks whose preset is not named after them (adapter ids hold ``:`` and a version): task name → preset name."""

PREFIX_PRESETS: dict[str, str | None] = {
    "gym:": "mujoco",  # Gymnasium MuJoCo ids without a tuned mujoco-<name> preset share this one
    "envpool:": None,  # envpool's tasks differ too much (observation groups, scales) for one shared preset
    "playground:": "playground",  # the rsl_rl values MuJoCo Playground publishes for its locomotion envs
}
"""The preset of an adapter's tasks that have no entry in :data:`TASK_PRESETS` (None: none; ``--config`` needed)."""


def task_preset(task: str) -> str | None:
    """Name of the built-in preset that ``stride train --task TASK`` starts from.

    The rule, first match wins: the task's entry in :data:`TASK_PRESETS`; a preset named after the task
    (``cartpole``, ``pendulum-sac``); for an adapter task ``<prefix><Name>-v<N>``, the prefix's preset tuned for that
    task, ``<shared>-<name>`` (name lower-cased, any version: ``gym:HalfCheetah-v5`` → ``mujoco-halfcheetah``); the
    preset the prefix's tasks share in :data:`PREFIX_PRESETS`.

    Args:
        task: A task name, e.g. ``"cartpole"``, ``"gym:Hopper-v5"`` or ``"envpool:Go1JoystickFlatTerrain-v1"``.

    Returns:
        The preset name (a file ``stride/configs/<name>.yaml``), or None for a task without any preset (it runs on
        the runner defaults).

    Raises:
        ConfigError: For an adapter task whose prefix has no shared preset and that has no preset of its own.
    """
    if task in TASK_PRESETS:
        return TASK_PRESETS[task]
    if preset_path(task) is not None:
        return task
    for prefix, preset in PREFIX_PRESETS.items():
        if task.startswith(prefix):
            if preset is None:
                known = ", ".join(f"{t} ({p})" for t, p in TASK_PRESETS.items() if t.startswith(prefix))
                raise ConfigError(
                    f"no preset for task {task!r}: tasks named {prefix}<id> have presets only where one was tuned "
                    f"({known}). "
                    "Fix: pass --config FILE with a runner config whose obs_groups name the task's observation "
                    "groups (`stride check-env TASK` lists them; stride/configs/go1-joystick.yaml is an example)."
                )
            name = re.sub(r"-v\d+$", "", task[len(prefix) :]).lower()
            tuned = f"{preset}-{name}"
            return tuned if preset_path(tuned) is not None else preset
    return None


def load_experiment(path: str) -> ExperimentCfg:
    """Read and strictly validate an experiment YAML.

    Raises:
        ConfigError: If the file cannot be read or holds an invalid experiment; the message names the file.
    """
    data = load_yaml(path)
    try:
        return build(ExperimentCfg, data)
    except ConfigError as err:
        raise ConfigError(f"in '{path}': {err}") from err


def set_value(data: dict[str, Any], dotted_key: str, raw_value: str) -> None:
    """Apply one ``--set key.path=value`` override in place; the value is parsed as YAML (``3e-4``, ``[64, 64]``).

    Raises:
        ConfigError: If the path crosses a non-mapping value.
    """
    try:
        value = parse_yaml(raw_value)
    except yaml.YAMLError as err:
        raise ConfigError(f"--set {dotted_key}={raw_value}: the value is not valid YAML ({err}).") from err
    if isinstance(value, str):
        # YAML 1.1 reads '3e-4' as a string; users mean a number
        for cast in (int, float):
            try:
                value = cast(value)
                break
            except ValueError:
                continue
    keys = dotted_key.split(".")
    node: Any = data
    for i, key in enumerate(keys[:-1]):
        child = node.get(key)
        if child is None:
            child = node[key] = {}
        if not isinstance(child, dict):
            raise ConfigError(f"--set {dotted_key}: '{'.'.join(keys[: i + 1])}' is not a section.")
        node = child
    node[keys[-1]] = value


def preset_for_task(task: str) -> str | None:
    """Path of the preset file ``stride train --task TASK`` starts from (:func:`task_preset`), or None without one.

    Raises:
        ConfigError: As :func:`task_preset`, for an adapter task that has no preset.
    """
    name = task_preset(task)
    return preset_path(name) if name is not None else None
