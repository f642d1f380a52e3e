"""Reach a target from pixels: a kinematic point in the unit square seen only through a 32×32 image.

The task for CNN policies. The observation is a single-channel image with a bright blob for the agent and a dimmer
one for the target; since the agent moves kinematically (the action is its velocity), one frame holds the whole
state and a feed-forward CNN can solve the task.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from tensordict import TensorDict

from stride.env.tasks.base import BatchedTask

__all__ = ["ReachImage"]


class ReachImage(BatchedTask):
    """Drive a point to a target in the unit square, observing only a rendered image.

    State per env: the agent's position ``p`` and the target's position ``g``, both in ``[0, 1]²``; initial
    positions are uniform in ``[0.1, 0.9]²``, independently. The action ``a ∈ [−1, 1]²`` is a velocity command:
    ``p ← clip(p + max_speed · a, 0, 1)``. The reward is ``−‖p − g‖`` after the move, plus ``reach_bonus`` on the
    step that brings the agent within ``goal_radius`` of the target, which also terminates the episode; otherwise
    the episode is truncated after 50 steps.

    Observation groups:
        ``"policy"``: a ``(1, 32, 32)`` image (row ``i`` is ``y``, column ``j`` is ``x``, pixel centres at
        ``((j + 0.5) / 32, (i + 0.5) / 32)``) holding the sum of two Gaussian blobs of width ``blob_sigma``:
        height 1.0 at the agent and 0.5 at the target. Shape: (num_envs, 1, 32, 32), float32.

    Args:
        num_envs: Number of environments in the batch (>= 1).
        device: Torch device for all state and returned tensors.
        seed: Seed of the task's random generator (initial positions).
        max_episode_length: Time limit in steps; ``None`` uses 50.

    Raises:
        ConfigError: If ``num_envs`` or ``max_episode_length`` is not a positive integer.
    """

    name: ClassVar[str] = "reach-image"
    observation_sizes: ClassVar[dict[str, tuple[int, ...]]] = {"policy": (1, 32, 32)}
    action_size: ClassVar[int] = 2
    default_max_episode_length: ClassVar[int] = 50
    state_names: ClassVar[tuple[str, ...]] = ("agent_pos", "target_pos")

    image_size: ClassVar[int] = 32
    """Height and width of the image in pixels."""
    max_speed: ClassVar[float] = 0.05
    """Displacement per step and axis for action 1.0 (unit square lengths)."""
    goal_radius: ClassVar[float] = 0.05
    """Distance to the target at which the episode ends with the bonus."""
    reach_bonus: ClassVar[float] = 1.0
    """Reward added on the step that reaches the target."""
    spawn_low: ClassVar[float] = 0.1
    """Lower bound of initial positions on each axis."""
    spawn_high: ClassVar[float] = 0.9
    """Upper bound of initial positions on each axis."""
    blob_sigma: ClassVar[float] = 1.5 / 32
    """Standard deviation of the rendered blobs (1.5 pixels)."""
    agent_intensity: ClassVar[float] = 1.0
    """Peak value of the agent's blob."""
    target_intensity: ClassVar[float] = 0.5
    """Peak value of the target's blob."""

    agent_pos: torch.Tensor
    """Agent position ``(x, y)``. Shape: (num_envs, 2), float32."""
    target_pos: torch.Tensor
    """Target position ``(x, y)``. Shape: (num_envs, 2), float32."""

    def _init_state(self) -> None:
        """Allocate the positions and the pixel-centre grid used by the renderer."""
        self.agent_pos = torch.zeros(self.num_envs, 2, dtype=torch.float32, device=self.device)
        self.target_pos = torch.zeros(self.num_envs, 2, dtype=torch.float32, device=self.device)
        size = self.image_size
        self._centres = (torch.arange(size, dtype=torch.float32, device=self.device) + 0.5) / size

    def _sample_initial_state(self) -> dict[str, torch.Tensor]:
        """Draw the agent and the target uniformly in ``[0.1, 0.9]²`` (one draw of four numbers per env)."""
        u = self._uniform(self.spawn_low, self.spawn_high, 4)
        return {"agent_pos": u[:, :2].contiguous(), "target_pos": u[:, 2:].contiguous()}

    def _physics(self, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Move the agent by ``max_speed · a`` and score its distance to the target.

        Args:
            actions: Clipped velocity commands. Shape: (num_envs, 2).

        Returns:
            ``(rewards, terminated)``, each of shape ``(num_envs,)``; terminated where the target was reached.
        """
        # p ← clip(p + v_max · a, 0, 1)
        self.agent_pos.copy_((self.agent_pos + self.max_speed * actions).clamp(0.0, 1.0))
        distance = torch.linalg.vector_norm(self.agent_pos - self.target_pos, dim=-1)
        reached = distance <= self.goal_radius
        # r = −‖p − g‖ + bonus · [‖p − g‖ ≤ goal_radius]
        rewards = -distance + self.reach_bonus * reached.to(torch.float32)
        return rewards, reached

    def _blob(self, pos: torch.Tensor) -> torch.Tensor:
        """Gaussian blob of unit height at ``pos`` (N, 2), as a separable product. Shape: (num_envs, H, W)."""
        # exp(−((x − p_x)² + (y − p_y)²) / (2σ²)) = exp(−(x − p_x)² / 2σ²) · exp(−(y − p_y)² / 2σ²)
        scale = -0.5 / self.blob_sigma**2
        along_x = torch.exp(scale * (self._centres - pos[:, 0:1]).square())
        along_y = torch.exp(scale * (self._centres - pos[:, 1:2]).square())
        return along_y.unsqueeze(-1) * along_x.unsqueeze(-2)

    def render(self) -> torch.Tensor:
        """Render the current state.

        Returns:
            The images. Shape: (num_envs, 1, 32, 32), float32.
        """
        image = self.agent_intensity * self._blob(self.agent_pos) + self.target_intensity * self._blob(self.target_pos)
        return image.unsqueeze(1)

    def _observe(self) -> TensorDict:
        """Observation ``{"policy": image}`` (a new tensor every call)."""
        return TensorDict({"policy": self.render()}, batch_size=[self.num_envs], device=self.device)

    def optimal_actions(self) -> torch.Tensor:
        """The greedy velocity command ``clip((g − p) / max_speed, −1, 1)`` from the true state (for tests/demos).

        On each axis it shrinks the gap as fast as the speed limit allows, so the distance after every step is the
        smallest any policy can reach: it maximizes the return.

        Returns:
            Actions. Shape: (num_envs, 2).
        """
        return ((self.target_pos - self.agent_pos) / self.max_speed).clamp(-1.0, 1.0)
