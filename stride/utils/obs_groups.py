"""Resolution of observation sets (actor, critic, ...) to the env's observation groups, as rsl_rl does."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from stride.config.strict import suggest
from stride.utils.errors import ConfigError

__all__ = ["resolve_obs_groups"]

_log = logging.getLogger(__name__)

KNOWN_SETS = ("actor", "critic", "student", "teacher", "rnd_state")
"""Observation sets stride's algorithms and extensions read."""

_DEFAULT_GROUP = {"actor": "policy", "student": "policy", "critic": "critic", "teacher": "teacher"}
_FALLBACK_SET = {"critic": "actor", "teacher": "student"}


def resolve_obs_groups(
    obs: Mapping[str, Any], obs_groups: Mapping[str, Sequence[str]] | None, required_sets: Sequence[str]
) -> dict[str, list[str]]:
    """Map each required observation set to a list of env observation groups.

    Missing sets are filled as rsl_rl does: ``actor``/``student`` default to ``["policy"]``; ``critic`` /
    ``teacher`` default to a ``critic`` / ``teacher`` group when the env has one, else to the actor's / student's
    groups. The input mapping is not modified.

    Args:
        obs: The env's observations (only the group names are used).
        obs_groups: User mapping set → groups (may be empty or None).
        required_sets: The sets the algorithm needs (e.g. ``["actor", "critic"]``).

    Returns:
        A new dict with one entry per required set (plus any extra sets the user gave).

    Raises:
        ConfigError: If a set names a group the env does not have, or a required set cannot be resolved.
    """
    available = list(obs.keys())
    resolved: dict[str, list[str]] = {k: list(v) for k, v in (obs_groups or {}).items()}
    for obs_set in resolved:
        if obs_set not in KNOWN_SETS and obs_set not in required_sets:
            raise ConfigError(
                f"obs_groups has an unknown set '{obs_set}'{suggest(obs_set, KNOWN_SETS)}; sets are {list(KNOWN_SETS)} "
                "(each maps to a list of env observation groups)."
            )
    filled: list[str] = []
    for obs_set in required_sets:
        if obs_set in resolved:
            continue
        default = _DEFAULT_GROUP.get(obs_set)
        if default is not None and default in available:
            resolved[obs_set] = [default]
        elif obs_set in _FALLBACK_SET and _FALLBACK_SET[obs_set] in resolved:
            resolved[obs_set] = list(resolved[_FALLBACK_SET[obs_set]])
        else:
            raise ConfigError(
                f"obs_groups has no '{obs_set}' set and the env has no default group for it; env groups are "
                f"{available}. Add e.g. obs_groups={{'{obs_set}': ['{available[0] if available else 'policy'}']}}."
            )
        filled.append(obs_set)
    for obs_set, groups in resolved.items():
        if not groups:
            raise ConfigError(f"obs_groups.{obs_set} is empty; list at least one of the env groups {available}.")
        for group in groups:
            if group not in available:
                raise ConfigError(
                    f"obs_groups.{obs_set} names group '{group}', which the env does not provide"
                    f"{suggest(group, available)}; env groups are {available}."
                )
    if filled:
        _log.info("resolved observation sets: %s", {k: resolved[k] for k in required_sets})
    return resolved
