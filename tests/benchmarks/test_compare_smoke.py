"""Smoke test of benchmarks/compare_rsl_rl.py: the whole comparison runs in-process with tiny settings."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch
from tensordict import TensorDict

_BENCH_DIR = Path(__file__).resolve().parents[2] / "benchmarks"


def _load_script() -> ModuleType:
    """Import benchmarks/compare_rsl_rl.py by path (benchmarks/ is not a package; it imports its _common)."""
    name = "compare_rsl_rl"
    if name in sys.modules:
        return sys.modules[name]
    if str(_BENCH_DIR) not in sys.path:
        sys.path.insert(0, str(_BENCH_DIR))
    spec = importlib.util.spec_from_file_location(name, _BENCH_DIR / "compare_rsl_rl.py")
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {_BENCH_DIR / 'compare_rsl_rl.py'}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses resolve their module through sys.modules
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return _load_script()


@pytest.fixture(scope="module")
def tiny_run(bench: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    pytest.importorskip("rsl_rl")
    out = tmp_path_factory.mktemp("bench") / "result.json"
    argv = ["--task", "cartpole", "--num-envs", "64", "--steps", "8", "--hidden", "32", "32", "--device", "cpu"]
    argv += ["--rounds", "1", "--block", "1", "--warmup", "0", "--seeds", "1", "--max-iterations", "3"]
    argv += ["--json", str(out)]
    return bench.main(argv), out


class TestCompareSmoke:
    """Both libraries are timed and trained by the shared harness, and the result dict / JSON hold every figure."""

    def test_speed_has_positive_timings_and_finite_ratio(self, tiny_run: tuple[dict[str, Any], Path]) -> None:
        result, _ = tiny_run
        speed = result["speed"]
        assert speed["schedule"] == ["stride", "rsl_rl"]  # round 0 runs stride first
        for lib in ("stride", "rsl_rl"):
            for part in ("collect", "learn", "total"):
                assert speed[lib][part]["n"] == 1
                assert speed[lib][part]["median"] > 0.0
                assert speed[lib][part]["min"] > 0.0
            collect, learn = speed[lib]["samples"]["collect"][0], speed[lib]["samples"]["learn"][0]
            assert speed[lib]["total"]["median"] == pytest.approx(collect + learn)
            assert speed[lib]["steps_per_s"] == pytest.approx(64 * 8 / (collect + learn))
        ratio = speed["ratio"]["total_median"]
        assert math.isfinite(ratio) and ratio > 0.0
        assert ratio == pytest.approx(speed["stride"]["total"]["median"] / speed["rsl_rl"]["total"]["median"])

    def test_solve_has_one_run_per_library(self, tiny_run: tuple[dict[str, Any], Path]) -> None:
        result, _ = tiny_run
        solve = result["solve"]
        assert solve["threshold"] == 475.0
        for lib in ("stride", "rsl_rl"):
            (run,) = solve[lib]["runs"]
            assert run["seed"] == 1
            # 3 iterations x 8 steps cannot hold an episode of return >= 475 (reward <= 1 per step)
            assert run["solved"] is False and run["iterations"] is None
            assert run["iterations_run"] == 3 and len(run["curve"]) == 3
            assert run["elapsed_s"] > 0.0
            assert solve[lib]["num_solved"] == 0 and solve[lib]["num_runs"] == 1

    def test_json_is_standard_and_matches(self, tiny_run: tuple[dict[str, Any], Path]) -> None:
        result, path = tiny_run

        def reject(token: str) -> float:
            raise ValueError(f"non-standard JSON constant {token}")

        data = json.loads(path.read_text(encoding="utf-8"), parse_constant=reject)
        assert data["speed"]["ratio"]["total_median"] == pytest.approx(result["speed"]["ratio"]["total_median"])
        assert data["versions"]["rsl_rl"] == "5.5.1"
        assert data["hardware"]["torch_num_threads"] == torch.get_num_threads()
        assert data["config"]["train_cfg"]["actor"]["hidden_dims"] == [32, 32]


class _ScriptedEnv:
    """Two envs with scripted rewards and dones (enough of the VecEnv contract for the recorder)."""

    def __init__(self, rewards: list[list[float]], dones: list[list[bool]]) -> None:
        self.num_envs, self.num_actions, self.max_episode_length = 2, 1, 100
        self.device = torch.device("cpu")
        self.cfg: dict[str, Any] = {}
        self.episode_length_buf = torch.zeros(2, dtype=torch.long)
        self._rewards, self._dones, self._t = rewards, dones, 0
        self._obs = TensorDict({"policy": torch.zeros(2, 1)}, batch_size=[2])

    def get_observations(self) -> TensorDict:
        return self._obs

    def step(self, actions: torch.Tensor) -> tuple[TensorDict, torch.Tensor, torch.Tensor, dict[str, Any]]:
        t = self._t
        self._t += 1
        extras = {"time_outs": torch.zeros(2, dtype=torch.bool)}
        return self._obs, torch.tensor(self._rewards[t]), torch.tensor(self._dones[t]), extras


class TestEpisodeReturnRecorder:
    """The library-independent metric: the mean return of the episodes completed since the last read."""

    def test_mean_of_completed_episodes(self, bench: ModuleType) -> None:
        env = _ScriptedEnv(
            rewards=[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]],
            dones=[[False, True], [True, False], [False, False], [False, True]],
        )
        rec = bench.EpisodeReturnRecorder(env)
        actions = torch.zeros(2, 1)
        rec.step(actions)
        rec.step(actions)
        # env 1 ended with 2, env 0 with 1 + 3 = 4
        assert rec.pop_mean() == (pytest.approx(3.0), 2)
        rec.step(actions)
        assert math.isnan(rec.pop_mean()[0])  # nothing ended: NaN never passes a threshold
        rec.step(actions)
        # env 1's new episode: 4 + 6 + 8 = 18; env 0 still running (5 + 7) and not counted
        assert rec.pop_mean() == (pytest.approx(18.0), 1)

    def test_forwards_episode_length_buf(self, bench: ModuleType) -> None:
        env = _ScriptedEnv(rewards=[[0.0, 0.0]], dones=[[False, False]])
        rec = bench.EpisodeReturnRecorder(env)
        rec.episode_length_buf = torch.tensor([3, 7])
        assert env.episode_length_buf.tolist() == [3, 7]
        assert rec.episode_length_buf.tolist() == [3, 7]


class TestMixedPrecisionFlags:
    """``--stride-mixed-precision`` / ``--rsl-rl-mixed-precision`` set ``use_mixed_precision`` for that library only."""

    @pytest.mark.parametrize(
        ("flags", "stride_on", "rsl_rl_on"),
        [([], False, False), (["--stride-mixed-precision"], True, False), (["--rsl-rl-mixed-precision"], False, True)],
    )
    def test_flags_reach_the_algorithms(
        self, bench: ModuleType, flags: list[str], stride_on: bool, rsl_rl_on: bool
    ) -> None:
        pytest.importorskip("rsl_rl")
        args = bench.parse_args(["--num-envs", "8", "--steps", "4", "--hidden", "8", *flags])
        cfg = bench.make_train_cfg(4, [8], 1)
        stride = bench._build(
            "stride", "cartpole", 8, 1, "cpu", cfg, mixed_precision=bench._mixed_precision(args, "stride")
        )
        rsl_rl = bench._build(
            "rsl_rl", "cartpole", 8, 1, "cpu", cfg, mixed_precision=bench._mixed_precision(args, "rsl_rl")
        )
        assert stride.alg.cfg.use_mixed_precision is stride_on
        assert rsl_rl.alg.use_mixed_precision is rsl_rl_on
        assert "use_mixed_precision" not in cfg["algorithm"]  # the shared train_cfg is left as it was
