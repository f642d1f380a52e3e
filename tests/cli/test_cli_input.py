"""What a new user trips on at the command line: bad devices, options a resume cannot honour, a finished run,
missing run directories, YAML spellings, the version, the help text and the task table (issue 17)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from stride import __version__
from stride.cli.main import main
from stride.cli.runtime import choose_threads, command_line


def _train(run: Path, *extra: str) -> list[str]:
    return [
        "train",
        "--task",
        "cartpole",
        "--num-envs",
        "16",
        "--iterations",
        "1",
        "--run-dir",
        str(run),
        "--set",
        "actor.hidden_dims=[8]",
        "--set",
        "critic.hidden_dims=[8]",
        *extra,
    ]


def _error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("stride: error:")
    return lines[0]


class TestDevice:
    """An unknown device, or CUDA on a machine or build without it, exits 2 with one line before anything runs."""

    @pytest.mark.parametrize("device", ["banana", "cuda:0", "cuda:99", "tpu"])
    def test_unusable_device(self, device: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        import torch

        if device.startswith("cuda") and torch.cuda.is_available() and device != "cuda:99":
            pytest.skip("CUDA is available here")
        assert main(_train(tmp_path / "run", "--device", device)) == 2
        assert f"--device '{device}'" in _error_line(capsys)
        assert not (tmp_path / "run").exists()

    def test_play_checks_device_too(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["play", str(tmp_path), "--device", "banana"]) == 2
        assert "not a torch device" in _error_line(capsys)


class TestVersionAndHelp:
    """--version prints the version; help of play, plot and check-env shows the defaults."""

    def test_version(self, capsys: pytest.CaptureFixture[str]) -> None:
        with pytest.raises(SystemExit) as info:
            main(["--version"])
        assert info.value.code == 0
        assert capsys.readouterr().out.startswith(f"stride {__version__} ")

    @pytest.mark.parametrize(
        ("command", "shown"),
        [("play", "(default: 100)"), ("plot", "(default: Train/mean_reward)"), ("check-env", "(default: 4)")],
    )
    def test_defaults_in_help(self, command: str, shown: str, capsys: pytest.CaptureFixture[str]) -> None:
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        assert shown in text
        assert "(default: None)" not in text

    def test_tasks_columns_align(self, capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["tasks"]) == 0
        footer = ("Gymnasium", "envpool")
        rows = [line for line in capsys.readouterr().out.splitlines() if line and not line.startswith(footer)]
        assert rows[0].startswith("task ")
        # the 'actions' column starts at the same offset on every row, long names included
        starts = {re.match(r"\S+\s+", row).end() for row in rows}  # type: ignore[union-attr]
        assert len(starts) == 1
        assert any(row.startswith("pendulum-noisy ") for row in rows)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("resume") / "run"
    assert main(_train(run)) == 0
    return run


class TestResume:
    """--resume refuses the options it cannot honour, names them, and does nothing on a finished run."""

    @pytest.mark.parametrize(
        ("option", "value"),
        [
            ("--seed", "3"),
            ("--num-envs", "8"),
            ("--task", "pendulum"),
            ("--set", "algorithm.gamma=0.9"),
            ("--config", "x.yaml"),
            ("--run-dir", "elsewhere"),
        ],
    )
    def test_refused_option(
        self, finished_run: Path, option: str, value: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        capsys.readouterr()
        assert main(["train", "--resume", str(finished_run), option, value]) == 2
        line = _error_line(capsys)
        assert f"so {option} cannot change it" in line

    def test_finished_run_is_left_alone(self, finished_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
        before = sorted(p.name for p in finished_run.iterdir())
        capsys.readouterr()
        assert main(["train", "--resume", str(finished_run)]) == 0
        out = capsys.readouterr().out
        assert "is at iteration 1, the end of its planned run (max_iterations 1); nothing to do" in out
        assert "trained" not in out
        assert sorted(p.name for p in finished_run.iterdir()) == before  # no new event file, no checkpoint

    def test_missing_run_is_named(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["train", "--resume", str(tmp_path / "nope")]) == 2
        assert f"run directory '{tmp_path / 'nope'}' does not exist" in _error_line(capsys)
        assert main(["play", str(tmp_path / "nope")]) == 2
        assert f"run directory '{tmp_path / 'nope'}' does not exist" in _error_line(capsys)
        assert main(["play", str(tmp_path)]) == 2
        assert "holds no experiment.yaml" in _error_line(capsys)


class TestConfigFiles:
    """A config error names its file; 1e-3 in YAML is a float."""

    def test_unknown_key_names_the_file(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        path = tmp_path / "exp.yaml"
        path.write_text("task: cartpole\nrunner:\n  algorithm:\n    learning_rat: 0.001\n")
        assert main(["train", "--config", str(path), "--run-dir", str(tmp_path / "run")]) == 2
        line = _error_line(capsys)
        assert f"in '{path}'" in line and "did you mean 'learning_rate'" in line

    def test_exponent_without_dot_is_a_float(self, tmp_path: Path) -> None:
        from stride.config.io import load_yaml, parse_yaml

        path = tmp_path / "exp.yaml"
        path.write_text("a: 1e-3\nb: -2E+2\nc: '1e-3'\nd: 7\n")
        assert load_yaml(str(path)) == {"a": 0.001, "b": -200.0, "c": "1e-3", "d": 7}
        assert parse_yaml("[3e-4, 1.0e-3]") == [0.0003, 0.001]

    def test_exponent_float_trains(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        run = tmp_path / "run"
        assert main(_train(run, "--set", "algorithm.learning_rate=3e-4")) == 0
        out = capsys.readouterr().out
        assert "trained cartpole for 1 iterations" in out
        assert "learning_rate: 0.0003" in (run / "experiment.yaml").read_text()


class TestThreadsAndCommands:
    """The run says its thread count and why; the printed commands run without an activated venv."""

    def test_first_line_names_threads(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        import torch

        before = torch.get_num_threads()
        try:
            assert main(_train(tmp_path / "run", "--threads", "1")) == 0
            assert torch.get_num_threads() == 1
        finally:
            torch.set_num_threads(before)
        out = capsys.readouterr().out
        first = out.splitlines()[0]
        assert first.startswith("stride train: cartpole on cpu, 1 CPU thread(s) (--threads;")
        tensorboard = next(line for line in out.splitlines() if line.startswith("tensorboard:"))
        assert tensorboard.split()[1].endswith("tensorboard") and tensorboard.endswith(f"--logdir {tmp_path / 'run'}")

    def test_auto_rule(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import torch

        before = torch.get_num_threads()
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
        try:
            assert choose_threads("gym:Ant-v5", "cpu", None)[0] == 1
            torch.set_num_threads(2)
            assert choose_threads("cartpole", "cpu", None)[0] == 1
            torch.set_num_threads(2)
            assert choose_threads("cartpole", "cuda:0", None) == (2, "auto: torch's default beside the cuda:0 device")
            assert choose_threads("gym:Ant-v5", "cpu", 3)[0] == 3
            monkeypatch.setenv("OMP_NUM_THREADS", "2")
            torch.set_num_threads(2)  # what torch read from OMP_NUM_THREADS at start
            assert choose_threads("gym:Ant-v5", "cpu", None) == (2, "OMP_NUM_THREADS")
        finally:
            torch.set_num_threads(before)

    def test_bad_threads_and_iterations(self, capsys: pytest.CaptureFixture[str]) -> None:
        with pytest.raises(SystemExit) as info:
            main(["train", "--threads", "0"])
        assert info.value.code == 2
        assert "expected 'auto' or an integer >= 1" in capsys.readouterr().err
        for command in ("train", "distill"):
            with pytest.raises(SystemExit) as info:
                main([command, "--iterations", "-5"])
            assert info.value.code == 2
            assert "argument --iterations: expected an integer >= 1, got '-5'" in capsys.readouterr().err

    def test_command_line_quotes(self) -> None:
        assert command_line("no-such-program-xyz", "a b") == "no-such-program-xyz 'a b'"
