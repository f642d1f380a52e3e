"""Replay buffer: n-step targets equal a plain loop, wrap-around keeps the newest steps, samples stay in bounds."""

from __future__ import annotations

import pytest
import torch

from stride.storage.replay_buffer import ReplayBuffer, n_step_targets
from stride.utils.errors import CheckpointError, ConfigError


def _loop_targets(rewards: list[float], dones: list[bool], terms: list[bool], gamma: float) -> tuple[float, float, int]:
    """The n-step return written the obvious way: add rewards until the first done, then decide the bootstrap."""
    ret, discount = 0.0, 1.0
    for k, (r, d, term) in enumerate(zip(rewards, dones, terms, strict=True)):
        ret += discount * r
        discount *= gamma
        if d:
            return ret, 0.0 if term else discount, k
    return ret, discount, len(rewards) - 1


class TestNStepTargets:
    """n_step_targets equals a python loop over terminations and truncations, for n = 1..5."""

    @pytest.mark.parametrize("n", [1, 2, 3, 5])
    def test_against_plain_loop(self, n: int) -> None:
        gen = torch.Generator().manual_seed(n)
        batch = 200
        rewards = torch.randn(batch, n, generator=gen)
        dones = torch.rand(batch, n, generator=gen) < 0.3
        terminated = dones & (torch.rand(batch, n, generator=gen) < 0.5)
        returns, discounts, last = n_step_targets(rewards, dones, terminated, 0.9)
        for b in range(batch):
            ret, disc, k = _loop_targets(rewards[b].tolist(), dones[b].tolist(), terminated[b].tolist(), 0.9)
            assert returns[b].item() == pytest.approx(ret, abs=1e-5)
            assert discounts[b].item() == pytest.approx(disc, abs=1e-6)
            assert int(last[b]) == k

    def test_golden_values(self) -> None:
        # rows: no done (γ^3 bootstrap); truncation at step 1 (γ^2 bootstrap from step 1); termination at step 0
        rewards = torch.tensor([[1.0, 2.0, 4.0], [1.0, 2.0, 4.0], [1.0, 2.0, 4.0]])
        dones = torch.tensor([[False, False, False], [False, True, False], [True, False, False]])
        terminated = torch.tensor([[False, False, False], [False, False, False], [True, False, False]])
        returns, discounts, last = n_step_targets(rewards, dones, terminated, 0.5)
        assert returns.tolist() == [1.0 + 1.0 + 1.0, 1.0 + 1.0, 1.0]
        assert discounts.tolist() == [0.125, 0.25, 0.0]
        assert last.tolist() == [2, 1, 0]


def _encoded_buffer(capacity: int, num_envs: int, steps: int, seed: int = 0) -> tuple[ReplayBuffer, dict]:
    """A buffer whose observation at (step t, env e) is t·100 + e, with random rewards and dones."""
    gen = torch.Generator().manual_seed(seed)
    obs0 = {"policy": torch.zeros(num_envs, 2)}
    buf = ReplayBuffer(num_envs, capacity, obs0, ["policy"], 1, "cpu")
    log: dict = {"r": [], "d": [], "term": []}
    for t in range(steps):
        code = torch.arange(num_envs, dtype=torch.float32) + 100.0 * t
        obs = {"policy": torch.stack([code, code], -1)}
        nxt = {"policy": torch.stack([code + 0.5, code + 0.5], -1)}  # next obs of (t, e) is t·100 + e + 0.5
        r = torch.randn(num_envs, generator=gen)
        d = torch.rand(num_envs, generator=gen) < 0.25
        term = d & (torch.rand(num_envs, generator=gen) < 0.5)
        buf.add(obs, torch.full((num_envs, 1), float(t)), r, d, term, nxt)
        log["r"].append(r.tolist())
        log["d"].append(d.tolist())
        log["term"].append(term.tolist())
    return buf, log


