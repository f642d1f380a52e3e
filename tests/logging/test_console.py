"""Tests of the console line: formatted numbers, missing keys, ETA from a controlled clock, cadence."""

from __future__ import annotations

import io
import math

import pytest

from stride.logging import ConsoleView, format_duration

FULL = {
    "Train/mean_reward": 475.3,
    "Train/mean_episode_length": 500.0,
    "Perf/total_fps": 35210.0,
    "Perf/collection_time": 0.06,
    "Perf/learning_time": 0.7,
    "Loss/value": 0.1234,
    "Loss/surrogate": -0.01234,
    "Loss/entropy": 1.4213,
    "Loss/kl_divergence": 0.0042,
    "Policy/learning_rate": 1e-3,
    "Policy/mean_std": 0.5213,
}


class FakeClock:
    """A clock the test advances by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class TestFormatDuration:
    """format_duration gives the documented compact text, rounding to whole seconds."""

    @pytest.mark.parametrize(
        ("seconds", "text"),
        [
            (0.0, "0s"),
            (-3.0, "0s"),
            (45.4, "45s"),
            (59.6, "1m00s"),
            (62.0, "1m02s"),
            (3 * 3600 + 7 * 60 + 10, "3h07m"),
            (2 * 86400 + 5 * 3600, "2d05h"),
            (math.nan, "--"),
            (math.inf, "--"),
        ],
    )
    def test_golden(self, seconds, text):
        assert format_duration(seconds) == text


class TestConsoleLine:
    """The line shows every known key in its format, skips missing keys, and the ETA is mean time x iterations left."""

    def test_full_line_golden(self):
        line = ConsoleView.format_line(11, FULL, total_iterations=100, eta=62.0)
        assert line == (
            "[#-----------] it  12/100 | return  475.3 | len 500.0 | 35.2k steps/s | collect 0.06s learn 0.70s | "
            "value 0.123 surr -0.0123 ent 1.42 kl_div 0.0042 | lr 1.0e-03 | std 0.521 | ETA 1m02s"
        )

    def test_missing_keys_are_skipped(self):
        assert ConsoleView.format_line(0, {}, total_iterations=5, eta=math.nan) == "[##----------] it 1/5 | ETA --"
        line = ConsoleView.format_line(
            0,
            {"Perf/learning_time": 1.5, "Loss/learning_rate": 3e-4, "Perf/total_fps": 2.5e6},
            total_iterations=5,
            eta=3,
        )
        assert (
            line == "[##----------] it 1/5 | 2.5M steps/s | learn 1.50s | lr 3.0e-04 | ETA 3s"
        )  # Loss/learning_rate is no loss

    def test_eta_from_mean_wall_time_and_stream_write(self, capsys):
        clock, stream = FakeClock(), io.StringIO()
        view = ConsoleView(stream, clock=clock)
        view.start_clock()
        for iteration, seconds in zip(range(10, 13), (1.0, 3.0, 2.0), strict=True):  # resumed at 10, stops at 20
            clock.now += seconds
            view.update(iteration, FULL, start_iteration=10, total_iterations=20)
        lines = stream.getvalue().splitlines()
        assert [line.split(" | ")[0].split("] ")[1] for line in lines] == ["it 11/20", "it 12/20", "it 13/20"]
        # mean time per iteration x iterations left: 1.0 x 9, 2.0 x 8, 2.0 x 7
        assert [line.split(" | ")[-1] for line in lines] == ["ETA 9s", "ETA 16s", "ETA 14s"]
        assert capsys.readouterr().out == ""  # written to the given stream, never printed

    def test_first_line_without_start_clock_uses_perf_times(self):
        clock, stream = FakeClock(), io.StringIO()
        view = ConsoleView(stream, clock=clock)
        view.update(0, FULL, start_iteration=0, total_iterations=101)  # (0.06 + 0.70) s x 100 left = 76 s
        clock.now += 0.5
        view.update(1, {}, start_iteration=0, total_iterations=101)  # 0.5 s since the first update x 99 left
        assert [line.split(" | ")[-1] for line in stream.getvalue().splitlines()] == ["ETA 1m16s", "ETA 50s"]

    def test_every_n_and_always_the_last(self):
        stream = io.StringIO()
        view = ConsoleView(stream, every=3, clock=FakeClock())
        written = [view.update(i, {}, start_iteration=0, total_iterations=7) for i in range(7)]
        assert [w is not None for w in written] == [False, False, True, False, False, True, True]
        assert [line.split(" | ")[0].split("] ")[1] for line in stream.getvalue().splitlines()] == [
            "it 3/7",
            "it 6/7",
            "it 7/7",
        ]
        with pytest.raises(ValueError, match="every=0"):
            ConsoleView(stream, every=0)


class TestProgressBar:
    """The progress bar fills in proportion to the iterations done."""

    def test_fill(self) -> None:
        from stride.logging.console import progress_bar

        assert progress_bar(0, 10) == "[" + "-" * 12 + "]"
        assert progress_bar(5, 10) == "[" + "#" * 6 + "-" * 6 + "]"
        assert progress_bar(10, 10) == "[" + "#" * 12 + "]"
        assert progress_bar(3, 0) == "[" + "#" * 12 + "]"
