"""Migration of older rsl_rl ``train_cfg`` dicts (legged_gym, rsl_rl 2.x, 3.x and 4.x) to the v5 format.

stride reads rsl_rl v5's dict format. Configs written for older releases are still common (legged_gym forks,
Isaac Lab extensions pinned to an old rsl_rl). :func:`migrate_train_cfg` rewrites them and lists every change;
:func:`apply_compat` does the same and warns once. What is rewritten:

=========================================  =====================================================================
older spelling                             v5 spelling
=========================================  =====================================================================
``runner: {...}`` (legged_gym)             runner keys at the top level; ``policy_class_name`` /
                                           ``algorithm_class_name`` → ``policy.class_name`` /
                                           ``algorithm.class_name``; ``checkpoint: -1`` → ``load_checkpoint``
``policy: {class_name: ActorCritic}``      ``actor`` and ``critic`` sections (``MLPModel``; ``RNNModel`` for
                                           ``ActorCriticRecurrent``; ``CNNModel`` for ``ActorCriticCNN``)
``policy: {class_name: StudentTeacher}``   ``student`` and ``teacher`` sections (``...Recurrent``: ``RNNModel``)
``actor_hidden_dims`` ...                  ``actor.hidden_dims`` ... (``critic_``, ``student_``, ``teacher_``)
``init_noise_std``, ``noise_std_type``     ``actor.distribution_cfg.init_std``, ``.std_type``
``state_dependent_std: True``              ``HeteroscedasticGaussianDistribution``
``actor_obs_normalization`` ...            ``actor.obs_normalization`` ...
``empirical_normalization`` (runner)       ``obs_normalization`` of both models (unless they set it)
``obs_groups: {policy: [...]}``            ``obs_groups: {actor: [...]}`` (``student`` for distillation)
``stochastic`` etc. in a model (4.x)       ``distribution_cfg``
=========================================  =====================================================================

Isaac Lab's configclass ``to_dict()`` writes a field left unset (``MISSING``) as ``{}``: its 3.x configs carry
``policy: {}``, ``empirical_normalization: {}`` and, in model sections, ``stochastic: {}`` and
``init_noise_std: {}``. Such placeholders mean "not set" and are dropped without a warning, as are the legacy
``noise_std_type: 'scalar'`` and ``state_dependent_std: False`` defaults of a model that leaves ``stochastic`` unset.

Configs without ``obs_groups`` that use a ``policy`` section were written for rsl_rl 2.x or legged_gym, whose PPO
defaults differ from v5's; algorithm keys they leave out get those old defaults, so training behaves as before.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

from stride.config.strict import suggest
from stride.utils.errors import ConfigError

__all__ = ["apply_compat", "migrate_train_cfg"]

_PPO_FAMILY = {"ActorCritic": "MLPModel", "ActorCriticRecurrent": "RNNModel", "ActorCriticCNN": "CNNModel"}
_DISTILLATION_FAMILY = {"StudentTeacher": "MLPModel", "StudentTeacherRecurrent": "RNNModel"}

_RNN_KEYS = ("rnn_type", "rnn_hidden_dim", "rnn_num_layers")
_V4_DISTRIBUTION_KEYS = ("stochastic", "init_noise_std", "noise_std_type", "state_dependent_std")
_MODEL_SECTIONS = ("actor", "critic", "student", "teacher")

# PPO defaults of rsl_rl 1.x/2.x (legged_gym era) that differ from v5's; filled in for 2.x-format configs
_RSL_RL_2_PPO_DEFAULTS: dict[str, Any] = {
    "num_learning_epochs": 1,
    "num_mini_batches": 1,
    "gamma": 0.998,
    "entropy_coef": 0.0,
    "schedule": "fixed",
}


def migrate_train_cfg(cfg: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Rewrite an rsl_rl ``train_cfg`` of any supported release in the v5 format.

    The input is never modified: nested dicts and lists are copied, other values (callables, classes) are shared.
    A dict already in the v5 format comes back equal, with no changes listed.

    Args:
        cfg: The runner's ``train_cfg`` in the format of legged_gym, rsl_rl 2.x, 3.x, 4.x or 5.x.

    Returns:
        ``(migrated, changes)``: a new v5-format dict and one human-readable line per change.

    Raises:
        ConfigError: If the dict mixes formats in a contradictory way (e.g. both a ``policy`` and an ``actor``
            section), names a policy class stride cannot migrate, or holds a key the old class did not accept.
    """
    if not isinstance(cfg, Mapping):
        raise ConfigError(f"train_cfg must be a mapping, got {type(cfg).__name__}.")
    out: dict[str, Any] = _copy(cfg)
    changes: list[str] = []
    _drop_unset(out)
    _hoist_legged_gym_runner(out, changes)
    had_policy = "policy" in out
    distillation = _is_distillation(out)
    if had_policy:
        _split_policy(out, distillation, changes)
    for name in _MODEL_SECTIONS:
        section = out.get(name)
        if isinstance(section, dict):
            _migrate_v4_model(name, section, changes)
    _migrate_empirical_normalization(out, distillation, changes)
    _migrate_obs_groups(out, distillation, changes)
    if had_policy and "obs_groups" not in out and not distillation:
        _fill_rsl_rl_2_defaults(out, changes)
    return out, changes


