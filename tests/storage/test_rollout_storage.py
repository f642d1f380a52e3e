"""Tests for stride.storage.rollout_storage: buffer writes and the mini-batch generator."""

from __future__ import annotations

import pytest
import torch
from tensordict import TensorDict

from stride.storage import RolloutStorage
from stride.utils.errors import ConfigError

NUM_STEPS, NUM_ENVS, NUM_ACTIONS = 5, 6, 2


def _filled_storage() -> RolloutStorage:
    """A full rollout where every field of transition k = t·N + n carries the id k."""
    template = TensorDict({"policy": torch.zeros(NUM_ENVS, 3), "critic": torch.zeros(NUM_ENVS, 1)}, [NUM_ENVS])
    st = RolloutStorage(NUM_ENVS, NUM_STEPS, template, NUM_ACTIONS, [(NUM_ACTIONS,), (NUM_ACTIONS,)], "cpu")
    for t in range(NUM_STEPS):
        ids = torch.arange(NUM_ENVS, dtype=torch.float32) + t * NUM_ENVS
        obs = TensorDict({"policy": ids.view(-1, 1).repeat(1, 3), "critic": ids.view(-1, 1) * 2.0}, [NUM_ENVS])
        actions = ids.view(-1, 1).repeat(1, NUM_ACTIONS)
        st.add_policy_output(obs, actions, ids + 0.5, ids * 10.0, (actions * 3.0, actions * 4.0))
        st.add_env_output(ids * -1.0, torch.zeros(NUM_ENVS, dtype=torch.bool))
    st.returns.copy_(st.values * 2.0)
    st.advantages.copy_(st.values * 3.0)
    return st


class TestWrites:
    """Each step lands in its own row, the TensorDict view sees the writes, and overfilling is refused."""

    def test_rows_hold_the_written_step(self) -> None:
        st = _filled_storage()
        assert st.step == NUM_STEPS
        expected_ids = torch.arange(NUM_STEPS * NUM_ENVS, dtype=torch.float32).view(NUM_STEPS, NUM_ENVS)
        assert torch.equal(st.rewards, -expected_ids)
        assert torch.equal(st.log_probs, expected_ids + 0.5)
        assert torch.equal(st.obs["policy"][..., 0], expected_ids)
        # the TensorDict the algorithm reads for normalizer updates shares memory with the buffers
        assert torch.equal(st.observations["policy"][..., 2], expected_ids)
        assert st.observations.batch_size == torch.Size([NUM_STEPS, NUM_ENVS])

    def test_overfill_raises_and_clear_restarts(self) -> None:
        st = _filled_storage()
        obs = TensorDict({"policy": torch.zeros(NUM_ENVS, 3), "critic": torch.zeros(NUM_ENVS, 1)}, [NUM_ENVS])
        zeros = torch.zeros(NUM_ENVS, NUM_ACTIONS)
        with pytest.raises(ConfigError, match="full"):
            st.add_policy_output(obs, zeros, torch.zeros(NUM_ENVS), torch.zeros(NUM_ENVS), (zeros, zeros))
        st.clear()
        assert st.step == 0
        st.add_policy_output(obs, zeros, torch.full((NUM_ENVS,), 7.0), torch.zeros(NUM_ENVS), (zeros, zeros))
        assert torch.equal(st.log_probs[0], torch.full((NUM_ENVS,), 7.0))
        assert st.log_probs[1, 0].item() == NUM_ENVS + 0.5  # later rows untouched

    def test_bool_dones_are_stored_as_float(self) -> None:
        st = _filled_storage()
        st.clear()
        st.add_env_output(torch.zeros(NUM_ENVS), torch.tensor([True, False, True, False, False, True]))
        assert torch.equal(st.dones[0], torch.tensor([1.0, 0.0, 1.0, 0.0, 0.0, 1.0]))


class TestMiniBatchGenerator:
    """epochs × mini-batches batches; each epoch covers every transition once; fields stay aligned."""

    @pytest.mark.parametrize(("num_mini_batches", "num_epochs"), [(1, 1), (3, 2), (5, 4), (30, 1)])
    def test_counts_and_coverage(self, num_mini_batches: int, num_epochs: int) -> None:
        st = _filled_storage()
        total = NUM_STEPS * NUM_ENVS
        batches = list(st.mini_batch_generator(num_mini_batches, num_epochs))
        assert len(batches) == num_epochs * num_mini_batches
        for epoch in range(num_epochs):
            chunk = batches[epoch * num_mini_batches : (epoch + 1) * num_mini_batches]
            ids = torch.cat([b.observations["policy"][:, 0] for b in chunk])
            assert all(b.actions.shape[0] == total // num_mini_batches for b in chunk)
            assert torch.equal(ids.sort().values, torch.arange(total, dtype=torch.float32))

    def test_fields_are_aligned(self) -> None:
        st = _filled_storage()
        for batch in st.mini_batch_generator(3, 2):
            ids = batch.observations["policy"][:, 0]
            assert torch.equal(batch.observations["critic"][:, 0], ids * 2.0)
            assert torch.equal(batch.actions, ids.view(-1, 1).repeat(1, NUM_ACTIONS))
            assert torch.equal(batch.old_log_prob, ids + 0.5)
            assert torch.equal(batch.old_values, ids * 10.0)
            assert torch.equal(batch.returns, ids * 20.0)
            assert torch.equal(batch.advantages, ids * 30.0)
            assert torch.equal(batch.old_dist_params[0], batch.actions * 3.0)
            assert torch.equal(batch.old_dist_params[1], batch.actions * 4.0)
            assert batch.observations.batch_size == torch.Size([10])

    def test_epochs_use_different_permutations(self) -> None:
        st = _filled_storage()
        gen = torch.Generator().manual_seed(0)
        batches = list(st.mini_batch_generator(1, 3, generator=gen))
        orders = [b.observations["policy"][:, 0] for b in batches]
        assert not torch.equal(orders[0], orders[1]) or not torch.equal(orders[1], orders[2])

    def test_generator_is_reproducible(self) -> None:
        st = _filled_storage()
        first = [b.old_log_prob for b in st.mini_batch_generator(3, 2, generator=torch.Generator().manual_seed(4))]
        second = [b.old_log_prob for b in st.mini_batch_generator(3, 2, generator=torch.Generator().manual_seed(4))]
        assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))

    @pytest.mark.parametrize("num_mini_batches", [4, 7, 31])
    def test_non_divisor_raises(self, num_mini_batches: int) -> None:
        st = _filled_storage()
        with pytest.raises(ConfigError, match=f"num_mini_batches={num_mini_batches}.*{NUM_STEPS * NUM_ENVS}"):
            next(iter(st.mini_batch_generator(num_mini_batches, 1)))
