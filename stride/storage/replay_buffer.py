"""Replay buffer of an off-policy learner: one preallocated ring per env, n-step targets assembled at sampling.

Reference:
    Sutton & Barto, "Reinforcement Learning: An Introduction", 2nd ed., §7.1 (n-step returns).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from stride.utils.errors import CheckpointError, ConfigError

__all__ = ["ReplayBatch", "ReplayBuffer", "n_step_targets"]


@dataclass
class ReplayBatch:
    """One sampled batch of n-step transitions. ``B`` = batch size.

    Attributes:
        observations: Group → observations at the first step. Shape: (B, ...).
        actions: Actions taken at the first step. Shape: (B, num_actions).
        returns: Discounted reward sum up to the bootstrap step: Σ_k γ^k r_{t+k}. Shape: (B,).
        next_observations: Group → observations to bootstrap from (the final observation of an ended episode).
        discounts: γ^m for the m steps summed, 0 when the episode terminated inside the window. Shape: (B,).
    """

    observations: dict[str, torch.Tensor]
    actions: torch.Tensor
    returns: torch.Tensor
    next_observations: dict[str, torch.Tensor]
    discounts: torch.Tensor

    def to(self, device: torch.device) -> ReplayBatch:
        """The batch on ``device`` (itself when already there)."""
        if self.actions.device == device:
            return self
        return ReplayBatch(
            observations={g: t.to(device, non_blocking=True) for g, t in self.observations.items()},
            actions=self.actions.to(device, non_blocking=True),
            returns=self.returns.to(device, non_blocking=True),
            next_observations={g: t.to(device, non_blocking=True) for g, t in self.next_observations.items()},
            discounts=self.discounts.to(device, non_blocking=True),
        )


def n_step_targets(
    rewards: torch.Tensor, dones: torch.Tensor, terminated: torch.Tensor, gamma: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Fold a window of n transitions into an n-step return, its bootstrap discount and the step to bootstrap from.

    The window stops at the first done: a truncation bootstraps from that step's (final) next observation, a
    termination cuts the bootstrap (discount 0).

    Args:
        rewards: Rewards r_{t+k}, k = 0..n-1. Shape: (B, n).
        dones: Episode ended at step t+k (terminated or truncated). Shape: (B, n), bool.
        terminated: Episode terminated (not truncated) at step t+k. Shape: (B, n), bool.
        gamma: Discount factor γ.

    Returns:
        ``(returns, discounts, last)``: G = Σ_{k<m} γ^k r_{t+k} with m the steps up to and including the first done
        (or n); the discount γ^m·(1 − terminated_{t+m−1}); and m − 1, the step whose next observation bootstraps.
        Shapes: (B,), (B,), (B,) long.
    """
    n = rewards.shape[1]
    powers = gamma ** torch.arange(n, device=rewards.device, dtype=rewards.dtype)
    done_f = dones.to(rewards.dtype)
    # alive_k = Π_{j<k} (1 − done_j): step k belongs to the episode of step 0
    alive = torch.cumprod(torch.cat([torch.ones_like(done_f[:, :1]), 1.0 - done_f[:, :-1]], dim=1), dim=1)
    # G = Σ_k γ^k · alive_k · r_{t+k}
    returns = (rewards * alive * powers).sum(dim=1)
    # m = Σ_k alive_k (steps used); the last one used is m − 1
    steps = alive.sum(dim=1)
    last = (steps - 1.0).long()
    cut = terminated.gather(1, last.unsqueeze(1)).squeeze(1).to(rewards.dtype)
    # discount = γ^m · (1 − terminated at the last step used)
    discounts = torch.pow(torch.full_like(steps, gamma), steps) * (1.0 - cut)
    return returns, discounts, last


