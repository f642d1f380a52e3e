"""Tests of NeptuneLogWriter: the calls it makes to neptune (stand-in module) and a real debug-mode run."""

from __future__ import annotations

import importlib.machinery
import logging
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from stride.logging.writers.neptune import NeptuneLogWriter, neptune_field_path
from stride.utils.errors import ConfigError


class TestFieldPath:
    """Log keys map to Neptune fields that can never collide as value-and-folder."""

    @pytest.mark.parametrize(
        ("key", "field"),
        [
            ("Loss/value", "Loss/value"),
            ("Train/mean_reward/time", "Train/mean_reward_time"),
            ("Episode/rew/track/lin", "Episode/rew_track_lin"),
            ("/Episode_Reward/x/", "Episode_Reward/x"),
            ("a//b", "a/b"),
            ("plain", "plain"),
            ("///", "_"),
        ],
    )
    def test_mapping(self, key: str, field: str) -> None:
        assert neptune_field_path(key) == field

    def test_value_and_folder_keys_map_to_siblings(self) -> None:
        value, nested = neptune_field_path("Train/mean_reward"), neptune_field_path("Train/mean_reward/time")
        assert not nested.startswith(value + "/")
        assert value.count("/") == nested.count("/") == 1


class _FakeField:
    def __init__(self, path: str, calls: list[tuple[str, Any]]) -> None:
        self.path, self.calls = path, calls

    def append(self, value: float, step: int | None = None) -> None:
        self.calls.append(("append", (self.path, value, step)))

    def upload(self, path: str) -> None:
        self.calls.append(("upload", (self.path, path)))


class _FakeRun:
    def __init__(self, calls: list[tuple[str, Any]]) -> None:
        self.calls = calls

    def __getitem__(self, path: str) -> _FakeField:
        return _FakeField(path, self.calls)

    def __setitem__(self, path: str, value: Any) -> None:
        self.calls.append(("assign", (path, value)))

    def stop(self) -> None:
        self.calls.append(("stop", None))


@pytest.fixture
def fake_neptune(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any]]:
    """A stand-in ``neptune`` module in ``sys.modules`` recording every call (used whether or not neptune exists)."""
    calls: list[tuple[str, Any]] = []
    module = types.ModuleType("neptune")
    module.__spec__ = importlib.machinery.ModuleSpec("neptune", None)

    def init_run(**kwargs: Any) -> _FakeRun:
        calls.append(("init_run", kwargs))
        return _FakeRun(calls)

    module.init_run = init_run  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "neptune", module)
    monkeypatch.delenv("NEPTUNE_USERNAME", raising=False)
    return calls


