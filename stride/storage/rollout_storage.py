"""Preallocated on-device rollout storage and its mini-batch generator."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from tensordict import TensorDict

from stride.storage.trajectories import SequenceStart, TrajectoryLayout, split_trajectories
from stride.utils.errors import ConfigError

__all__ = ["Hidden", "MiniBatch", "RolloutStorage", "observation_buffers"]

Hidden = torch.Tensor | tuple[torch.Tensor, ...] | None
"""A model's recurrent state: GRU tensor (L, N, H), LSTM tuple (h, c), None for feed-forward models."""


def observation_buffers(
    obs_template: Mapping[str, torch.Tensor], shape: tuple[int, int], device: torch.device
) -> TensorDict:
    """Zeroed ``(T, N, ...)`` buffers for every observation group of one step's observations (batch [N]).

    Args:
        obs_template: One step of observations; fixes the groups, their per-env shapes and dtypes.
        shape: ``(T, N)``.
        device: Where the buffers live.

    Returns:
        A TensorDict with batch size ``[T, N]`` whose entries are the buffers themselves (written in place).
    """
    buffers = {
        key: torch.zeros(*shape, *value.shape[1:], dtype=value.dtype, device=device)
        for key, value in obs_template.items()
    }
    return TensorDict(buffers, batch_size=list(shape), device=device)


@dataclass(slots=True)
class MiniBatch:
    """One mini-batch.

    Feed-forward models: flattened transitions, shapes (B, ...) with B = T·N / num_mini_batches.
    Recurrent models: whole trajectories of M = N / num_mini_batches envs; ``observations`` are padded
    trajectories (T, B_traj, ...) with ``masks`` (T, B_traj) and the models' states at each trajectory start in
    ``hidden_states``; every other tensor is in the rollout layout (T, M, ...), which is also the layout a recurrent
    model's sequence-mode output comes back in.
    """

    observations: TensorDict
    actions: torch.Tensor
    old_log_prob: torch.Tensor
    old_values: torch.Tensor
    returns: torch.Tensor
    advantages: torch.Tensor
    old_dist_params: tuple[torch.Tensor, ...]
    masks: torch.Tensor | None = None
    """Recurrent only: valid steps of the padded trajectories, bool. Shape: (T, B_traj)."""
    hidden_states: tuple[Hidden | SequenceStart, Hidden | SequenceStart] | None = None
    """Recurrent only: (actor, critic) states at each trajectory start, (L, B_traj, H) per tensor; or, in the
    env-column form (``masks`` None, observations (T, M, ...)), each env's state at t = 0 and its resets."""
    trajectory_starts: torch.Tensor | None = None
    """Recurrent only: where each trajectory starts in the rollout, as the env-major index ``n·T + t`` of its first
    transition (env ``n``, step ``t``). Shape: (B_traj,). Lets extensions attach their own per-trajectory state."""


