"""The one door a runner's ``train_cfg`` passes through: migrate, validate, and hand back what the runner uses.

A runner receives a dict written by Isaac Lab (configclass ``to_dict()``), mjlab (``dataclasses.asdict``), any rsl_rl
generation, or stride's own YAML. :func:`intake` turns it into:

- ``runner``: the typed runner keys (:class:`~stride.config.schema.RunnerCfg`), validated;
- ``sections``: the migrated v5 dict whose algorithm and model sections the algorithm's ``construct`` reads;
- ``recorded``: a YAML-safe copy of the resolved config, written to ``config.yaml`` and into checkpoints.

The user's dict is never modified.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from stride.config.compat import apply_compat
from stride.config.schema import RUNNER_CLASS_NAMES, RunnerCfg
from stride.config.strict import build, to_dict
from stride.utils.errors import ConfigError

__all__ = ["MODEL_SECTIONS", "RunnerConfig", "intake", "plain_config"]

MODEL_SECTIONS = ("actor", "critic", "student", "teacher")
"""Every model section a runner config can hold; each runner reads two of them."""


@dataclass(frozen=True)
class RunnerConfig:
    """A ``train_cfg`` after :func:`intake`."""

    runner: RunnerCfg
    """The typed, validated runner keys."""

    sections: dict[str, Any]
    """The migrated v5 dict (algorithm and model sections), with the runner-derived defaults filled in."""

    settings: dict[str, Any]
    """Every runner key with its resolved value, without the other runner's sections (rsl_rl's ``runner.cfg``)."""

    recorded: dict[str, Any]
    """YAML-safe copy of the resolved config (callables as ``'module:name'``), without the other runner's sections."""


def plain_config(value: Any) -> Any:
    """A YAML-safe copy of a config value (callables and classes become 'module:name' strings)."""
    if isinstance(value, Mapping):
        return {str(k): plain_config(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_config(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if callable(value):
        return f"{getattr(value, '__module__', '?')}:{getattr(value, '__qualname__', repr(value))}"
    return repr(value)


def intake(
    train_cfg: Mapping[str, Any], runner_class: str, model_sections: tuple[str, ...], stacklevel: int = 3
) -> RunnerConfig:
    """Migrate, validate and resolve a runner's ``train_cfg``.

    Args:
        train_cfg: The dict given to the runner, in any supported rsl_rl / Isaac Lab / mjlab format; not modified.
        runner_class: The runner's class name (``"OnPolicyRunner"``, ``"DistillationRunner"``).
        model_sections: The model sections that runner reads; the other runner's sections are refused.
        stacklevel: For the migration warning (see :func:`~stride.config.compat.apply_compat`).

    Returns:
        The typed runner keys, the migrated sections and the dict to record.

    Raises:
        ConfigError: On an unknown key, an invalid value, or a config written for the other runner.
    """
    # older rsl_rl formats (policy: ActorCritic, empirical_normalization, ...) → v5, with one warning
    sections = apply_compat(train_cfg, stacklevel=stacklevel + 1)
    runner = build(RunnerCfg, sections)
    _check_runner_class(sections, runner_class, model_sections)
    algorithm = sections.get("algorithm")
    if (
        isinstance(algorithm, Mapping)
        and algorithm.get("schedule") == "linear"
        and algorithm.get("schedule_iterations") is None
        and runner.max_iterations is not None
    ):
        # a linear learning-rate schedule spans the planned run
        sections["algorithm"] = {**algorithm, "schedule_iterations": runner.max_iterations}
    settings = to_dict(runner)
    for section in MODEL_SECTIONS:
        if section not in model_sections:
            settings.pop(section, None)
    return RunnerConfig(runner=runner, sections=sections, settings=settings, recorded=plain_config(settings))


def _check_runner_class(sections: Mapping[str, Any], runner_class: str, model_sections: tuple[str, ...]) -> None:
    """Refuse a config written for the other runner (its ``class_name`` or its model sections)."""
    given = sections.get("class_name")
    if isinstance(given, str) and RUNNER_CLASS_NAMES.get(given, runner_class) != runner_class:
        raise ConfigError(
            f"train_cfg.class_name is {given!r} but this is the {runner_class}; build "
            f"stride.runners.{RUNNER_CLASS_NAMES[given]} with this config."
        )
    foreign = [s for s in MODEL_SECTIONS if s not in model_sections and sections.get(s) is not None]
    if foreign:
        raise ConfigError(
            f"train_cfg has {foreign} section(s), which the {runner_class} does not read (it reads "
            f"{list(model_sections)}); actor/critic configure the OnPolicyRunner, student/teacher the "
            "DistillationRunner."
        )
