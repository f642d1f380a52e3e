"""Tests for stride.config.compat: older rsl_rl train_cfg formats become v5 dicts, with one warning listing every
change; v5 dicts pass unchanged and silently; the input is never modified."""

from __future__ import annotations

import copy
import inspect
import warnings
from typing import Any

import pytest

from stride.config.compat import apply_compat, migrate_train_cfg
from stride.config.schema import RunnerCfg
from stride.config.strict import build
from stride.utils.errors import ConfigError

ALGORITHM: dict[str, Any] = {
    "class_name": "PPO",
    "num_learning_epochs": 5,
    "num_mini_batches": 4,
    "learning_rate": 1e-3,
    "schedule": "adaptive",
    "gamma": 0.99,
    "lam": 0.95,
    "entropy_coef": 0.005,
    "desired_kl": 0.01,
    "max_grad_norm": 1.0,
    "value_loss_coef": 1.0,
    "use_clipped_value_loss": True,
    "clip_param": 0.2,
    "normalize_advantage_per_mini_batch": False,
    "rnd_cfg": None,
    "symmetry_cfg": None,
}


def _v3(**policy: Any) -> dict[str, Any]:
    """An Isaac Lab style config for rsl_rl 3.x."""
    return {
        "class_name": "OnPolicyRunner",
        "seed": 42,
        "device": "cuda:0",
        "num_steps_per_env": 24,
        "max_iterations": 1500,
        "save_interval": 50,
        "experiment_name": "anymal_d_flat",
        "run_name": "",
        "logger": "tensorboard",
        "obs_groups": {"policy": ["policy"], "critic": ["critic"]},
        "clip_actions": None,
        "policy": {"class_name": "ActorCritic", **policy},
        "algorithm": copy.deepcopy(ALGORITHM),
    }


def _v5() -> dict[str, Any]:
    return {
        "num_steps_per_env": 24,
        "save_interval": 50,
        "obs_groups": {"actor": ["policy"], "critic": ["critic"]},
        "algorithm": copy.deepcopy(ALGORITHM),
        "actor": {
            "class_name": "MLPModel",
            "hidden_dims": [512, 256, 128],
            "activation": "elu",
            "obs_normalization": True,
            "distribution_cfg": {"class_name": "GaussianDistribution", "init_std": 1.0, "std_type": "scalar"},
        },
        "critic": {"class_name": "MLPModel", "hidden_dims": [512, 256, 128], "activation": "elu"},
    }


def _lineno() -> int:
    """Line number of the caller."""
    frame = inspect.currentframe()
    assert frame is not None and frame.f_back is not None
    return frame.f_back.f_lineno


