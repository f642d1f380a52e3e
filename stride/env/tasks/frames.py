"""Pictures of the built-in tasks, drawn with numpy alone (no display, no plotting library).

:func:`draw_frame` returns one env's current state as an RGB image, for videos of a policy (``stride play
--video``). Each task is drawn from its physical state with a few anti-aliasing-free primitives on a small canvas;
the pictures are for people, not for learning.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from stride.env.tasks.base import BatchedTask
from stride.env.tasks.cartpole import CartPole
from stride.env.tasks.memory import MemoryCue
from stride.env.tasks.mountain_car import MountainCar
from stride.env.tasks.pendulum import Pendulum
from stride.env.tasks.reach_image import ReachImage
from stride.utils.errors import ConfigError

__all__ = ["draw_frame", "frame_rate"]

_INK = (40, 40, 40)
_BLUE = (52, 101, 164)
_ORANGE = (204, 121, 44)
_GREEN = (78, 154, 6)
_RED = (204, 0, 0)
_GREY = (186, 189, 182)


class _Canvas:
    """A white RGB image with a world-to-pixel map; y points up in world units."""

    def __init__(self, x_range: tuple[float, float], y_range: tuple[float, float], width: int = 480) -> None:
        self.x0, x1 = x_range
        self.y0, y1 = y_range
        self.scale = width / (x1 - self.x0)
        self.height = max(2, round((y1 - self.y0) * self.scale))
        self.pixels = np.full((self.height, width, 3), 255, dtype=np.uint8)
        # world coordinates of every pixel centre
        self._x = self.x0 + (np.arange(width) + 0.5) / self.scale
        self._y = y1 - (np.arange(self.height) + 0.5) / self.scale

    def _paint(self, mask: np.ndarray, color: tuple[int, int, int]) -> None:
        self.pixels[mask] = color

    def rect(self, x0: float, y0: float, x1: float, y1: float, color: tuple[int, int, int]) -> None:
        """Fill the axis-aligned box [x0, x1] × [y0, y1]."""
        cols = (self._x >= x0) & (self._x <= x1)
        rows = (self._y >= y0) & (self._y <= y1)
        self._paint(rows[:, None] & cols[None, :], color)

    def segment(
        self, a: tuple[float, float], b: tuple[float, float], width: float, color: tuple[int, int, int]
    ) -> None:
        """A thick line from ``a`` to ``b`` (world units; ``width`` is the full thickness)."""
        ax, ay = a
        dx, dy = b[0] - ax, b[1] - ay
        px = self._x[None, :] - ax
        py = self._y[:, None] - ay
        # distance to the segment: project onto it, clamp t to [0, 1]
        t = np.clip((px * dx + py * dy) / max(dx * dx + dy * dy, 1e-12), 0.0, 1.0)
        self._paint((px - t * dx) ** 2 + (py - t * dy) ** 2 <= (width / 2) ** 2, color)

    def disc(self, centre: tuple[float, float], radius: float, color: tuple[int, int, int]) -> None:
        """A filled circle."""
        self.segment(centre, centre, 2 * radius, color)

    def graph(
        self,
        f: Callable[[np.ndarray], np.ndarray],
        slope: Callable[[np.ndarray], np.ndarray],
        width: float,
        color: tuple[int, int, int],
    ) -> None:
        """The graph of ``y = f(x)`` as a line of thickness ``width`` (one vectorized mask, not a polyline)."""
        # a line of thickness w is w·sqrt(1 + f'(x)²) tall where its slope is f'(x)
        half = 0.5 * width * np.sqrt(1.0 + slope(self._x) ** 2)
        self._paint(np.abs(self._y[:, None] - f(self._x)[None, :]) <= half[None, :], color)


def _cartpole(task: CartPole, index: int) -> np.ndarray:
    x, _, theta, _ = (float(v) for v in task.state[index].tolist())
    limit = 2.4
    canvas = _Canvas((-limit * 1.25, limit * 1.25), (-0.6, 1.5))
    canvas.segment((-limit, 0.0), (limit, 0.0), 0.02, _INK)  # the track, as long as the allowed |x|
    canvas.rect(x - 0.25, -0.12, x + 0.25, 0.12, _INK)
    pole = 2.0 * task.length  # length is the half-length, as Gymnasium's
    tip = (x + pole * math.sin(theta), pole * math.cos(theta))
    canvas.segment((x, 0.0), tip, 0.08, _ORANGE)
    canvas.disc((x, 0.0), 0.04, _BLUE)
    return canvas.pixels


def _pendulum(task: Pendulum, index: int) -> np.ndarray:
    theta = float(task.state[index, 0])
    canvas = _Canvas((-1.3, 1.3), (-1.3, 1.3), width=360)
    # θ = 0 is upright
    tip = (-task.l * math.sin(theta), task.l * math.cos(theta))
    canvas.segment((0.0, 0.0), tip, 0.16, _ORANGE)
    canvas.disc((0.0, 0.0), 0.05, _INK)
    return canvas.pixels


def _mountain_car(task: MountainCar, index: int) -> np.ndarray:
    position = float(task.state[index, 0])
    canvas = _Canvas((task.min_position, task.max_position), (0.0, 1.15))
    # the hill is y = 0.45·sin(3x) + 0.55, as Gymnasium draws it
    canvas.graph(lambda x: 0.45 * np.sin(3 * x) + 0.55, lambda x: 1.35 * np.cos(3 * x), 0.01, _INK)
    goal = task.goal_position
    flag_base = 0.45 * math.sin(3 * goal) + 0.55
    canvas.segment((goal, flag_base), (goal, flag_base + 0.12), 0.008, _INK)
    canvas.rect(goal, flag_base + 0.08, goal + 0.05, flag_base + 0.12, _GREEN)
    canvas.disc((position, 0.45 * math.sin(3 * position) + 0.55 + 0.04), 0.04, _BLUE)
    return canvas.pixels


def _memory(task: MemoryCue, index: int) -> np.ndarray:
    clock = int(task.clock[index])
    canvas = _Canvas((0.0, 1.0), (0.0, 0.5), width=360)
    # the cue is visible at the first step only: green for +1, red for −1, grey afterwards
    color = (_GREEN if float(task.cue[index]) > 0 else _RED) if clock == 0 else _GREY
    canvas.rect(0.35, 0.2, 0.65, 0.45, color)
    canvas.rect(0.05, 0.05, 0.95, 0.12, _GREY)
    canvas.rect(0.05, 0.05, 0.05 + 0.9 * clock / task.episode_length, 0.12, _BLUE)
    return canvas.pixels


def _reach_image(task: ReachImage, index: int) -> np.ndarray:
    image = task.render()[index, 0].clamp(0.0, 1.0).cpu().numpy()
    grey = (255 - 255 * image).astype(np.uint8).repeat(10, axis=0).repeat(10, axis=1)
    return np.repeat(grey[:, :, None], 3, axis=2)


_DRAWERS = (
    (CartPole, _cartpole, 50),  # τ = 0.02 s
    (Pendulum, _pendulum, 20),  # dt = 0.05 s (the POMDP and noisy variants are pendulums too)
    (MountainCar, _mountain_car, 30),
    (MemoryCue, _memory, 2),
    (ReachImage, _reach_image, 10),
)


def _drawer(task: BatchedTask) -> tuple[object, int]:
    for cls, draw, fps in _DRAWERS:
        if isinstance(task, cls):
            return draw, fps
    raise ConfigError(
        f"stride cannot draw task {type(task).__name__!r}; it draws {', '.join(c.name for c, _, _ in _DRAWERS)} "
        "and Gymnasium tasks. Give your task a render_frame(index) method returning an RGB uint8 array."
    )


def draw_frame(task: BatchedTask, index: int = 0) -> np.ndarray:
    """Draw env ``index`` of a built-in task as it is now.

    Args:
        task: A built-in task (cartpole, pendulum and its variants, mountain-car, memory, reach-image).
        index: Which env of the batch.

    Returns:
        The picture. Shape: (height, width, 3), uint8.

    Raises:
        ConfigError: If the task is not one this module draws.
    """
    draw, _ = _drawer(task)
    return draw(task, index)  # type: ignore[operator]


def frame_rate(task: BatchedTask) -> int:
    """Frames per second at which the task's steps play in real time."""
    return _drawer(task)[1]
