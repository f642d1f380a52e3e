"""Tests of the log writers and RunLogger: exact round trips, failure isolation, construction rules."""

from __future__ import annotations

import io
import json
import logging
import math
import os
from collections.abc import Mapping

import pytest

from stride.logging import (
    ConsoleView,
    JsonlWriter,
    LogWriter,
    RunLogger,
    TensorBoardWriter,
    available_writers,
    read_metrics,
    register_writer,
)
from stride.logging.writers import base as writers_base
from stride.utils.errors import ConfigError

SCALARS: list[dict[str, float]] = [
    {"Train/mean_reward": 1.25, "Loss/value": 0.5, "Perf/total_steps": 100},
    {"Train/mean_reward": float("nan"), "Loss/value": 0.25, "Perf/total_steps": 200},
    {"Train/mean_reward": 3.5, "Loss/value": -0.125, "Perf/total_steps": 300},
]


class RecordingWriter:
    """A writer that keeps every call, for checking what RunLogger dispatches."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, dict[str, float]]] = []
        self.closed = 0

    def write_scalars(self, step: int, scalars: Mapping[str, float]) -> None:
        self.calls.append((step, dict(scalars)))

    def close(self) -> None:
        self.closed += 1


class FailingWriter:
    """A writer whose every method raises."""

    def __init__(self) -> None:
        self.calls = 0

    def write_scalars(self, step: int, scalars: Mapping[str, float]) -> None:
        self.calls += 1
        raise OSError("disk is gone")

    def close(self) -> None:
        raise OSError("cannot close either")


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


class TestJsonlWriter:
    """JsonlWriter writes strict JSON, one flushed object per call, that reads back to exactly the logged values."""

    def test_round_trip_exact_with_nan_as_null(self, tmp_path):
        path = str(tmp_path / "sub" / "metrics.jsonl")
        writer = JsonlWriter(path)
        for step, scalars in enumerate(SCALARS):
            writer.write_scalars(step, scalars)
            with open(path, encoding="utf-8") as file:  # flushed per line: readable before close
                assert len(file.readlines()) == step + 1
        writer.write_scalars(3, {"a": float("inf"), "b": float("-inf"), "c": 1e-300})
        writer.close()
        writer.close()  # idempotent

        lines = (tmp_path / "sub" / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
        assert len(lines) == 4
        assert json.loads(lines[1]) == {
            "iteration": 1,
            "Train/mean_reward": None,
            "Loss/value": 0.25,
            "Perf/total_steps": 200,
        }
        assert "NaN" not in lines[1] and "Infinity" not in lines[3]
        assert json.loads(lines[3]) == {"iteration": 3, "a": None, "b": None, "c": 1e-300}
        records = read_metrics(path)
        for step, (record, scalars) in enumerate(zip(records, SCALARS, strict=False)):
            assert record["iteration"] == step
            assert set(record) == {"iteration", *scalars}
            assert all(_same(record[k], float(v)) for k, v in scalars.items())
        assert isinstance(records[0]["Perf/total_steps"], int)  # ints stay exact
        assert math.isnan(records[1]["Train/mean_reward"])

    def test_appends_and_rejects_writes_after_close(self, tmp_path):
        path = str(tmp_path / "metrics.jsonl")
        writers = [JsonlWriter(path), JsonlWriter(path)]
        for step, writer in enumerate(writers):
            writer.write_scalars(step, {"x": float(step)})
            writer.close()
        assert [r["x"] for r in read_metrics(path)] == [0.0, 1.0]
        with pytest.raises(ValueError, match="closed"):
            writers[0].write_scalars(2, {"x": 2.0})

    def test_torch_and_numpy_scalars_become_floats(self, tmp_path):
        import numpy as np
        import torch

        path = str(tmp_path / "metrics.jsonl")
        writer = JsonlWriter(path)
        writer.write_scalars(0, {"t": torch.tensor(0.5), "n": np.float32(0.25)})  # type: ignore[dict-item]
        writer.close()
        assert read_metrics(path) == [{"iteration": 0, "t": 0.5, "n": 0.25}]


class TestTensorBoardWriter:
    """TensorBoardWriter's event files hold every logged value at its step (read back with EventAccumulator)."""

    def test_event_values(self, tmp_path):
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

        writer = TensorBoardWriter(str(tmp_path))
        assert isinstance(writer, LogWriter)
        for step, scalars in enumerate(SCALARS):
            writer.write_scalars(step, scalars)
        writer.close()
        writer.close()

        accumulator = EventAccumulator(str(tmp_path))
        accumulator.Reload()
        assert set(accumulator.Tags()["scalars"]) == {"Train/mean_reward", "Loss/value", "Perf/total_steps"}
        for tag in ("Train/mean_reward", "Loss/value", "Perf/total_steps"):
            events = accumulator.Scalars(tag)
            assert [e.step for e in events] == [0, 1, 2]
            for event, scalars in zip(events, SCALARS, strict=True):
                assert _same(event.value, float(scalars[tag]))  # all chosen values are exact in float32


