"""stride play --video: one deterministic episode written as MP4 or GIF; clear errors without the extra."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from stride.cli.main import main
from stride.cli.video import check_video_path, record_video
from stride.env.tasks import make_task
from stride.utils.errors import StrideError

imageio = pytest.importorskip("imageio")


def _upright_policy(obs):  # pushes the cart towards the pole's lean: keeps cartpole up for a while
    theta, theta_dot = obs["policy"][:, 2], obs["policy"][:, 3]
    return torch.clamp(10.0 * theta + 2.0 * theta_dot, -1.0, 1.0).unsqueeze(-1)


class TestRecordVideo:
    """One frame per step of the episode (the states the policy acted in); the return is the episode's."""

    def test_gif_of_one_episode(self, tmp_path: Path) -> None:
        env = make_task("cartpole", num_envs=1, seed=3, max_episode_length=40)
        path, frames, episode_return = record_video(env, _upright_policy, str(tmp_path / "a.gif"))
        assert path == str(tmp_path / "a.gif") and frames == 40 and episode_return == 40.0
        data = imageio.v2.mimread(path)
        # Pillow merges identical consecutive frames of a GIF into one longer frame
        assert 1 < len(data) <= 40 and np.asarray(data[0]).shape[-1] in (3, 4)

    def test_mp4_or_gif_fallback(self, tmp_path: Path) -> None:
        env = make_task("pendulum", num_envs=1, seed=0, max_episode_length=12)
        path, frames, _ = record_video(env, lambda obs: torch.zeros(1, 1), str(tmp_path / "b.mp4"))
        expected = "b.mp4" if importlib.util.find_spec("imageio_ffmpeg") is not None else "b.gif"
        assert Path(path).name == expected and Path(path).stat().st_size > 0 and frames == 12

    def test_bad_paths_and_missing_extra(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        with pytest.raises(StrideError, match=r"expected a \.mp4 or \.gif path, got extension '\.avi'"):
            check_video_path(str(tmp_path / "v.avi"))
        with pytest.raises(StrideError, match=r"folder .* does not exist"):
            check_video_path(str(tmp_path / "no" / "v.gif"))
        real = importlib.util.find_spec
        monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "imageio" else real(name))
        with pytest.raises(StrideError, match=r"needs imageio.*stride-rl\[video\]"):
            check_video_path(str(tmp_path / "v.gif"))


class TestPlayVideo:
    """stride play RUN --video PATH prints the evaluation and the video line."""

    def test_play_writes_video(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        run = tmp_path / "run"
        argv = ["train", "--task", "pendulum", "--num-envs", "8", "--iterations", "1", "--run-dir", str(run)]
        assert main([*argv, "--set", "actor.hidden_dims=[8]", "--set", "critic.hidden_dims=[8]"]) == 0
        capsys.readouterr()
        assert main(["play", str(run), "--episodes", "2", "--num-envs", "2", "--video", str(tmp_path / "p.gif")]) == 0
        out = capsys.readouterr().out
        assert f"video: {tmp_path / 'p.gif'} (200 frames, one episode, return" in out
        assert 1 < len(imageio.v2.mimread(str(tmp_path / "p.gif"))) <= 200
