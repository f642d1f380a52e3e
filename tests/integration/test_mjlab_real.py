"""stride trains through real mjlab 1.6: its Go1 velocity task on its simulator (MuJoCo Warp, CPU), its wrapper.

``tests/integration/test_downstream.py`` replays mjlab's code on a fake simulator; this test runs the real one. It
needs ``mjlab==1.6.0`` installed (Python 3.10-3.13; mujoco-warp runs on the CPU) and is skipped without it. The
training runs in its own process (``mjlab_real/train_real.py``), which makes mjlab's ``from rsl_rl.runners import
OnPolicyRunner`` resolve to stride's: the one-line change an mjlab user makes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.mjlab, pytest.mark.slow]
pytest.importorskip("mjlab", reason="needs mjlab==1.6.0 (pip install mjlab==1.6.0)")

SCRIPT = Path(__file__).parent / "mjlab_real" / "train_real.py"


class TestMjlabGo1Velocity:
    """mjlab's own runner subclass, built on stride's runner, trains, saves, exports and plays Go1 velocity."""

    def test_train_save_export_play(self, tmp_path: Path) -> None:
        out = tmp_path / "result.json"
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        command = [sys.executable, str(SCRIPT), "Mjlab-Velocity-Flat-Unitree-Go1", str(tmp_path / "run"), str(out)]
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        result = json.loads(out.read_text())
        # mjlab's VelocityOnPolicyRunner → MjlabOnPolicyRunner → stride's OnPolicyRunner
        assert result["runner_mro"][:3] == [
            "mjlab.tasks.velocity.rl.runner.VelocityOnPolicyRunner",
            "mjlab.rl.runner.MjlabOnPolicyRunner",
            "stride.runners.on_policy_runner.OnPolicyRunner",
        ]
        assert result["iteration"] == 2 and result["metrics_rows"] == 2
        assert result["groups"] == {"actor": [8, 48], "critic": [8, 72]} and result["num_actions"] == 12
        assert result["params_changed"] and result["params_finite"] and result["losses_finite"]
        # checkpoints by stride, the ONNX policy by mjlab's save override (as_onnx + torch.onnx.export)
        assert {"model_0.pt", "model_1.pt", "run.onnx"} <= set(result["files"])
        assert result["play_actions"] == [8, 12] and result["play_rewards_finite"]
