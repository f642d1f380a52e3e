"""Tests for stride.extensions.replay_symmetry: symmetry augmentation and mirror loss for SAC and TD3."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch

from stride.env.symmetry import pendulum_symmetry
from stride.env.tasks import make_task
from stride.extensions.replay_symmetry import ReplaySymmetry
from stride.runners import OffPolicyRunner
from stride.storage.replay_buffer import ReplayBatch
from stride.utils.errors import ConfigError

NUM_ENVS = 8
MIRROR = torch.tensor([1.0, -1.0, -1.0])  # pendulum: (cos θ, sin θ, θ̇) → (cos θ, −sin θ, −θ̇), torque → −torque


def _sym(aug: bool = True, loss: bool = True, coeff: float = 1.0, func: Any = "pendulum") -> dict[str, Any]:
    return {
        "use_data_augmentation": aug,
        "use_mirror_loss": loss,
        "mirror_loss_coeff": coeff,
        "data_augmentation_func": func,
    }


def _cfg(algo: str, symmetry: dict[str, Any] | None, **algorithm: Any) -> dict[str, Any]:
    return {
        "class_name": "OffPolicyRunner",
        "num_steps_per_env": 8,
        "seed": 1,
        "obs_groups": {"actor": ["policy"], "critic": ["policy"]},
        "algorithm": {
            "class_name": algo,
            "batch_size": 64,
            "learning_starts": 2,
            "buffer_size": 4096,
            "symmetry_cfg": symmetry,
            **algorithm,
        },
        "actor": {"hidden_dims": [32, 32]},
        "critic": {"hidden_dims": [32, 32]},
    }


def _runner(algo: str, symmetry: dict[str, Any] | None, **algorithm: Any) -> OffPolicyRunner:
    return OffPolicyRunner(make_task("pendulum", num_envs=NUM_ENVS, seed=1), _cfg(algo, symmetry, **algorithm))


def _extension(runner: OffPolicyRunner) -> ReplaySymmetry:
    (ext,) = runner.alg.extensions
    assert isinstance(ext, ReplaySymmetry)
    return ext


def _batch(b: int = 5) -> ReplayBatch:
    gen = torch.Generator().manual_seed(0)
    return ReplayBatch(
        observations={"policy": torch.randn(b, 3, generator=gen)},
        actions=torch.rand(b, 1, generator=gen) * 2 - 1,
        returns=torch.randn(b, generator=gen),
        next_observations={"policy": torch.randn(b, 3, generator=gen)},
        discounts=torch.rand(b, generator=gen),
    )


class TestAugmentedBatch:
    """The augmented replay batch is [originals; mirrored copies] for s, a and s' alike; G and d repeat."""

    def test_layout(self) -> None:
        ext = _extension(_runner("SAC", _sym()))
        batch = _batch()
        out = ext.augment_replay_batch(batch)
        obs, nxt = batch.observations["policy"], batch.next_observations["policy"]
        assert torch.equal(out.observations["policy"], torch.cat([obs, obs * MIRROR]))
        assert torch.equal(out.next_observations["policy"], torch.cat([nxt, nxt * MIRROR]))
        assert torch.equal(out.actions, torch.cat([batch.actions, -batch.actions]))
        assert torch.equal(out.returns, batch.returns.repeat(2))
        assert torch.equal(out.discounts, batch.discounts.repeat(2))

    def test_off_leaves_batch_alone(self) -> None:
        ext = _extension(_runner("TD3", _sym(aug=False)))
        batch = _batch()
        assert ext.augment_replay_batch(batch) is batch

    @pytest.mark.parametrize("algo", ["SAC", "TD3"])
    def test_update_trains_on_both_halves(self, algo: str, monkeypatch: pytest.MonkeyPatch) -> None:
        runner = _runner(algo, _sym())
        seen: list[tuple[int, int]] = []
        original = runner.alg._update_step

        def spy(batch: ReplayBatch, num_original: int) -> Any:
            seen.append((batch.actions.shape[0], num_original))
            return original(batch, num_original)

        monkeypatch.setattr(runner.alg, "_update_step", spy)
        runner.learn(1)
        # 8 gradient steps, each on 64 sampled rows plus their 64 mirrored copies
        assert seen == [(128, 64)] * 8


def _equivariant(runner: OffPolicyRunner) -> None:
    """Make the actor odd in (sin θ, θ̇) and blind to cos θ: μ(M s) = −μ(s), the pendulum mirror's equivariance."""
    with torch.no_grad():
        for name, p in runner.alg.actor.mlp.named_parameters():
            if name.endswith("bias"):
                p.zero_()
        runner.alg.actor.mlp[0].weight[:, 0] = 0.0


