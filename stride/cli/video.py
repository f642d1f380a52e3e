"""``stride play --video PATH``: record one deterministic episode of a policy as an MP4 or a GIF.

Frames come from :func:`stride.env.tasks.frames.draw_frame` for the built-in tasks and from an env's own
``render_frame(index)`` (the Gymnasium adapter's, built with ``render_mode="rgb_array"``). The encoding uses
imageio, an optional extra (``pip install 'stride-rl[video]'``, which also brings the ffmpeg binary of
imageio-ffmpeg for MP4); it is imported only here. Without an MP4 encoder the video is written as a GIF next to the
requested path.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from tensordict import TensorDict

from stride.utils.errors import StrideError

__all__ = ["check_video_path", "record_video"]

_log = logging.getLogger(__name__)
_FORMATS = (".mp4", ".gif")
_INSTALL = "pip install 'stride-rl[video]'"


def _has_mp4_encoder() -> bool:
    return importlib.util.find_spec("imageio_ffmpeg") is not None


def check_video_path(path: str) -> str:
    """The path the video will be written to; checked before anything runs.

    Args:
        path: The requested ``.mp4`` or ``.gif`` path.

    Returns:
        ``path``, or the same path with ``.gif`` when MP4 was asked for and no MP4 encoder is installed.

    Raises:
        StrideError: If the extension is neither ``.mp4`` nor ``.gif``, imageio is not installed, or the folder
            does not exist.
    """
    stem, ext = os.path.splitext(path)
    if ext.lower() not in _FORMATS:
        raise StrideError(f"--video '{path}': expected a .mp4 or .gif path, got extension '{ext or '(none)'}'.")
    if importlib.util.find_spec("imageio") is None:
        raise StrideError(f"--video needs imageio, which is not installed; run {_INSTALL}.")
    folder = os.path.dirname(path)
    if folder and not os.path.isdir(folder):
        raise StrideError(f"--video '{path}': the folder '{folder}' does not exist.")
    if ext.lower() == ".mp4" and not _has_mp4_encoder():
        return stem + ".gif"
    return path


def _frame_source(env: Any) -> tuple[Callable[[], np.ndarray], int]:
    """``(draw env 0 now, frames per second)`` for a built-in task or an env with ``render_frame``."""
    from stride.env.tasks.base import BatchedTask
    from stride.env.tasks.frames import draw_frame, frame_rate

    render = getattr(env, "render_frame", None)
    if callable(render):
        fps = int(getattr(env, "render_fps", 30) or 30)
        return (lambda: np.asarray(render(0))), fps
    if isinstance(env, BatchedTask):
        return (lambda: draw_frame(env, 0)), frame_rate(env)
    raise StrideError(
        f"--video cannot draw {type(env).__name__}: it draws the built-in tasks, Gymnasium and envpool tasks; give "
        "your env a render_frame(index) method returning an RGB uint8 array."
    )


@torch.inference_mode()
def record_video(
    env: Any, policy: Callable[[TensorDict], torch.Tensor], path: str, max_steps: int | None = None
) -> tuple[str, int, float]:
    """Play env 0's first episode with ``policy`` and write it as a video.

    Args:
        env: A freshly built env (its first env is recorded; a single-env batch is the cheapest).
        policy: Deterministic inference policy (a recurrent one is reset first and on the done).
        path: ``.mp4`` or ``.gif`` output path (see :func:`check_video_path`).
        max_steps: Frame budget; default the env's time limit.

    Returns:
        ``(written path, number of frames, the episode's return)``.

    Raises:
        StrideError: On a bad path, a missing extra, or an env that cannot be drawn.
    """
    out = check_video_path(path)
    source, fps = _frame_source(env)

    def draw() -> np.ndarray:
        try:
            return source()
        except StrideError:
            raise
        except Exception as err:  # the renderer's own failure (no OpenGL context, ...) as one line
            raise StrideError(
                f"--video: {type(env).__name__} could not render a frame ({type(err).__name__}: {err}). MuJoCo "
                "envs on a machine without a display need MUJOCO_GL=egl (or osmesa) and its OpenGL library."
            ) from err

    horizon = int(torch.as_tensor(env.max_episode_length).max()) if max_steps is None else max_steps
    reset = getattr(policy, "reset", None) if getattr(policy, "is_recurrent", False) else None
    if reset is not None:
        reset()
    obs = env.get_observations()
    frames = [draw()]
    episode_return = 0.0
    for _ in range(horizon):
        obs, rewards, dones, _extras = env.step(policy(obs))
        if reset is not None:
            reset(dones)
        episode_return += float(rewards[0])
        if bool(dones[0]):
            break  # same-step reset: the env already shows the next episode's start
        frames.append(draw())
    _write(out, frames, fps)
    return out, len(frames), episode_return


def _write(path: str, frames: list[np.ndarray], fps: int) -> None:
    import imageio.v2 as imageio

    # encoders want even sizes: crop one pixel row or column where needed
    height, width = frames[0].shape[0] // 2 * 2, frames[0].shape[1] // 2 * 2
    stack: list[Any] = [np.ascontiguousarray(frame[:height, :width, :3]) for frame in frames]
    if path.lower().endswith(".gif"):
        imageio.mimsave(path, stack, duration=1000.0 / fps, loop=0)
    else:
        imageio.mimsave(path, stack, fps=fps, macro_block_size=1)
    _log.info("wrote %d frames to %s", len(stack), path)
