"""Cutting rollouts at dones and padding them: the layout recurrent training relies on."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from stride.modules.rnn import unpad
from stride.storage.trajectories import split_trajectories


def _reference_trajectories(dones: torch.Tensor) -> list[tuple[int, int, int]]:
    """(env, start, length) of every trajectory, env by env, by a plain loop."""
    num_steps, num_envs = dones.shape
    out = []
    for n in range(num_envs):
        start = 0
        for t in range(num_steps):
            if dones[t, n] != 0 or t == num_steps - 1:
                out.append((n, start, t + 1 - start))
                start = t + 1
    return out


class TestSplitTrajectories:
    """The layout equals a reference loop: trajectories, masks, padding and the inverse."""

    def test_known_layout(self) -> None:
        dones = torch.tensor([[0, 1], [1, 0], [0, 0], [0, 1]], dtype=torch.float32)  # T=4, N=2
        layout = split_trajectories(dones)
        assert layout.counts == [2, 2]
        assert layout.start.tolist() == [0, 2, 4, 5]  # env 0: t=0, t=2; env 1: t=0, t=1
        assert layout.traj_env.tolist() == [0, 0, 1, 1]
        assert layout.masks.sum(0).tolist() == [2, 2, 1, 3]
        data = torch.arange(8.0).view(4, 2)  # data[t, n] = 2t + n
        padded = layout.pad(data)
        assert padded[:, 0].tolist() == [0.0, 2.0, 0.0, 0.0]
        assert padded[:, 1].tolist() == [4.0, 6.0, 0.0, 0.0]
        assert padded[:, 2].tolist() == [1.0, 0.0, 0.0, 0.0]
        assert padded[:, 3].tolist() == [3.0, 5.0, 7.0, 0.0]
        assert torch.equal(unpad(padded, layout.masks), data)

    @settings(max_examples=60, deadline=None)
    @given(
        num_steps=st.integers(1, 12),
        num_envs=st.integers(1, 6),
        p=st.floats(0.0, 1.0),
        seed=st.integers(0, 2**31 - 1),
        kind=st.sampled_from(["bool", "float", "long"]),
    )
    def test_matches_reference_loop(self, num_steps: int, num_envs: int, p: float, seed: int, kind: str) -> None:
        gen = torch.Generator().manual_seed(seed)
        dones = torch.rand(num_steps, num_envs, generator=gen) < p
        dones = {"bool": dones, "float": dones.float(), "long": dones.long()}[kind]
        layout = split_trajectories(dones)
        ref = _reference_trajectories(dones)
        assert layout.num_trajectories == len(ref)
        data = torch.randn(num_steps, num_envs, 3, generator=gen)
        padded = layout.pad(data)
        for b, (n, start, length) in enumerate(ref):
            assert int(layout.traj_env[b]) == n
            assert int(layout.start[b]) == n * num_steps + start
            assert layout.masks[:, b].tolist() == [True] * length + [False] * (num_steps - length)
            assert torch.equal(padded[:length, b], data[start : start + length, n])
            assert not padded[length:, b].any()
        assert torch.equal(unpad(padded, layout.masks), data)
        assert torch.equal(layout.at_starts(data), torch.stack([data[s, n] for n, s, _ in ref]))