def apply_compat(cfg: Mapping[str, Any], stacklevel: int = 2) -> dict[str, Any]:
    """Migrate ``cfg`` to the v5 format, warning once (``FutureWarning``) with every change when there were any.

    Args:
        cfg: The runner's ``train_cfg`` in any supported rsl_rl format; not modified.
        stacklevel: Passed to ``warnings.warn``: 2 points at the caller of this function, 3 at its caller's caller
            (what a runner constructor wants, so the warning names the user's line).

    Returns:
        A new dict in the v5 format (equal to ``cfg`` when it already was).

    Raises:
        ConfigError: As :func:`migrate_train_cfg`.
    """
    migrated, changes = migrate_train_cfg(cfg)
    if changes:
        listing = "\n".join(f"  - {change}" for change in changes)
        warnings.warn(
            f"train_cfg uses an older rsl_rl format; stride migrated it to the v5 format:\n{listing}\n"
            "Write these keys in the v5 format to silence this warning.",
            FutureWarning,
            stacklevel=stacklevel,
        )
    return migrated


# ------------------------------------------------------------------------------------------------ helpers
def _copy(value: Any) -> Any:
    """Copy nested mappings (as dicts), lists and tuples; share every other value."""
    if isinstance(value, Mapping):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_copy(v) for v in value)
    return value


# keys whose value is a mapping: an empty one there is a value, not Isaac Lab's MISSING placeholder
_MAPPING_KEYS = frozenset({"obs_groups", "logger", "multi_gpu", "policy", *_MODEL_SECTIONS, "algorithm"})
_MAPPING_MODEL_KEYS = frozenset({"distribution_cfg", "cnn_cfg"})
# legacy (4.x) model keys Isaac Lab's model configs always write; at these values, with ``stochastic`` unset, they
# carry no meaning
_IDLE_V4_DEFAULTS = {"noise_std_type": "scalar", "state_dependent_std": False}


def _is_unset(value: Any) -> bool:
    """Isaac Lab's ``to_dict()`` writes an unset (``MISSING``) field as ``{}``."""
    return isinstance(value, Mapping) and not value


def _drop_unset(out: dict[str, Any]) -> None:
    """Remove Isaac Lab's unset placeholders (``{}``) from the runner, algorithm and model sections."""
    for key in [k for k, v in out.items() if _is_unset(v) and k not in _MAPPING_KEYS]:
        del out[key]
    if _is_unset(out.get("policy")) and any(isinstance(out.get(s), Mapping) for s in _MODEL_SECTIONS):
        del out["policy"]
    algorithm = out.get("algorithm")
    if isinstance(algorithm, dict):
        for key in [k for k, v in algorithm.items() if _is_unset(v)]:
            del algorithm[key]
    for name in _MODEL_SECTIONS:
        section = out.get(name)
        if not isinstance(section, dict):
            continue
        for key in [k for k, v in section.items() if _is_unset(v) and k not in _MAPPING_MODEL_KEYS]:
            del section[key]
        if "stochastic" not in section:
            for key, idle in _IDLE_V4_DEFAULTS.items():
                if key in section and section[key] == idle and type(section[key]) is type(idle):
                    del section[key]


