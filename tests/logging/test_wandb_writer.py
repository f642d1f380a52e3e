"""Tests of WandbLogWriter: a real offline W&B run (when wandb is installed) and the calls it makes to wandb."""

from __future__ import annotations

import glob
import importlib.machinery
import json
import math
import os
import struct
import sys
import time
import types
from pathlib import Path
from typing import Any

import pytest

from stride.logging.writers.wandb import WandbLogWriter
from stride.utils.errors import ConfigError


def _read_wandb_records(path: str) -> list[Any]:
    """Decode a ``run-*.wandb`` transaction log into ``wandb_internal_pb2.Record`` messages.

    wandb >= 0.20 ships no Python reader for this file, so the framing is decoded here: a 7-byte header
    (``:W&B``, magic 0xBEE1, version 0), then LevelDB-log records in 32 KiB blocks, each ``crc32c (4 bytes),
    length (uint16 LE), type (1 FULL, 2 FIRST, 3 MIDDLE, 4 LAST)`` followed by ``length`` payload bytes; the
    payloads are serialized protobuf ``Record`` messages.
    """
    from wandb.proto import wandb_internal_pb2

    data = Path(path).read_bytes()
    assert data[:4] == b":W&B"
    assert struct.unpack("<HB", data[4:7]) == (0xBEE1, 0)
    block, pos, pending, records = 32768, 7, b"", []
    while pos + 7 <= len(data):
        room = block - pos % block
        if room < 7:  # the rest of a block too short for a header is zero padding
            pos += room
            continue
        length, kind = struct.unpack("<HB", data[pos + 4 : pos + 7])
        if (length == 0 and kind == 0) or pos + 7 + length > len(data):  # zero fill, or a record still being written
            break
        payload = data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        pending = payload if kind in (1, 2) else pending + payload
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()  # type: ignore[attr-defined]  # generated protobuf class
            record.ParseFromString(pending)
            records.append(record)
    return records


def _read_until_exit(path: str, timeout_s: float = 20.0) -> list[Any]:
    """Read the run file once it ends with the run's ``exit`` record.

    ``finish()`` can return while wandb-core is still writing the file, so it is polled until complete.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        records = _read_wandb_records(path)
        if any(record.WhichOneof("record_type") == "exit" for record in records) or time.monotonic() > deadline:
            return records
        time.sleep(0.05)


@pytest.fixture
def offline_wandb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Real wandb in offline mode with every folder it touches inside ``tmp_path``."""
    wandb = pytest.importorskip("wandb")
    for key, value in {
        "WANDB_MODE": "offline",
        "WANDB_DIR": str(tmp_path),
        "WANDB_CONFIG_DIR": str(tmp_path / "wandb_config"),
        "WANDB_CACHE_DIR": str(tmp_path / "wandb_cache"),
        "WANDB_DATA_DIR": str(tmp_path / "wandb_data"),
        "WANDB_SILENT": "true",
        "WANDB_CONSOLE": "off",
        "WANDB_DISABLE_GIT": "true",
        "WANDB_DISABLE_CODE": "true",
        "WANDB_ERROR_REPORTING": "false",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("WANDB_USERNAME", raising=False)
    return wandb


class TestOfflineRun:
    """An offline run holds exactly the logged rows at the logged steps, the config, the run name and the files."""

    def test_history_config_and_files_reach_the_run_file(self, offline_wandb: Any, tmp_path: Path) -> None:
        log_dir = tmp_path / "2026-01-01_run7"
        writer = WandbLogWriter(
            str(log_dir),
            project="stride-tests",
            config={"runner": {"gamma": 0.99, "num_steps_per_env": 24}},
            init_kwargs={"settings": offline_wandb.Settings(x_disable_stats=True)},
        )
        logged = {
            0: {"Loss/value": 0.5, "Train/mean_reward": -3.25, "Perf/total_fps": 1000},
            1: {"Loss/value": 0.25, "Train/mean_reward": float("nan"), "Perf/total_fps": 1100},
            2: {"Loss/value": 0.125, "Train/mean_reward": 7.5, "Perf/total_fps": 1200},
        }
        for step, scalars in logged.items():
            writer.write_scalars(step, scalars)
        checkpoint = log_dir / "model_3.pt"
        checkpoint.write_bytes(b"weights")
        writer.save_file(str(checkpoint))
        assert writer.run.summary["Loss/value"] == 0.125  # committed at once, not held back until the next step
        writer.close()
        writer.close()  # twice is harmless
        with pytest.raises(ValueError, match="closed"):
            writer.write_scalars(3, {"Loss/value": 1.0})

        (run_file,) = glob.glob(str(log_dir / "wandb" / "offline-run-*" / "run-*.wandb"))
        records = _read_until_exit(run_file)
        history: dict[int, dict[str, float]] = {}
        config: dict[str, Any] = {}
        runs, uploaded = [], []
        for record in records:
            kind = record.WhichOneof("record_type")
            if kind == "history":
                row = {
                    item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in record.history.item
                }
                history[record.history.step.num] = {k: v for k, v in row.items() if not k.startswith("_")}
            elif kind == "run":
                runs.append(record.run)
                config.update({item.key: json.loads(item.value_json) for item in record.run.config.update})
            elif kind == "files":
                uploaded.extend(item.path for item in record.files.files)
        assert sorted(history) == [0, 1, 2]
        for step, scalars in logged.items():
            assert set(history[step]) == set(scalars)
            for key, value in scalars.items():
                got = history[step][key]
                assert (math.isnan(got) and math.isnan(value)) or got == value, (step, key, got)
        assert config["runner"] == {"gamma": 0.99, "num_steps_per_env": 24}
        assert [(run.project, run.display_name) for run in runs] == [("stride-tests", "2026-01-01_run7")]
        assert "model_3.pt" in uploaded
        (saved,) = glob.glob(str(log_dir / "wandb" / "offline-run-*" / "files" / "model_3.pt"))
        assert Path(saved).read_bytes() == b"weights"


class _FakeRun:
    def __init__(self, calls: list[tuple[str, Any]]) -> None:
        self.calls = calls

    def log(self, data: dict[str, Any], step: int | None = None, commit: bool | None = None) -> None:
        self.calls.append(("log", (data, step, commit)))

    def save(self, path: str, base_path: str | None = None, policy: str = "live", glob: bool = True) -> None:
        self.calls.append(("save", (path, base_path, policy, glob)))

    def finish(self) -> None:
        self.calls.append(("finish", None))


@pytest.fixture
def fake_wandb(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any]]:
    """A stand-in ``wandb`` module in ``sys.modules`` that records every call."""
    calls: list[tuple[str, Any]] = []
    module = types.ModuleType("wandb")
    module.__spec__ = importlib.machinery.ModuleSpec("wandb", None)

    def init(**kwargs: Any) -> _FakeRun:
        calls.append(("init", kwargs))
        return _FakeRun(calls)

    module.init = init  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "wandb", module)
    monkeypatch.delenv("WANDB_USERNAME", raising=False)
    return calls


