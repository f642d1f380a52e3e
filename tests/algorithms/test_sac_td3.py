"""SAC and TD3 update maths: clipped double-Q targets (scalar and C51), TD3's delayed actor, non-finite steps."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import torch

from stride.algorithms.off_policy_targets import categorical_projection
from stride.env.tasks import make_task
from stride.runners import OffPolicyRunner
from stride.storage.replay_buffer import ReplayBatch
from stride.utils.errors import NonFiniteError


def _runner(algo: str, critic: dict[str, Any] | None = None, **algorithm: Any) -> OffPolicyRunner:
    cfg = {
        "class_name": "OffPolicyRunner",
        "num_steps_per_env": 1,
        "seed": 5,
        "obs_groups": {"actor": ["policy"], "critic": ["policy"]},
        "algorithm": {"class_name": algo, "batch_size": 16, "learning_starts": 1, "buffer_size": 256, **algorithm},
        "actor": {"hidden_dims": [8]},
        "critic": {"class_name": "QModel", "hidden_dims": [8], **(critic or {})},
    }
    return OffPolicyRunner(make_task("pendulum", num_envs=4, seed=5), cfg)


def _batch(b: int = 3) -> ReplayBatch:
    obs = {"policy": torch.randn(b, 3)}
    return ReplayBatch(
        observations=obs,
        actions=torch.zeros(b, 1),
        returns=torch.tensor([1.0, -2.0, 0.5])[:b],
        next_observations={"policy": torch.randn(b, 3)},
        discounts=torch.tensor([0.5, 0.0, 0.25])[:b],
    )


def _constant_target(runner: OffPolicyRunner, member_outputs: list[list[float]]) -> None:
    """Make the target critic output fixed values per member whatever the input (zero weights, output biases)."""
    head = runner.alg.critic_target
    with torch.no_grad():
        for p in head.parameters():
            p.zero_()
        head.output.bias.copy_(torch.tensor(member_outputs).unsqueeze(1))


class TestCriticTargets:
    """The critic's targets use the lowest target member: y = G + γ^m·(min_e Q'_e + bonus), C51 projected."""

    def test_scalar_clipped_double_q(self) -> None:
        runner = _runner("SAC")
        _constant_target(runner, [[3.0], [5.0]])
        bonus = torch.tensor([1.0, 1.0, -2.0])
        y = runner.alg._critic_target(_batch(), torch.zeros(3, 1), bonus)
        # y = G + d·(min(3, 5) + bonus)
        assert y.tolist() == [1.0 + 0.5 * 4.0, -2.0, 0.5 + 0.25 * 1.0]

    def test_c51_takes_the_member_with_lower_expectation(self) -> None:
        critic = {"num_atoms": 5, "v_min": -4.0, "v_max": 4.0}
        runner = _runner("TD3", critic)
        # member 0: all mass on z_3 = 2; member 1: all mass on z_1 = -2 (lower) → member 1 is used
        big = 1e4
        _constant_target(runner, [[0.0, 0.0, 0.0, big, 0.0], [0.0, big, 0.0, 0.0, 0.0]])
        batch = _batch()
        probs = runner.alg._critic_target(batch, torch.zeros(3, 1), None)
        support = torch.linspace(-4.0, 4.0, 5)
        chosen = torch.tensor([[0.0, 1.0, 0.0, 0.0, 0.0]]).expand(3, 5)
        atoms = batch.returns.unsqueeze(-1) + batch.discounts.unsqueeze(-1) * support
        assert torch.equal(probs, categorical_projection(atoms, chosen, -4.0, 4.0))
        # row 0: G + 0.5·(-2) = 0 → all mass on z_2 = 0; row 1 (terminal): G = -2 → z_1
        assert probs[0].tolist() == [0.0, 0.0, 1.0, 0.0, 0.0]
        assert probs[1].tolist() == [0.0, 1.0, 0.0, 0.0, 0.0]


class TestTD3Delay:
    """With policy_delay=2 the actor and its target change on critic steps 0, 2, ... only; the critic every step."""

    def test_actor_updates_every_second_step(self) -> None:
        runner = _runner("TD3", policy_delay=2)
        runner.learn(1)  # fills one step per env: update 0 already happened
        alg = runner.alg
        changed = []
        for _ in range(4):
            actor = copy.deepcopy(alg.actor.mlp.state_dict())
            target = copy.deepcopy(alg.actor_target.state_dict())
            critic = copy.deepcopy(alg.critic.head.state_dict())
            alg.update()
            moved = [
                any(not torch.equal(a, b) for a, b in zip(before.values(), now.state_dict().values(), strict=True))
                for before, now in ((actor, alg.actor.mlp), (target, alg.actor_target), (critic, alg.critic.head))
            ]
            changed.append(moved)
        # num_updates before each call: 1, 2, 3, 4 → actor steps at 2 and 4
        assert changed == [[False, False, True], [True, True, True], [False, False, True], [True, True, True]]


class TestNonFinite:
    """A NaN reward never reaches the parameters: 'raise' stops after the updates, 'skip' counts the steps."""

    @pytest.mark.parametrize("mode", ["raise", "skip"])
    def test_nan_reward(self, mode: str) -> None:
        runner = _runner("SAC", nonfinite_update=mode)
        runner.learn(2)
        alg = runner.alg
        alg.buffer.rewards[: alg.buffer.size].fill_(float("nan"))
        before = copy.deepcopy(alg.critic.state_dict())
        if mode == "raise":
            with pytest.raises(NonFiniteError, match="nonfinite_update='skip'"):
                alg.update(iteration=7)
        else:
            assert alg.update()["skipped_updates"] == 1.0
        assert all(torch.equal(v, alg.critic.state_dict()[k]) for k, v in before.items())


class TestMixedPrecision:
    """bfloat16 autocast runs the whole SAC update with finite float32 losses (C51 critic included)."""

    def test_bf16_update(self) -> None:
        runner = _runner("SAC", {"num_atoms": 11, "v_min": -50.0, "v_max": 0.0}, use_mixed_precision=True)
        runner.learn(3)
        losses = runner.alg.update()
        assert all(torch.isfinite(torch.tensor(v)) for v in losses.values())
        assert losses["critic"] > 0
