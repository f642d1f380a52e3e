"""Tests of metrics reading and learning-curve plots: values, grouping statistics, PNG output, errors."""

from __future__ import annotations

import json
import logging
import math

import numpy as np
import pytest

from stride.logging import JsonlWriter, plot_learning_curves, read_metrics
from stride.logging.plots import _aggregate, _collect_curves
from stride.utils.errors import ConfigError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _write_run(directory, rewards, steps_per_iteration=100, with_steps=True):
    writer = JsonlWriter(str(directory / "metrics.jsonl"))
    for iteration, reward in enumerate(rewards):
        scalars = {"Train/mean_reward": reward}
        if with_steps:
            scalars["Perf/total_steps"] = (iteration + 1) * steps_per_iteration
        writer.write_scalars(iteration, scalars)
    writer.close()
    return str(directory)


class TestReadMetrics:
    """read_metrics returns the logged records, null as NaN, tolerates a truncated last line, names bad paths."""

    def test_records_and_truncated_tail(self, tmp_path, caplog):
        path = tmp_path / "metrics.jsonl"
        path.write_text('{"iteration": 0, "a": 1.5}\n\n{"iteration": 1, "a": null}\n{"iteration": 2, "a"')
        with caplog.at_level(logging.WARNING):
            records = read_metrics(str(tmp_path))  # a run directory works as well as the file
        assert records[0] == {"iteration": 0, "a": 1.5}
        assert records[1]["iteration"] == 1 and math.isnan(records[1]["a"])
        assert len(records) == 2 and "truncated last line 4" in caplog.text

    def test_errors_name_the_path(self, tmp_path):
        with pytest.raises(ConfigError, match=r"No metrics file at .*nowhere"):
            read_metrics(str(tmp_path / "nowhere"))
        path = tmp_path / "metrics.jsonl"
        path.write_text('{"iteration": 0}\n[1, 2]\n{"iteration": 2}\n')
        with pytest.raises(ConfigError, match=r"Line 2 of .*metrics\.jsonl"):
            read_metrics(str(path))


class TestCurveData:
    """Curves use Perf/total_steps (else iteration), keep the last record of a repeated iteration, and grouped runs
    reduce to mean / min / max on their common x range."""

    def test_x_key_fallback_and_resume_duplicates(self, tmp_path):
        (tmp_path / "a").mkdir()
        (tmp_path / "b").mkdir()
        run_a = _write_run(tmp_path / "a", [1.0, 2.0, 3.0])
        run_b = _write_run(tmp_path / "b", [5.0, 6.0], with_steps=False)
        used_x, groups = _collect_curves([run_a], "Train/mean_reward", "Perf/total_steps", None)
        assert used_x == "Perf/total_steps" and groups == {"a": [([100.0, 200.0, 300.0], [1.0, 2.0, 3.0])]}
        used_x, groups = _collect_curves([run_a, run_b], "Train/mean_reward", "Perf/total_steps", None)
        assert used_x == "iteration" and groups["b"] == [([0.0, 1.0], [5.0, 6.0])]

        writer = JsonlWriter(run_b + "/metrics.jsonl")  # a resume re-logs iteration 1 with a new value
        writer.write_scalars(1, {"Train/mean_reward": 7.0})
        writer.close()
        assert _collect_curves([run_b], "Train/mean_reward", "iteration", None)[1]["b"] == [([0.0, 1.0], [5.0, 7.0])]

    def test_aggregate_mean_min_max(self):
        curves = [([0.0, 2.0, 4.0], [0.0, 2.0, 4.0]), ([1.0, 3.0, 5.0], [3.0, 3.0, 3.0])]
        result = _aggregate(curves)
        assert result is not None
        grid, mean, lowest, highest = result
        np.testing.assert_allclose(grid, [1.0, 2.0, 3.0, 4.0])  # overlap [1, 4]
        np.testing.assert_allclose(lowest, [1.0, 2.0, 3.0, 3.0])  # first run interpolated: y = x
        np.testing.assert_allclose(highest, [3.0, 3.0, 3.0, 4.0])
        np.testing.assert_allclose(mean, [2.0, 2.5, 3.0, 3.5])
        assert _aggregate([([0.0, 1.0], [0.0, 1.0]), ([2.0, 3.0], [0.0, 1.0])]) is None