class TestCallsIntoWandb:
    """The writer passes its arguments to wandb.init and maps write/save/close onto the run as documented."""

    def test_init_arguments_and_defaults(self, fake_wandb: list[tuple[str, Any]], tmp_path: Path) -> None:
        WandbLogWriter(str(tmp_path / "my_run"), project="p", mode="offline", init_kwargs={"tags": ["a"]})
        (name, kwargs), *_ = fake_wandb
        assert name == "init"
        assert kwargs == {
            "dir": str(tmp_path / "my_run"),
            "project": "p",
            "entity": None,
            "name": "my_run",
            "config": None,
            "mode": "offline",
            "tags": ["a"],
        }
        assert (tmp_path / "my_run").is_dir()

    def test_entity_falls_back_to_wandb_username(
        self, fake_wandb: list[tuple[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("WANDB_USERNAME", "team-a")
        WandbLogWriter(str(tmp_path), run_name="named", config={"x": 1})
        kwargs = fake_wandb[0][1]
        assert (kwargs["entity"], kwargs["name"], kwargs["config"]) == ("team-a", "named", {"x": 1})
        WandbLogWriter(str(tmp_path), entity="explicit")
        assert fake_wandb[1][1]["entity"] == "explicit"

    def test_write_save_close(self, fake_wandb: list[tuple[str, Any]], tmp_path: Path) -> None:
        import numpy as np

        writer = WandbLogWriter(str(tmp_path))
        scalars: dict[str, Any] = {"a": np.float32(1.5), "b": np.array(2.0), "c": 3, "d": True}
        writer.write_scalars(4, scalars)
        writer.save_file(str(tmp_path / "sub" / "model_4.pt"))
        writer.close()
        writer.close()
        assert fake_wandb[1:] == [
            ("log", ({"a": 1.5, "b": 2.0, "c": 3, "d": 1}, 4, True)),
            ("save", (str(tmp_path / "sub" / "model_4.pt"), str(tmp_path / "sub"), "now", False)),
            ("finish", None),
        ]
        logged = fake_wandb[1][1][0]
        assert [type(value) for value in logged.values()] == [float, float, int, int]

    def test_init_kwargs_may_not_repeat_own_arguments(self, fake_wandb: list[tuple[str, Any]], tmp_path: Path) -> None:
        with pytest.raises(ConfigError, match=r"\['dir', 'project'\]"):
            WandbLogWriter(str(tmp_path), init_kwargs={"project": "x", "dir": "y", "tags": []})
        assert fake_wandb == []

    def test_importing_the_module_does_not_import_wandb(self) -> None:
        assert os.path.basename(WandbLogWriter.__module__.replace(".", os.sep)) == "wandb"
        import stride.logging.writers.wandb as module

        assert "wandb" not in vars(module)
