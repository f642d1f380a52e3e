"""check_env: every broken env of the zoo is rejected naming its field; correct envs pass (R01)."""

from __future__ import annotations

import importlib.util
import random
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
import torch
from tensordict import TensorDict

from stride.env.checker import CheckReport, check_env, check_env_target
from stride.env.tasks import CartPole, list_tasks, make_task, task_class
from stride.utils.errors import ConfigError, EnvContractError

_ZOO_MODULE = "stride_tests_broken_envs"


def _load_zoo() -> ModuleType:
    """Import tests/env/broken_envs.py under a fixed name (tests are not a package; importable as module:factory)."""
    if _ZOO_MODULE in sys.modules:
        return sys.modules[_ZOO_MODULE]
    spec = importlib.util.spec_from_file_location(_ZOO_MODULE, Path(__file__).with_name("broken_envs.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[_ZOO_MODULE] = module
    spec.loader.exec_module(module)
    return module


bz: Any = _load_zoo()

# claiming "cuda" fails at `device` where this build cannot allocate on CUDA, else at the first tensor on the CPU
_CUDA_FIELD = "episode_length_buf" if torch.cuda.is_available() else "device"

ZOO: list[tuple[str, Callable[[], Any], str]] = [
    # (name, factory, field the message must name)
    ("num_envs_zero", bz.NumEnvsZero, "num_envs"),
    ("max_episode_length_zero", bz.MaxEpisodeLengthZero, "max_episode_length"),
    ("max_episode_length_negative_tensor", bz.MaxEpisodeLengthNegativeTensor, "max_episode_length"),
    ("missing_episode_length_buf", bz.MissingEpisodeLengthBuf, "episode_length_buf"),
    ("int32_episode_length_buf", bz.Int32EpisodeLengthBuf, "episode_length_buf"),
    ("read_only_episode_length_buf", bz.ReadOnlyEpisodeLengthBuf, "episode_length_buf"),
    ("wrapper_ignores_episode_length_buf", bz.ForwardingWrapper, "episode_length_buf"),
    ("claims_cuda_tensors_on_cpu", bz.ClaimsCuda, _CUDA_FIELD),
    ("plain_dict_obs", bz.PlainDictObs, "obs"),
    ("no_obs_groups", bz.NoObsGroups, "obs"),
    ("nested_tensordict_group", bz.NestedGroup, "obs['critic']"),
    ("string_group", bz.StringGroup, "obs['task']"),
    ("wrong_batch_dim_in_group", bz.WrongBatchDimGroup, "obs['critic']"),
    ("batch_size_mismatch", bz.BatchSizeMismatch, "obs.batch_size"),
    ("one_dim_group", bz.OneDimGroup, "obs['speed']"),
    ("empty_group", bz.EmptyGroup, "obs['contacts']"),
    ("float64_obs", bz.Float64Obs, "obs['policy']"),
    ("obs_on_meta_device", bz.MetaDeviceObs, "obs['policy']"),
    ("nan_obs_at_reset", bz.NaNObsAtReset, "obs['policy']"),
    ("nan_obs_at_step", bz.NaNObsAtStep, "obs['critic']"),
    ("group_missing_at_step", bz.GroupMissingAtStep, "obs"),
    ("same_buffer_mutated_in_place", bz.InPlaceObsBuffer, "obs['policy']"),
    ("same_tensordict_entries_replaced", bz.SameTensorDictReplaced, "obs['policy']"),
    ("wrong_action_dim", bz.WrongActionDim, "num_actions"),
    ("three_tuple", bz.ThreeTuple, "step()"),
    ("gymnasium_five_tuple", bz.GymnasiumFiveTuple, "step()"),
    ("reward_n_by_1", bz.RewardN1, "rewards"),
    ("int_reward", bz.IntReward, "rewards"),
    ("inf_reward", bz.InfReward, "rewards"),
    ("rewards_on_meta_device", bz.MetaDeviceRewards, "rewards"),
    ("dones_outside_0_1", bz.DonesOutside01, "dones"),
    ("dones_n_by_1", bz.DonesN1, "dones"),
    ("extras_none", bz.ExtrasNone, "extras"),
    ("time_outs_without_done", bz.TimeOutsWithoutDone, "extras['time_outs']"),
    ("time_outs_outside_0_1", bz.TimeOutsHalf, "extras['time_outs']"),
    ("final_obs_missing_group", bz.FinalObsMissingGroup, "extras['final_obs']"),
    ("final_obs_wrong_shape", bz.FinalObsWrongShape, "extras['final_obs']['critic']"),
    ("final_obs_nan_in_done_env", bz.FinalObsNaNInDoneEnv, "extras['final_obs']['policy']"),
    ("log_not_a_dict", bz.LogNotADict, "extras['log']"),
]

ZOO_NAMES: tuple[str, ...] = tuple(name for name, _, _ in ZOO)
"""Names of the broken envs every run of this module rejects."""

# the cases RELIABILITY.md R01 lists by name (plus the ones the checker's brief adds)
_REQUIRED = {
    "wrong_batch_dim_in_group",
    "no_obs_groups",
    "nested_tensordict_group",
    "wrong_action_dim",
    "reward_n_by_1",
    "int_reward",
    "dones_outside_0_1",
    "time_outs_without_done",
    "obs_on_meta_device",
    "claims_cuda_tensors_on_cpu",
    "float64_obs",
    "same_buffer_mutated_in_place",
    "three_tuple",
    "max_episode_length_zero",
    "missing_episode_length_buf",
    "nan_obs_at_reset",
    "inf_reward",
    "batch_size_mismatch",
    "final_obs_missing_group",
}

_MESSAGE = re.compile(r"^check_env: (?P<field>\S+)( \((?P<where>.+?)\))?: expected .+, got .+\. Fix: .+", re.DOTALL)


def _rejection(env: Any) -> re.Match[str]:
    with pytest.raises(EnvContractError) as info:
        check_env(env)
    match = _MESSAGE.match(str(info.value))
    assert match is not None, f"message not in the house format: {info.value}"
    return match


class TestZoo:
    """Each broken env is rejected with EnvContractError naming exactly its broken field, expected, got and fix."""

    def test_zoo_is_large_and_covers_r01(self) -> None:
        assert len(ZOO_NAMES) >= 15
        assert len(set(ZOO_NAMES)) == len(ZOO_NAMES)
        assert set(ZOO_NAMES) >= _REQUIRED, _REQUIRED - set(ZOO_NAMES)

    def test_every_zoo_class_is_used(self) -> None:
        classes = {v for k, v in vars(bz).items() if isinstance(v, type) and v.__module__ == _ZOO_MODULE}
        used = {factory for _, factory, _ in ZOO}
        assert classes - used == {bz.GoodEnv}

    def test_good_env_passes(self) -> None:
        # the zoo's common base is correct, so each rejection below comes from the one thing its class changes
        report = check_env(bz.GoodEnv())
        assert report.groups == {"policy": (4, 3), "critic": (4, 4)}
        assert (report.num_envs, report.num_actions, report.max_episode_length) == (4, 2, 3)
        assert report.has_time_outs and report.has_final_obs and not report.restored

    @pytest.mark.parametrize(("name", "factory", "field"), ZOO, ids=ZOO_NAMES)
    def test_rejected_naming_the_field(self, name: str, factory: Callable[[], Any], field: str) -> None:
        match = _rejection(factory())
        assert match["field"] == field, f"{name}: {match.string}"


class TestMessages:
    """Messages carry the numbers a user needs: env indices, values, shapes, and the chained cause."""

    def test_nan_at_reset_names_event_env_and_kind(self) -> None:
        match = _rejection(bz.NaNObsAtReset())
        assert match["where"] == "get_observations()"
        assert "NaN in 1 env(s) [2]" in match.string

    def test_nan_at_step_names_the_step(self) -> None:
        match = _rejection(bz.NaNObsAtStep())
        assert match["where"] == "step 2"
        assert "NaN in 1 env(s) [1]" in match.string

    def test_time_outs_without_done_lists_envs(self) -> None:
        # env 2 starts one step before its time limit: it times out at step 1 while dones only hold terminations
        match = _rejection(bz.TimeOutsWithoutDone())
        assert match["where"] == "step 1"
        assert "[2]" in match.string

    def test_reward_shape_and_fix(self) -> None:
        match = _rejection(bz.RewardN1())
        assert "shape (4, 1)" in match.string and "squeeze(-1)" in match.string

    def test_int_reward_names_dtype(self) -> None:
        assert "torch.int64" in _rejection(bz.IntReward()).string

    def test_float64_names_dtype(self) -> None:
        match = _rejection(bz.Float64Obs())
        assert "expected dtype torch.float32, got torch.float64" in match.string

    def test_dones_values_listed(self) -> None:
        assert "values [2]" in _rejection(bz.DonesOutside01()).string

    def test_in_place_mutation_names_both_steps(self) -> None:
        match = _rejection(bz.InPlaceObsBuffer())
        assert match["where"] == "get_observations()"
        assert "overwritten in place by step 1" in match.string

    def test_wrong_action_dim_chains_the_env_error(self) -> None:
        with pytest.raises(EnvContractError) as info:
            check_env(bz.WrongActionDim())
        assert "(4, 3)" in str(info.value)
        assert isinstance(info.value.__cause__, RuntimeError)

    def test_five_tuple_suggests_gymnasium_conversion(self) -> None:
        assert "terminated | truncated" in _rejection(bz.GymnasiumFiveTuple()).string

    def test_wrapper_reports_assigned_and_observed_lengths(self) -> None:
        match = _rejection(bz.ForwardingWrapper())
        assert match["where"] == "step 3"
        assert "no private copy" in match.string


class TestAcceptedVariants:
    """Legitimate variations of the contract pass (no false positives)."""

    @pytest.mark.parametrize("dtype", [torch.bool, torch.uint8, torch.long, torch.float32])
    def test_dones_and_time_outs_dtypes(self, dtype: torch.dtype) -> None:
        class Env(bz.GoodEnv):
            def pack(self, obs, rewards, dones, terminated, time_outs, final_obs) -> Any:
                return super().pack(obs, rewards, dones.to(dtype), terminated, time_outs.to(dtype), final_obs)

        assert check_env(Env()).has_time_outs

    def test_minimal_extras(self) -> None:
        class Env(bz.GoodEnv):
            def pack(self, obs, rewards, dones, terminated, time_outs, final_obs) -> Any:
                return obs, rewards, dones, {}

        report = check_env(Env())
        assert not report.has_time_outs and not report.has_final_obs

    def test_float64_rewards_and_tuple_as_list(self) -> None:
        class Env(bz.GoodEnv):
            def pack(self, obs, rewards, dones, terminated, time_outs, final_obs) -> Any:
                return list(super().pack(obs, rewards.double(), dones, terminated, time_outs, final_obs))

        check_env(Env())

    @pytest.mark.parametrize("limit", [torch.tensor([3, 4, 5, 3]), torch.tensor(3.0), 3.0])
    def test_max_episode_length_forms(self, limit: Any) -> None:
        env = bz.GoodEnv()
        env.max_episode_length = limit
        assert check_env(env).max_episode_length == 3

    def test_image_group(self) -> None:
        class Env(bz.GoodEnv):
            def observe(self) -> TensorDict:
                obs = super().observe()
                obs["camera"] = self.pos[:, :1, None, None].expand(-1, 3, 8, 8).clone()
                return obs

        assert check_env(Env()).groups["camera"] == (4, 3, 8, 8)

    def test_nan_in_final_obs_of_running_envs_is_allowed(self) -> None:
        # final_obs rows of envs that are not done are unspecified by the contract
        class Env(bz.GoodEnv):
            def pack(self, obs, rewards, dones, terminated, time_outs, final_obs) -> Any:
                final_obs["policy"][~dones] = float("nan")
                return super().pack(obs, rewards, dones, terminated, time_outs, final_obs)

        check_env(Env())

    @pytest.mark.parametrize("num_steps", [1, 2, 10])
    def test_num_steps(self, num_steps: int) -> None:
        assert check_env(bz.GoodEnv(), num_steps=num_steps).num_steps == num_steps

    def test_single_env_with_limit_one(self) -> None:
        # every step times out: the writability check has no running env to compare and must not complain
        check_env(bz.GoodEnv(num_envs=1, max_episode_length=1))


class TestBuiltinTasks:
    """Every registered task passes, fast, and its report matches the task's declared groups."""

    @pytest.mark.parametrize("name", list_tasks())
    def test_passes_under_a_second(self, name: str) -> None:
        env = make_task(name, num_envs=16)
        start = time.perf_counter()
        report = check_env(env)
        wall = time.perf_counter() - start
        assert wall < 1.0 and report.seconds < 1.0
        sizes = task_class(name).observation_sizes
        shapes = {group: (16, *size) if isinstance(size, tuple) else (16, size) for group, size in sizes.items()}
        assert report.groups == shapes
        assert report.num_actions == task_class(name).action_size
        assert report.has_time_outs and report.has_final_obs and report.restored

    @pytest.mark.parametrize("name", list_tasks())
    def test_device_argument(self, name: str) -> None:
        check_env(make_task(name, num_envs=2), device="cpu")
        with pytest.raises(EnvContractError, match=r"^check_env: device: expected the env on meta"):
            check_env(make_task(name, num_envs=2), device="meta")

    def test_summary_mentions_groups(self) -> None:
        text = check_env(make_task("cartpole", num_envs=2)).summary()
        assert "policy (2, 4)" in text and "time_outs yes" in text


class TestRandomStreams:
    """check_env draws from its own generator: the global torch, numpy and random streams are untouched."""

    def test_global_streams_unchanged(self) -> None:
        def draws() -> tuple[torch.Tensor, float, float]:
            return torch.rand(5), float(np.random.random()), random.random()

        def seed_all() -> None:
            torch.manual_seed(123)
            np.random.seed(123)
            random.seed(123)

        seed_all()
        expected = draws()
        seed_all()
        state = torch.get_rng_state()
        for name in list_tasks():
            check_env(make_task(name, num_envs=8))
        check_env(bz.GoodEnv())
        assert torch.equal(torch.get_rng_state(), state)
        got = draws()
        assert torch.equal(got[0], expected[0]) and got[1:] == expected[1:]

    def test_seed_changes_actions(self) -> None:
        # non-vacuity: the actions really come from the seeded private generator
        ends = []
        for seed in (0, 0, 1):
            env = bz.GoodEnv()
            check_env(env, seed=seed)
            ends.append(env.pos.clone())
        assert torch.equal(ends[0], ends[1]) and not torch.equal(ends[0], ends[2])


def _step_fixed(env: Any, steps: int = 20) -> list[torch.Tensor]:
    out = []
    for k in range(steps):
        actions = torch.full((env.num_envs, env.num_actions), 0.05 * k - 0.5)
        obs, rewards, dones, _ = env.step(actions)
        out += [obs["policy"], rewards, dones, env.episode_length_buf.clone()]
    return out


class TestRestore:
    """Envs with state_dict are left exactly as before the check (also after a failure), so training is unchanged."""

    @pytest.mark.parametrize("name", list_tasks())
    def test_state_and_trajectory_unchanged(self, name: str) -> None:
        checked, twin = make_task(name, num_envs=8, seed=3), make_task(name, num_envs=8, seed=3)
        buf = checked.episode_length_buf
        check_env(checked)
        assert checked.episode_length_buf is buf
        for key, value in twin.state_dict().items():
            assert torch.equal(checked.state_dict()[key], value), key
        for a, b in zip(_step_fixed(checked), _step_fixed(twin), strict=True):
            assert torch.equal(a, b)

    def test_without_restore_the_env_moves(self) -> None:
        # non-vacuity of the test above: the check does step the env (3 steps further on, real lengths kept)
        env, twin = make_task("pendulum", num_envs=8), make_task("pendulum", num_envs=8)
        assert not check_env(env, restore=False).restored
        assert torch.equal(env.episode_length_buf, twin.episode_length_buf + 3)
        assert not torch.equal(env.state_dict()["state"], twin.state_dict()["state"])

    @pytest.mark.parametrize("limit", [50, 4])
    def test_random_lengths_undone_without_state_dict(self, limit: int) -> None:
        # regression: an env without state_dict (e.g. the Gymnasium adapter) kept the random episode lengths the
        # check assigns, so every first training episode was truncated at a random step
        class Counting(bz.GoodEnv):
            def __init__(self) -> None:
                super().__init__(num_envs=6, max_episode_length=limit)
                self.true_length = self.episode_length_buf.clone()

            def step(self, actions: torch.Tensor) -> Any:
                out = super().step(actions)
                self.true_length = torch.where(out[2], 0, self.true_length + 1)
                return out

        env = Counting()
        assert not hasattr(env, "state_dict")
        check_env(env)
        assert torch.equal(env.episode_length_buf, env.true_length)
        assert int(env.true_length.max()) > 0

    def test_restored_after_a_failure(self) -> None:
        class BadCartPole(CartPole):
            def step(self, actions: torch.Tensor) -> Any:
                obs, rewards, dones, extras = super().step(actions)
                return obs, rewards.unsqueeze(-1), dones, extras

        env, twin = BadCartPole(num_envs=8), CartPole(num_envs=8)
        with pytest.raises(EnvContractError, match="rewards"):
            check_env(env)
        for key, value in twin.state_dict().items():
            assert torch.equal(env.state_dict()[key], value), key

    def test_inside_inference_mode(self) -> None:
        # the runner may call it under inference_mode; the env must still train normally afterwards
        env = make_task("cartpole", num_envs=4)
        with torch.inference_mode():
            check_env(env)
        env.episode_length_buf += 1
        env.step(torch.zeros(4, 1))
        assert not env.episode_length_buf.is_inference()


class TestCheckEnvTarget:
    """The CLI entry point builds a task by name or calls module:factory, then checks it."""

    @pytest.mark.parametrize("name", list_tasks())
    def test_task_by_name(self, name: str) -> None:
        report = check_env_target(name, num_envs=3)
        assert isinstance(report, CheckReport) and report.num_envs == 3

    def test_factory_with_and_without_num_envs(self) -> None:
        assert check_env_target(f"{_ZOO_MODULE}:GoodEnv", num_envs=6).num_envs == 6
        assert check_env_target("stride.env.tasks:CartPole", num_envs=5).num_envs == 5
        assert check_env_target(f"{_ZOO_MODULE}:make_env_from_kwargs", num_envs=7).num_envs == 7
        # a factory without num_envs/device parameters is called bare (it builds 5 envs)
        assert check_env_target(f"{_ZOO_MODULE}:make_fixed_env", num_envs=6).num_envs == 5

    def test_broken_factory_raises_contract_error(self) -> None:
        with pytest.raises(EnvContractError, match=r"^check_env: rewards"):
            check_env_target(f"{_ZOO_MODULE}:RewardN1")

    @pytest.mark.parametrize(
        ("target", "pattern"),
        [
            ("cartpol", "Did you mean 'cartpole'"),
            ("no_such_module_xyz:make", "cannot import module 'no_such_module_xyz'"),
            (f"{_ZOO_MODULE}:GoodEnvv", "Did you mean 'GoodEnv'"),
            (f"{_ZOO_MODULE}:NAN", "expected a callable"),
            (":make", "neither a task name nor 'module:factory'"),
            ("a:b:c", "neither a task name nor 'module:factory'"),
            ("  ", "task name or 'module:factory'"),
        ],
    )
    def test_bad_targets(self, target: str, pattern: str) -> None:
        with pytest.raises(ConfigError, match=re.escape(pattern)):
            check_env_target(target)


class TestArguments:
    """Invalid arguments of check_env itself are configuration errors."""

    @pytest.mark.parametrize("num_steps", [0, -1, True, 2.0])
    def test_num_steps(self, num_steps: Any) -> None:
        with pytest.raises(ConfigError, match="num_steps"):
            check_env(bz.GoodEnv(), num_steps=num_steps)
