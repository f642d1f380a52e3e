"""R10: load-time mismatches are named key by key, old schemas migrate, partial loads restore exactly what is asked."""

from __future__ import annotations

import copy
import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from checkpoint_diff import differing_leaves, flatten_state
from tensordict import TensorDict
from torch import nn

from stride.env.tasks import make_task
from stride.env.vec_env import VecEnv
from stride.extensions.base import Extension
from stride.runners import OnPolicyRunner
from stride.utils.checkpoint import SCHEMA_VERSION, atomic_save
from stride.utils.errors import CheckpointError, ConfigError
from stride.utils.seeding import get_rng_state
from stride.utils.state_match import match_state_dict, optimizer_state_mismatches, state_dict_mismatches

NUM_ENVS = 8
_LINE = re.compile(r"^  - (\S+)", re.MULTILINE)


class _GroupsEnv(VecEnv):
    """A minimal env with configurable observation groups and action size (random observations, seeded)."""

    def __init__(self, groups: Mapping[str, int], num_actions: int = 1, seed: int = 0) -> None:
        self.num_envs, self.num_actions, self.max_episode_length = NUM_ENVS, num_actions, 20
        self.device = torch.device("cpu")
        self.cfg: dict[str, Any] = {}
        self.episode_length_buf = torch.zeros(NUM_ENVS, dtype=torch.long)
        self._groups = dict(groups)
        self._gen = torch.Generator().manual_seed(seed)
        self._obs = self._draw()

    def _draw(self) -> TensorDict:
        obs = {g: torch.randn(NUM_ENVS, n, generator=self._gen) for g, n in self._groups.items()}
        return TensorDict(obs, batch_size=[NUM_ENVS])

    def get_observations(self) -> TensorDict:
        return self._obs

    def step(self, actions: torch.Tensor) -> tuple[TensorDict, torch.Tensor, torch.Tensor, dict[str, Any]]:
        self.episode_length_buf += 1
        time_outs = self.episode_length_buf >= self.max_episode_length
        self.episode_length_buf.masked_fill_(time_outs, 0)
        self._obs = self._draw()
        rewards = -actions.square().sum(-1)
        return self._obs, rewards, time_outs, {"time_outs": time_outs}


