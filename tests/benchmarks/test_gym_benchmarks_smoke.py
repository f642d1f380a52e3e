"""Smoke tests of the adapter benchmarks (gym_adapter_overhead.py, mujoco_returns.py, envpool_go1.py), tiny settings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bench_scripts import load_benchmark


class TestMujocoReturnsReport:
    """The report averages the per-seed evaluations per task and draws one panel per task."""

    @pytest.mark.parametrize("plot", [False, pytest.param(True, marks=pytest.mark.slow)])
    def test_table_and_plot(self, tmp_path: Path, plot: bool) -> None:
        pytest.importorskip("gymnasium")
        script = load_benchmark("mujoco_returns")
        for seed, final in ((0, 1000.0), (1, 2000.0), (2, 3000.0)):
            record = {
                "task": "Hopper-v5",
                "seed": seed,
                "env_steps": 4096,
                "train_seconds": 60.0 * (seed + 1),
                "eval_mean_return": final,
                "curve": [[2048, final / 2], [4096, final]],
                "preset": "/somewhere/stride/configs/mujoco.yaml",
            }
            (tmp_path / f"Hopper-v5_seed{seed}.json").write_text(json.dumps(record))
        table = script.report(str(tmp_path), None)
        # mean 2000, sample std 1000, mean wall-clock 2 min, CleanRL 2052, SB3 2410, Tianshou 2609
        row = "| Hopper-v5 | 2000 ± 1000 (3 seeds: 1000 / 2000 / 3000) | 2.0 min | 2052 | 2410 | 2609 | `mujoco.yaml` |"
        assert row in table
        assert "--task Hopper-v5 --seed <s>`, s ∈ {0, 1, 2} |" in table
        if plot:
            script.report(str(tmp_path), str(tmp_path / "curves.png"))
            assert (tmp_path / "curves.png").stat().st_size > 1000


class TestMujocoReturnsRun:
    """``run`` trains with the preset ``stride train`` picks for the task, for the iterations the budget needs."""

    @pytest.mark.slow
    def test_half_cheetah_uses_its_preset(self, tmp_path: Path) -> None:
        pytest.importorskip("mujoco")
        script = load_benchmark("mujoco_returns")
        record = script.run("HalfCheetah-v5", 0, str(tmp_path), 512, 1, "cpu")
        # mujoco-halfcheetah.yaml: 8 envs x 64 steps = 512 transitions, so a 512-step budget is one iteration
        assert Path(record["preset"]).name == "mujoco-halfcheetah.yaml"
        assert (record["iterations"], record["env_steps"], record["eval_episodes"]) == (1, 512, 1)
        assert (tmp_path / "HalfCheetah-v5_seed0.json").is_file()


class TestAdapterOverhead:
    """The overhead benchmark times raw and adapted HalfCheetah and reports the adapter's own work."""

    def test_measure(self) -> None:
        pytest.importorskip("mujoco")
        script = load_benchmark("gym_adapter_overhead")
        result = script.measure("HalfCheetah-v5", num_envs=2, steps=20, rounds=1, seed=0)
        for name in ("raw (NEXT_STEP, default)", "raw (SAME_STEP)", "stride adapter"):
            assert result[name]["wall"] > 0 and result[name]["cpu"] > 0
        assert 0 <= result["adapter_own_us_per_step"] < 1e6
        assert 0 < result["same_states_ratio"]["median"] <= 1.0
        for kind in ("wall", "cpu"):
            paired = result["paired_ratio"][kind]
            assert 0 < paired["q1"] <= paired["median"] <= paired["q3"]

    def test_quartiles(self) -> None:
        script = load_benchmark("gym_adapter_overhead")
        assert script._quartiles([0.9]) == {"median": 0.9, "q1": 0.9, "q3": 0.9}
        q = script._quartiles([1.0, 2.0, 3.0, 4.0, 5.0])
        assert (q["q1"], q["median"], q["q3"]) == (1.5, 3.0, 4.5)


class TestEnvpoolGo1:
    """The envpool benchmark times raw and adapted Go1 and runs stride and rsl_rl on the Go1 preset's config."""

    @pytest.mark.slow  # five envpool pools and two runners: ~6 s idle, ~15 s on a loaded 2-core machine
    def test_overhead_and_speed(self) -> None:
        pytest.importorskip("envpool")
        pytest.importorskip("rsl_rl")
        script = load_benchmark("envpool_go1")
        result = script.measure_overhead("Go1JoystickFlatTerrain-v1", num_envs=2, steps=10, rounds=1, seed=0)
        assert result["raw envpool"]["wall"] > 0 and result["stride adapter"]["cpu"] > 0
        assert 0 <= result["adapter_own_us_per_step"] < 1e6 and result["paired_ratio_cpu"] > 0
        code = script.measure_code_cost("Go1JoystickFlatTerrain-v1", num_envs=4, steps=20, seed=0)
        assert set(code) == {f"{case}_{kind}_us" for case in ("no_dones", "3_dones") for kind in ("wall", "cpu")}
        assert all(0 < value < 1e6 for value in code.values())
        speed, report = script.compare_speed("Go1JoystickFlatTerrain-v1", 4, 2, rounds=1, block=1, warmup=0, seed=1)
        assert speed["stride"]["total"]["n"] == 1 and speed["rsl_rl"]["total"]["n"] == 1
        assert "MLP [512, 256, 128]" in report and "**ratio stride/rsl_rl**" in report