class TestCallsIntoNeptune:
    """Against a stand-in module: init arguments, series appends with steps, skipped non-finite values, uploads."""

    def test_init_log_dir_and_config(self, fake_neptune: list[tuple[str, Any]], tmp_path: Path) -> None:
        NeptuneLogWriter(
            str(tmp_path / "run_a"),
            project="ws/proj",
            mode="debug",
            tags=["ppo"],
            config={"runner": {"gamma": 0.99, "obs_groups": {"policy": ["policy"]}, "seed": None}},
            init_kwargs={"capture_hardware_metrics": False},
        )
        assert fake_neptune == [
            (
                "init_run",
                {
                    "project": "ws/proj",
                    "api_token": None,
                    "name": "run_a",
                    "mode": "debug",
                    "tags": ["ppo"],
                    "capture_hardware_metrics": False,
                },
            ),
            ("assign", ("log_dir", str(tmp_path / "run_a"))),
            ("assign", ("config", {"runner": {"gamma": 0.99, "obs_groups": {"policy": "['policy']"}, "seed": "None"}})),
        ]

    def test_bare_project_gets_neptune_username(
        self, fake_neptune: list[tuple[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("NEPTUNE_USERNAME", "alice")
        NeptuneLogWriter(str(tmp_path), project="proj")
        NeptuneLogWriter(str(tmp_path), project="team/proj")
        NeptuneLogWriter(str(tmp_path))
        projects = [kwargs["project"] for name, kwargs in fake_neptune if name == "init_run"]
        assert projects == ["alice/proj", "team/proj", None]
        assert [kwargs["tags"] for name, kwargs in fake_neptune if name == "init_run"] == [None, None, None]

    def test_scalars_files_and_stop(
        self, fake_neptune: list[tuple[str, Any]], tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        writer = NeptuneLogWriter(str(tmp_path))
        del fake_neptune[:]
        with caplog.at_level(logging.WARNING, logger="stride.logging.writers.neptune"):
            writer.write_scalars(0, {"Loss/value": 0.5, "Train/mean_reward": float("nan")})
            writer.write_scalars(1, {"Train/mean_reward/time": 2, "Train/mean_reward": float("inf")})
        writer.save_file(str(tmp_path / "model_10.pt"))
        writer.close()
        writer.close()
        assert fake_neptune == [
            ("append", ("Loss/value", 0.5, 0)),
            ("append", ("Train/mean_reward_time", 2.0, 1)),
            ("upload", ("files/model_10_pt", str(tmp_path / "model_10.pt"))),
            ("stop", None),
        ]
        assert len(caplog.records) == 1  # one warning per run, not per value
        assert "Train/mean_reward = nan at iteration 0" in caplog.records[0].getMessage()
        with pytest.raises(ValueError, match="closed"):
            writer.write_scalars(2, {"Loss/value": 1.0})

    def test_init_kwargs_may_not_repeat_own_arguments(
        self, fake_neptune: list[tuple[str, Any]], tmp_path: Path
    ) -> None:
        with pytest.raises(ConfigError, match=r"\['api_token', 'mode'\]"):
            NeptuneLogWriter(str(tmp_path), init_kwargs={"mode": "debug", "api_token": "x"})
        assert fake_neptune == []


@pytest.mark.slow  # importing neptune 1.x alone takes about 4.5 s (jsonschema / bravado)
class TestDebugModeRun:
    """With the real neptune package in debug mode (in memory), the logged series and config can be read back."""

    def test_values_and_config_read_back(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        pytest.importorskip("neptune")
        monkeypatch.delenv("NEPTUNE_USERNAME", raising=False)
        monkeypatch.setenv("NEPTUNE_DATA_DIRECTORY", str(tmp_path / "neptune_data"))  # not .neptune/ in the cwd
        writer = NeptuneLogWriter(
            str(tmp_path / "run_b"),
            project="ws/proj",
            mode="debug",
            config={"runner": {"gamma": 0.99, "seed": None}},
            init_kwargs={
                "capture_hardware_metrics": False,
                "capture_stdout": False,
                "capture_stderr": False,
                "capture_traceback": False,
                "source_files": [],
                "git_ref": False,
            },
        )
        for step in range(3):
            writer.write_scalars(
                step,
                {"Loss/value": 0.5 * step, "Train/mean_reward": 1.0 + step, "Train/mean_reward/time": 10.0 * step},
            )
        writer.write_scalars(3, {"Loss/value": float("nan")})
        (tmp_path / "model_3.pt").write_bytes(b"w")
        writer.save_file(str(tmp_path / "model_3.pt"))
        run = writer.run
        run.wait()
        assert run["Loss/value"].fetch_values()["value"].tolist() == [0.0, 0.5, 1.0]
        assert run["Train/mean_reward"].fetch_values()["value"].tolist() == [1.0, 2.0, 3.0]
        assert run["Train/mean_reward_time"].fetch_values()["value"].tolist() == [0.0, 10.0, 20.0]
        assert run["config/runner/gamma"].fetch() == 0.99
        assert run["config/runner/seed"].fetch() == "None"
        assert run["log_dir"].fetch() == str(tmp_path / "run_b")
        assert "model_3_pt" in run.get_structure()["files"]
        writer.close()