class _FakeRnd(Extension):
    """Stands in for RND: an extension named ``rnd`` with tensor state and no effect on training."""

    name = "rnd"

    def __init__(self) -> None:
        self.state = {"predictor.weight": torch.full((8, 4), 0.5), "predictor.bias": torch.zeros(8)}

    def state_dict(self) -> dict[str, Any]:
        return {k: v.clone() for k, v in self.state.items()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.state = {k: v.clone() for k, v in state.items()}


class _BrokenRnd(_FakeRnd):
    """An extension whose own load fails with a plain KeyError."""

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        raise KeyError("predictor.scale")


def _cfg(
    seed: int = 3,
    hidden: tuple[int, ...] = (16, 16),
    actor_groups: tuple[str, ...] = ("policy",),
    obs_norm: bool = False,
    std_type: str = "scalar",
    value_norm: bool = False,
) -> dict[str, Any]:
    return {
        "num_steps_per_env": 8,
        "seed": seed,
        "obs_groups": {"actor": list(actor_groups), "critic": ["policy"]},
        "algorithm": {"num_learning_epochs": 1, "num_mini_batches": 2, "value_normalization": value_norm},
        "actor": {
            "hidden_dims": list(hidden),
            "obs_normalization": obs_norm,
            "distribution_cfg": {"class_name": "GaussianDistribution", "init_std": 1.0, "std_type": std_type},
        },
        "critic": {"hidden_dims": list(hidden)},
    }


def _runner(
    cfg: dict[str, Any], groups: Mapping[str, int] | None = None, num_actions: int = 1, seed: int = 0
) -> OnPolicyRunner:
    env = _GroupsEnv(groups or {"policy": 4, "extra": 3}, num_actions, seed)
    return OnPolicyRunner(env, cfg, log_dir=None)


def _trained_checkpoint(runner: OnPolicyRunner, path: Path, iterations: int = 1) -> str:
    runner.learn(iterations)
    runner.save(str(path))
    return str(path)


def _listed(err: pytest.ExceptionInfo[CheckpointError]) -> list[str]:
    """Keys listed in a mismatch message, in order."""
    return _LINE.findall(str(err.value))


def _models(runner: OnPolicyRunner) -> dict[str, Any]:
    alg = runner.alg
    return flatten_state({"a": alg.actor.state_dict(), "c": alg.critic.state_dict(), "o": alg.optimizer.state_dict()})


def _load_raises(runner: OnPolicyRunner, path: str, strict: bool = True) -> pytest.ExceptionInfo[CheckpointError]:
    """Load must raise, name the file, and leave every model and optimizer tensor untouched."""
    before = _models(runner)
    with pytest.raises(CheckpointError) as err:
        runner.load(path, strict=strict)
    assert f"'{path}'" in str(err.value)
    assert not differing_leaves(before, _models(runner)), "a failed load changed the models"
    return err


class TestMismatchListing:
    """Every mismatched key is listed with the checkpoint's and the model's shape, and nothing is loaded."""

    def test_obs_group_added_and_removed(self, tmp_path: Path) -> None:
        small = _trained_checkpoint(_runner(_cfg(obs_norm=True)), tmp_path / "small.pt")
        large = _trained_checkpoint(_runner(_cfg(actor_groups=("policy", "extra"), obs_norm=True)), tmp_path / "l.pt")
        added = _load_raises(_runner(_cfg(actor_groups=("policy", "extra"), obs_norm=True)), small)
        assert _listed(added) == [
            "actor.obs_normalizer._mean:",
            "actor.obs_normalizer._var:",
            "actor.obs_normalizer._std:",
            "actor.mlp.0.weight:",
            "optimizer.actor.mlp.0.weight.exp_avg:",
            "optimizer.actor.mlp.0.weight.exp_avg_sq:",
        ]
        message = str(added.value)
        assert "actor.mlp.0.weight: checkpoint shape (16, 4) vs model shape (16, 7)" in message
        assert "actor.obs_normalizer._mean: checkpoint shape (1, 4) vs model shape (1, 7)" in message
        assert "optimizer.actor.mlp.0.weight.exp_avg: checkpoint shape (16, 4) vs parameter shape (16, 7)" in message
        removed = _load_raises(_runner(_cfg(obs_norm=True)), large)
        assert len(_listed(removed)) == 6
        assert "actor.mlp.0.weight: checkpoint shape (16, 7) vs model shape (16, 4)" in str(removed.value)

    def test_hidden_dims_change(self, tmp_path: Path) -> None:
        path = _trained_checkpoint(_runner(_cfg()), tmp_path / "m.pt")
        err = _load_raises(_runner(_cfg(hidden=(16, 32))), path)
        listed = _listed(err)
        for model in ("actor", "critic"):
            for key, ckpt, live in (
                ("mlp.2.weight", (16, 16), (32, 16)),
                ("mlp.2.bias", (16,), (32,)),
                ("mlp.4.weight", (1, 16), (1, 32)),
            ):
                assert f"{model}.{key}: checkpoint shape {ckpt} vs model shape {live}" in str(err.value)
                assert f"optimizer.{model}.{key}.exp_avg:" in listed
        assert len(listed) == 3 * 2 + 3 * 2 * 2  # 3 tensors per model + exp_avg/exp_avg_sq of each

    def test_mlp_vs_gru(self, tmp_path: Path) -> None:
        mlp = _trained_checkpoint(_runner(_cfg()), tmp_path / "mlp.pt")
        gru_cfg = _cfg()
        gru_cfg["actor"].update(class_name="RNNModel", rnn_type="gru", rnn_hidden_dim=8)
        gru_runner = _runner(gru_cfg)
        err = _load_raises(gru_runner, mlp)
        message = str(err.value)
        # the GRU's recurrent weights are missing from the MLP checkpoint, and its head's input differs
        for key in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
            assert f"actor.rnn.rnn.{key}" in message
        assert "actor.mlp.0.weight: checkpoint shape (16, 4) vs model shape (16, 8)" in message
        # and the other way round: a GRU checkpoint into an MLP runner lists the unexpected recurrent keys
        gru = _trained_checkpoint(_runner(gru_cfg), tmp_path / "gru.pt")
        back = str(_load_raises(_runner(_cfg()), gru).value)
        assert "actor.rnn.rnn.weight_ih_l0" in back
        assert "actor.mlp.0.weight: checkpoint shape (16, 8) vs model shape (16, 4)" in back

    def test_action_dim_change(self, tmp_path: Path) -> None:
        path = _trained_checkpoint(_runner(_cfg()), tmp_path / "m.pt")
        err = _load_raises(_runner(_cfg(), num_actions=2), path)
        message = str(err.value)
        assert "actor.distribution.std_param: checkpoint shape (1,) vs model shape (2,)" in message
        assert "actor.mlp.4.weight: checkpoint shape (1, 16) vs model shape (2, 16)" in message
        assert "actor.mlp.4.bias: checkpoint shape (1,) vs model shape (2,)" in message
        assert not any(key.startswith("critic.") for key in _listed(err))

    @pytest.mark.parametrize("saved_on", [False, True])
    def test_obs_normalization_on_vs_off(self, tmp_path: Path, saved_on: bool) -> None:
        path = _trained_checkpoint(_runner(_cfg(obs_norm=saved_on)), tmp_path / "m.pt")
        target = _runner(_cfg(obs_norm=not saved_on, seed=9))
        err = _load_raises(target, path)
        side = "in the checkpoint but not in the model" if saved_on else "missing from the checkpoint"
        keys = ["_mean", "_var", "_std", "count"]
        assert _listed(err) == [f"actor.obs_normalizer.{k}" for k in keys]
        assert str(err.value).count(side) == 4
        # strict=False loads everything else
        target.load(path, strict=False)
        saved = torch.load(path, weights_only=True)
        assert not differing_leaves(
            {k: v for k, v in saved["actor_state_dict"].items() if "obs_normalizer" not in k},
            {k: v for k, v in target.alg.actor.state_dict().items() if "obs_normalizer" not in k},
        )
        assert not differing_leaves(saved["optimizer_state_dict"]["state"], target.alg.optimizer.state_dict()["state"])

    def test_gaussian_scalar_vs_log_std(self, tmp_path: Path) -> None:
        path = _trained_checkpoint(_runner(_cfg(std_type="scalar")), tmp_path / "m.pt")
        target = _runner(_cfg(std_type="log", seed=9))
        err = _load_raises(target, path)
        assert _listed(err) == ["actor.distribution.log_std_param", "actor.distribution.std_param"]
        assert "actor.distribution.log_std_param (model shape (1,)): expected by the model but missing" in str(
            err.value
        )
        assert "actor.distribution.std_param (checkpoint shape (1,)): in the checkpoint but not" in str(err.value)

    def test_value_normalization_on_vs_off(self, tmp_path: Path) -> None:
        path = _trained_checkpoint(_runner(_cfg(value_norm=True)), tmp_path / "m.pt")
        err = _load_raises(_runner(_cfg(value_norm=False)), path)
        assert "algorithm.value_normalization is off here" in str(err.value)
        back = _trained_checkpoint(_runner(_cfg(value_norm=False)), tmp_path / "n.pt")
        err = _load_raises(_runner(_cfg(value_norm=True)), back)
        assert "algorithm.value_normalization is on but the checkpoint has no 'value_normalizer_state_dict'" in str(
            err.value
        )


class TestExtensionStates:
    """A checkpoint with RND-like extension state: strict lists every extra key, strict=False loads the rest."""

    @pytest.mark.parametrize("layout", ["stride", "rsl_rl"])
    def test_rnd_state_into_plain_ppo(self, tmp_path: Path, layout: str) -> None:
        source = _runner(_cfg())
        source.alg.extensions.append(_FakeRnd())
        path = _trained_checkpoint(source, tmp_path / "m.pt")
        data = torch.load(path, weights_only=True)
        assert set(data["extensions"]) == {"rnd"}
        prefix = "extensions.rnd"
        if layout == "rsl_rl":  # rsl_rl keeps RND at the top level
            data["rnd_state_dict"] = data.pop("extensions")["rnd"]
            atomic_save(data, path)
            prefix = "rnd_state_dict"
        target = _runner(_cfg(seed=9))
        err = _load_raises(target, path)
        assert _listed(err) == [f"{prefix}.predictor.weight", f"{prefix}.predictor.bias"]
        assert (
            f"{prefix}.predictor.weight (checkpoint shape (8, 4)): in the checkpoint but the algorithm has no 'rnd'"
            in (str(err.value))
        )
        target.load(path, strict=False)
        assert not differing_leaves(data["actor_state_dict"], target.alg.actor.state_dict())
        assert not differing_leaves(data["critic_state_dict"], target.alg.critic.state_dict())
        assert not differing_leaves(data["optimizer_state_dict"], target.alg.optimizer.state_dict())

    def test_missing_extension_state_is_listed(self, tmp_path: Path) -> None:
        path = _trained_checkpoint(_runner(_cfg()), tmp_path / "m.pt")
        target = _runner(_cfg())
        target.alg.extensions.append(_FakeRnd())
        err = _load_raises(target, path)
        assert "extensions.rnd: the algorithm has this extension but the checkpoint has no state for it" in str(
            err.value
        )

    def test_extension_load_error_is_wrapped(self, tmp_path: Path) -> None:
        source = _runner(_cfg())
        source.alg.extensions.append(_FakeRnd())
        path = _trained_checkpoint(source, tmp_path / "m.pt")
        target = _runner(_cfg())
        target.alg.extensions.append(_BrokenRnd())
        with pytest.raises(CheckpointError, match=r"cannot load checkpoint '.*m\.pt' \(KeyError: 'predictor.scale'\)"):
            target.load(path)


class TestSchemaVersion:
    """Old or missing schema_version migrates with a warning and loads; a future one asks to upgrade stride."""

    @pytest.mark.parametrize("version", [0, None])
    def test_old_schema_migrates(self, tmp_path: Path, version: int | None) -> None:
        path = _trained_checkpoint(_runner(_cfg()), tmp_path / "m.pt")
        data = torch.load(path, weights_only=True)
        assert data["schema_version"] == SCHEMA_VERSION == 1
        if version is None:
            del data["schema_version"]
        else:
            data["schema_version"] = version
        atomic_save(data, path)
        target = _runner(_cfg(seed=9))
        assert differing_leaves(data["actor_state_dict"], target.alg.actor.state_dict())
        with pytest.warns(UserWarning, match="migrated") as record:
            target.load(path)
        found = "no schema_version" if version is None else "schema_version 0"
        assert any(found in str(w.message) and f"'{path}'" in str(w.message) for w in record)
        assert not differing_leaves(data["actor_state_dict"], target.alg.actor.state_dict())
        assert not differing_leaves(data["optimizer_state_dict"], target.alg.optimizer.state_dict())
        assert target.current_learning_iteration == 1

    def test_rsl_rl_layout_without_schema_is_converted(self, tmp_path: Path) -> None:
        source = _runner(_cfg())
        path = _trained_checkpoint(source, tmp_path / "m.pt")
        data = torch.load(path, weights_only=True)
        # rsl_rl 4.x layout: the Gaussian std sits on the actor as 'std'; no schema_version, no stride extras
        actor = {("std" if k == "distribution.std_param" else k): v for k, v in data["actor_state_dict"].items()}
        legacy = {k: data[k] for k in ("critic_state_dict", "optimizer_state_dict", "iter", "infos")}
        atomic_save({**legacy, "actor_state_dict": actor}, path)
        target = _runner(_cfg(seed=9))
        with pytest.warns(UserWarning, match=r"no schema_version .* rsl_rl 4\.x checkpoint converted"):
            target.load(path)
        assert not differing_leaves(data["actor_state_dict"], target.alg.actor.state_dict())
        assert not differing_leaves(data["optimizer_state_dict"]["state"], target.alg.optimizer.state_dict()["state"])

    def test_current_schema_loads_without_warning(self, tmp_path: Path) -> None:
        path = _trained_checkpoint(_runner(_cfg()), tmp_path / "m.pt")
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            _runner(_cfg()).load(path)

    @pytest.mark.parametrize(("version", "match"), [(99, "Upgrade stride"), ("1", "expected an int")])
    def test_future_or_bad_schema_is_refused(self, tmp_path: Path, version: object, match: str) -> None:
        path = _trained_checkpoint(_runner(_cfg()), tmp_path / "m.pt")
        data = torch.load(path, weights_only=True)
        data["schema_version"] = version
        atomic_save(data, path)
        err = _load_raises(_runner(_cfg(seed=9)), path)
        assert match in str(err.value)
        if version == 99:
            assert "schema_version 99" in str(err.value) and f"schema_version {SCHEMA_VERSION} and older" in str(
                err.value
            )


_PARTS = ("actor", "critic", "optimizer", "iteration", "rng", "env")


def _snapshot(runner: OnPolicyRunner) -> dict[str, Any]:
    """The state of every loadable part of a runner (copies)."""
    alg = runner.alg
    assert alg.value_normalizer is not None
    rng = get_rng_state()
    return {
        "actor": flatten_state(alg.actor.state_dict()),
        "critic": flatten_state({"c": alg.critic.state_dict(), "v": alg.value_normalizer.state_dict()}),
        "optimizer": flatten_state({"o": copy.deepcopy(alg.optimizer.state_dict()), "lr": alg.learning_rate}),
        "iteration": flatten_state(
            {
                "it": runner.current_learning_iteration,
                "steps": runner.total_env_steps,
                "ret": runner._ep_return,
                "len": runner._ep_length,
            }
        ),
        "rng": flatten_state({"python": rng["python"], "numpy": rng["numpy"], "torch": rng["torch"]}),
        "env": flatten_state(runner.env.state_dict()),  # type: ignore[attr-defined]
    }


class TestPartialLoad:
    """load_cfg restores exactly the requested parts, bit for bit, and leaves every other part unchanged."""

    @pytest.mark.parametrize("part", _PARTS)
    def test_single_part(self, tmp_path: Path, part: str) -> None:
        cfg = _cfg(value_norm=True)
        source = OnPolicyRunner(make_task("cartpole", num_envs=NUM_ENVS, seed=1), cfg, log_dir=None)
        source.learn(2)
        path = str(tmp_path / "m.pt")
        source.save(path)
        saved = _snapshot(source)  # the global generators are still those the checkpoint holds
        torch.manual_seed(12345)
        np.random.seed(54321)
        target = OnPolicyRunner(make_task("cartpole", num_envs=NUM_ENVS, seed=2), _cfg(value_norm=True, seed=8))
        target.learn(1)
        before = _snapshot(target)
        for name in _PARTS:  # not vacuous: every part differs before the load
            assert differing_leaves(before[name], saved[name]), name
        target.load(path, load_cfg={name: name == part for name in _PARTS})
        after = _snapshot(target)
        for name in _PARTS:
            expected = saved if name == part else before
            assert not differing_leaves(after[name], expected[name]), f"load_cfg {part} only: part {name} is wrong"

    def test_all_parts_by_default_and_unknown_part(self, tmp_path: Path) -> None:
        source = OnPolicyRunner(make_task("cartpole", num_envs=NUM_ENVS, seed=1), _cfg(value_norm=True))
        source.learn(1)
        path = str(tmp_path / "m.pt")
        source.save(path)
        saved = _snapshot(source)
        target = OnPolicyRunner(make_task("cartpole", num_envs=NUM_ENVS, seed=2), _cfg(value_norm=True, seed=8))
        target.load(path)
        after = _snapshot(target)
        assert all(not differing_leaves(after[name], saved[name]) for name in _PARTS)
        with pytest.raises(ConfigError, match=r"unknown parts \['actr'\]"):
            target.load(path, load_cfg={"actr": True})

    def test_per_env_state_of_other_num_envs_is_skipped(self, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
        source = OnPolicyRunner(make_task("cartpole", num_envs=NUM_ENVS, seed=1), _cfg(), log_dir=None)
        source.learn(1)
        path = str(tmp_path / "m.pt")
        source.save(path)
        env = make_task("cartpole", num_envs=2 * NUM_ENVS, seed=1)
        env_state = env.state_dict()
        target = OnPolicyRunner(env, _cfg(), log_dir=None)
        with caplog.at_level("INFO", logger="stride.runners.base_runner"):
            target.load(path)  # play scripts load with other env counts: the models load, per-env state is skipped
        assert f"checkpoint made with {NUM_ENVS} envs, this runner has {2 * NUM_ENVS}" in caplog.text
        saved = torch.load(path, weights_only=True)
        assert not differing_leaves(saved["actor_state_dict"], target.alg.actor.state_dict())
        assert target.current_learning_iteration == 1
        assert not differing_leaves(env_state, env.state_dict())  # the task's own state was not replaced


class TestStateMatchHelpers:
    """match_state_dict and optimizer_state_mismatches report every problem before anything loads."""

    def test_match_state_dict_lists_everything(self) -> None:
        module = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
        state = {k: v.clone() for k, v in module.state_dict().items()}
        state["0.weight"] = torch.zeros(5, 3)
        del state["1.bias"]
        state["2.weight"] = torch.zeros(1)
        with pytest.raises(CheckpointError) as err:
            match_state_dict(module, state, strict=True, what="actor")
        assert _listed(err) == ["actor.0.weight:", "actor.1.bias", "actor.2.weight"]
        assert "actor.0.weight: checkpoint shape (5, 3) vs model shape (4, 3)" in str(err.value)
        # strict=False still refuses the shape mismatch, and only that
        assert state_dict_mismatches(module.state_dict(), state, False, "actor") == [
            "actor.0.weight: checkpoint shape (5, 3) vs model shape (4, 3)"
        ]
        assert state_dict_mismatches(module.state_dict(), None, True, "critic") == [
            "critic: the checkpoint holds nothing under 'critic_state_dict', expected a state dict"
        ]
        match_state_dict(module, module.state_dict(), strict=True, what="actor")  # equal state: no error

    def test_optimizer_moment_shape_is_caught_where_torch_is_silent(self) -> None:
        small, large = nn.Linear(3, 4), nn.Linear(3, 4)
        opt_small = torch.optim.Adam(small.parameters())
        small(torch.ones(1, 3)).sum().backward()
        opt_small.step()
        state = copy.deepcopy(opt_small.state_dict())
        state["state"][0]["exp_avg"] = torch.zeros(2, 3)  # a moment of another shape
        opt_large = torch.optim.Adam(large.parameters())
        torch.optim.Adam(large.parameters()).load_state_dict(copy.deepcopy(state))  # torch accepts it silently
        problems = optimizer_state_mismatches(opt_large, state, "optimizer", ["weight", "bias"])
        assert problems == ["optimizer.weight.exp_avg: checkpoint shape (2, 3) vs parameter shape (4, 3)"]
        state["param_groups"][0]["params"] = [0]
        assert (
            "covers 1 parameters in the checkpoint and 2 in the optimizer"
            in optimizer_state_mismatches(opt_large, state)[0]
        )