class TestMirrorLoss:
    """MSE(tanh μ(g·s), g·tanh μ(s)): ~0 for an equivariant actor, > 0 otherwise; gradient only to the actor."""

    @pytest.mark.parametrize("augmented", [True, False])
    @pytest.mark.parametrize("algo", ["SAC", "TD3"])
    def test_equivariant_actor_has_zero_loss(self, algo: str, augmented: bool) -> None:
        cfg = _cfg(algo, _sym(aug=augmented))
        cfg["actor"]["activation"] = "tanh"  # odd activation: zero biases then make the MLP odd
        runner = OffPolicyRunner(make_task("pendulum", num_envs=NUM_ENVS, seed=1), cfg)
        ext = _extension(runner)
        batch = ext.augment_replay_batch(_batch(32))
        mean = runner.alg.actor.act_deterministic(batch.observations)
        before = ext.extra_actor_loss(batch, {"mean_actions": mean, "original_batch_size": 32})["mirror"].detach()
        _equivariant(runner)
        mean = runner.alg.actor.act_deterministic(batch.observations)
        after = ext.extra_actor_loss(batch, {"mean_actions": mean, "original_batch_size": 32})["mirror"].detach()
        assert float(before) > 1e-4
        assert float(after) < 1e-12

    def test_value_and_gradient_only_through_mirrored_half(self) -> None:
        runner = _runner("TD3", _sym(coeff=0.5))
        ext = _extension(runner)
        batch = ext.augment_replay_batch(_batch(16))
        mean = runner.alg.actor.act_deterministic(batch.observations)
        mean.retain_grad()
        loss = ext.extra_actor_loss(batch, {"mean_actions": mean, "original_batch_size": 16})["mirror"]
        # c · mean((tanh μ(g·s) + tanh μ(s))²) for the sign-flip action mirror
        expected = 0.5 * (mean[16:] + mean[:16]).square().mean()
        assert math.isclose(float(loss.detach()), float(expected.detach()), rel_tol=1e-6)
        loss.backward()
        assert mean.grad is not None
        assert torch.count_nonzero(mean.grad[:16]) == 0 and torch.count_nonzero(mean.grad[16:]) > 0

    def test_logging_only_mode_adds_no_loss(self) -> None:
        runner = _runner("SAC", _sym(aug=False, loss=False))
        ext = _extension(runner)
        batch = _batch(16)
        mean = runner.alg.actor.act_deterministic(batch.observations)
        assert ext.extra_actor_loss(batch, {"mean_actions": mean, "original_batch_size": 16}) == {}
        assert float(ext._last) > 0.0


def _mirror_mse_curve(algo: str, symmetry: dict[str, Any], iterations: int = 8) -> list[float]:
    runner = _runner(algo, symmetry)
    curve = []
    for _ in range(iterations):
        runner.learn(1)
        assert all(math.isfinite(v) for v in runner.alg.last_stats.values())
        curve.append(runner._policy_scalars()["Loss/symmetry"])
    assert all(torch.isfinite(p).all() for p in runner.alg.actor.parameters())
    return curve


class TestShortRuns:
    """Pendulum, 8 iterations: finite, and the mirror MSE falls with the mirror loss on while it does not when only
    logged (seed 1, measured: SAC 0.11 peak → 0.0075 vs 0.054 logged-only; TD3 0.15 → 0.019 vs 0.23)."""

    @pytest.mark.parametrize("algo", ["SAC", "TD3"])
    def test_finite_and_mirror_loss_falls(self, algo: str) -> None:
        trained = _mirror_mse_curve(algo, _sym())
        logged = _mirror_mse_curve(algo, _sym(aug=False, loss=False))
        assert trained[-1] < 0.3 * max(trained)
        assert trained[-1] < 0.3 * logged[-1]


class TestConfig:
    """Bad symmetry sections are refused before the first env step, naming the key or the function."""

    @pytest.mark.parametrize(
        ("section", "match"),
        [
            ({**_sym(), "use_mirorr_loss": True}, r"algorithm\.symmetry_cfg.*use_mirorr_loss.*use_mirror_loss"),
            ({**_sym(), "data_augmentation_func": None}, r"data_augmentation_func"),
            ({**_sym(), "mirror_loss_coeff": -1.0}, r"mirror_loss_coeff"),
            ({**_sym(), "data_augmentation_func": "no_such_task"}, r"data_augmentation_func"),
        ],
    )
    def test_rejected(self, section: dict[str, Any], match: str) -> None:
        with pytest.raises(ConfigError, match=match):
            _runner("SAC", section)

    def test_malformed_function_named(self) -> None:
        def flipped(env: Any = None, obs: Any = None, actions: Any = None) -> Any:
            # mirrored copies first: the originals must come first
            out_obs, out_actions = pendulum_symmetry(env=env, obs=obs, actions=actions)
            if out_actions is not None:
                out_actions = out_actions.flip(0)
            return out_obs, out_actions

        with pytest.raises(ConfigError, match=r"flipped.*originals must come first"):
            _runner("TD3", _sym(func=flipped))

    def test_input_not_mutated(self) -> None:
        cfg = _cfg("SAC", _sym())
        before = repr(cfg)
        OffPolicyRunner(make_task("pendulum", num_envs=NUM_ENVS, seed=1), cfg)
        assert repr(cfg) == before
