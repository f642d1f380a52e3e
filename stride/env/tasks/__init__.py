"""stride's built-in batched torch tasks and their registry."""

from __future__ import annotations

from stride.env.tasks.base import BatchedTask
from stride.env.tasks.cartpole import CartPole
from stride.env.tasks.memory import MemoryCue
from stride.env.tasks.mountain_car import MountainCar
from stride.env.tasks.pendulum import Pendulum
from stride.env.tasks.pendulum_pomdp import PendulumNoisy, PendulumPOMDP
from stride.env.tasks.reach_image import ReachImage
from stride.env.tasks.registry import list_tasks, make_task, register_task, task_class

__all__ = [
    "BatchedTask",
    "CartPole",
    "MemoryCue",
    "MountainCar",
    "Pendulum",
    "PendulumNoisy",
    "PendulumPOMDP",
    "ReachImage",
    "list_tasks",
    "make_task",
    "register_task",
    "task_class",
]
