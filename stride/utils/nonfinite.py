"""Guards that stop NaN and inf values at the env boundary, naming where they came from.

:func:`check_finite_step` checks one step and raises at once (one host read per call). :class:`EnvGuard` is what the
runner uses: in ``"deferred"`` mode it records the first bad step on the device, hands the algorithm sanitized
values (non-finite entries replaced by 0, finite ones untouched) and raises once per rollout, so the rollout never
waits for the device; in ``"immediate"`` mode it calls :func:`check_finite_step` every step. Both name the same
tensor, step, kinds and env indices.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import torch
from tensordict import TensorDict

from stride.utils.errors import NonFiniteError

__all__ = ["EnvGuard", "NanCheckMode", "check_finite_step"]

NanCheckMode = Literal["auto", "deferred", "immediate"]
"""When the env guard reads its verdict: once per rollout (``"deferred"``), after every step (``"immediate"``), or
``"auto"``: immediate on the CPU, where a host read is free and the immediate check is the cheaper one, deferred on
other devices."""


def _float_tensors(
    obs: Mapping[str, Any], rewards: torch.Tensor | None, others: Mapping[str, torch.Tensor | None] | None
) -> list[tuple[str, torch.Tensor]]:
    """The checked tensors in message order: float observation groups, the rewards, then the float ``others``."""
    tensors: list[tuple[str, torch.Tensor]] = [
        (str(k), v) for k, v in obs.items() if isinstance(v, torch.Tensor) and v.is_floating_point()
    ]
    if rewards is not None and rewards.is_floating_point():
        tensors.append(("rewards", rewards))
    for name, value in (others or {}).items():
        if isinstance(value, torch.Tensor) and value.is_floating_point():
            tensors.append((name, value))
    return tensors


def _mark(x: torch.Tensor) -> torch.Tensor:
    """0-d: NaN if ``x`` holds a NaN or ±inf, else 0 (0·x is 0 for finite x, NaN for NaN and ±inf; one pass + sum).

    Two kernels, where ``isfinite(x).all()`` takes four (``isfinite`` is ``x == x`` and ``|x| != inf``): measured
    10 µs against 55 µs on 20,480 float32 values on one CPU thread.
    """
    return torch.mul(x, 0).sum()


def _bad_envs(x: torch.Tensor) -> torch.Tensor:
    """Indices of the envs (first dimension) with any non-finite entry."""
    flat = x.reshape(x.shape[0], -1) if x.dim() > 1 else x.reshape(-1, 1)
    return (~torch.isfinite(flat)).any(dim=1).nonzero().squeeze(-1)


def _message(tensors: list[tuple[str, torch.Tensor]], event: str, max_listed: int) -> str:
    """The error message for the non-finite tensors among ``tensors`` (slow path: only run on failure)."""
    problems = []
    for name, value in tensors:
        envs = _bad_envs(value)
        if envs.numel() == 0:
            continue
        kinds = []
        if torch.isnan(value).any():
            kinds.append("NaN")
        if torch.isposinf(value).any():
            kinds.append("+inf")
        if torch.isneginf(value).any():
            kinds.append("-inf")
        listed = envs[:max_listed].tolist()
        more = f" (+{envs.numel() - max_listed} more)" if envs.numel() > max_listed else ""
        problems.append(f"'{name}' has {'/'.join(kinds)} in {envs.numel()} env(s) {listed}{more}")
    return (
        f"non-finite values from the environment at {event}: " + "; ".join(problems) + ". Nothing was stored. Fix the "
        "env (or set check_for_nan=False to skip this guard)."
    )


def check_finite_step(
    obs: Mapping[str, torch.Tensor],
    rewards: torch.Tensor | None,
    event: str,
    max_listed: int = 8,
    others: Mapping[str, torch.Tensor | None] | None = None,
) -> None:
    """Raise if any observation group or the rewards hold NaN or ±inf.

    One device reduction per tensor decides (one host read); only on failure are the offending groups and env
    indices gathered.

    Args:
        obs: Observation groups, each (N, ...).
        rewards: Rewards (N,), or None at reset.
        event: What produced the values (``"reset"``, ``"step 12 of iteration 3"``), for the message.
        max_listed: How many env indices to list.
        others: Further per-env tensors to check (e.g. ``dones``, ``time_outs``); non-float ones are skipped.

    Raises:
        NonFiniteError: Naming the group (or ``rewards``), the event, the kind of value and the env indices.
    """
    tensors = _float_tensors(obs, rewards, others)
    if not tensors:
        return
    marks = [_mark(v) for _, v in tensors]
    if not bool(sum(marks[1:], marks[0]).isnan()):
        return
    raise NonFiniteError(_message(tensors, event, max_listed))


class EnvGuard:
    """The runner's env guard: stops NaN/±inf in observation groups, rewards and float ``dones``/``time_outs``.

    ``"deferred"`` (the default) never reads from the device during the rollout. Every step, the checked tensors are
    packed into one flat buffer per dtype; the algorithm gets a copy with each NaN/±inf replaced by 0 (finite values
    bit for bit unchanged), and a 0-d mark per buffer (NaN if the step was bad, else 0) is written into a per-step
    row. The raw values are kept for the message: every step's in a rollout-long ring when it fits in
    ``max_ring_bytes`` (4 device ops per step: pack into the ring, sanitize, multiply by 0, sum), else only those of
    the first bad step, in a snapshot that follows each step until one is bad (3 more ops). After the rollout,
    before returns and the update, :meth:`raise_if_bad` reads the marks once and raises with the message
    :func:`check_finite_step` would have given at the first bad step. Storage therefore holds only finite values
    and no update sees a bad rollout.

    ``"immediate"``: :func:`check_finite_step` after every step (one host read per step), raising at the step.

    Args:
        mode: ``"deferred"``, ``"immediate"`` or ``"auto"`` (resolved with ``device``).
        max_listed: How many env indices the message lists.
        num_steps: Rollout length (the ring's rows; it grows if a rollout is longer).
        max_ring_bytes: Largest ring kept (raw values of every step of a rollout); above it the snapshot is used.
        device: Where the checked tensors live; decides ``"auto"``.
    """

    def __init__(
        self,
        mode: NanCheckMode = "deferred",
        max_listed: int = 8,
        num_steps: int = 24,
        max_ring_bytes: int = 256 * 2**20,
        device: str | torch.device = "cpu",
    ) -> None:
        if mode == "auto":
            mode = "immediate" if torch.device(device).type == "cpu" else "deferred"
        self.mode: Literal["deferred", "immediate"] = mode
        self.max_listed = max_listed
        self.num_steps = num_steps
        self.max_ring_bytes = max_ring_bytes
        self._layout: tuple[tuple[str, torch.dtype, torch.Size], ...] = ()
        self._buffers: list[list[int]] = []  # per dtype: indices into the checked tensors, packed in this order
        self._sizes: list[list[int]] = []  # per dtype: numel of each packed tensor
        self._marks: torch.Tensor | None = None  # (buffers, steps): NaN where a step's buffer held NaN/±inf, else 0
        self._ring: list[torch.Tensor] | None = None  # per dtype: (steps, numel) raw values of every step
        self._snapshot: list[torch.Tensor] = []  # per dtype (no ring): raw values of the first bad step
        self._clean_so_far: torch.Tensor | None = None  # (no ring) 0-d: sum of the marks so far, 0 until a bad step
        self._num_seen = 0  # steps recorded since the rollout started
        self._iteration = 0

    def check_step(
        self,
        obs: TensorDict,
        rewards: torch.Tensor,
        dones: torch.Tensor,
        extras: Mapping[str, Any],
        step: int,
        iteration: int,
    ) -> tuple[TensorDict, torch.Tensor, torch.Tensor, Mapping[str, Any]]:
        """Check one env step; return what the algorithm may store.

        Args:
            obs: Observation groups, each (N, ...), on the runner's device.
            rewards: Rewards. Shape: (num_envs,).
            dones: Dones. Shape: (num_envs,).
            extras: The env's extras; a float ``time_outs`` entry is checked.
            step: Step index within the rollout (0 starts a new rollout).
            iteration: Learning iteration, for the message.

        Returns:
            ``(obs, rewards, dones, extras)``: the inputs in immediate mode; in deferred mode copies whose checked
            tensors have every non-finite entry replaced by 0 (``extras`` is copied only when it is changed).

        Raises:
            NonFiniteError: Immediate mode, at the bad step; deferred mode, only when the tensors' shapes change
                within a rollout that already saw a bad step.
        """
        time_outs = extras.get("time_outs")
        if isinstance(time_outs, torch.Tensor) and time_outs.is_floating_point():
            time_outs = time_outs.to(rewards.device)
        others = {"dones": dones, "time_outs": time_outs}
        if self.mode == "immediate":
            check_finite_step(obs, rewards, f"step {step} of iteration {iteration}", self.max_listed, others)
            return obs, rewards, dones, extras
        tensors = _float_tensors(obs, rewards, others)
        if not tensors:
            return obs, rewards, dones, extras
        marks = self._marks
        if marks is None or step == 0:
            marks = self._start(tensors, rewards.device)
        elif tuple((n, t.dtype, t.shape) for n, t in tensors) != self._layout:
            self.raise_if_bad(self._iteration)  # envs keep their shapes; a change costs one read, then a new layout
            marks = self._start(tensors, rewards.device)
        if step >= marks.shape[1]:
            marks = self._grow(marks, step + 1)
        self._iteration = iteration
        self._num_seen = max(self._num_seen, step + 1)
        cleaned: list[torch.Tensor] = [v for _, v in tensors]
        packed: list[torch.Tensor] = []
        for b, (members, sizes) in enumerate(zip(self._buffers, self._sizes, strict=True)):
            parts = [tensors[i][1].flatten() for i in members]
            if self._ring is not None:
                flat = self._ring[b][step]
                torch.cat(parts, out=flat)
            else:
                flat = torch.cat(parts) if len(parts) > 1 else parts[0]
            # the algorithm's copy: NaN and ±inf → 0, every finite value kept bit for bit
            clean = torch.nan_to_num(flat, nan=0.0, posinf=0.0, neginf=0.0)
            # 0·x is 0 for finite x and NaN for NaN/±inf: the sum is this step's mark (see _mark)
            torch.sum(torch.mul(flat, 0), dim=0, dtype=marks.dtype, out=marks[b, step])
            packed.append(flat)
            # (the cheapest spellings: split_with_sizes skips Tensor.split's wrapper, view(*ints) parses faster)
            for i, piece in zip(members, clean.split_with_sizes(sizes) if len(sizes) > 1 else (clean,), strict=True):
                cleaned[i] = piece.view(*tensors[i][1].shape)
        if self._ring is None and self._clean_so_far is not None:
            # the snapshot follows each step until the first bad one, which freezes it
            armed = self._clean_so_far == 0
            self._snapshot = [torch.where(armed, flat, snap) for flat, snap in zip(packed, self._snapshot, strict=True)]
            self._clean_so_far.add_(marks[:, step].sum() if len(packed) > 1 else marks[0, step])
        return self._replace(obs, rewards, dones, extras, tensors, cleaned)

    def raise_if_bad(self, iteration: int) -> None:
        """After a rollout (deferred mode): raise if any of its steps held a non-finite value. One host read.

        Args:
            iteration: Learning iteration of the rollout, for the message.

        Raises:
            NonFiniteError: Naming the tensor (observation group, ``rewards``, ``dones`` or ``time_outs``), the
                first bad step, the kinds of values and the env indices, as :func:`check_finite_step` would have.
        """
        if self._marks is None or self._num_seen == 0:
            return
        bad_steps = self._marks[:, : self._num_seen].isnan().any(dim=0).tolist()  # the one host read of the rollout
        if True not in bad_steps:
            return
        first = bad_steps.index(True)
        self._num_seen = 0  # reported once; the next rollout starts clean
        raw = [ring[first] for ring in self._ring] if self._ring is not None else self._snapshot
        tensors: list[tuple[str, torch.Tensor]] = [("", torch.empty(0))] * len(self._layout)
        for members, sizes, values in zip(self._buffers, self._sizes, raw, strict=True):
            for i, piece in zip(members, values.split_with_sizes(sizes), strict=True):
                name, _, shape = self._layout[i]
                tensors[i] = (name, piece.view(*shape))
        raise NonFiniteError(_message(tensors, f"step {first} of iteration {iteration}", self.max_listed))

    def _start(self, tensors: list[tuple[str, torch.Tensor]], device: torch.device) -> torch.Tensor:
        """A new rollout: clear the marks; on a new layout, group the tensors by dtype and allocate. Returns marks."""
        self._num_seen = 0
        layout = tuple((n, t.dtype, t.shape) for n, t in tensors)
        marks = self._marks
        if layout != self._layout or marks is None or marks.device != device:
            self._layout = layout
            by_dtype: dict[torch.dtype, list[int]] = {}
            for i, (_, value) in enumerate(tensors):
                by_dtype.setdefault(value.dtype, []).append(i)
            self._buffers = list(by_dtype.values())
            self._sizes = [[tensors[i][1].numel() for i in members] for members in self._buffers]
            # (numel, dtype) of each packed buffer
            packs = [(sum(sizes), tensors[m[0]][1].dtype) for m, sizes in zip(self._buffers, self._sizes, strict=True)]
            if self.num_steps * sum(n * d.itemsize for n, d in packs) <= self.max_ring_bytes:
                self._ring = [torch.empty(self.num_steps, n, dtype=d, device=device) for n, d in packs]
                self._snapshot, self._clean_so_far = [], None
            else:
                self._ring = None
                self._snapshot = [torch.zeros(n, dtype=d, device=device) for n, d in packs]
                self._clean_so_far = torch.zeros((), device=device)
            marks = self._marks = torch.zeros(len(self._buffers), self.num_steps, device=device)
        else:
            marks.zero_()
            if self._clean_so_far is not None:
                self._clean_so_far.zero_()
        return marks

    def _grow(self, old: torch.Tensor, num_steps: int) -> torch.Tensor:
        """A rollout longer than ``num_steps``: at least double the marks and the ring, keeping what they hold."""
        self.num_steps = max(num_steps, 2 * self.num_steps)
        marks = torch.zeros(old.shape[0], self.num_steps, device=old.device)
        marks[:, : old.shape[1]] = old
        self._marks = marks
        if self._ring is not None:
            rings = []
            for ring in self._ring:
                grown = torch.empty(self.num_steps, ring.shape[1], dtype=ring.dtype, device=ring.device)
                grown[: ring.shape[0]] = ring
                rings.append(grown)
            self._ring = rings
        return marks

    @staticmethod
    def _replace(
        obs: TensorDict,
        rewards: torch.Tensor,
        dones: torch.Tensor,
        extras: Mapping[str, Any],
        tensors: list[tuple[str, torch.Tensor]],
        cleaned: list[torch.Tensor],
    ) -> tuple[TensorDict, torch.Tensor, torch.Tensor, Mapping[str, Any]]:
        """The step with each checked tensor replaced by its sanitized view (the inputs are left unchanged)."""
        swap = {id(value): clean for (_, value), clean in zip(tensors, cleaned, strict=True)}
        groups = {k: swap.get(id(v), v) for k, v in obs.items()}
        out_obs = TensorDict(groups, batch_size=obs.batch_size, device=obs.device)
        time_outs = extras.get("time_outs")
        if isinstance(time_outs, torch.Tensor) and time_outs.is_floating_point():
            extras = {**extras, "time_outs": cleaned[-1]}
        return out_obs, swap.get(id(rewards), rewards), swap.get(id(dones), dones), extras
