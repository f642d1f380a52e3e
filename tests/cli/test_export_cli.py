"""`stride export RUN_DIR [--checkpoint F] [--out DIR]`: both files written, the chosen checkpoint exported; bad input
exits 2 with one line."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from tensordict import TensorDict

from stride.cli.main import _load_run
from stride.cli.main import main as cli_main

EXPERIMENT = {
    "task": "pendulum",
    "env": {"num_envs": 16, "max_episode_length": 20},  # short episodes keep the CLI's evaluation short
    "runner": {
        "num_steps_per_env": 8,
        "max_iterations": 2,
        "save_interval": 1,
        "seed": 1,
        "algorithm": {"num_mini_batches": 2, "num_learning_epochs": 1},
        "actor": {
            "class_name": "RNNModel",
            "rnn_type": "gru",
            "rnn_hidden_dim": 8,
            "hidden_dims": [16],
            "obs_normalization": True,
            "distribution_cfg": {"class_name": "GaussianDistribution", "init_std": 1.0},
        },
        "critic": {"class_name": "MLPModel", "hidden_dims": [16]},
    },
}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-iteration GRU run with checkpoints model_0.pt and model_1.pt."""
    folder = tmp_path_factory.mktemp("cli")
    config = folder / "experiment.yaml"
    config.write_text(yaml.safe_dump(EXPERIMENT))
    assert cli_main(["train", "--config", str(config), "--run-dir", str(folder / "run")]) == 0
    assert (folder / "run" / "model_0.pt").is_file() and (folder / "run" / "model_1.pt").is_file()
    return folder / "run"


@torch.no_grad()
def _jit_actions(path: Path, obs: torch.Tensor) -> torch.Tensor:
    policy = torch.jit.load(str(path))
    return torch.stack([policy(o) for o in obs])


@torch.no_grad()
def _eager_actions(run: Path, checkpoint: str | None, obs: torch.Tensor) -> torch.Tensor:
    _exp, runner, _ = _load_run(str(run), checkpoint, "cpu")
    policy: Any = runner.get_inference_policy()
    policy.reset()
    return torch.stack([policy(TensorDict({"policy": o}, batch_size=[1])) for o in obs])


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")
class TestExportCommand:
    """Default output folder RUN_DIR/exported with policy.pt and policy.onnx, the latest checkpoint by default and
    the one named by --checkpoint otherwise (TorchScript equals that checkpoint's eager policy over 10 steps, within
    1e-5), no warning, and a summary naming the files and the ONNX inputs."""

    def test_default_out_and_latest_checkpoint(self, run: Path, capsys: pytest.CaptureFixture[str]) -> None:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert cli_main(["export", str(run)]) == 0
        assert [str(w.message) for w in caught] == []
        out = capsys.readouterr().out
        assert f"exported the RNNModel policy of {run / 'model_1.pt'}" in out
        assert "ONNX opset 18: obs (batch, 3), h_in (1, batch, 8) -> actions, h_out" in out
        assert sorted(p.name for p in (run / "exported").iterdir()) == ["policy.onnx", "policy.pt"]
        obs = torch.randn(10, 1, 3, generator=torch.Generator().manual_seed(0)) * 3.0
        exported = _jit_actions(run / "exported" / "policy.pt", obs)
        assert (exported - _eager_actions(run, None, obs)).abs().max().item() <= 1e-5

    def test_checkpoint_and_out(self, run: Path, tmp_path: Path) -> None:
        first = str(run / "model_0.pt")
        assert cli_main(["export", str(run), "--checkpoint", first, "--out", str(tmp_path / "first")]) == 0
        assert sorted(p.name for p in (tmp_path / "first").iterdir()) == ["policy.onnx", "policy.pt"]
        obs = torch.randn(10, 1, 3, generator=torch.Generator().manual_seed(1)) * 3.0
        exported = _jit_actions(tmp_path / "first" / "policy.pt", obs)
        assert (exported - _eager_actions(run, first, obs)).abs().max().item() <= 1e-5
        assert (exported - _eager_actions(run, None, obs)).abs().max().item() > 1e-3  # not the latest checkpoint


class TestExportBadInput:
    """A missing run or checkpoint and an unwritable output folder exit 2 with one line and no traceback."""

    @pytest.mark.parametrize(
        ("extra", "message"),
        [
            (["{tmp}/nope"], "nope' does not exist"),
            (["{run}", "--checkpoint", "{tmp}/model_9.pt"], "model_9.pt' does not exist"),
            (["{run}", "--out", "{run}/experiment.yaml/x"], "cannot write the exported policy to"),
        ],
    )
    def test_one_line(
        self, run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
    ) -> None:
        args = [a.format(run=run, tmp=tmp_path) for a in extra]
        assert cli_main(["export", *args]) == 2
        err = capsys.readouterr().err
        assert err.startswith("stride: error:") and err.count("\n") == 1 and message in err
        assert "Traceback" not in err

    def test_missing_run_dir_argument(self, capsys: pytest.CaptureFixture[str]) -> None:
        with pytest.raises(SystemExit) as info:
            cli_main(["export"])
        assert info.value.code == 2
        assert "required: run_dir" in capsys.readouterr().err