def _bare_name(name: object) -> str | None:
    """The bare class name of an rsl_rl class path (``"rsl_rl.modules:ActorCritic"`` → ``"ActorCritic"``).

    None for a non-string or a class outside rsl_rl.
    """
    if not isinstance(name, str) or not name:
        return None
    dotted = name.replace(":", ".")
    module, _, bare = dotted.rpartition(".")
    if module and module.split(".")[0] != "rsl_rl":
        return None
    return bare


def _is_distillation(cfg: Mapping[str, Any]) -> bool:
    """Whether the config trains a student from a teacher (old ``StudentTeacher`` policy or v5 sections)."""
    algorithm = cfg.get("algorithm")
    if isinstance(algorithm, Mapping) and _bare_name(algorithm.get("class_name")) == "Distillation":
        return True
    policy = cfg.get("policy")
    if isinstance(policy, Mapping) and _bare_name(policy.get("class_name")) in _DISTILLATION_FAMILY:
        return True
    return "student" in cfg


def _hoist_legged_gym_runner(out: dict[str, Any], changes: list[str]) -> None:
    """Move legged_gym's nested ``runner`` section to the top level, renaming its keys."""
    runner = out.get("runner")
    if not isinstance(runner, dict):
        return
    del out["runner"]
    for key, value in runner.items():
        if key == "policy_class_name":
            policy = out.setdefault("policy", {})
            if not isinstance(policy, dict):
                raise ConfigError(f"'policy' must be a mapping, got {type(policy).__name__}.")
            policy.setdefault("class_name", value)
            changes.append(f"runner.policy_class_name={value!r} → policy.class_name")
        elif key == "algorithm_class_name":
            algorithm = out.setdefault("algorithm", {})
            if not isinstance(algorithm, dict):
                raise ConfigError(f"'algorithm' must be a mapping, got {type(algorithm).__name__}.")
            algorithm.setdefault("class_name", value)
            changes.append(f"runner.algorithm_class_name={value!r} → algorithm.class_name")
        elif key == "checkpoint":
            pattern = "model_.*.pt" if value in (-1, "-1", None) else f"model_{value}.pt"
            _set_top(out, "load_checkpoint", pattern)
            changes.append(f"runner.checkpoint={value!r} → load_checkpoint={pattern!r}")
        elif key == "load_run":
            pattern = ".*" if value in (-1, "-1", None) else str(value)
            _set_top(out, "load_run", pattern)
            changes.append(f"runner.load_run={value!r} → load_run={pattern!r}")
        elif key == "resume_path":
            changes.append("runner.resume_path removed (pass the checkpoint path to OnPolicyRunner.load)")
        else:
            _set_top(out, key, value)
            changes.append(f"runner.{key} → {key}")
    if "runner_class_name" in out:
        out["class_name"] = out.pop("runner_class_name")
        changes.append("runner_class_name → class_name")


def _set_top(out: dict[str, Any], key: str, value: Any) -> None:
    if key in out and out[key] != value:
        raise ConfigError(
            f"'{key}' is set both at the top level ({out[key]!r}) and in the legged_gym 'runner' section "
            f"({value!r}); keep one."
        )
    out[key] = value


