"""What Isaac Lab 3 and mjlab 1.6 rely on in a runner (issue 15), tested on built-in tasks.

Each class is one promise: configs as those projects write them are accepted; building a runner leaves the env
untouched; checkpoints load into runners with any number of envs; ``load_cfg`` means what it means in rsl_rl;
the runner surface (``cfg``, ``logger``, ``alg.save/load``, ``alg.rnd``, file names) is rsl_rl's.
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from checkpoint_diff import differing_leaves, flatten_state

from stride.env.tasks import make_task
from stride.runners import DistillationRunner, OnPolicyRunner
from stride.utils.errors import ConfigError, EnvContractError

NUM_ENVS = 16


def _cfg(rnn: bool = False, **runner: Any) -> dict[str, Any]:
    model: dict[str, Any] = {"class_name": "RNNModel", "rnn_type": "gru", "rnn_hidden_dim": 16} if rnn else {}
    return {
        "num_steps_per_env": 8,
        "seed": 3,
        "save_interval": 2,
        "obs_groups": {"actor": ["policy"], "critic": ["policy"]},
        "algorithm": {"class_name": "PPO", "num_learning_epochs": 1, "num_mini_batches": 4},
        "actor": {
            **model,
            "hidden_dims": [16],
            "obs_normalization": True,
            "distribution_cfg": {"class_name": "GaussianDistribution", "init_std": 1.0},
        },
        "critic": {**model, "hidden_dims": [16], "obs_normalization": True},
        **runner,
    }


def _isaaclab_dict() -> dict[str, Any]:
    """The shape of Isaac Lab 3.0's ``to_dict(RslRlOnPolicyRunnerCfg)`` (unset fields written as ``{}``)."""
    cfg = _cfg(
        class_name="OnPolicyRunner",
        policy={},
        empirical_normalization={},
        init_at_random_ep_len=True,
        device="cpu",
        experiment_name="cartpole",
        max_iterations=2,
        torch_compile_mode=None,
        wandb_project="isaaclab",
        neptune_project="isaaclab",
    )
    for name in ("actor", "critic"):
        cfg[name].update(class_name="MLPModel", stochastic={}, init_noise_std={}, noise_std_type="scalar")
        cfg[name]["state_dependent_std"] = False
    cfg["actor"]["distribution_cfg"]["std_range"] = (1e-6, 1e6)
    cfg["critic"]["distribution_cfg"] = None
    cfg["algorithm"].update(rnd_cfg=None, symmetry_cfg=None, use_mixed_precision=False)
    return cfg


class _CountingEnv:
    """A built-in task that counts the calls that change it."""

    def __init__(self, num_envs: int = NUM_ENVS) -> None:
        self._env = make_task("cartpole", num_envs=num_envs, seed=0)
        self.steps = 0
        self.length_writes = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._env, name)

    @property
    def episode_length_buf(self) -> torch.Tensor:
        return self._env.episode_length_buf

    @episode_length_buf.setter
    def episode_length_buf(self, value: torch.Tensor) -> None:
        self.length_writes += 1
        self._env.episode_length_buf = value

    def step(self, actions: torch.Tensor) -> Any:
        self.steps += 1
        return self._env.step(actions)


