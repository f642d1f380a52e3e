"""A cue-recall task that only a policy with memory can solve, batched in torch.

The first observation of an episode shows a cue ``c ∈ {−1, +1}``; every later one shows 0 in its place. The only
reward comes on the last step: ``c · a``. A memoryless policy sees the same observation at the last step whatever
the cue was, so its expected return is 0 (chance); a policy that remembers the cue earns 1 (the maximum).
"""

from __future__ import annotations

from typing import ClassVar

import torch
from tensordict import TensorDict

from stride.env.tasks.base import BatchedTask
from stride.utils.errors import ConfigError

__all__ = ["MemoryCue"]


class MemoryCue(BatchedTask):
    """Remember a cue shown at the first step and answer it at the last step.

    State per env: the cue ``c ∈ {−1, +1}`` (drawn uniformly per episode from the task's generator) and the step
    index ``t ∈ {0, ..., L−1}`` within the episode, where ``L = max_episode_length``. The reward is
    ``c · a`` on the step taken at ``t = L − 1`` and 0 on every other step (``a`` is the clipped action). The
    episode *terminates* after ``L`` steps: nothing comes after the answer, so the value of the end is 0 and PPO
    must not bootstrap from it as it would for a time-out.

    The step index is the task's own clock, not ``episode_length_buf``: when a runner randomizes
    ``episode_length_buf`` (random episode starts), the first episodes are merely truncated early (and
    bootstrapped), while the cue is still shown at ``t = 0`` and the answer still comes at ``t = L − 1``.

    Observation groups:
        ``"policy"``: ``(c if t == 0 else 0, t / L)``. Shape: (num_envs, 2), float32.

    Args:
        num_envs: Number of environments in the batch (>= 1).
        device: Torch device for all state and returned tensors.
        seed: Seed of the task's random generator (cues).
        max_episode_length: Episode length ``L`` in steps (>= 2); ``None`` uses 12.

    Raises:
        ConfigError: If ``num_envs`` is not a positive integer or ``max_episode_length`` is not an integer >= 2.
    """

    name: ClassVar[str] = "memory"
    observation_sizes: ClassVar[dict[str, int]] = {"policy": 2}
    action_size: ClassVar[int] = 1
    default_max_episode_length: ClassVar[int] = 12
    state_names: ClassVar[tuple[str, ...]] = ("cue", "clock")

    cue: torch.Tensor
    """Cue of the current episode, −1.0 or +1.0. Shape: (num_envs,), float32."""
    clock: torch.Tensor
    """Steps taken in the current episode, ``t``. Shape: (num_envs,), int64."""

    def __init__(
        self,
        num_envs: int = 1,
        device: str | torch.device = "cpu",
        seed: int = 0,
        max_episode_length: int | None = None,
    ) -> None:
        if isinstance(max_episode_length, int) and not isinstance(max_episode_length, bool) and max_episode_length < 2:
            raise ConfigError(
                f"{self.name}: max_episode_length must be an integer >= 2, got {max_episode_length!r}. With one step "
                "the cue is visible when the answer is due, so no memory is needed. Fix: use e.g. 12."
            )
        super().__init__(num_envs=num_envs, device=device, seed=seed, max_episode_length=max_episode_length)

    @property
    def episode_length(self) -> int:
        """Episode length ``L`` (the task's ``max_episode_length``)."""
        return int(self.max_episode_length)

    def _init_state(self) -> None:
        """Allocate the cue and the clock."""
        self.cue = torch.zeros(self.num_envs, dtype=torch.float32, device=self.device)
        self.clock = torch.zeros(self.num_envs, dtype=torch.long, device=self.device)

    def _sample_initial_state(self) -> dict[str, torch.Tensor]:
        """Draw ``c = ±1`` with probability 1/2 each; the clock starts at 0."""
        # c = 2·[u < 1/2] − 1 with u ~ U(0, 1)
        cue = torch.where(self._uniform(0.0, 1.0) < 0.5, 1.0, -1.0)
        return {"cue": cue, "clock": torch.zeros_like(self.clock)}

    def _physics(self, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Pay ``c · a`` on the answer step, advance the clock, terminate after ``L`` steps.

        Args:
            actions: Clipped actions. Shape: (num_envs, 1).

        Returns:
            ``(rewards, terminated)``, each of shape ``(num_envs,)``.
        """
        # r_t = c · a_t if t = L − 1 else 0
        answer_step = self.clock == self.episode_length - 1
        rewards = torch.where(answer_step, self.cue * actions[:, 0], 0.0)
        self.clock += 1
        terminated = self.clock >= self.episode_length
        return rewards, terminated

    def _observe(self) -> TensorDict:
        """Observation ``{"policy": (c if t == 0 else 0, t / L)}``."""
        shown = torch.where(self.clock == 0, self.cue, 0.0)
        phase = self.clock.to(torch.float32) / self.episode_length
        return TensorDict(
            {"policy": torch.stack((shown, phase), dim=-1)}, batch_size=[self.num_envs], device=self.device
        )