def _split_policy(out: dict[str, Any], distillation: bool, changes: list[str]) -> None:
    """Replace the old single ``policy`` section by two model sections."""
    policy = out.pop("policy")
    if not isinstance(policy, Mapping):
        raise ConfigError(f"'policy' must be a mapping, got {type(policy).__name__}.")
    first, second = ("student", "teacher") if distillation else ("actor", "critic")
    for name in (first, second):
        if name in out:
            raise ConfigError(
                f"train_cfg has both an old 'policy' section and a v5 '{name}' section; keep one format "
                f"(v5: '{first}' and '{second}' sections)."
            )
    raw_class = policy.get("class_name", "StudentTeacher" if distillation else "ActorCritic")
    class_name = _bare_name(raw_class)
    family = _DISTILLATION_FAMILY if distillation else _PPO_FAMILY
    if class_name not in family:
        known = sorted(family)
        hint = suggest(class_name, known) if class_name else ""
        raise ConfigError(
            f"'policy.class_name' is {raw_class!r}, which stride cannot migrate{hint}; migratable classes for "
            f"{'distillation' if distillation else 'PPO'} are {known}. Write '{first}' and '{second}' sections in "
            "the v5 format instead (see docs/configuration.md)."
        )
    start = len(changes)
    if distillation:
        sections = _split_student_teacher(policy, class_name, changes)
    else:
        sections = _split_actor_critic(policy, class_name, changes)
    out[first], out[second] = sections
    changes.insert(
        start,
        f"policy (class_name {raw_class!r}) → '{first}' ({sections[0]['class_name']}) and '{second}' "
        f"({sections[1]['class_name']}) sections",
    )


def _check_policy_keys(policy: Mapping[str, Any], allowed: list[str], class_name: str) -> None:
    for key in policy:
        if key != "class_name" and key not in allowed:
            raise ConfigError(
                f"unknown config key 'policy.{key}' for rsl_rl's {class_name}{suggest(str(key), allowed)}; valid "
                f"keys: {sorted(allowed)}."
            )


def _distribution(policy: Mapping[str, Any], default_std: float, heteroscedastic: bool) -> dict[str, Any]:
    return {
        "class_name": "HeteroscedasticGaussianDistribution" if heteroscedastic else "GaussianDistribution",
        "init_std": policy.get("init_noise_std", default_std),
        "std_type": policy.get("noise_std_type", "scalar"),
    }


