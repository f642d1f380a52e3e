"""R03 and R04: non-finite values inside the update never reach the parameters; degenerate statistics stay finite."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from stride.algorithms.returns import normalize_advantages
from stride.env.tasks import make_task
from stride.runners import OnPolicyRunner
from stride.utils.errors import ConfigError, NonFiniteError


def _cfg(**alg: object) -> dict:
    return {
        "num_steps_per_env": 8,
        "save_interval": 1000,
        "seed": 3,
        "obs_groups": {"actor": ["policy"], "critic": ["policy"]},
        "algorithm": {"class_name": "PPO", "num_mini_batches": 2, "num_learning_epochs": 2, **alg},
        "actor": {
            "class_name": "MLPModel",
            "hidden_dims": [16, 16],
            "distribution_cfg": {"class_name": "GaussianDistribution", "init_std": 1.0, "std_range": [0.05, 2.0]},
        },
        "critic": {"class_name": "MLPModel", "hidden_dims": [16, 16]},
    }


def _rollout(runner: OnPolicyRunner) -> None:
    obs = runner.env.get_observations()
    with torch.inference_mode():
        for _ in range(runner.runner_cfg.num_steps_per_env):
            actions = runner.alg.act(obs)
            obs, rewards, dones, extras = runner.env.step(actions)
            runner.alg.process_env_step(obs, rewards, dones, extras)
        runner.alg.compute_returns(obs)


def _snapshot(runner: OnPolicyRunner) -> dict[str, torch.Tensor]:
    state = {f"p.{k}": v.detach().clone() for k, v in runner.alg.actor.state_dict().items()}
    state |= {f"c.{k}": v.detach().clone() for k, v in runner.alg.critic.state_dict().items()}
    for i, st in runner.alg.optimizer.state_dict()["state"].items():
        for k, v in st.items():
            state[f"o.{i}.{k}"] = torch.as_tensor(v).clone()
    return state


@pytest.mark.parametrize("optimizer", ["adam", "rmsprop"])
class TestNonFiniteUpdate:
    """Overflowing returns or NaN advantages: 'raise' names the term and iteration, 'skip' changes nothing."""

    def _poisoned(self, optimizer: str, mode: str, poison: str) -> OnPolicyRunner:
        runner = OnPolicyRunner(
            make_task("cartpole", num_envs=16, seed=1), _cfg(optimizer=optimizer, nonfinite_update=mode), None
        )
        runner.learn(1)  # optimizer state exists
        _rollout(runner)
        if poison == "advantages":
            runner.alg.storage.advantages.fill_(float("nan"))
        else:  # returns overflow float32 → inf value loss
            runner.alg.storage.returns.fill_(3e38)
        return runner

    @pytest.mark.parametrize("poison", ["advantages", "returns"])
    def test_raise_names_term_and_iteration(self, optimizer: str, poison: str) -> None:
        runner = self._poisoned(optimizer, "raise", poison)
        before = _snapshot(runner)
        with pytest.raises(NonFiniteError) as err:
            runner.alg.update(iteration=7)
        message = str(err.value)
        assert ("surrogate loss" if poison == "advantages" else "value loss") in message
        assert "iteration 7" in message
        after = _snapshot(runner)
        assert [k for k in before if not torch.equal(before[k], after[k])] == []

    @pytest.mark.parametrize("poison", ["advantages", "returns"])
    def test_skip_leaves_state_bitwise_unchanged(self, optimizer: str, poison: str) -> None:
        runner = self._poisoned(optimizer, "skip", poison)
        before = _snapshot(runner)
        lr_before = runner.alg.learning_rate
        result = runner.alg.update()
        after = _snapshot(runner)
        assert result["skipped_updates"] == 4.0  # every mini-batch holds a poisoned sample or return
        assert [k for k in before if not torch.equal(before[k], after[k])] == []
        assert runner.alg.num_skipped_updates == 4
        assert math.isfinite(runner.alg.learning_rate)
        assert runner.alg.learning_rate == pytest.approx(lr_before)
        # training goes on normally afterwards
        runner.learn(1)
        assert all(torch.isfinite(p).all() for p in runner.alg.actor.parameters())


class TestStdClamp:
    """The action std never leaves std_range, whatever the optimizer does to the parameter."""

    def test_std_clamped(self) -> None:
        runner = OnPolicyRunner(make_task("cartpole", num_envs=16, seed=1), _cfg(), None)
        dist = runner.alg.distribution
        with torch.no_grad():
            dist.std_param.fill_(100.0)  # type: ignore[attr-defined]
            high = dist.params(torch.zeros(4, 1))[1]
            dist.std_param.fill_(-3.0)  # type: ignore[attr-defined]
            low = dist.params(torch.zeros(4, 1))[1]
        assert torch.all(high == 2.0)
        assert torch.all(low == 0.05)


class TestDegenerateStatistics:
    """R04: one-sample and constant statistics stay finite; impossible layouts fail before the first step."""

    def test_single_sample_and_constant_advantages(self) -> None:
        one = normalize_advantages(torch.tensor([3.0]))
        const = normalize_advantages(torch.full((64,), 2.5))
        assert torch.equal(one, torch.tensor([0.0]))
        assert torch.isfinite(const).all()
        assert torch.equal(const, torch.zeros(64))

    def test_constant_observation_feature_with_normalization(self) -> None:
        cfg = _cfg()
        cfg["actor"]["obs_normalization"] = True
        cfg["critic"]["obs_normalization"] = True
        runner = OnPolicyRunner(make_task("cartpole", num_envs=16, seed=1), cfg, None)
        runner.env.state[:, 1] = 0.0  # x_dot starts constant; the normalizer sees zero variance in early samples
        runner.learn(2)
        assert all(torch.isfinite(p).all() for p in runner.alg.actor.parameters())

    def test_kl_of_identical_distributions_is_zero(self) -> None:
        runner = OnPolicyRunner(make_task("cartpole", num_envs=16, seed=1), _cfg(), None)
        params = runner.alg.distribution.params(torch.randn(32, 1))
        assert torch.equal(runner.alg.distribution.kl(params, params), torch.zeros(32))

    def test_one_env_one_step(self) -> None:
        cfg = _cfg()
        cfg["num_steps_per_env"] = 1
        with pytest.raises(ConfigError, match="num_mini_batches"):
            OnPolicyRunner(make_task("cartpole", num_envs=1, seed=1), copy.deepcopy(cfg), None).learn(1)
        cfg["algorithm"]["num_mini_batches"] = 1
        runner = OnPolicyRunner(make_task("cartpole", num_envs=1, seed=1), cfg, None)
        runner.learn(3)
        assert all(torch.isfinite(p).all() for p in runner.alg.critic.parameters())


class TestPartialPoison:
    """A single NaN advantage poisons only the mini-batches that hold it; the others are applied."""

    def test_only_affected_minibatches_skipped(self) -> None:
        runner = OnPolicyRunner(make_task("cartpole", num_envs=16, seed=1), _cfg(nonfinite_update="skip"), None)
        _rollout(runner)
        runner.alg.storage.advantages[3, 5] = float("nan")
        result = runner.alg.update()
        # 2 epochs x 2 mini-batches: the poisoned sample lands in exactly one mini-batch per epoch
        assert result["skipped_updates"] == 2.0
        assert all(math.isfinite(result[k]) for k in ("value", "surrogate", "entropy", "kl"))
