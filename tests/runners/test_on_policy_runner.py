"""Tests for stride.runners.on_policy_runner: checkpoints (R07), run directory, NaN guard, strict config."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any, cast

import pytest
import torch
import yaml
from checkpoint_diff import differing_leaves, flatten_state
from tensordict import TensorDict

from stride.env.tasks import make_task
from stride.env.vec_env import VecEnv
from stride.runners.on_policy_runner import OnPolicyRunner
from stride.utils.errors import ConfigError, NonFiniteError

NUM_ENVS, NUM_STEPS = 16, 8


def _cfg(seed: int = 7, **runner: Any) -> dict[str, Any]:
    return {
        "num_steps_per_env": NUM_STEPS,
        "seed": seed,
        "save_interval": 1,
        "algorithm": {"num_learning_epochs": 2, "num_mini_batches": 4, "value_normalization": True},
        "actor": {
            "hidden_dims": [32, 32],
            "obs_normalization": True,
            "distribution_cfg": {"class_name": "GaussianDistribution", "init_std": 1.0},
        },
        "critic": {"hidden_dims": [32, 32], "obs_normalization": True},
        **runner,
    }


def _runner(cfg: dict[str, Any] | None = None, log_dir: str | None = None, env_seed: int = 0) -> OnPolicyRunner:
    return OnPolicyRunner(make_task("cartpole", num_envs=NUM_ENVS, seed=env_seed), cfg or _cfg(), log_dir=log_dir)


def _fixed_obs(num: int = 1000) -> TensorDict:
    gen = torch.Generator().manual_seed(123)
    return TensorDict({"policy": torch.randn(num, 4, generator=gen) * 2.0}, batch_size=[num])


class TestSaveLoadRoundTrip:
    """R07: save → load restores every tensor, the learning rate and the iteration; actions and training continue."""

    def test_round_trip(self, tmp_path: Path) -> None:
        trained = _runner()
        trained.learn(2)
        path = str(tmp_path / "ckpt.pt")
        trained.save(path)
        expected_actions = trained.get_inference_policy()(_fixed_obs())

        fresh = _runner(_cfg(seed=99), env_seed=5)
        fresh.save(str(tmp_path / "before.pt"))
        before = torch.load(tmp_path / "before.pt", weights_only=True)
        saved = torch.load(path, weights_only=True)
        fresh.load(path)
        fresh.save(str(tmp_path / "after.pt"))
        after = torch.load(tmp_path / "after.pt", weights_only=True)

        ignore = {"config"}  # the runner's own config (different seed) is not restored by design
        saved_cmp = {k: v for k, v in saved.items() if k not in ignore}
        after_cmp = {k: v for k, v in after.items() if k not in ignore}
        assert differing_leaves(saved_cmp, after_cmp) == []
        # not vacuous: the fresh runner differed in every part that matters before the load
        differing_before = differing_leaves(saved_cmp, {k: v for k, v in before.items() if k not in ignore})
        for part in ("actor_state_dict", "critic_state_dict", "optimizer_state_dict.state", "value_normalizer", "iter"):
            assert any(key.startswith(part) for key in differing_before), part
        assert any("obs_normalizer._mean" in key for key in differing_before)
        assert any("exp_avg_sq" in key for key in flatten_state(saved))
        assert fresh.current_learning_iteration == 2
        assert fresh.alg.learning_rate == trained.alg.learning_rate != 1e-3
        assert fresh.total_env_steps == 2 * NUM_STEPS * NUM_ENVS

        actions = fresh.get_inference_policy()(_fixed_obs())
        assert actions.shape == (1000, 1)
        assert torch.equal(actions, expected_actions)

    def test_training_continues_identically_after_load(self, tmp_path: Path) -> None:
        original = _runner()
        original.learn(1)
        path = str(tmp_path / "model.pt")
        original.save(path)
        original.learn(1)
        resumed = _runner(_cfg(seed=3), env_seed=9)
        resumed.load(path)
        params_at_load = [p.detach().clone() for p in resumed.alg.actor.parameters()]
        resumed.learn(1)
        assert resumed.current_learning_iteration == 2
        changed = [not torch.equal(a, b) for a, b in zip(params_at_load, resumed.alg.actor.parameters(), strict=True)]
        assert any(changed)
        for a, b in zip(original.alg.actor.parameters(), resumed.alg.actor.parameters(), strict=True):
            assert torch.equal(a, b)
        for a, b in zip(original.alg.critic.parameters(), resumed.alg.critic.parameters(), strict=True):
            assert torch.equal(a, b)

    def test_load_without_optimizer_leaves_it_untouched(self, tmp_path: Path) -> None:
        trained = _runner()
        trained.learn(2)
        path = str(tmp_path / "model.pt")
        trained.save(path)
        other_alg = {"num_learning_epochs": 1, "num_mini_batches": 2, "value_normalization": True}
        other = _runner(_cfg(seed=11, algorithm=other_alg), env_seed=1)
        other.learn(1)
        opt_before = copy.deepcopy(other.alg.optimizer.state_dict())
        lr_before = other.alg.learning_rate
        actor_before = copy.deepcopy(other.alg.actor.state_dict())
        other.load(path, load_cfg={"actor": True, "critic": True, "iteration": True})
        assert differing_leaves(opt_before, other.alg.optimizer.state_dict()) == []
        assert other.alg.learning_rate == lr_before
        assert lr_before != trained.alg.learning_rate
        # the models did load
        assert differing_leaves(trained.alg.actor.state_dict(), other.alg.actor.state_dict()) == []
        assert differing_leaves(actor_before, other.alg.actor.state_dict()) != []

    def test_files_load_with_weights_only(self, tmp_path: Path) -> None:
        runner = _runner()
        runner.learn(1)
        path = tmp_path / "model.pt"
        runner.save(str(path), infos={"note": "x", "step": 3})
        data = torch.load(path, weights_only=True)
        assert data["iter"] == 1 and data["schema_version"] >= 1
        assert data["infos"] == {"note": "x", "step": 3}
        assert {"actor_state_dict", "critic_state_dict", "optimizer_state_dict", "rng_state"} <= set(data)
        assert _runner().load(str(path)) == {"note": "x", "step": 3}


class TestLearnRunDirectory:
    """learn() writes config.yaml, metrics.jsonl, model_N.pt and learning_curve.png into log_dir."""

    def test_files(self, tmp_path: Path) -> None:
        log_dir = tmp_path / "run"
        runner = _runner(_cfg(save_interval=1), log_dir=str(log_dir))
        runner.learn(2)
        files = set(os.listdir(log_dir))
        assert {"config.yaml", "metrics.jsonl", "model_0.pt", "model_1.pt", "learning_curve.png"} <= files
        config = yaml.safe_load((log_dir / "config.yaml").read_text())
        assert config["runner"]["num_steps_per_env"] == NUM_STEPS
        assert config["runner"]["actor"]["hidden_dims"] == [32, 32]
        lines = (log_dir / "metrics.jsonl").read_text().splitlines()
        assert len(lines) == 2
        for line in lines:
            record = json.loads(line)
            assert {"Train/mean_reward", "Loss/value", "Perf/total_fps"} <= set(record)
            assert record["Perf/total_fps"] > 0 and record["Loss/value"] > 0
        assert (log_dir / "learning_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert torch.load(log_dir / "model_1.pt", weights_only=True)["iter"] == 2


class _NanRewardEnv:
    """A 6-env VecEnv whose reward of env 3 is NaN at step 2."""

    def __init__(self) -> None:
        self.num_envs, self.num_actions, self.max_episode_length = 6, 1, 100
        self.episode_length_buf = torch.zeros(6, dtype=torch.long)
        self.device = torch.device("cpu")
        self.cfg: dict[str, Any] = {}
        self.num_step_calls = 0

    def get_observations(self) -> TensorDict:
        return TensorDict({"policy": torch.full((6, 2), float(self.num_step_calls))}, batch_size=[6])

    def step(self, actions: torch.Tensor) -> tuple[TensorDict, torch.Tensor, torch.Tensor, dict[str, Any]]:
        rewards = torch.ones(6)
        if self.num_step_calls == 2:
            rewards[3] = float("nan")
        self.num_step_calls += 1
        dones = torch.zeros(6, dtype=torch.bool)
        return self.get_observations(), rewards, dones, {"time_outs": dones.clone()}


class TestNonFiniteGuard:
    """A NaN reward raises NonFiniteError naming 'rewards' and the env index; nothing of that step is stored (the
    default guard on the CPU is immediate; the deferred mode is covered in tests/reliability/test_env_nonfinite.py)."""

    def test_nan_reward(self) -> None:
        env = _NanRewardEnv()
        cfg = _cfg()
        cfg["num_steps_per_env"] = 4
        cfg["check_env"] = False  # the fake env counts steps; the contract check would shift them
        runner = OnPolicyRunner(cast(VecEnv, env), cfg)  # duck-typed: the VecEnv ABC is optional
        with pytest.raises(NonFiniteError, match=r"'rewards'.*\[3\]") as info:
            runner.learn(1)
        assert "step 2" in str(info.value)
        assert runner.alg.storage.step == 2
        assert torch.isfinite(runner.alg.storage.rewards).all()


class TestStrictRunnerConfig:
    """A typo in any config section raises ConfigError with the dotted path and a suggestion; input not mutated."""

    @pytest.mark.parametrize(
        ("section", "typo", "path", "suggestion"),
        [
            ((), "num_step_per_env", "num_step_per_env", "num_steps_per_env"),
            (("algorithm",), "gama", "algorithm.gama", "gamma"),
            (("algorithm",), "learning_rat", "algorithm.learning_rat", "learning_rate"),
            (("actor",), "hiden_dims", "actor.hiden_dims", "hidden_dims"),
            (("critic",), "obs_normalisation", "critic.obs_normalisation", "obs_normalization"),
        ],
    )
    def test_unknown_key(self, section: tuple[str, ...], typo: str, path: str, suggestion: str) -> None:
        cfg = _cfg()
        node = cfg
        for key in section:
            node = node[key]
        node[typo] = 1
        snapshot = copy.deepcopy(cfg)
        with pytest.raises(ConfigError) as info:
            _runner(cfg)
        message = str(info.value)
        assert f"'{path}'" in message and f"did you mean '{suggestion}'" in message
        assert cfg == snapshot

    def test_unknown_distribution_key_has_full_path(self) -> None:
        cfg = _cfg()
        cfg["actor"]["distribution_cfg"]["init_sdt"] = 0.5
        with pytest.raises(ConfigError, match=r"actor\.distribution_cfg\.init_sdt.*init_std"):
            _runner(cfg)

    def test_unknown_obs_set_is_rejected(self) -> None:
        cfg = _cfg(obs_groups={"actor": ["policy"], "critc": ["policy"]})
        with pytest.raises(ConfigError, match=r"critc.*critic"):
            _runner(cfg)

    def test_input_unchanged_after_construction_and_training(self, tmp_path: Path) -> None:
        cfg = _cfg(obs_groups={"actor": ["policy"]})
        snapshot = copy.deepcopy(cfg)
        runner = _runner(cfg, log_dir=str(tmp_path))
        assert cfg == snapshot
        runner.learn(1)
        runner.save(str(tmp_path / "x.pt"))
        assert cfg == snapshot
        # nothing the runner holds aliases the user's containers
        runner.runner_cfg.actor["hidden_dims"].append(5)
        runner.runner_cfg.obs_groups["actor"].append("extra")
        assert cfg == snapshot


class TestRandomEpisodeLength:
    """init_at_random_ep_len spreads episode_length_buf over [0, max) but leaves it alone after load()."""

    def test_randomized_then_kept_after_load(self, tmp_path: Path) -> None:
        runner = _runner()
        env = runner.env
        assert int(env.episode_length_buf.abs().sum()) == 0
        runner.learn(0, init_at_random_ep_len=True)
        buf = env.episode_length_buf
        assert buf.dtype == torch.long and bool((buf >= 0).all()) and bool((buf < env.max_episode_length).all())
        assert int(buf.count_nonzero()) > 0 and len(buf.unique()) > NUM_ENVS // 2

        runner.learn(1)
        path = str(tmp_path / "model.pt")
        runner.save(path)
        loaded_buf = env.episode_length_buf.clone()
        resumed = _runner()
        resumed.load(path)
        assert torch.equal(resumed.env.episode_length_buf, loaded_buf)
        resumed.learn(0, init_at_random_ep_len=True)
        assert torch.equal(resumed.env.episode_length_buf, loaded_buf)