class RolloutStorage:
    """Fixed-size ``(T, N, ...)`` buffers written in place during the rollout.

    Args:
        num_envs: N.
        num_steps: T (``num_steps_per_env``).
        obs_template: Observations of one step (batch [N]); fixes the groups, shapes and dtypes stored.
        num_actions: Action size A.
        dist_param_shapes: Per-sample shape of each distribution parameter (e.g. ``[(A,), (A,)]``).
        device: Where the buffers live.
    """

    def __init__(
        self,
        num_envs: int,
        num_steps: int,
        obs_template: Mapping[str, torch.Tensor],
        num_actions: int,
        dist_param_shapes: Sequence[tuple[int, ...]],
        device: torch.device | str,
    ) -> None:
        self.num_envs = num_envs
        self.num_steps = num_steps
        self.device = torch.device(device)
        shape = (num_steps, num_envs)
        self.observations = observation_buffers(obs_template, shape, self.device)
        self.obs: dict[str, torch.Tensor] = {key: self.observations[key] for key in obs_template.keys()}  # noqa: SIM118
        self.actions = torch.zeros(*shape, num_actions, device=self.device)
        self.log_probs = torch.zeros(shape, device=self.device)
        self.values = torch.zeros(shape, device=self.device)
        self.rewards = torch.zeros(shape, device=self.device)
        self.dones = torch.zeros(shape, device=self.device)
        self.returns = torch.zeros(shape, device=self.device)
        self.advantages = torch.zeros(shape, device=self.device)
        self.dist_params = tuple(torch.zeros(*shape, *s, device=self.device) for s in dist_param_shapes)
        # recurrent state of (actor, critic) before each step, (T, N, L, H) per tensor; allocated at the first write
        self.hidden: list[tuple[torch.Tensor, ...] | None] = [None, None]
        self.step = 0

    @property
    def batch_size(self) -> int:
        """Number of transitions in a full rollout, T·N."""
        return self.num_steps * self.num_envs

    def add_policy_output(
        self,
        obs: Mapping[str, torch.Tensor],
        actions: torch.Tensor,
        log_prob: torch.Tensor,
        values: torch.Tensor,
        dist_params: Sequence[torch.Tensor],
        step: torch.Tensor | None = None,
    ) -> None:
        """Write what the policy saw and did at the current step.

        Args:
            obs: The observations acted on (batch [N]).
            actions: Shape: (N, A).
            log_prob: Shape: (N,).
            values: Shape: (N,).
            dist_params: The distribution's parameters, (N, ...) each.
            step: The step to write as a 1-element long tensor on the storage device (a captured CUDA graph's
                write, whose step cannot be a Python int baked into the graph); None: :attr:`step`.

        Raises:
            ConfigError: If the rollout is already full (``process`` called too often).
        """
        if step is None and self.step >= self.num_steps:
            raise ConfigError(f"rollout storage is full ({self.num_steps} steps); call clear() after the update.")
        for key, buf in self.obs.items():
            _write(buf, self.step, step, obs[key])
        _write(self.actions, self.step, step, actions)
        _write(self.log_probs, self.step, step, log_prob)
        _write(self.values, self.step, step, values)
        for buf, p in zip(self.dist_params, dist_params, strict=True):
            _write(buf, self.step, step, p)

    def add_hidden_states(self, actor_hidden: Hidden, critic_hidden: Hidden, step: torch.Tensor | None = None) -> None:
        """Store the models' recurrent states *before* the current step (None: a feed-forward model or no step yet).

        Call before :meth:`add_policy_output` of the same step; a None state of a recurrent model (its first step
        ever) is stored as zeros. ``step``: as in :meth:`add_policy_output`.
        """
        t = self.step
        for i, hidden in enumerate((actor_hidden, critic_hidden)):
            if hidden is None:
                if self.hidden[i] is not None:
                    for buf in self.hidden[i]:  # type: ignore[union-attr]
                        _write(buf, t, step, torch.zeros_like(buf[0]))
                continue
            tensors = hidden if isinstance(hidden, tuple) else (hidden,)
            if self.hidden[i] is None:
                self.hidden[i] = tuple(
                    torch.zeros(self.num_steps, h.shape[1], h.shape[0], h.shape[2], dtype=h.dtype, device=self.device)
                    for h in tensors
                )
            for buf, h in zip(self.hidden[i], tensors, strict=True):  # type: ignore[arg-type]
                _write(buf, t, step, h.transpose(0, 1))  # (L, N, H) → (N, L, H)

    def add_env_output(self, rewards: torch.Tensor, dones: torch.Tensor) -> None:
        """Write the env's answer to the current step and advance."""
        self.rewards[self.step].copy_(rewards)
        self.dones[self.step].copy_(dones)
        self.step += 1

    def clear(self) -> None:
        """Start a new rollout (buffers are overwritten, not freed)."""
        self.step = 0

    def mini_batch_generator(
        self, num_mini_batches: int, num_epochs: int, generator: torch.Generator | None = None
    ) -> Iterator[MiniBatch]:
        """Yield ``num_epochs × num_mini_batches`` mini-batches; one random permutation per epoch.

        Raises:
            ConfigError: If ``num_mini_batches`` does not divide T·N.
        """
        total = self.batch_size
        if total % num_mini_batches != 0:
            raise ConfigError(
                f"algorithm.num_mini_batches={num_mini_batches} must divide num_envs × num_steps_per_env = {total}."
            )
        # drawn lazily, one per epoch, as the loop reaches it
        perms = (torch.randperm(total, device=self.device, generator=generator) for _ in range(num_epochs))
        yield from self._mini_batches_of(perms, num_mini_batches)

    def mini_batches_from_permutations(self, permutations: torch.Tensor, num_mini_batches: int) -> Iterator[MiniBatch]:
        """The mini-batches of :meth:`mini_batch_generator` for permutations drawn beforehand (one row per epoch).

        The static-buffer form of the generator (a captured CUDA graph reads the rows of a preallocated buffer):
        with the rows :meth:`mini_batch_generator` would draw, it yields the same mini-batches.

        Args:
            permutations: Shape: (num_epochs, T·N), long, on the storage device.
            num_mini_batches: Mini-batches per epoch; must divide T·N (checked by the caller).
        """
        yield from self._mini_batches_of(permutations, num_mini_batches)

    def _mini_batches_of(self, perms: Iterable[torch.Tensor], num_mini_batches: int) -> Iterator[MiniBatch]:
        """Each epoch's mini-batches: consecutive slices of its permutation over the flattened rollout."""
        size = self.batch_size // num_mini_batches
        obs = {k: v.flatten(0, 1) for k, v in self.obs.items()}
        actions = self.actions.flatten(0, 1)
        log_probs = self.log_probs.flatten(0, 1)
        values = self.values.flatten(0, 1)
        returns = self.returns.flatten(0, 1)
        advantages = self.advantages.flatten(0, 1)
        params = tuple(p.flatten(0, 1) for p in self.dist_params)
        for perm in perms:
            for i in range(num_mini_batches):
                idx = perm[i * size : (i + 1) * size]
                yield MiniBatch(
                    observations=TensorDict({k: v[idx] for k, v in obs.items()}, batch_size=[size], device=self.device),
                    actions=actions[idx],
                    old_log_prob=log_probs[idx],
                    old_values=values[idx],
                    returns=returns[idx],
                    advantages=advantages[idx],
                    old_dist_params=tuple(p[idx] for p in params),
                )

    def recurrent_mini_batch_generator(
        self,
        num_mini_batches: int,
        num_epochs: int,
        recurrent: tuple[bool, bool],
        generator: torch.Generator | None = None,
    ) -> Iterator[MiniBatch]:
        """Yield mini-batches of whole trajectories for truncated BPTT over the rollout (see :class:`MiniBatch`).

        Each epoch shuffles the envs and splits them into ``num_mini_batches`` groups; a group's mini-batch holds
        all trajectories of its envs (cut at dones, padded to T) and their stored initial states.

        Args:
            num_mini_batches: Groups of envs per epoch; must divide N.
            num_epochs: Passes over the rollout.
            recurrent: Whether the (actor, critic) are recurrent (a feed-forward model's state stays None).
            generator: Random generator of the env shuffling.

        Raises:
            ConfigError: If ``num_mini_batches`` does not divide N.
        """
        n = self.num_envs
        if n % num_mini_batches != 0:
            raise ConfigError(
                f"algorithm.num_mini_batches={num_mini_batches} must divide num_envs={n} for recurrent models "
                "(mini-batches are groups of whole env trajectories)."
            )
        size = n // num_mini_batches
        layout = split_trajectories(self.dones)
        obs = {k: layout.pad(v) for k, v in self.obs.items()}
        starts = [self._start_states(layout, i) if recurrent[i] else None for i in range(2)]
        counts = torch.tensor(layout.counts, device=self.device)
        for _ in range(num_epochs):
            perm = torch.randperm(n, device=self.device, generator=generator)
            rank = torch.empty_like(perm)
            rank[perm] = torch.arange(n, device=self.device)
            # trajectories sorted by their env's place in the permutation; stable, so time order is kept per env
            order = torch.sort(rank[layout.traj_env], stable=True).indices
            bounds = [0, *counts[perm].cumsum(0)[size - 1 :: size].tolist()]
            for i in range(num_mini_batches):
                sel = order[bounds[i] : bounds[i + 1]]
                envs = perm[i * size : (i + 1) * size]
                yield MiniBatch(
                    observations=TensorDict(
                        {k: v[:, sel] for k, v in obs.items()},
                        batch_size=[self.num_steps, len(sel)],
                        device=self.device,
                    ),
                    **self._env_columns(envs),
                    masks=layout.masks[:, sel],
                    hidden_states=(_select_states(starts[0], sel), _select_states(starts[1], sel)),
                    trajectory_starts=layout.start[sel],
                )

    def recurrent_mini_batches_from_permutations(
        self, permutations: torch.Tensor, num_mini_batches: int, recurrent: tuple[bool, bool]
    ) -> Iterator[MiniBatch]:
        """Fixed-shape recurrent mini-batches: whole env columns, the state zeroed after dones (:class:`SequenceStart`).

        For envs permuted as :meth:`recurrent_mini_batch_generator` permutes them (one row per epoch), the same
        groups of envs; every tensor is in the rollout layout (T, M, ...) and ``masks`` is None, so no shape depends
        on the dones (what a captured CUDA graph needs).

        Args:
            permutations: Shape: (num_epochs, N), long, on the storage device.
            num_mini_batches: Groups of envs per epoch; must divide N (checked by the caller).
            recurrent: Whether the (actor, critic) are recurrent (a feed-forward model's state stays None).

        Raises:
            ConfigError: If the recurrent states were not stored during the rollout.
        """
        size = self.num_envs // num_mini_batches
        # resets[t] = done[t − 1]: a new trajectory starts at step t
        resets = torch.zeros_like(self.dones, dtype=torch.bool)
        resets[1:] = self.dones[:-1] != 0
        # each recurrent model's stored state at t = 0, (N, L, H) per tensor
        firsts = [tuple(b[0] for b in self._hidden_buffers(i)) if recurrent[i] else None for i in range(2)]
        for perm in permutations:
            for i in range(num_mini_batches):
                envs = perm[i * size : (i + 1) * size]
                states = tuple(
                    SequenceStart(_select_states(first, envs), resets[:, envs])  # type: ignore[arg-type]
                    if first is not None
                    else None
                    for first in firsts
                )
                yield MiniBatch(
                    observations=TensorDict(
                        {k: v[:, envs] for k, v in self.obs.items()},
                        batch_size=[self.num_steps, size],
                        device=self.device,
                    ),
                    **self._env_columns(envs),
                    hidden_states=(states[0], states[1]),
                )

    def _env_columns(self, envs: torch.Tensor) -> dict[str, Any]:
        """The rollout tensors of a mini-batch of whole env columns, in the (T, M, ...) layout."""
        return {
            "actions": self.actions[:, envs],
            "old_log_prob": self.log_probs[:, envs],
            "old_values": self.values[:, envs],
            "returns": self.returns[:, envs],
            "advantages": self.advantages[:, envs],
            "old_dist_params": tuple(p[:, envs] for p in self.dist_params),
        }

    def _hidden_buffers(self, which: int) -> tuple[torch.Tensor, ...]:
        """The stored states of the actor (0) or the critic (1), (T, N, L, H) per tensor.

        Raises:
            ConfigError: If none were stored.
        """
        buffers = self.hidden[which]
        if buffers is None:
            raise ConfigError("recurrent model states were not stored during the rollout (call add_hidden_states).")
        return buffers

    def _start_states(self, layout: TrajectoryLayout, which: int) -> tuple[torch.Tensor, ...]:
        return tuple(layout.at_starts(buf) for buf in self._hidden_buffers(which))  # (B, L, H) each


def _write(buffer: torch.Tensor, t: int, step: torch.Tensor | None, value: torch.Tensor) -> None:
    """``buffer[t] = value``; at the device index ``step`` (1-element long tensor) instead when it is given."""
    if step is None:
        buffer[t].copy_(value)
    else:
        buffer.index_copy_(0, step, value.unsqueeze(0).to(buffer.dtype))


def _select_states(states: tuple[torch.Tensor, ...] | None, sel: torch.Tensor) -> Hidden:
    """Initial states of the selected trajectories in torch's (L, B, H) layout (a tuple for LSTM)."""
    if states is None:
        return None
    picked = tuple(s[sel].transpose(0, 1).contiguous() for s in states)
    return picked[0] if len(picked) == 1 else picked