class TestReplayBufferSampling:
    """Sampled n-step transitions equal the plain loop on the stored sequence; starts stay in the valid range."""

    def test_samples_match_loop_over_stored_steps(self) -> None:
        torch.manual_seed(0)
        n, gamma = 3, 0.9
        buf, log = _encoded_buffer(capacity=6, num_envs=4, steps=14)
        batch = buf.sample(500, n, gamma)
        for i in range(500):
            code = int(batch.observations["policy"][i, 0])
            t, e = divmod(code, 100)
            assert 14 - 6 <= t <= 14 - n, f"start {t} outside the stored, complete windows"
            assert batch.actions[i, 0].item() == t
            window = range(t, t + n)
            ret, disc, k = _loop_targets(
                [log["r"][s][e] for s in window],
                [log["d"][s][e] for s in window],
                [log["term"][s][e] for s in window],
                gamma,
            )
            assert batch.returns[i].item() == pytest.approx(ret, abs=1e-5)
            assert batch.discounts[i].item() == pytest.approx(disc, abs=1e-6)
            assert batch.next_observations["policy"][i, 0].item() == (t + k) * 100 + e + 0.5

    def test_wrap_around_keeps_the_newest_steps_and_covers_every_start(self) -> None:
        torch.manual_seed(1)
        buf, _ = _encoded_buffer(capacity=5, num_envs=3, steps=12)
        assert (buf.size, buf.step, len(buf)) == (5, 12 % 5, 15)
        # slots hold steps 7..11 (the 5 newest), written in place over the oldest
        stored = sorted({int(v) // 100 for v in buf.observations["policy"][..., 0].flatten().tolist()})
        assert stored == [7, 8, 9, 10, 11]
        starts = {int(v) // 100 for v in buf.sample(2000, 2, 0.99).observations["policy"][:, 0].tolist()}
        assert starts == {7, 8, 9, 10}  # the newest step cannot start a 2-step window yet

    def test_too_few_steps_for_n_raises(self) -> None:
        buf, _ = _encoded_buffer(capacity=8, num_envs=2, steps=2)
        assert buf.num_valid_starts(3) == 0
        with pytest.raises(ConfigError, match="n_step=3"):
            buf.sample(4, 3, 0.99)
        with pytest.raises(ConfigError, match="n_step=3"):
            buf.sampling_bound(3)

    def test_gather_with_a_device_oldest_equals_sample(self) -> None:
        """algorithm.cuda_graphs draws the indices itself and passes the oldest slot as a 0-d tensor: same batch."""
        buf, _ = _encoded_buffer(capacity=5, num_envs=3, steps=12)
        assert buf.oldest == 2
        torch.manual_seed(4)
        expected = buf.sample(64, 3, 0.9)
        torch.manual_seed(4)
        env, offset = torch.zeros(64, dtype=torch.long), torch.zeros(64, dtype=torch.long)
        env.random_(0, buf.num_envs)
        offset.random_(0, buf.sampling_bound(3))
        got = buf.gather(env, offset, torch.tensor(buf.oldest), 3, 0.9)
        for a, b in ((got.observations, expected.observations), (got.next_observations, expected.next_observations)):
            assert all(torch.equal(a[g], b[g]) for g in b)
        assert torch.equal(got.actions, expected.actions) and torch.equal(got.returns, expected.returns)
        assert torch.equal(got.discounts, expected.discounts)


class TestReplayBufferState:
    """state_dict / load_state_dict restore a wrapped buffer so the same random draws give the same batches."""

    def test_round_trip_samples_identically(self) -> None:
        buf, _ = _encoded_buffer(capacity=5, num_envs=3, steps=8)
        state = buf.state_dict()
        assert [int(v) // 100 for v in state["observations"]["policy"][:, 0, 0].tolist()] == [3, 4, 5, 6, 7]
        other = ReplayBuffer(3, 5, {"policy": torch.zeros(3, 2)}, ["policy"], 1, "cpu")
        other.load_state_dict(state)
        torch.manual_seed(7)
        a = buf.sample(64, 2, 0.9)
        torch.manual_seed(7)
        b = other.sample(64, 2, 0.9)
        for x, y in [
            (a.observations["policy"], b.observations["policy"]),
            (a.returns, b.returns),
            (a.discounts, b.discounts),
        ]:
            assert torch.equal(x, y)
        # the next write replaces the oldest step (3) in both
        code = torch.full((3, 2), 800.0)
        for target in (buf, other):
            target.add(
                {"policy": code},
                torch.zeros(3, 1),
                torch.zeros(3),
                torch.zeros(3, dtype=torch.bool),
                torch.zeros(3, dtype=torch.bool),
                {"policy": code},
            )
        for target in (buf, other):
            assert sorted({int(v) // 100 for v in target.observations["policy"][..., 0].flatten().tolist()}) == [
                4,
                5,
                6,
                7,
                8,
            ]

    def test_foreign_state_is_refused(self) -> None:
        buf, _ = _encoded_buffer(capacity=5, num_envs=3, steps=4)
        other = ReplayBuffer(4, 5, {"policy": torch.zeros(4, 2)}, ["policy"], 1, "cpu")
        with pytest.raises(CheckpointError, match=r"rewards shape \(4, 3\) vs \(steps, 4\)"):
            other.load_state_dict(buf.state_dict())