class TestDownstreamConfigs:
    """Every key Isaac Lab 3 / mjlab 1.x write is accepted with rsl_rl's meaning; typos are still refused."""

    def test_isaaclab_unset_placeholders_are_accepted_silently(self, recwarn: pytest.WarningsRecorder) -> None:
        cfg = _isaaclab_dict()
        before = copy.deepcopy(cfg)
        runner = OnPolicyRunner(make_task("cartpole", num_envs=NUM_ENVS), cfg)
        assert cfg == before  # never mutated
        assert not [w for w in recwarn if issubclass(w.category, FutureWarning)]  # no "older format" warning
        assert runner.runner_cfg.init_at_random_ep_len is True
        assert runner.alg.actor.obs_normalizer is not None  # obs_normalization kept, not overwritten by {}

    def test_mjlab_keys(self) -> None:
        cfg = _cfg(wandb_tags=("a", "b"), upload_model=False, logger="tensorboard")
        cfg["obs_groups"] = {"actor": ("policy",), "critic": ("policy",)}
        cfg["actor"]["hidden_dims"] = (16,)
        runner = OnPolicyRunner(make_task("cartpole", num_envs=NUM_ENVS), cfg)
        assert runner.cfg["upload_model"] is False  # mjlab reads self.cfg["upload_model"]
        assert runner.cfg["wandb_tags"] == ["a", "b"]

    def test_teacher_with_zero_init_std(self) -> None:
        cfg = {
            "num_steps_per_env": 8,
            "obs_groups": {"student": ["policy"], "teacher": ["policy"]},
            "algorithm": {"class_name": "Distillation"},
            "student": {
                "hidden_dims": [16],
                "distribution_cfg": {"class_name": "GaussianDistribution", "init_std": 0.1},
            },
            "teacher": {
                "hidden_dims": [16],
                "distribution_cfg": {"class_name": "GaussianDistribution", "init_std": 0.0},
            },
        }
        runner = DistillationRunner(make_task("cartpole", num_envs=NUM_ENVS), cfg)
        std = runner.alg.teacher.distribution.std_param  # type: ignore[union-attr]
        assert float(std.min()) == pytest.approx(1e-6)  # stored at std_range's floor, finite

    def test_typo_still_refused(self) -> None:
        cfg = _isaaclab_dict()
        cfg["init_at_random_ep_lne"] = True
        with pytest.raises(ConfigError, match="did you mean 'init_at_random_ep_len'"):
            OnPolicyRunner(make_task("cartpole", num_envs=NUM_ENVS), cfg)

    def test_old_policy_section_beside_actor_still_refused(self) -> None:
        cfg = _cfg(policy={"class_name": "ActorCritic", "init_noise_std": 1.0})
        with pytest.raises(ConfigError, match="both an old 'policy' section"):
            OnPolicyRunner(make_task("cartpole", num_envs=NUM_ENVS), cfg)


class TestConstructorLeavesEnvAlone:
    """Building a runner neither steps nor resets the env; the contract is checked on the first real steps."""

    def test_no_step_no_length_write(self) -> None:
        env = _CountingEnv()
        lengths = env.episode_length_buf.clone()
        OnPolicyRunner(env, _cfg())  # type: ignore[arg-type]
        assert (env.steps, env.length_writes) == (0, 0)
        assert torch.equal(env.episode_length_buf, lengths)

    def test_minimal_env_builds(self) -> None:
        """Isaac Lab's own test builds runners on an env with only get_observations, num_envs, num_actions, cfg."""
        from tensordict import TensorDict

        obs = TensorDict({"obs": torch.ones(1, 2)}, batch_size=[1])
        env = SimpleNamespace(get_observations=lambda: obs, num_envs=1, num_actions=1, cfg={})
        cfg = {"num_steps_per_env": 15, "obs_groups": {"actor": ["obs"], "critic": ["obs"]}}
        cfg |= {"algorithm": {"class_name": "PPO"}, "actor": {"hidden_dims": [4]}, "critic": {"hidden_dims": [4]}}
        runner = OnPolicyRunner(env, cfg)  # type: ignore[arg-type]
        runner.alg.get_policy()(obs).sum().backward()  # a deterministic actor can run...
        with pytest.raises(ConfigError, match="distribution_cfg is required to train"):
            runner.learn(1)  # ...but not train

    def test_broken_step_output_caught_on_first_step(self) -> None:
        env = _CountingEnv()

        def bad_step(actions: torch.Tensor) -> Any:
            obs, rewards, dones, extras = env._env.step(actions)
            return obs, rewards.unsqueeze(-1), dones, extras  # (N, 1) rewards

        runner = OnPolicyRunner(env, _cfg())  # type: ignore[arg-type]
        env.step = bad_step  # type: ignore[method-assign]
        with pytest.raises(EnvContractError, match=r"rewards \(step 1\)"):
            runner.learn(1)

    def test_wrong_batch_caught_at_construction(self) -> None:
        env = _CountingEnv()
        env.num_envs = NUM_ENVS + 1  # type: ignore[attr-defined]
        with pytest.raises(EnvContractError, match="num_envs"):
            OnPolicyRunner(env, _cfg())  # type: ignore[arg-type]