class TestPlotLearningCurves:
    """plot_learning_curves writes a real PNG without leaking pyplot figures, and raises ConfigError on bad input."""

    def test_png_written_and_no_figure_leak(self, tmp_path):
        import matplotlib.pyplot as plt

        runs = []
        for seed in range(3):
            (tmp_path / f"seed{seed}").mkdir()
            runs.append(_write_run(tmp_path / f"seed{seed}", [seed + i * 0.5 for i in range(20)]))
        (tmp_path / "other").mkdir()
        runs.append(_write_run(tmp_path / "other", [float("nan"), *range(19)]))
        figures_before = plt.get_fignums()
        out = str(tmp_path / "plots" / "curve.png")
        assert plot_learning_curves(runs, out, labels=["ppo", "ppo", "ppo", "other"]) == out
        assert plt.get_fignums() == figures_before
        data = (tmp_path / "plots" / "curve.png").read_bytes()
        assert data[:8] == PNG_MAGIC and len(data) > 1024
        assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == ["curve.png"]  # no temporary left

    def test_errors_name_the_missing_metrics(self, tmp_path, caplog):
        (tmp_path / "empty").mkdir()
        with pytest.raises(ConfigError, match=r"No metrics file at .*empty.*metrics\.jsonl"):
            plot_learning_curves([str(tmp_path / "empty")], str(tmp_path / "x.png"))
        (tmp_path / "run").mkdir()
        run = _write_run(tmp_path / "run", [1.0, 2.0])
        with pytest.raises(ConfigError, match=r"'Loss/value'.*run.*metrics\.jsonl"):
            plot_learning_curves([run], str(tmp_path / "x.png"), key="Loss/value")
        with pytest.raises(ConfigError, match="2 labels for 1 runs"):
            plot_learning_curves([run], str(tmp_path / "x.png"), labels=["a", "b"])
        assert not (tmp_path / "x.png").exists()

        (tmp_path / "no_reward").mkdir()
        (tmp_path / "no_reward" / "metrics.jsonl").write_text(json.dumps({"iteration": 0, "Loss/value": 1.0}) + "\n")
        with caplog.at_level(logging.WARNING):
            plot_learning_curves([run, str(tmp_path / "no_reward")], str(tmp_path / "x.png"))
        assert "no_reward" in caplog.text and (tmp_path / "x.png").read_bytes()[:8] == PNG_MAGIC


class TestRunAwarePlots:
    """Labels name the task and run; random episode starts hide the iterations whose episodes were cut short;
    distillation runs get a behaviour-loss panel; `stride plot RUN` writes next to the run."""

    def _run(self, directory, rewards, *, random_starts, horizon=200, steps=24, behavior=None):
        directory.mkdir()
        writer = JsonlWriter(str(directory / "metrics.jsonl"))
        for iteration, reward in enumerate(rewards):
            scalars = {"Train/mean_reward": reward, "Perf/total_steps": (iteration + 1) * steps}
            if behavior is not None:
                scalars["Loss/behavior"] = behavior[iteration]
            writer.write_scalars(iteration, scalars)
        writer.close()
        (directory / "experiment.yaml").write_text(f"task: pendulum\ninit_at_random_ep_len: {random_starts}\n")
        (directory / "config.yaml").write_text(
            f"runner:\n  num_steps_per_env: {steps}\nenv:\n  task: pendulum\n  max_episode_length: {horizon}\n"
        )
        return str(directory)

    def test_labels_and_random_start_cut(self, tmp_path):
        from stride.logging.plots import partial_start_iterations

        rewards = [-300.0 - i for i in range(12)]
        cut = self._run(tmp_path / "cut", rewards, random_starts="true")
        whole = self._run(tmp_path / "whole", rewards, random_starts="false")
        # T = 200, n = 24: iterations 0..8 end episodes that may have started mid-way; ceil(200 / 24) = 9
        assert partial_start_iterations(cut) == 9 and partial_start_iterations(whole) == 0
        _, groups = _collect_curves([cut, whole], "Train/mean_reward", "Perf/total_steps", None)
        assert sorted(groups) == ["pendulum: cut", "pendulum: whole"]
        assert groups["pendulum: cut"][0][1] == rewards[9:]
        assert groups["pendulum: whole"][0][1] == rewards
        # a run without its yaml files keeps every point and its directory name
        (tmp_path / "cut" / "experiment.yaml").unlink()
        (tmp_path / "cut" / "config.yaml").unlink()
        _, groups = _collect_curves([cut], "Train/mean_reward", "Perf/total_steps", None)
        assert list(groups) == ["cut"] and groups["cut"][0][1] == rewards

    def test_behavior_panel_and_note(self, tmp_path, monkeypatch):
        import stride.logging.plots as plots

        seen = {}
        monkeypatch.setattr(plots, "_save_figure", lambda panels, out, **kw: seen.update(panels=panels, **kw))
        run = self._run(tmp_path / "d", [1.0] * 12, random_starts="true", behavior=[0.5 / (i + 1) for i in range(12)])
        plot_learning_curves([run], str(tmp_path / "x.png"))
        keys = [key for key, _ in seen["panels"]]
        assert keys == ["Train/mean_reward", "Loss/behavior"]
        behavior = seen["panels"][1][1]["pendulum: d"][0][1]
        assert len(behavior) == 12 and behavior[0] == 0.5  # the loss is not cut: it does not depend on episodes
        assert seen["note"].startswith("first 9 iterations not drawn")

    def test_cli_default_out_next_to_run(self, tmp_path, monkeypatch, capsys):
        from stride.cli.main import main

        run = self._run(tmp_path / "r", [1.0, 2.0], random_starts="false")
        monkeypatch.chdir(tmp_path)
        assert main(["plot", run]) == 0
        assert (tmp_path / "r" / "learning_curves.png").read_bytes()[:8] == PNG_MAGIC
        assert capsys.readouterr().out.strip() == f"plot: {tmp_path / 'r' / 'learning_curves.png'}"
