"""Tests for stride.utils.obs_groups: rsl_rl's default resolution of observation sets, strict group names."""

from __future__ import annotations

import copy

import pytest
import torch
from tensordict import TensorDict

from stride.utils.errors import ConfigError
from stride.utils.obs_groups import resolve_obs_groups


def _obs(*groups: str) -> TensorDict:
    return TensorDict({g: torch.zeros(2, 3) for g in groups}, batch_size=[2])


class TestDefaults:
    """Missing sets resolve as rsl_rl: actor → policy; critic → 'critic' group if present, else the actor's."""

    def test_policy_only_env(self) -> None:
        assert resolve_obs_groups(_obs("policy"), {}, ["actor", "critic"]) == {
            "actor": ["policy"],
            "critic": ["policy"],
        }

    def test_env_with_critic_group(self) -> None:
        resolved = resolve_obs_groups(_obs("policy", "critic"), None, ["actor", "critic"])
        assert resolved == {"actor": ["policy"], "critic": ["critic"]}

    def test_critic_falls_back_to_user_actor_groups(self) -> None:
        resolved = resolve_obs_groups(
            _obs("policy", "proprio", "height"), {"actor": ["proprio", "height"]}, ["actor", "critic"]
        )
        assert resolved == {"actor": ["proprio", "height"], "critic": ["proprio", "height"]}

    def test_user_critic_kept_actor_defaulted(self) -> None:
        resolved = resolve_obs_groups(
            _obs("policy", "critic", "priv"), {"critic": ["priv", "policy"]}, ["actor", "critic"]
        )
        assert resolved == {"actor": ["policy"], "critic": ["priv", "policy"]}

    def test_student_teacher_defaults(self) -> None:
        resolved = resolve_obs_groups(_obs("policy", "teacher"), {}, ["student", "teacher"])
        assert resolved == {"student": ["policy"], "teacher": ["teacher"]}
        resolved = resolve_obs_groups(_obs("policy"), {}, ["student", "teacher"])
        assert resolved == {"student": ["policy"], "teacher": ["policy"]}

    def test_extra_sets_kept(self) -> None:
        resolved = resolve_obs_groups(_obs("policy", "rnd"), {"rnd_state": ["rnd"]}, ["actor", "critic"])
        assert resolved["rnd_state"] == ["rnd"] and resolved["actor"] == ["policy"]


class TestErrors:
    """Unknown groups, empty sets and unresolvable sets raise ConfigError naming the set and the env groups."""

    def test_unknown_group_with_suggestion(self) -> None:
        with pytest.raises(ConfigError) as info:
            resolve_obs_groups(_obs("policy", "critic"), {"actor": ["polcy"]}, ["actor", "critic"])
        msg = str(info.value)
        assert "obs_groups.actor" in msg and "'polcy'" in msg and "did you mean 'policy'" in msg
        assert "['policy', 'critic']" in msg

    def test_unknown_group_in_extra_set(self) -> None:
        with pytest.raises(ConfigError, match=r"obs_groups\.rnd_state.*'rdn'"):
            resolve_obs_groups(_obs("policy", "rnd"), {"rnd_state": ["rdn"]}, ["actor"])

    def test_empty_set(self) -> None:
        with pytest.raises(ConfigError, match=r"obs_groups\.critic is empty"):
            resolve_obs_groups(_obs("policy"), {"critic": []}, ["actor", "critic"])

    def test_no_policy_group(self) -> None:
        with pytest.raises(ConfigError, match=r"no 'actor' set.*\['state'\]"):
            resolve_obs_groups(_obs("state"), {}, ["actor", "critic"])
        # naming the groups explicitly works
        assert resolve_obs_groups(_obs("state"), {"actor": ["state"]}, ["actor", "critic"])["critic"] == ["state"]


class TestNoMutation:
    """The user's mapping is never modified and the result shares no list with it."""

    def test_input_unchanged(self) -> None:
        groups = {"actor": ["policy"], "rnd_state": ["policy"]}
        snapshot = copy.deepcopy(groups)
        resolved = resolve_obs_groups(_obs("policy", "critic"), groups, ["actor", "critic"])
        assert groups == snapshot
        resolved["actor"].append("critic")
        resolved["rnd_state"].append("critic")
        assert groups == snapshot
        assert "critic" not in groups

    def test_tuple_groups_accepted(self) -> None:
        resolved = resolve_obs_groups(_obs("policy"), {"actor": ("policy",)}, ["actor", "critic"])
        assert resolved == {"actor": ["policy"], "critic": ["policy"]}
