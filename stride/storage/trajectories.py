"""Cutting a rollout into trajectories at dones, and padding them for recurrent training.

A rollout of T steps and N envs holds, for every env, one or more trajectories: a new one starts at t = 0 and after
every done. Padded layout: B trajectories ordered env by env (each env's in time order), each a column of length T
whose first ``length`` rows are valid and the rest padding; ``masks`` (T, B) marks the valid rows. This is the
layout :class:`stride.modules.rnn.RNN` consumes and :func:`stride.modules.rnn.unpad` inverts.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["SequenceStart", "TrajectoryLayout", "split_trajectories"]


@dataclass(frozen=True, slots=True)
class SequenceStart:
    """Whole env columns of a rollout as one recurrent sequence each, with the state zeroed after every done.

    The fixed-shape alternative to the padded layout (``algorithm.cuda_graphs``: a captured graph needs shapes that
    do not depend on the dones). Passed as a recurrent model's ``hidden_state`` with ``masks=None``; the model then
    steps through the (T, M, ...) input one time step at a time, which equals running every trajectory from its
    stored initial state (the stored state after a done is zero).
    """

    state: torch.Tensor | tuple[torch.Tensor, ...]
    """The state of each env before step 0: (L, M, H), a tuple (h, c) for an LSTM."""

    resets: torch.Tensor
    """Where the state is zeroed before the step: ``resets[t] = done[t − 1]``, ``resets[0]`` False. Shape: (T, M)."""


@dataclass(frozen=True, slots=True)
class TrajectoryLayout:
    """Where every stored transition goes in the padded layout."""

    num_steps: int
    """T."""

    num_envs: int
    """N."""

    traj_id: torch.Tensor
    """Column of each transition, env-major order. Shape: (N·T,)."""

    pos: torch.Tensor
    """Row (time within its trajectory) of each transition, env-major order. Shape: (N·T,)."""

    start: torch.Tensor
    """Env-major flat index (n·T + t) of each trajectory's first transition. Shape: (B,)."""

    traj_env: torch.Tensor
    """Env of each trajectory. Shape: (B,)."""

    counts: list[int]
    """Trajectories per env (host list, length N)."""

    masks: torch.Tensor
    """Valid steps, bool. Shape: (T, B)."""

    @property
    def num_trajectories(self) -> int:
        """B."""
        return int(self.start.shape[0])

    def pad(self, data: torch.Tensor) -> torch.Tensor:
        """Rollout tensor (T, N, ...) → padded trajectories (T, B, ...), zeros in the padding."""
        flat = data.transpose(0, 1).reshape(self.num_envs * self.num_steps, *data.shape[2:])
        out = data.new_zeros(self.num_steps, self.num_trajectories, *data.shape[2:])
        out[self.pos, self.traj_id] = flat
        return out

    def at_starts(self, data: torch.Tensor) -> torch.Tensor:
        """The entries of a rollout tensor (T, N, ...) at each trajectory's first step. Shape: (B, ...)."""
        flat = data.transpose(0, 1).reshape(self.num_envs * self.num_steps, *data.shape[2:])
        return flat[self.start]


def split_trajectories(dones: torch.Tensor) -> TrajectoryLayout:
    """Cut a rollout at its dones.

    Two host reads (the trajectory count per env and the start indices); everything else stays on the device.

    Args:
        dones: Shape (T, N); nonzero where the episode ended at that step.

    Returns:
        The layout.
    """
    num_steps, num_envs = dones.shape
    device = dones.device
    done = (dones != 0).transpose(0, 1)  # (N, T)
    # a trajectory starts at t = 0 and right after every done
    starts = torch.ones_like(done)
    starts[:, 1:] = done[:, :-1]
    flat_starts = starts.reshape(-1)
    traj_id = flat_starts.long().cumsum(0) - 1
    idx = torch.arange(num_envs * num_steps, device=device)
    # pos = index − index of the latest start at or before it
    pos = idx - torch.where(flat_starts, idx, torch.zeros_like(idx)).cummax(0).values
    counts = starts.sum(1).tolist()
    start = flat_starts.nonzero().squeeze(1)
    masks = torch.zeros(num_steps, len(start), dtype=torch.bool, device=device)
    masks[pos, traj_id] = True
    return TrajectoryLayout(
        num_steps=num_steps,
        num_envs=num_envs,
        traj_id=traj_id,
        pos=pos,
        start=start,
        traj_env=torch.div(start, num_steps, rounding_mode="floor"),
        counts=[int(c) for c in counts],
        masks=masks,
    )