def _split_actor_critic(
    policy: Mapping[str, Any], class_name: str, changes: list[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``ActorCritic`` / ``ActorCriticRecurrent`` / ``ActorCriticCNN`` → actor and critic sections."""
    model_class = _PPO_FAMILY[class_name]
    allowed = [
        "actor_hidden_dims",
        "critic_hidden_dims",
        "activation",
        "init_noise_std",
        "noise_std_type",
        "state_dependent_std",
        "actor_obs_normalization",
        "critic_obs_normalization",
    ]
    if model_class == "RNNModel":
        allowed += [*_RNN_KEYS, "rnn_hidden_size"]
    if model_class == "CNNModel":
        allowed += ["actor_cnn_cfg", "critic_cnn_cfg"]
    _check_policy_keys(policy, allowed, class_name)
    actor: dict[str, Any] = {"class_name": model_class}
    critic: dict[str, Any] = {"class_name": model_class}
    _move_pair(policy, "hidden_dims", actor, critic, "actor", "critic", changes)
    _move_pair(policy, "obs_normalization", actor, critic, "actor", "critic", changes)
    _move_shared(policy, "activation", "activation", [(actor, "actor"), (critic, "critic")], changes)
    if model_class == "RNNModel":
        _move_rnn(policy, [(actor, "actor"), (critic, "critic")], changes)
    if model_class == "CNNModel":
        _move_pair(policy, "cnn_cfg", actor, critic, "actor", "critic", changes)
    heteroscedastic = _flag(policy, "state_dependent_std")
    actor["distribution_cfg"] = _distribution(policy, 1.0, heteroscedastic)
    _note_distribution(policy, "actor", heteroscedastic, changes)
    return actor, critic


def _split_student_teacher(
    policy: Mapping[str, Any], class_name: str, changes: list[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``StudentTeacher`` / ``StudentTeacherRecurrent`` → student and teacher sections.

    The teacher gets the student's distribution so that a PPO checkpoint's actor (which holds the std parameter)
    loads into it strictly; only its mean is used.
    """
    recurrent = class_name == "StudentTeacherRecurrent"
    allowed = [
        "student_hidden_dims",
        "teacher_hidden_dims",
        "activation",
        "init_noise_std",
        "noise_std_type",
        "student_obs_normalization",
        "teacher_obs_normalization",
    ]
    if recurrent:
        allowed += [*_RNN_KEYS, "rnn_hidden_size", "teacher_recurrent"]
    _check_policy_keys(policy, allowed, class_name)
    teacher_recurrent = recurrent and _flag(policy, "teacher_recurrent")
    student: dict[str, Any] = {"class_name": "RNNModel" if recurrent else "MLPModel"}
    teacher: dict[str, Any] = {"class_name": "RNNModel" if teacher_recurrent else "MLPModel"}
    _move_pair(policy, "hidden_dims", student, teacher, "student", "teacher", changes)
    _move_pair(policy, "obs_normalization", student, teacher, "student", "teacher", changes)
    _move_shared(policy, "activation", "activation", [(student, "student"), (teacher, "teacher")], changes)
    if recurrent:
        targets = [(student, "student")] + ([(teacher, "teacher")] if teacher_recurrent else [])
        _move_rnn(policy, targets, changes)
        if "teacher_recurrent" in policy:
            changes.append(
                f"policy.teacher_recurrent={policy['teacher_recurrent']!r} → "
                f"teacher.class_name {teacher['class_name']!r}"
            )
    # StudentTeacher's default noise std was 0.1 (ActorCritic's 1.0): keep it explicitly
    student["distribution_cfg"] = _distribution(policy, 0.1, False)
    teacher["distribution_cfg"] = dict(student["distribution_cfg"])
    _note_distribution(policy, "student", False, changes)
    return student, teacher


def _flag(policy: Mapping[str, Any], key: str) -> bool:
    value = policy.get(key, False)
    if not isinstance(value, bool):
        raise ConfigError(f"'policy.{key}' must be true or false, got {value!r} ({type(value).__name__}).")
    return value


def _move_pair(
    policy: Mapping[str, Any],
    key: str,
    first: dict[str, Any],
    second: dict[str, Any],
    first_name: str,
    second_name: str,
    changes: list[str],
) -> None:
    """``policy.<first>_<key>`` → ``<first>.<key>`` and the same for ``second``."""
    for section, name in ((first, first_name), (second, second_name)):
        old = f"{name}_{key}"
        if old in policy:
            section[key] = policy[old]
            changes.append(f"policy.{old} → {name}.{key}")


def _move_shared(
    policy: Mapping[str, Any], old: str, new: str, targets: list[tuple[dict[str, Any], str]], changes: list[str]
) -> None:
    """``policy.<old>`` → ``<model>.<new>`` for every target model."""
    if old in policy:
        for section, _ in targets:
            section[new] = policy[old]
        changes.append(f"policy.{old} → {' and '.join(f'{name}.{new}' for _, name in targets)}")


def _move_rnn(policy: Mapping[str, Any], targets: list[tuple[dict[str, Any], str]], changes: list[str]) -> None:
    if "rnn_hidden_size" in policy and "rnn_hidden_dim" in policy:
        raise ConfigError(
            "'policy' sets both 'rnn_hidden_size' (rsl_rl 2.x) and 'rnn_hidden_dim'; keep only 'rnn_hidden_dim'."
        )
    _move_shared(policy, "rnn_hidden_size", "rnn_hidden_dim", targets, changes)
    for key in _RNN_KEYS:
        _move_shared(policy, key, key, targets, changes)


def _note_distribution(policy: Mapping[str, Any], model: str, heteroscedastic: bool, changes: list[str]) -> None:
    if "init_noise_std" in policy:
        changes.append(f"policy.init_noise_std → {model}.distribution_cfg.init_std")
    if "noise_std_type" in policy:
        changes.append(f"policy.noise_std_type → {model}.distribution_cfg.std_type")
    if "state_dependent_std" in policy:
        changes.append(
            f"policy.state_dependent_std={heteroscedastic} → {model}.distribution_cfg.class_name "
            f"{'HeteroscedasticGaussianDistribution' if heteroscedastic else 'GaussianDistribution'!r}"
        )


def _migrate_v4_model(name: str, section: dict[str, Any], changes: list[str]) -> None:
    """rsl_rl 4.x model keys (``stochastic``, ``init_noise_std``, ...) → ``distribution_cfg``."""
    old = [key for key in _V4_DISTRIBUTION_KEYS if key in section]
    if not old:
        return
    if "distribution_cfg" in section:
        raise ConfigError(
            f"'{name}' sets both rsl_rl 4.x keys {old} and the v5 'distribution_cfg'; keep only 'distribution_cfg'."
        )
    values = {key: section.pop(key) for key in old}
    stochastic = values.get("stochastic", False)
    heteroscedastic = values.get("state_dependent_std", False)
    for key, value in (("stochastic", stochastic), ("state_dependent_std", heteroscedastic)):
        if not isinstance(value, bool):
            raise ConfigError(f"'{name}.{key}' must be true or false, got {value!r} ({type(value).__name__}).")
    listed = ", ".join(f"{key}={values[key]!r}" for key in old)
    if stochastic:
        section["distribution_cfg"] = {
            "class_name": "HeteroscedasticGaussianDistribution" if heteroscedastic else "GaussianDistribution",
            "init_std": values.get("init_noise_std", 1.0),
            "std_type": values.get("noise_std_type", "scalar"),
        }
        changes.append(f"{name}: {listed} → {name}.distribution_cfg {section['distribution_cfg']}")
    else:
        changes.append(f"{name}: {listed} removed (a deterministic model has no distribution_cfg)")


def _migrate_empirical_normalization(out: dict[str, Any], distillation: bool, changes: list[str]) -> None:
    """Runner-level ``empirical_normalization`` → ``obs_normalization`` of the models that do not set it."""
    if "empirical_normalization" not in out:
        return
    value = out.pop("empirical_normalization")
    if value is None:
        changes.append("empirical_normalization=None removed (no effect)")
        return
    if not isinstance(value, bool):
        raise ConfigError(f"'empirical_normalization' must be true, false or None, got {value!r}.")
    names = ("student", "teacher") if distillation else ("actor", "critic")
    applied, kept = [], []
    for name in names:
        section = out.get(name)
        if not isinstance(section, dict):
            continue
        if "obs_normalization" in section:
            kept.append(name)
        else:
            section["obs_normalization"] = value
            applied.append(name)
    if applied:
        changes.append(f"empirical_normalization={value} → {' and '.join(f'{n}.obs_normalization' for n in applied)}")
    if kept:
        changes.append(
            f"empirical_normalization={value} removed for {' and '.join(kept)}, which set obs_normalization itself"
        )
    if not applied and not kept:
        changes.append(f"empirical_normalization={value} removed (no {' or '.join(names)} section to apply it to)")


def _migrate_obs_groups(out: dict[str, Any], distillation: bool, changes: list[str]) -> None:
    """rsl_rl 3.x named the actor's (student's) observation set ``policy``; v5 names it ``actor`` (``student``)."""
    groups = out.get("obs_groups")
    if not isinstance(groups, dict) or "policy" not in groups:
        return
    target = "student" if distillation else "actor"
    value = groups.pop("policy")
    if target in groups and groups[target] != value:
        raise ConfigError(
            f"obs_groups sets both 'policy' ({value!r}, rsl_rl 3.x) and '{target}' ({groups[target]!r}); keep only "
            f"'{target}'."
        )
    # keep the set first, where rsl_rl 3.x configs had it
    rest = dict(groups)
    groups.clear()
    groups[target] = value
    groups.update({k: v for k, v in rest.items() if k != target})
    changes.append(f"obs_groups.policy → obs_groups.{target}")


def _fill_rsl_rl_2_defaults(out: dict[str, Any], changes: list[str]) -> None:
    """Give a 2.x-format PPO config the 2.x defaults for the algorithm keys it leaves out."""
    algorithm = out.get("algorithm")
    if algorithm is None:
        algorithm = out["algorithm"] = {}
    if not isinstance(algorithm, dict) or _bare_name(algorithm.get("class_name", "PPO")) != "PPO":
        return
    for key, value in _RSL_RL_2_PPO_DEFAULTS.items():
        if key not in algorithm:
            algorithm[key] = value
            changes.append(f"algorithm.{key} not set: rsl_rl 2.x's default {value!r} kept (v5's default differs)")
