"""Tests for stride.config.strict: strict keys, strict types, Literal options, nested paths, no mutation."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Literal

import pytest

from stride.config.schema import MLPModelCfg, PPOCfg, RunnerCfg
from stride.config.strict import build, check_keys, suggest, to_dict
from stride.utils.errors import ConfigError


@dataclass(kw_only=True)
class Inner:
    """Test dataclass: a nested section."""

    alpha: float = 1.0
    mode: Literal["fast", "slow"] = "fast"
    sizes: list[int] = field(default_factory=lambda: [1, 2])


@dataclass(kw_only=True)
class Outer:
    """Test dataclass: holds nested sections, optional sections and lists of sections."""

    inner: Inner = field(default_factory=Inner)
    maybe: Inner | None = None
    items: list[Inner] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    count: int = 0
    flag: bool = False
    pair: tuple[float, float] = (0.0, 1.0)
    choice: Literal["a", "b"] | None = None

    def validate(self, path: str) -> None:
        if self.count < 0:
            raise ConfigError(f"'{path}.count' must be >= 0, got {self.count}.")


def _message(cls: type, data: Any, path: str = "root") -> str:
    with pytest.raises(ConfigError) as info:
        build(cls, data, path)
    return str(info.value)


class TestUnknownKeys:
    """Unknown keys raise with the dotted path, a 'did you mean' and the valid keys, at every nesting level."""

    def test_top_level(self) -> None:
        msg = _message(PPOCfg, {"learning_rat": 1e-3}, "algorithm")
        assert "'algorithm.learning_rat'" in msg and "did you mean 'learning_rate'" in msg and "'gamma'" in msg

    def test_no_path_prefix(self) -> None:
        msg = _message(RunnerCfg, {"num_step_per_env": 3}, "")
        assert "'num_step_per_env'" in msg and "did you mean 'num_steps_per_env'" in msg

    def test_nested_dataclass(self) -> None:
        msg = _message(Outer, {"inner": {"alpah": 2.0}})
        assert "'root.inner.alpah'" in msg and "did you mean 'alpha'" in msg

    def test_list_of_dataclasses(self) -> None:
        msg = _message(Outer, {"items": [{"alpha": 1.0}, {"mdoe": "slow"}]})
        assert "'root.items[1].mdoe'" in msg and "did you mean 'mode'" in msg

    def test_optional_nested_dataclass(self) -> None:
        msg = _message(Outer, {"maybe": {"alpah": 2.0}})
        assert "'root.maybe.alpah'" in msg and "did you mean 'alpha'" in msg

    def test_no_suggestion_for_unrelated_key(self) -> None:
        assert suggest("zzzzzz", ["alpha", "mode"]) == ""
        msg = _message(Inner, {"zzzzzz": 1})
        assert "did you mean" not in msg and "['alpha', 'mode', 'sizes']" in msg

    def test_check_keys_passes_valid(self) -> None:
        check_keys({"alpha": 1}, ["alpha", "mode"], "x")
        with pytest.raises(ConfigError, match=r"'x\.mod' \(did you mean 'mode'\?\)"):
            check_keys({"alpha": 1, "mod": 2}, ["alpha", "mode"], "x")


class TestTypes:
    """Values are checked against annotations: no bool for int/float, no str for numbers, lists and mappings."""

    @pytest.mark.parametrize(
        ("data", "fragment"),
        [
            ({"count": "3"}, "'root.count' must be an integer"),
            ({"count": 2.5}, "'root.count' must be an integer"),
            ({"count": True}, "'root.count' must be an integer"),
            ({"flag": 1}, "'root.flag' must be true or false"),
            ({"inner": {"alpha": "x"}}, "'root.inner.alpha' must be a number"),
            ({"inner": {"alpha": False}}, "'root.inner.alpha' must be a number"),
            ({"inner": {"sizes": 3}}, "'root.inner.sizes' must be a list"),
            ({"inner": {"sizes": [1, "2"]}}, "'root.inner.sizes[1]' must be an integer"),
            ({"inner": 5}, "'root.inner' must be a mapping"),
            ({"extra": [1]}, "'root.extra' must be a mapping"),
            ({"pair": [1.0]}, "'root.pair' must have 2 entries"),
        ],
    )
    def test_wrong_types(self, data: dict[str, Any], fragment: str) -> None:
        assert fragment in _message(Outer, data)

    def test_numbers_are_coerced_exactly(self) -> None:
        cfg = build(Outer, {"count": 4.0, "inner": {"alpha": 3}, "pair": [1, 2]}, "root")
        assert cfg.count == 4 and isinstance(cfg.count, int)
        assert cfg.inner.alpha == 3.0 and isinstance(cfg.inner.alpha, float)
        assert cfg.pair == (1.0, 2.0)

    def test_schema_types(self) -> None:
        assert "'algorithm.num_mini_batches' must be an integer" in _message(
            PPOCfg, {"num_mini_batches": "4"}, "algorithm"
        )
        assert "'obs_groups.actor' must be a list" in _message(RunnerCfg, {"obs_groups": {"actor": "policy"}}, "")
        assert "'seed'" in _message(RunnerCfg, {"seed": "1"}, "")
        assert "'actor.hidden_dims[1]'" in _message(MLPModelCfg, {"hidden_dims": [8, "x"]}, "actor")

    def test_validate_runs_with_path(self) -> None:
        assert "'root.count' must be >= 0" in _message(Outer, {"count": -1})
        assert "'algorithm.gamma'" in _message(PPOCfg, {"gamma": 1.5}, "algorithm")
        assert "'algorithm.desired_kl'" in _message(PPOCfg, {"desired_kl": None}, "algorithm")

    def test_non_mapping_input(self) -> None:
        assert "must be a mapping" in _message(PPOCfg, [("gamma", 0.9)], "algorithm")
        assert build(PPOCfg, None, "algorithm") == PPOCfg()


class TestLiterals:
    """String options accept only their Literal values and name them, with a suggestion."""

    def test_literal_options_listed_with_suggestion(self) -> None:
        msg = _message(PPOCfg, {"schedule": "adaptve"}, "algorithm")
        assert "'algorithm.schedule' must be one of ['adaptive', 'fixed', 'linear']" in msg
        assert "did you mean 'adaptive'" in msg

    def test_nested_literal(self) -> None:
        msg = _message(Outer, {"inner": {"mode": "slwo"}})
        assert "'root.inner.mode'" in msg and "['fast', 'slow']" in msg and "did you mean 'slow'" in msg

    def test_literal_accepts_valid(self) -> None:
        assert build(PPOCfg, {"optimizer": "sgd", "schedule": "fixed"}).optimizer == "sgd"
        assert "must be one of" in _message(PPOCfg, {"optimizer": "Adam"}, "algorithm")

    def test_optional_literal_lists_options(self) -> None:
        msg = _message(Outer, {"choice": "c"})
        assert "'root.choice'" in msg and "'a'" in msg and "'b'" in msg
        assert build(Outer, {"choice": None}).choice is None

    def test_optional_literal_keeps_suggestion(self) -> None:
        msg = _message(RunnerCfg, {"torch_compile_mode": "defualt"}, "")
        assert "did you mean 'default'" in msg


class TestNoMutation:
    """build never mutates its input and the result shares no mutable container with it."""

    def test_input_unchanged_and_not_aliased(self) -> None:
        data = {
            "inner": {"alpha": 2.0, "sizes": [3, 4]},
            "items": [{"sizes": [5]}],
            "extra": {"nested": {"list": [1, 2]}},
        }
        snapshot = copy.deepcopy(data)
        cfg = build(Outer, data, "root")
        assert data == snapshot
        cfg.inner.sizes.append(99)
        cfg.items[0].sizes.append(99)
        cfg.extra["nested"]["list"].append(99)
        cfg.extra["new"] = 1
        assert data == snapshot

    def test_failed_build_leaves_input_unchanged(self) -> None:
        data = {"inner": {"alpha": 2.0}, "count": -3}
        snapshot = copy.deepcopy(data)
        _message(Outer, data)
        assert data == snapshot

    def test_runner_sections_copied(self) -> None:
        data = {"actor": {"hidden_dims": [8]}, "obs_groups": {"actor": ["policy"]}}
        snapshot = copy.deepcopy(data)
        cfg = build(RunnerCfg, data)
        cfg.actor["hidden_dims"].append(1)
        cfg.obs_groups["actor"].append("x")
        assert data == snapshot

    def test_to_dict_round_trip(self) -> None:
        cfg = build(Outer, {"inner": {"alpha": 2.5, "mode": "slow"}, "items": [{"alpha": 0.5}], "count": 2})
        plain = to_dict(cfg)
        assert plain["inner"] == {"alpha": 2.5, "mode": "slow", "sizes": [1, 2]}
        assert build(Outer, plain) == cfg
