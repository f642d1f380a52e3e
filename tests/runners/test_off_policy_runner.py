"""OffPolicyRunner with SAC and TD3: the runner surface, time-out storage, strict config, exact resume."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import torch
from checkpoint_diff import differing_leaves
from tensordict import TensorDict

from stride.env.tasks import make_task
from stride.runners import OffPolicyRunner, OnPolicyRunner
from stride.utils.errors import CheckpointError, ConfigError


def _cfg(algo: str = "SAC", **algorithm: Any) -> dict[str, Any]:
    return {
        "class_name": "OffPolicyRunner",
        "num_steps_per_env": 4,
        "save_interval": 1000,
        "seed": 3,
        "obs_groups": {"actor": ["policy"], "critic": ["policy"]},
        "algorithm": {"class_name": algo, "batch_size": 32, "learning_starts": 2, "buffer_size": 64, **algorithm},
        "actor": {"hidden_dims": [16], "obs_normalization": True},
        "critic": {"class_name": "QModel", "hidden_dims": [16], "obs_normalization": True},
    }


def _losses(path: Path) -> list[dict[str, float]]:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    return [{k: v for k, v in r.items() if k.startswith(("Loss/", "Policy/"))} for r in rows]


class TestRunnerSurface:
    """Both algorithms train through the shared loop, log their metrics, record their defaults and act in [-1, 1]."""

    @pytest.mark.parametrize("algo", ["SAC", "TD3"])
    def test_learn_logs_and_policy(self, tmp_path: Path, algo: str) -> None:
        env = make_task("pendulum", num_envs=4, seed=1, max_episode_length=6)
        runner = OffPolicyRunner(env, _cfg(algo), log_dir=str(tmp_path))
        runner.learn(3)
        rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
        assert len(rows) == 3
        # iteration 0 stores 4 steps per env (>= learning_starts=2) and then updates 4 times
        assert [r["Train/num_updates"] for r in rows] == [4.0, 4.0, 4.0]
        assert [r["Train/replay_size"] for r in rows] == [16.0, 32.0, 48.0]
        assert runner.alg.num_updates == 12
        assert all(r["Loss/critic"] > 0 for r in rows)
        recorded = runner.train_cfg
        assert recorded["algorithm"]["class_name"] == algo and recorded["critic"]["num_critics"] == 2
        policy = runner.get_inference_policy()
        obs = env.get_observations()
        actions = policy(obs)
        assert actions.shape == (4, 1) and bool((actions.abs() <= 1).all())
        assert torch.equal(actions, policy(obs))  # deterministic

    def test_no_update_before_learning_starts(self) -> None:
        env = make_task("pendulum", num_envs=4, seed=1)
        runner = OffPolicyRunner(env, _cfg("TD3", learning_starts=6))
        before = copy.deepcopy(runner.alg.actor.state_dict())
        runner.learn(1)  # 4 steps stored < 6
        assert runner.alg.num_updates == 0
        after = {k: v for k, v in runner.alg.actor.state_dict().items() if not k.startswith("obs_normalizer")}
        assert not differing_leaves({k: v for k, v in before.items() if not k.startswith("obs_normalizer")}, after)


class TestTimeOutStorage:
    """Ended episodes store their final observation; only non-time-out dones are terminations."""

    def test_final_obs_and_termination_flags(self) -> None:
        env = make_task("pendulum", num_envs=3, seed=1)
        runner = OffPolicyRunner(env, _cfg())
        alg = runner.alg
        obs = TensorDict({"policy": torch.zeros(3, 3)}, batch_size=[3])
        alg.act(obs)
        after_reset = TensorDict({"policy": torch.ones(3, 3)}, batch_size=[3])
        final = TensorDict({"policy": torch.full((3, 3), 7.0)}, batch_size=[3])
        dones = torch.tensor([True, True, False])
        extras = {"time_outs": torch.tensor([True, False, False]), "final_obs": final}
        alg.process_env_step(after_reset, torch.tensor([1.0, 2.0, 3.0]), dones, extras)
        buf = alg.buffer
        assert buf.next_observations["policy"][0, :, 0].tolist() == [7.0, 7.0, 1.0]
        assert buf.terminated[0].tolist() == [False, True, False]
        assert buf.dones[0].tolist() == [True, True, False]
        # without final_obs a time-out bootstraps from the observation it acted on (rsl_rl's V(s_t) rule)
        alg.act(after_reset)
        alg.process_env_step(after_reset, torch.zeros(3), dones, {"time_outs": extras["time_outs"]})
        assert buf.next_observations["policy"][1, :, 0].tolist() == [1.0, 1.0, 1.0]


class TestStrictConfig:
    """Bad off-policy configs fail at construction with the dotted key and the fix, before any env step."""

    @pytest.mark.parametrize(
        ("change", "match"),
        [
            ({"algorithm": {"class_name": "SAC", "n_steps": 3}}, r"algorithm\.n_steps.*did you mean 'n_step'"),
            ({"algorithm": {"class_name": "PPO"}}, r"must be one of \['SAC', 'TD3'\]"),
            ({"algorithm": {"class_name": "TD3", "init_alpha": 0.1}}, r"algorithm\.init_alpha"),
            ({"algorithm": {"class_name": "SAC", "tau": 0.0}}, r"'algorithm\.tau' must be in \(0, 1\]"),
            (
                {"algorithm": {"class_name": "SAC", "buffer_size": 4, "n_step": 2}},
                r"buffer_size=4 gives 1 steps per env",
            ),
            ({"critic": {"num_atoms": 51, "v_min": 5.0, "v_max": -5.0}}, r"critic\.v_max"),
            ({"actor": {"distribution_cfg": {"class_name": "GaussianDistribution"}}}, r"actor\.distribution_cfg"),
            ({"critic": {"class_name": "MLPModel"}}, r"critic\.class_name.*'QModel'"),
        ],
    )
    def test_errors(self, change: dict[str, Any], match: str) -> None:
        cfg = {**_cfg(), **change}
        cfg["algorithm"] = {**change.get("algorithm", {"class_name": "SAC"})}
        with pytest.raises(ConfigError, match=match):
            OffPolicyRunner(make_task("pendulum", num_envs=4, seed=1), cfg)

    def test_on_policy_runner_refuses_off_policy_config(self) -> None:
        with pytest.raises(ConfigError, match="OffPolicyRunner"):
            OnPolicyRunner(make_task("pendulum", num_envs=4, seed=1), _cfg())

    def test_defaults_train_out_of_the_box(self) -> None:
        cfg = {"algorithm": {"class_name": "SAC"}, "obs_groups": {"actor": ["policy"]}}
        runner = OffPolicyRunner(make_task("pendulum", num_envs=2, seed=1), cfg)
        runner.learn(1)
        assert runner.train_cfg["class_name"] == "OffPolicyRunner"
        assert runner.alg.num_updates == 24  # 24 steps stored >= learning_starts=10, 1 update per step


class TestExactResume:
    """K + save + new runner + load + K iterations equal 2K in one go, bit for bit on CPU (replay buffer saved)."""

    @pytest.mark.parametrize(
        ("algo", "extra", "critic"),
        [
            ("SAC", {"n_step": 3}, {}),
            ("TD3", {"n_step": 2}, {"num_atoms": 11, "v_min": -20.0, "v_max": 0.0, "layer_norm": True}),
        ],
    )
    def test_split_equals_continuous(self, tmp_path: Path, algo: str, extra: dict, critic: dict) -> None:
        cfg = _cfg(algo, save_replay_buffer=True, **extra)
        cfg["critic"].update(critic)
        k = 3

        def env() -> Any:
            return make_task("pendulum", num_envs=4, seed=2, max_episode_length=7)

        full = OffPolicyRunner(env(), cfg, log_dir=str(tmp_path / "full"))
        full.learn(2 * k)
        first = OffPolicyRunner(env(), cfg, log_dir=str(tmp_path / "split"))
        first.learn(k)
        second = OffPolicyRunner(env(), cfg, log_dir=str(tmp_path / "split"))
        second.load(str(tmp_path / "split" / f"model_{k - 1}.pt"))  # rsl_rl names: the 0-based index
        second.learn(k)
        assert _losses(tmp_path / "split" / "metrics.jsonl")[-k:] == _losses(tmp_path / "full" / "metrics.jsonl")[k:]
        assert not differing_leaves(full.alg.state_dict(), second.alg.state_dict())

    def test_checkpoint_without_buffer_loads_models_only(self, tmp_path: Path) -> None:
        runner = OffPolicyRunner(make_task("pendulum", num_envs=4, seed=2), _cfg())
        runner.learn(1)
        runner.save(str(tmp_path / "m.pt"))
        other = OffPolicyRunner(make_task("pendulum", num_envs=4, seed=2), _cfg())
        other.load(str(tmp_path / "m.pt"))
        assert len(other.alg.buffer) == 0
        assert not differing_leaves(runner.alg.actor.state_dict(), other.alg.actor.state_dict())
        wider = _cfg()
        wider["critic"]["hidden_dims"] = [8]
        with pytest.raises(CheckpointError, match="critic"):
            OffPolicyRunner(make_task("pendulum", num_envs=4, seed=2), wider).load(str(tmp_path / "m.pt"))


class TestReplayDevice:
    """replay_device places the buffer there; batches reach the training device (CPU both here: same numbers)."""

    def test_explicit_cpu_buffer_equals_default(self) -> None:
        runs = []
        for extra in ({}, {"replay_device": "cpu"}):
            runner = OffPolicyRunner(make_task("pendulum", num_envs=4, seed=2), _cfg("SAC", **extra))
            runner.learn(2)
            assert runner.alg.buffer.rewards.device.type == "cpu"
            runs.append(runner.alg.state_dict())
        assert not differing_leaves(runs[0], runs[1])

    @pytest.mark.gpu
    @pytest.mark.parametrize("algo", ["SAC", "TD3"])
    def test_gpu_training_with_host_buffer(self, algo: str) -> None:
        if not torch.cuda.is_available():
            pytest.skip("needs CUDA")
        cfg = _cfg(algo, replay_device="cpu", use_mixed_precision=True)
        cfg["critic"].update({"num_atoms": 11, "v_min": -50.0, "v_max": 0.0, "layer_norm": True})
        runner = OffPolicyRunner(make_task("pendulum", num_envs=4, seed=2, device="cuda"), cfg, device="cuda")
        runner.learn(2)
        assert runner.alg.buffer.rewards.device.type == "cpu"
        assert next(runner.alg.critic.parameters()).device.type == "cuda"
        assert runner.alg.num_updates == 8