class TestRunLoggerFailureIsolation:
    """A writer that raises is disabled after exactly one warning; the others get every iteration; nothing escapes."""

    def test_one_warning_and_others_keep_receiving(self, caplog):
        good_before, bad, good_after = RecordingWriter(), FailingWriter(), RecordingWriter()
        stream = io.StringIO()
        logger = RunLogger(None, [good_before, bad, good_after], console=ConsoleView(stream))
        with caplog.at_level(logging.WARNING):
            for iteration in range(5):
                logger.log(iteration, {"Loss/value": float(iteration)}, start_iteration=0, total_iterations=5)
            assert logger.close() is None  # no log_dir: no figure; closing the failed writer does not raise either

        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1
        assert "FailingWriter" in warnings[0].getMessage() and "disk is gone" in warnings[0].getMessage()
        assert bad.calls == 1
        for writer in (good_before, good_after):
            assert writer.calls == [(i, {"Loss/value": float(i)}) for i in range(5)]
            assert writer.closed == 1
        assert len(stream.getvalue().splitlines()) == 5  # the console kept going too
        assert logger.writers == ()

    def test_broken_console_is_disabled_once(self, caplog):
        stream = io.StringIO()
        stream.close()  # writing raises ValueError
        writer = RecordingWriter()
        logger = RunLogger(None, [writer], console=ConsoleView(stream))
        with caplog.at_level(logging.WARNING):
            for iteration in range(3):
                logger.log(iteration, {}, start_iteration=0, total_iterations=3)
        assert len([r for r in caplog.records if "console" in r.getMessage()]) == 1
        assert logger.console is None and len(writer.calls) == 3


class TestRunLoggerCreate:
    """RunLogger.create builds the writers by name and honours log_dir=None, ranks and unknown names."""

    def test_default_backends_and_learning_curve(self, tmp_path):
        stream = io.StringIO()
        logger = RunLogger.create(str(tmp_path / "run"), stream=stream)
        assert [type(w) for w in logger.writers] == [TensorBoardWriter, JsonlWriter]
        assert logger.log_dir == str(tmp_path / "run")
        assert logger.metrics_path == os.path.join(str(tmp_path / "run"), "metrics.jsonl")
        for iteration, scalars in enumerate(SCALARS):
            logger.log(iteration, scalars, start_iteration=0, total_iterations=3)
        curve = logger.close()
        assert curve == os.path.join(str(tmp_path / "run"), "learning_curve.png")
        assert (tmp_path / "run" / "learning_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert logger.close() == curve  # idempotent
        assert [r["Loss/value"] for r in read_metrics(str(tmp_path / "run"))] == [0.5, 0.25, -0.125]
        assert any(name.startswith("events.out.tfevents") for name in os.listdir(tmp_path / "run"))
        assert stream.getvalue().splitlines()[-1].startswith("[############] it 3/3 | return    3.5")

    def test_console_only_and_other_ranks(self, tmp_path):
        console_only = RunLogger.create(None)
        assert console_only.writers == () and console_only.console is not None
        assert console_only.log_dir is None and console_only.metrics_path is None
        other_rank = RunLogger.create(str(tmp_path / "run"), is_main_rank=False)
        assert other_rank.writers == () and other_rank.console is None and other_rank.log_dir is None
        assert not (tmp_path / "run").exists()  # only rank 0 writes files
        assert RunLogger.create(None, console=False).console is None

    def test_unknown_and_repeated_backends(self, tmp_path):
        with pytest.raises(ConfigError, match=r"'tensorbord'.*Did you mean 'tensorboard'"):
            RunLogger.create(str(tmp_path), backends=["tensorbord"])
        with pytest.raises(ConfigError, match="more than once"):
            RunLogger.create(str(tmp_path), backends=["jsonl", "jsonl"])

    def test_registered_backend_and_failing_factory(self, tmp_path, caplog, monkeypatch):
        monkeypatch.setattr(writers_base, "_REGISTRY", dict(writers_base._REGISTRY))  # registrations end with the test
        made: list[RecordingWriter] = []

        def factory(log_dir: str) -> LogWriter:
            made.append(RecordingWriter())
            return made[-1]

        def broken(log_dir: str) -> LogWriter:
            raise ImportError("no module named 'fancy_backend'")

        register_writer("test_recording", factory, overwrite=True)
        register_writer("test_broken", broken, overwrite=True)
        assert {"jsonl", "tensorboard", "test_recording"} <= set(available_writers())
        with pytest.raises(ConfigError, match="already registered"):
            register_writer("jsonl", factory)
        with caplog.at_level(logging.WARNING):
            logger = RunLogger.create(str(tmp_path), backends=["test_broken", "test_recording"], console=False)
        assert len(caplog.records) == 1 and "fancy_backend" in caplog.records[0].getMessage()
        logger.log(7, {"x": 1.0}, start_iteration=7, total_iterations=8)
        assert logger.writers == (made[0],) and made[0].calls == [(7, {"x": 1.0})]
        assert logger.close() is None  # no metrics.jsonl in log_dir: no figure

    def test_stream_argument_builds_a_console(self):
        stream = io.StringIO()
        logger = RunLogger(None, stream=stream)
        logger.log(0, {"Train/mean_reward": 2.0}, start_iteration=0, total_iterations=10)
        assert stream.getvalue().startswith("[#-----------] it  1/10 | return    2.0 | ETA ")

    def test_missing_reward_key_gives_no_figure_and_one_warning(self, tmp_path, caplog):
        logger = RunLogger.create(str(tmp_path), backends=["jsonl"], console=False)
        logger.log(0, {"Loss/value": 1.0}, start_iteration=0, total_iterations=1)
        with caplog.at_level(logging.WARNING):
            assert logger.close() is None
        assert len(caplog.records) == 1 and "Train/mean_reward" in caplog.records[0].getMessage()
        assert not (tmp_path / "learning_curve.png").exists()