class TestCheckpointsAcrossEnvCounts:
    """Play scripts load with 50 envs, export with 1: per-env state is skipped (one log line), models restored."""

    @pytest.mark.parametrize("rnn", [False, True])
    def test_load_into_fewer_envs(self, tmp_path: Path, rnn: bool, caplog: pytest.LogCaptureFixture) -> None:
        trained = OnPolicyRunner(make_task("cartpole", num_envs=NUM_ENVS, seed=1), _cfg(rnn), log_dir=str(tmp_path))
        trained.learn(2)
        obs = make_task("cartpole", num_envs=50, seed=9).get_observations()
        reference = trained.get_inference_policy()
        reference.reset()  # it carries the training batch's recurrent state
        expected = reference(obs[:1])
        for num_envs in (50, 1):  # 50 and 1 are not divisible by num_mini_batches = 4: fine to play
            player = OnPolicyRunner(make_task("cartpole", num_envs=num_envs, seed=2), _cfg(rnn))
            with caplog.at_level(logging.INFO, logger="stride.runners.base_runner"):
                player.load(str(tmp_path / "model_1.pt"))
            assert f"checkpoint made with {NUM_ENVS} envs, this runner has {num_envs}" in caplog.text
            policy = player.get_inference_policy()
            policy.reset()
            torch.testing.assert_close(policy(obs[:1]), expected, rtol=0, atol=0)
            assert player.current_learning_iteration == 2
            if rnn and num_envs == 50:
                with pytest.raises(ConfigError, match="must divide num_envs=50"):
                    player.learn(1)


class TestLoadCfg:
    """``load_cfg`` restores exactly the parts it names true (rsl_rl's meaning); None restores everything."""

    def test_actor_only(self, tmp_path: Path) -> None:
        trained = OnPolicyRunner(make_task("cartpole", num_envs=NUM_ENVS, seed=1), _cfg())
        trained.learn(2)
        trained.save(str(tmp_path / "a.pt"))
        fresh = OnPolicyRunner(make_task("cartpole", num_envs=NUM_ENVS, seed=1), _cfg(seed=99))
        critic_before = flatten_state(fresh.alg.critic.state_dict())
        optimizer_before = flatten_state(fresh.alg.optimizer.state_dict())
        fresh.load(str(tmp_path / "a.pt"), load_cfg={"actor": True})
        assert (
            differing_leaves(flatten_state(fresh.alg.actor.state_dict()), flatten_state(trained.alg.actor.state_dict()))
            == []
        )
        assert differing_leaves(flatten_state(fresh.alg.critic.state_dict()), critic_before) == []
        assert differing_leaves(flatten_state(fresh.alg.optimizer.state_dict()), optimizer_before) == []
        assert fresh.current_learning_iteration == 0

    def test_unknown_part(self, tmp_path: Path) -> None:
        runner = OnPolicyRunner(make_task("cartpole", num_envs=NUM_ENVS), _cfg())
        runner.save(str(tmp_path / "a.pt"))
        with pytest.raises(ConfigError, match="unknown parts \\['actr'\\]"):
            runner.load(str(tmp_path / "a.pt"), load_cfg={"actr": True})


