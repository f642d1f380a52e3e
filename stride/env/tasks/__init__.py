"""stride's built-in batched torch tasks and their registry."""

from __future__ import annotations

from stride.env.tasks.base import BatchedTask
from stride.env.tasks.cartpole import CartPole
from stride.env.tasks.pendulum import Pendulum
from stride.env.tasks.registry import list_tasks, make_task, register_task, task_class

__all__ = ["BatchedTask", "CartPole", "Pendulum", "list_tasks", "make_task", "register_task", "task_class"]