def _migrate(cfg: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    before = copy.deepcopy(cfg)
    out, changes = migrate_train_cfg(cfg)
    assert cfg == before, "migrate_train_cfg modified its input"
    return out, changes


class TestPolicySection:
    """Each key of the old ``policy`` section lands in the v5 model sections, and the change is listed."""

    def test_actor_critic_class(self) -> None:
        out, changes = _migrate(_v3())
        assert "policy" not in out
        assert out["actor"]["class_name"] == "MLPModel"
        assert out["critic"] == {"class_name": "MLPModel"}
        assert out["actor"]["distribution_cfg"] == {
            "class_name": "GaussianDistribution",
            "init_std": 1.0,
            "std_type": "scalar",
        }
        assert changes[0] == "policy (class_name 'ActorCritic') → 'actor' (MLPModel) and 'critic' (MLPModel) sections"

    def test_rsl_rl_class_path(self) -> None:
        out, _ = _migrate(_v3(class_name="rsl_rl.modules:ActorCriticRecurrent"))
        assert out["actor"]["class_name"] == out["critic"]["class_name"] == "RNNModel"

    def test_actor_hidden_dims(self) -> None:
        out, changes = _migrate(_v3(actor_hidden_dims=[512, 256, 128]))
        assert out["actor"]["hidden_dims"] == [512, 256, 128]
        assert "hidden_dims" not in out["critic"]
        assert "policy.actor_hidden_dims → actor.hidden_dims" in changes

    def test_critic_hidden_dims(self) -> None:
        out, changes = _migrate(_v3(critic_hidden_dims=[64]))
        assert out["critic"]["hidden_dims"] == [64]
        assert "policy.critic_hidden_dims → critic.hidden_dims" in changes

    def test_activation(self) -> None:
        out, changes = _migrate(_v3(activation="tanh"))
        assert out["actor"]["activation"] == out["critic"]["activation"] == "tanh"
        assert "policy.activation → actor.activation and critic.activation" in changes

    def test_init_noise_std(self) -> None:
        out, changes = _migrate(_v3(init_noise_std=0.5))
        assert out["actor"]["distribution_cfg"]["init_std"] == 0.5
        assert "policy.init_noise_std → actor.distribution_cfg.init_std" in changes

    def test_noise_std_type(self) -> None:
        out, changes = _migrate(_v3(noise_std_type="log"))
        assert out["actor"]["distribution_cfg"]["std_type"] == "log"
        assert "policy.noise_std_type → actor.distribution_cfg.std_type" in changes

    def test_state_dependent_std(self) -> None:
        out, changes = _migrate(_v3(state_dependent_std=True, init_noise_std=0.3))
        assert out["actor"]["distribution_cfg"] == {
            "class_name": "HeteroscedasticGaussianDistribution",
            "init_std": 0.3,
            "std_type": "scalar",
        }
        assert any(c.startswith("policy.state_dependent_std=True") for c in changes)
        out, _ = _migrate(_v3(state_dependent_std=False))
        assert out["actor"]["distribution_cfg"]["class_name"] == "GaussianDistribution"

    def test_actor_obs_normalization(self) -> None:
        out, changes = _migrate(_v3(actor_obs_normalization=True))
        assert out["actor"]["obs_normalization"] is True
        assert "obs_normalization" not in out["critic"]
        assert "policy.actor_obs_normalization → actor.obs_normalization" in changes

    def test_critic_obs_normalization(self) -> None:
        out, changes = _migrate(_v3(critic_obs_normalization=False))
        assert out["critic"]["obs_normalization"] is False
        assert "policy.critic_obs_normalization → critic.obs_normalization" in changes

    def test_recurrent_keys(self) -> None:
        out, changes = _migrate(
            _v3(class_name="ActorCriticRecurrent", rnn_type="gru", rnn_hidden_dim=64, rnn_num_layers=2)
        )
        for model in ("actor", "critic"):
            assert out[model]["class_name"] == "RNNModel"
            section = out[model]
            assert (section["rnn_type"], section["rnn_hidden_dim"], section["rnn_num_layers"]) == ("gru", 64, 2)
        assert "policy.rnn_type → actor.rnn_type and critic.rnn_type" in changes

    def test_rnn_hidden_size_of_rsl_rl_2(self) -> None:
        out, changes = _migrate(_v3(class_name="ActorCriticRecurrent", rnn_hidden_size=128))
        assert out["actor"]["rnn_hidden_dim"] == out["critic"]["rnn_hidden_dim"] == 128
        assert "policy.rnn_hidden_size → actor.rnn_hidden_dim and critic.rnn_hidden_dim" in changes
        with pytest.raises(ConfigError, match="rnn_hidden_size"):
            migrate_train_cfg(_v3(class_name="ActorCriticRecurrent", rnn_hidden_size=128, rnn_hidden_dim=64))

    def test_cnn_keys(self) -> None:
        cnn = {"output_channels": [16, 32], "kernel_size": 3}
        out, changes = _migrate(_v3(class_name="ActorCriticCNN", actor_cnn_cfg=cnn, critic_cnn_cfg={"depth": cnn}))
        assert out["actor"]["class_name"] == "CNNModel"
        assert out["actor"]["cnn_cfg"] == cnn
        assert out["critic"]["cnn_cfg"] == {"depth": cnn}
        assert "policy.actor_cnn_cfg → actor.cnn_cfg" in changes

    def test_student_teacher(self) -> None:
        cfg = _v3(class_name="StudentTeacher", student_hidden_dims=[64], teacher_hidden_dims=[128])
        cfg["policy"]["student_obs_normalization"] = True
        cfg["algorithm"] = {"class_name": "Distillation", "num_learning_epochs": 1, "gradient_length": 15}
        cfg["obs_groups"] = {"policy": ["policy"], "teacher": ["privileged"]}
        out, changes = _migrate(cfg)
        assert out["student"]["class_name"] == out["teacher"]["class_name"] == "MLPModel"
        assert out["student"]["hidden_dims"] == [64]
        assert out["teacher"]["hidden_dims"] == [128]
        assert out["student"]["obs_normalization"] is True
        # StudentTeacher's noise default was 0.1; the teacher carries the same distribution to load PPO actors
        assert out["student"]["distribution_cfg"]["init_std"] == 0.1
        assert out["teacher"]["distribution_cfg"] == out["student"]["distribution_cfg"]
        assert out["obs_groups"] == {"student": ["policy"], "teacher": ["privileged"]}
        assert "actor" not in out
        assert "obs_groups.policy → obs_groups.student" in changes

    def test_student_teacher_recurrent(self) -> None:
        cfg = _v3(class_name="StudentTeacherRecurrent", rnn_hidden_dim=32, teacher_recurrent=False)
        out, _ = _migrate(cfg)
        assert out["student"]["class_name"] == "RNNModel"
        assert out["student"]["rnn_hidden_dim"] == 32
        assert out["teacher"]["class_name"] == "MLPModel"
        assert "rnn_hidden_dim" not in out["teacher"]
        out, _ = _migrate(_v3(class_name="StudentTeacherRecurrent", teacher_recurrent=True, rnn_type="gru"))
        assert out["teacher"]["class_name"] == "RNNModel"
        assert out["teacher"]["rnn_type"] == "gru"

    def test_unknown_policy_key(self) -> None:
        with pytest.raises(ConfigError, match=r"'policy\.actor_hiden_dims'.*did you mean 'actor_hidden_dims'"):
            migrate_train_cfg(_v3(actor_hiden_dims=[32]))

    def test_rnn_key_for_a_feedforward_policy(self) -> None:
        with pytest.raises(ConfigError, match=r"policy\.rnn_type"):
            migrate_train_cfg(_v3(rnn_type="lstm"))

    def test_unknown_policy_class(self) -> None:
        with pytest.raises(ConfigError, match=r"'my_project\.models:MyPolicy', which stride cannot migrate"):
            migrate_train_cfg(_v3(class_name="my_project.models:MyPolicy"))
        with pytest.raises(ConfigError, match="did you mean 'ActorCritic'"):
            migrate_train_cfg(_v3(class_name="ActorCritc"))

    def test_policy_and_actor_sections_together(self) -> None:
        cfg = _v3()
        cfg["actor"] = {"class_name": "MLPModel"}
        with pytest.raises(ConfigError, match="both an old 'policy' section and a v5 'actor' section"):
            migrate_train_cfg(cfg)


class TestRunnerKeys:
    """Runner-level old keys: empirical_normalization, obs_groups 'policy', legged_gym's runner section."""

    def test_empirical_normalization(self) -> None:
        cfg = _v3()
        cfg["empirical_normalization"] = True
        out, changes = _migrate(cfg)
        assert "empirical_normalization" not in out
        assert out["actor"]["obs_normalization"] is True
        assert out["critic"]["obs_normalization"] is True
        assert "empirical_normalization=True → actor.obs_normalization and critic.obs_normalization" in changes

    def test_empirical_normalization_yields_to_model_keys(self) -> None:
        cfg = _v3(critic_obs_normalization=False)
        cfg["empirical_normalization"] = True
        out, changes = _migrate(cfg)
        assert out["actor"]["obs_normalization"] is True
        assert out["critic"]["obs_normalization"] is False
        assert any("removed for critic" in c for c in changes)

    def test_empirical_normalization_none(self) -> None:
        cfg = _v3()
        cfg["empirical_normalization"] = None
        out, changes = _migrate(cfg)
        assert "empirical_normalization" not in out
        assert "obs_normalization" not in out["actor"]
        assert "empirical_normalization=None removed (no effect)" in changes

    def test_obs_groups_policy_set(self) -> None:
        cfg = _v3()
        cfg["obs_groups"] = {"policy": ["policy", "height_scan"], "critic": ["critic"], "rnd_state": ["rnd"]}
        out, changes = _migrate(cfg)
        assert out["obs_groups"] == {"actor": ["policy", "height_scan"], "critic": ["critic"], "rnd_state": ["rnd"]}
        assert list(out["obs_groups"]) == ["actor", "critic", "rnd_state"]
        assert "obs_groups.policy → obs_groups.actor" in changes

    def test_obs_groups_conflict(self) -> None:
        cfg = _v5()
        cfg["obs_groups"]["policy"] = ["other"]
        with pytest.raises(ConfigError, match="both 'policy'"):
            migrate_train_cfg(cfg)

    def test_algorithm_class_name_kept(self) -> None:
        out, _ = _migrate(_v3())
        assert out["algorithm"]["class_name"] == "PPO"
        assert out["algorithm"] == ALGORITHM

    def test_rnd_and_symmetry_passed_through(self) -> None:
        def mirror(env: Any = None, obs: Any = None, actions: Any = None) -> tuple[Any, Any]:
            return obs, actions

        cfg = _v3()
        cfg["algorithm"]["rnd_cfg"] = {"weight": 0.5, "weight_schedule": {"mode": "constant"}, "num_outputs": 8}
        cfg["algorithm"]["symmetry_cfg"] = {"use_data_augmentation": True, "data_augmentation_func": mirror}
        out, _ = _migrate(cfg)
        assert out["algorithm"]["rnd_cfg"] == cfg["algorithm"]["rnd_cfg"]
        assert out["algorithm"]["rnd_cfg"] is not cfg["algorithm"]["rnd_cfg"]
        assert out["algorithm"]["symmetry_cfg"]["data_augmentation_func"] is mirror

    def test_legged_gym_runner_section(self) -> None:
        cfg = {
            "seed": 1,
            "runner_class_name": "OnPolicyRunner",
            "policy": {"init_noise_std": 1.0, "actor_hidden_dims": [512, 256, 128], "activation": "elu"},
            "algorithm": {k: v for k, v in ALGORITHM.items() if k not in ("class_name", "rnd_cfg", "symmetry_cfg")},
            "runner": {
                "policy_class_name": "ActorCritic",
                "algorithm_class_name": "PPO",
                "num_steps_per_env": 24,
                "max_iterations": 1500,
                "save_interval": 50,
                "experiment_name": "rough_anymal_c",
                "run_name": "",
                "resume": False,
                "load_run": -1,
                "checkpoint": -1,
                "resume_path": None,
            },
        }
        out, changes = _migrate(cfg)
        assert "runner" not in out
        assert out["class_name"] == "OnPolicyRunner"
        assert (out["num_steps_per_env"], out["max_iterations"], out["save_interval"]) == (24, 1500, 50)
        assert (out["load_run"], out["load_checkpoint"]) == (".*", "model_.*.pt")
        assert out["algorithm"]["class_name"] == "PPO"
        assert out["actor"]["hidden_dims"] == [512, 256, 128]
        assert "resume_path" not in out
        assert "runner.checkpoint=-1 → load_checkpoint='model_.*.pt'" in changes
        build(RunnerCfg, out)  # strict v5 config

    def test_legged_gym_checkpoint_number(self) -> None:
        out, _ = _migrate({"runner": {"checkpoint": 1500, "load_run": "Jun01_12-00-00"}})
        assert (out["load_checkpoint"], out["load_run"]) == ("model_1500.pt", "Jun01_12-00-00")

    def test_rsl_rl_2_defaults_filled(self) -> None:
        cfg = _v3()
        del cfg["obs_groups"]  # rsl_rl 2.x had no obs_groups
        cfg["algorithm"] = {"class_name": "PPO", "learning_rate": 1e-3, "gamma": 0.99}
        out, changes = _migrate(cfg)
        assert out["algorithm"] == {
            "class_name": "PPO",
            "learning_rate": 1e-3,
            "gamma": 0.99,  # set: kept
            "num_learning_epochs": 1,
            "num_mini_batches": 1,
            "entropy_coef": 0.0,
            "schedule": "fixed",
        }
        assert sum("rsl_rl 2.x's default" in c for c in changes) == 4

    def test_rsl_rl_3_defaults_not_filled(self) -> None:
        cfg = _v3()
        cfg["algorithm"] = {"class_name": "PPO"}
        out, _ = _migrate(cfg)
        assert out["algorithm"] == {"class_name": "PPO"}


class TestV4ModelKeys:
    """rsl_rl 4.x's ``stochastic``, ``init_noise_std``, ``noise_std_type``, ``state_dependent_std`` model keys."""

    def _v4(self, **actor: Any) -> dict[str, Any]:
        cfg = _v5()
        del cfg["actor"]["distribution_cfg"]
        cfg["actor"].update(actor)
        cfg["critic"]["stochastic"] = False
        return cfg

    def test_stochastic(self) -> None:
        out, changes = _migrate(self._v4(stochastic=True))
        assert out["actor"]["distribution_cfg"] == {
            "class_name": "GaussianDistribution",
            "init_std": 1.0,
            "std_type": "scalar",
        }
        assert "stochastic" not in out["critic"]
        assert "distribution_cfg" not in out["critic"]
        assert any(c.startswith("actor: stochastic=True → actor.distribution_cfg") for c in changes)
        assert "critic: stochastic=False removed (a deterministic model has no distribution_cfg)" in changes

    def test_init_noise_std(self) -> None:
        out, _ = _migrate(self._v4(stochastic=True, init_noise_std=0.4))
        assert out["actor"]["distribution_cfg"]["init_std"] == 0.4

    def test_noise_std_type(self) -> None:
        out, _ = _migrate(self._v4(stochastic=True, noise_std_type="log"))
        assert out["actor"]["distribution_cfg"]["std_type"] == "log"

    def test_state_dependent_std(self) -> None:
        out, _ = _migrate(self._v4(stochastic=True, state_dependent_std=True))
        assert out["actor"]["distribution_cfg"]["class_name"] == "HeteroscedasticGaussianDistribution"

    def test_noise_keys_without_stochastic(self) -> None:
        out, changes = _migrate(self._v4(init_noise_std=0.4))
        assert "distribution_cfg" not in out["actor"]
        assert "init_noise_std" not in out["actor"]
        assert "actor: init_noise_std=0.4 removed (a deterministic model has no distribution_cfg)" in changes

    def test_mixed_with_distribution_cfg(self) -> None:
        cfg = _v5()
        cfg["actor"]["stochastic"] = True
        with pytest.raises(ConfigError, match=r"both rsl_rl 4\.x keys"):
            migrate_train_cfg(cfg)

    def test_non_bool_stochastic(self) -> None:
        with pytest.raises(ConfigError, match=r"'actor\.stochastic' must be true or false"):
            migrate_train_cfg(self._v4(stochastic="yes"))


class TestWholeConfigs:
    """Full configs: golden v5 output, strict schema build, no mutation, one warning, v5 passes silently."""

    def _isaac_lab_v3(self) -> dict[str, Any]:
        cfg = _v3(
            init_noise_std=1.0,
            noise_std_type="scalar",
            actor_obs_normalization=True,
            critic_obs_normalization=False,
            actor_hidden_dims=[512, 256, 128],
            critic_hidden_dims=[512, 256, 128],
            activation="elu",
        )
        cfg["empirical_normalization"] = False
        return cfg

    def test_golden_v5_output(self) -> None:
        out, changes = _migrate(self._isaac_lab_v3())
        expected = {k: v for k, v in self._isaac_lab_v3().items() if k not in ("policy", "empirical_normalization")}
        expected["obs_groups"] = {"actor": ["policy"], "critic": ["critic"]}
        expected["actor"] = _v5()["actor"]
        expected["critic"] = {**_v5()["critic"], "obs_normalization": False}
        assert out == expected
        assert changes == [
            "policy (class_name 'ActorCritic') → 'actor' (MLPModel) and 'critic' (MLPModel) sections",
            "policy.actor_hidden_dims → actor.hidden_dims",
            "policy.critic_hidden_dims → critic.hidden_dims",
            "policy.actor_obs_normalization → actor.obs_normalization",
            "policy.critic_obs_normalization → critic.obs_normalization",
            "policy.activation → actor.activation and critic.activation",
            "policy.init_noise_std → actor.distribution_cfg.init_std",
            "policy.noise_std_type → actor.distribution_cfg.std_type",
            "empirical_normalization=False removed for actor and critic, which set obs_normalization itself",
            "obs_groups.policy → obs_groups.actor",
        ]

    def test_strict_schema_accepts_migrated(self) -> None:
        out, _ = _migrate(self._isaac_lab_v3())
        cfg = build(RunnerCfg, out)
        assert cfg.obs_groups == {"actor": ["policy"], "critic": ["critic"]}
        with pytest.raises(ConfigError, match="policy"):
            build(RunnerCfg, self._isaac_lab_v3())  # the unmigrated dict is refused

    def test_output_shares_no_containers_with_input(self) -> None:
        cfg = _v5()
        out, _ = _migrate(cfg)
        out["actor"]["hidden_dims"].append(1)
        out["obs_groups"]["actor"].append("x")
        assert cfg == _v5()

    def test_apply_compat_warns_once_with_every_change(self) -> None:
        cfg = self._isaac_lab_v3()
        before = copy.deepcopy(cfg)
        _, changes = migrate_train_cfg(cfg)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = apply_compat(cfg)
        assert cfg == before
        assert len(caught) == 1
        assert issubclass(caught[0].category, FutureWarning)
        assert caught[0].filename == __file__  # attributed to the caller's line
        message = str(caught[0].message)
        for change in changes:
            assert f"  - {change}\n" in message
        assert out == migrate_train_cfg(before)[0]

    def test_apply_compat_stacklevel(self) -> None:
        def runner_init(cfg: dict[str, Any]) -> dict[str, Any]:
            return apply_compat(cfg, stacklevel=3)

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            line = _lineno() + 1
            runner_init(_v3())
        assert [(w.filename, w.lineno) for w in caught] == [(__file__, line)]

    def test_apply_compat_v5_silent_and_equal(self) -> None:
        cfg = _v5()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            out = apply_compat(cfg)
        assert out == cfg
        assert out is not cfg
        assert migrate_train_cfg(cfg) == (cfg, [])

    def test_not_a_mapping(self) -> None:
        with pytest.raises(ConfigError, match="must be a mapping"):
            migrate_train_cfg([("policy", {})])  # type: ignore[arg-type]