class TestRunnerSurface:
    """``runner.cfg``, ``runner.logger``, ``alg.save()/load()``, ``alg.rnd`` and checkpoint names as in rsl_rl."""

    def test_checkpoint_names(self, tmp_path: Path) -> None:
        runner = OnPolicyRunner(make_task("cartpole", num_envs=NUM_ENVS), _cfg(save_interval=2), log_dir=str(tmp_path))
        runner.learn(5)
        # rsl_rl: after iteration it (0-based) when it % save_interval == 0, and the last one
        assert sorted(p.name for p in tmp_path.glob("model_*.pt")) == ["model_0.pt", "model_2.pt", "model_4.pt"]
        assert torch.load(tmp_path / "model_4.pt", weights_only=True)["iter"] == 5

    def test_logger_and_cfg(self, tmp_path: Path) -> None:
        runner = OnPolicyRunner(make_task("cartpole", num_envs=NUM_ENVS), _cfg(), log_dir=str(tmp_path))
        runner.logger.git_status_repos.append(__file__)
        assert runner.git_status_repos == [__file__]
        assert (runner.logger.log_dir, runner.logger.logger_type) == (str(tmp_path), "tensorboard")
        assert runner.cfg["num_steps_per_env"] == 8 and runner.cfg["algorithm"]["class_name"] == "PPO"
        runner.cfg["num_steps_per_env"] = 99  # a copy: the runner keeps its own settings
        assert runner.runner_cfg.num_steps_per_env == 8

    def test_alg_save_load_round_trip(self) -> None:
        cfg = _cfg()
        cfg["obs_groups"]["rnd_state"] = ["policy"]
        cfg["algorithm"]["rnd_cfg"] = {"num_outputs": 2, "predictor_hidden_dims": [4], "target_hidden_dims": [4]}
        source = OnPolicyRunner(make_task("cartpole", num_envs=NUM_ENVS, seed=1), cfg)
        source.learn(1)
        assert source.alg.rnd is not None and hasattr(source.alg.rnd, "predictor")
        saved = source.alg.save()
        assert {"actor_state_dict", "critic_state_dict", "optimizer_state_dict"} <= set(saved)
        target = OnPolicyRunner(make_task("cartpole", num_envs=NUM_ENVS, seed=1), copy.deepcopy(cfg) | {"seed": 11})
        assert target.alg.load(saved, {"actor": True, "critic": True, "iteration": True}, True) is True
        assert target.alg.load(saved, None, True) is True
        assert target.alg.load(saved, {"actor": True}, True) is False
        assert differing_leaves(flatten_state(target.alg.save()), flatten_state(saved)) == []


class TestRslRlLoadsRnd:
    """rsl_rl 5.5.1 loads a stride checkpoint of an RND run (its ``rnd_state_dict`` / ``rnd_optimizer_state_dict``)."""

    def test_rsl_rl_reads_stride_rnd(self, tmp_path: Path) -> None:
        rsl_runners = pytest.importorskip("rsl_rl.runners")
        cfg = _cfg()
        cfg["actor"]["class_name"] = cfg["critic"]["class_name"] = "MLPModel"  # rsl_rl needs them spelled out
        cfg["obs_groups"]["rnd_state"] = ["policy"]
        cfg["algorithm"]["rnd_cfg"] = {
            "num_outputs": 2,
            "predictor_hidden_dims": [8],
            "target_hidden_dims": [8],
            "weight": 0.5,
            "reward_normalization": True,
            "state_normalization": True,
        }
        ours = OnPolicyRunner(make_task("cartpole", num_envs=NUM_ENVS, seed=1), copy.deepcopy(cfg))
        ours.learn(2)
        ours.save(str(tmp_path / "m.pt"))
        env = make_task("cartpole", num_envs=NUM_ENVS, seed=1)
        env.unwrapped = SimpleNamespace(step_dt=0.02)  # type: ignore[attr-defined]  # rsl_rl scales RND's weight by it
        theirs = rsl_runners.OnPolicyRunner(env, copy.deepcopy(cfg))
        theirs.load(str(tmp_path / "m.pt"))  # strict, every part
        rnd = ours.alg.rnd
        assert rnd is not None
        for name, value in rnd.predictor.state_dict().items():  # type: ignore[union-attr]
            assert torch.equal(theirs.alg.rnd.predictor.state_dict()[name], value), name
        assert theirs.alg.rnd.optimizer.state_dict()["state"].keys() == rnd.optimizer.state_dict()["state"].keys()
        # and stride still reads its own checkpoint exactly
        again = OnPolicyRunner(make_task("cartpole", num_envs=NUM_ENVS, seed=1), copy.deepcopy(cfg) | {"seed": 5})
        again.load(str(tmp_path / "m.pt"))
        assert not differing_leaves(flatten_state(again.alg.rnd.state_dict()), flatten_state(rnd.state_dict()))  # type: ignore[union-attr]