class ReplayBuffer:
    """Preallocated ring buffer of transitions, ``capacity`` steps per env, on the training device.

    Every env writes its transition of a step into the same slot, so a slot holds one step of every env and the
    per-env time order is the slot order. When full, the oldest slot is overwritten (wrap-around). A transition
    keeps both its observation and the observation that follows it (the final observation for an ended episode),
    so time-outs bootstrap correctly and n-step windows never cross into the next episode.

    Args:
        num_envs: Envs writing each step, >= 1.
        capacity: Steps kept per env, >= 1 (the buffer holds ``num_envs × capacity`` transitions).
        obs: Example observations (group → tensor of shape (num_envs, ...)) giving each group's shape and dtype.
        groups: The observation groups to store (the union of the models' groups).
        num_actions: Action size.
        device: Where the buffer lives.

    Raises:
        ConfigError: If a size is not positive or a group is missing.
    """

    def __init__(
        self,
        num_envs: int,
        capacity: int,
        obs: Mapping[str, torch.Tensor],
        groups: Sequence[str],
        num_actions: int,
        device: str | torch.device,
    ) -> None:
        if num_envs < 1 or capacity < 1:
            raise ConfigError(f"replay buffer needs num_envs >= 1 and capacity >= 1, got {num_envs} and {capacity}.")
        missing = [g for g in groups if g not in obs]
        if missing:
            raise ConfigError(f"replay buffer: observation groups {missing} are missing; env groups: {list(obs)}.")
        self.num_envs = num_envs
        self.capacity = capacity
        self.device = torch.device(device)
        self.groups = list(dict.fromkeys(groups))
        shape = (capacity, num_envs)

        def _like(group: str) -> torch.Tensor:
            example = obs[group]
            return torch.zeros(*shape, *example.shape[1:], dtype=example.dtype, device=self.device)

        self.observations = {g: _like(g) for g in self.groups}
        self.next_observations = {g: _like(g) for g in self.groups}
        self.actions = torch.zeros(*shape, num_actions, device=self.device)
        self.rewards = torch.zeros(*shape, device=self.device)
        self.dones = torch.zeros(*shape, dtype=torch.bool, device=self.device)
        self.terminated = torch.zeros(*shape, dtype=torch.bool, device=self.device)
        self.step = 0
        """Next slot to write."""
        self.size = 0
        """Filled slots (steps per env), at most ``capacity``; a host int, so sampling never reads the device."""

    def __len__(self) -> int:
        """Transitions held (all envs)."""
        return self.size * self.num_envs

    def add(
        self,
        obs: Mapping[str, torch.Tensor],
        actions: torch.Tensor,
        rewards: torch.Tensor,
        dones: torch.Tensor,
        terminated: torch.Tensor,
        next_obs: Mapping[str, torch.Tensor],
    ) -> None:
        """Write one step of every env into the next slot (overwriting the oldest when full).

        Args:
            obs: Observations the actions were taken from. Group → (num_envs, ...).
            actions: Shape: (num_envs, num_actions).
            rewards: Shape: (num_envs,).
            dones: Terminated or truncated. Shape: (num_envs,).
            terminated: Terminated (no bootstrap). Shape: (num_envs,).
            next_obs: The observations that followed (final observations where an episode ended).
        """
        self.add_policy_step(obs, actions)
        self.add_env_step(rewards, dones, terminated, next_obs)

    def add_policy_step(self, obs: Mapping[str, torch.Tensor], actions: torch.Tensor) -> None:
        """First half of :meth:`add`, at acting time: copy the observations and actions into the next slot.

        Copying when acting (not when the env answers) keeps the right values from envs that overwrite their
        observation tensors in place during ``step``.
        """
        i = self.step
        for g in self.groups:
            self.observations[g][i].copy_(obs[g])
        self.actions[i].copy_(actions)

    def add_env_step(
        self,
        rewards: torch.Tensor,
        dones: torch.Tensor,
        terminated: torch.Tensor,
        next_obs: Mapping[str, torch.Tensor],
    ) -> None:
        """Second half of :meth:`add`: the env's answer; the slot is then complete and the buffer advances."""
        i = self.step
        for g in self.groups:
            self.next_observations[g][i].copy_(next_obs[g])
        self.rewards[i].copy_(rewards)
        self.dones[i].copy_(dones)
        self.terminated[i].copy_(terminated)
        self.step = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def pending_observations(self, group: str) -> torch.Tensor:
        """The observations written by :meth:`add_policy_step` for the slot being filled. Shape: (num_envs, ...)."""
        return self.observations[group][self.step]

    def num_valid_starts(self, n_step: int) -> int:
        """Slots per env that can start a full n-step window (the newest n − 1 slots cannot yet)."""
        return max(self.size - n_step + 1, 0)

    def sampling_bound(self, n_step: int) -> int:
        """:meth:`num_valid_starts`, the exclusive bound of the start-slot draw.

        Raises:
            ConfigError: If no window of ``n_step`` slots is stored yet.
        """
        starts = self.num_valid_starts(n_step)
        if starts < 1:
            raise ConfigError(
                f"replay buffer holds {self.size} steps per env, fewer than n_step={n_step}; sample after "
                "collecting more steps (algorithm.learning_starts)."
            )
        return starts

    def sample(self, batch_size: int, n_step: int, gamma: float) -> ReplayBatch:
        """Draw ``batch_size`` transitions uniformly (env and start slot) and fold n-step windows.

        No host read: indices come from ``torch.randint`` with host-known bounds.

        Args:
            batch_size: Transitions to draw, >= 1.
            n_step: Window length n, >= 1.
            gamma: Discount factor γ.

        Returns:
            The batch.

        Raises:
            ConfigError: If no window of ``n_step`` slots is stored yet.
        """
        starts = self.sampling_bound(n_step)
        env = torch.randint(0, self.num_envs, (batch_size,), device=self.device)
        offset = torch.randint(0, starts, (batch_size,), device=self.device)
        return self.gather(env, offset, self.oldest, n_step, gamma)

    @property
    def oldest(self) -> int:
        """The slot of the oldest stored step: ``step`` once the buffer is full, 0 before."""
        return self.step if self.size == self.capacity else 0

    def gather(
        self, env: torch.Tensor, offset: torch.Tensor, oldest: int | torch.Tensor, n_step: int, gamma: float
    ) -> ReplayBatch:
        """The batch of the drawn transitions: n-step windows folded, observations gathered.

        :meth:`sample` draws ``env`` and ``offset`` and calls it; ``algorithm.cuda_graphs`` draws them into static
        tensors and calls it inside a captured graph, with ``oldest`` as a device tensor (no host value baked in).

        Args:
            env: Env of each transition, in [0, num_envs). Shape: (B,) long.
            offset: Start slot of each window counted from the oldest, in [0, num_valid_starts(n_step)). Shape: (B,).
            oldest: :attr:`oldest` (an int, or a 0-d long tensor on the buffer's device).
            n_step: Window length n, >= 1.
            gamma: Discount factor γ.
        """
        # slot of window step k: (oldest + offset + k) mod capacity
        window = (oldest + offset.unsqueeze(1) + torch.arange(n_step, device=self.device)) % self.capacity
        envs = env.unsqueeze(1).expand_as(window)
        returns, discounts, last = n_step_targets(
            self.rewards[window, envs], self.dones[window, envs], self.terminated[window, envs], gamma
        )
        first = window[:, 0]
        boot = window.gather(1, last.unsqueeze(1)).squeeze(1)
        return ReplayBatch(
            observations={g: t[first, env] for g, t in self.observations.items()},
            actions=self.actions[first, env],
            returns=returns,
            next_observations={g: t[boot, env] for g, t in self.next_observations.items()},
            discounts=discounts,
        )

    # ------------------------------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        """The stored slots in time order (oldest first), so any capacity can take them back."""
        order = (torch.arange(self.size, device=self.device) + (self.step if self.size == self.capacity else 0)) % (
            self.capacity
        )
        return {
            "observations": {g: t[order].clone() for g, t in self.observations.items()},
            "next_observations": {g: t[order].clone() for g, t in self.next_observations.items()},
            "actions": self.actions[order].clone(),
            "rewards": self.rewards[order].clone(),
            "dones": self.dones[order].clone(),
            "terminated": self.terminated[order].clone(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore slots saved by :meth:`state_dict` (the newest ``capacity`` if more were saved).

        The slots are written oldest-first from slot 0. Sampling and writing address slots relative to the oldest,
        so the restored buffer draws and overwrites the same transitions as the saved one (bit-exact resume).

        Raises:
            CheckpointError: If groups, env count or shapes differ from this buffer's.
        """
        problems: list[str] = []
        obs, next_obs = state.get("observations"), state.get("next_observations")
        if not isinstance(obs, Mapping) or not isinstance(next_obs, Mapping):
            raise CheckpointError("replay_buffer: 'observations' / 'next_observations' missing")
        if sorted(obs) != sorted(self.groups) or sorted(next_obs) != sorted(self.groups):
            problems.append(f"observation groups {sorted(obs)} vs this buffer's {sorted(self.groups)}")
        rewards = state.get("rewards")
        if not isinstance(rewards, torch.Tensor) or rewards.dim() != 2 or rewards.shape[1] != self.num_envs:
            got = tuple(rewards.shape) if isinstance(rewards, torch.Tensor) else type(rewards).__name__
            problems.append(f"rewards shape {got} vs (steps, {self.num_envs})")
        if problems or not isinstance(rewards, torch.Tensor):
            raise CheckpointError(
                f"replay_buffer does not match: {'; '.join(problems)}; load with load_cfg={{'replay_buffer': False}} "
                "to take the rest"
            )
        size = min(int(rewards.shape[0]), self.capacity)
        skip = int(rewards.shape[0]) - size
        tensors = [
            *((self.observations[g], obs[g]) for g in self.groups),
            *((self.next_observations[g], next_obs[g]) for g in self.groups),
            (self.actions, state["actions"]),
            (self.rewards, rewards),
            (self.dones, state["dones"]),
            (self.terminated, state["terminated"]),
        ]
        for live, saved in tensors:
            if tuple(saved.shape[1:]) != tuple(live.shape[1:]):
                raise CheckpointError(
                    f"replay_buffer: checkpoint shape {tuple(saved.shape)} vs (steps, {tuple(live.shape[1:])})"
                )
        for live, saved in tensors:
            live[:size].copy_(saved[skip:])
        self.size = size
        self.step = size % self.capacity
