"""Frames of the built-in tasks: RGB uint8 pictures that follow the state they draw."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from stride.env.tasks import list_tasks, make_task
from stride.env.tasks.frames import draw_frame, frame_rate
from stride.utils.errors import ConfigError

_ORANGE = np.array([204, 121, 44], dtype=np.uint8)


def _orange_columns(frame: np.ndarray) -> np.ndarray:
    return np.flatnonzero((frame == _ORANGE).all(axis=-1).any(axis=0))


class TestFrames:
    """Every built-in task draws; the cartpole's pole leans the way theta says, and moves with the cart."""

    @pytest.mark.parametrize("task", list_tasks())
    def test_every_task_draws(self, task: str) -> None:
        env = make_task(task, num_envs=2, seed=0)
        frame = draw_frame(env, 1)
        assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3
        assert frame.shape[0] >= 100 and frame.shape[1] >= 100
        assert (frame != 255).any()  # something is drawn on the white canvas
        assert frame_rate(env) >= 1

    def test_cartpole_pole_follows_state(self) -> None:
        env = make_task("cartpole", num_envs=1, seed=0)
        env.state.zero_()
        upright = _orange_columns(draw_frame(env))
        env.state[0, 2] = math.radians(40.0)  # pole tilted to the right
        tilted = _orange_columns(draw_frame(env))
        assert tilted.max() > upright.max() + 50
        env.state[0] = torch.tensor([1.0, 0.0, 0.0, 0.0])  # cart 1 m to the right, pole upright
        moved = _orange_columns(draw_frame(env))
        scale = 480 / (2 * 2.4 * 1.25)  # pixels per metre
        assert abs(moved.mean() - upright.mean() - scale) <= 2

    def test_unknown_task_refused(self) -> None:
        class Blank:
            pass

        with pytest.raises(ConfigError, match=r"cannot draw task 'Blank'.*render_frame"):
            draw_frame(Blank())  # type: ignore[arg-type]
