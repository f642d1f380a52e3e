"""Tests for stride.utils.rsl_rl_checkpoint: real checkpoints of rsl_rl 2.3.3, 3.3.0, 4.0.1 and 5.5.1 load into
stride's models and act exactly as the release did (fixtures made by benchmarks/make_rsl_rl_fixtures.py)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import torch
from tensordict import TensorDict

from stride.algorithms.ppo import PPO
from stride.config.compat import migrate_train_cfg
from stride.config.schema import RunnerCfg
from stride.config.strict import build
from stride.utils.checkpoint import SCHEMA_VERSION, load_checkpoint
from stride.utils.errors import CheckpointError
from stride.utils.rsl_rl_checkpoint import (
    CONVERSION_NOTES_KEY,
    convert_rsl_rl_checkpoint,
    is_rsl_rl_checkpoint,
    rsl_rl_layout,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "rsl_rl"

# fixture → (layout, rsl_rl optimizer index of: the std parameter (None: state-dependent std), the actor's first
# weight, the critic's first weight). The indices follow each release's module definitions, written out by hand.
FIXTURES: dict[str, tuple[str, int | None, int, int]] = {
    "rsl_rl_2.3.3": ("2.x", 0, 1, 7),
    "rsl_rl_3.3.0_log_std": ("3.x", 0, 1, 7),
    "rsl_rl_3.3.0_state_dependent_std": ("3.x", None, 0, 6),
    "rsl_rl_4.0.1": ("4.x", 0, 1, 7),
    "rsl_rl_4.0.1_state_dependent_log_std": ("5.x", None, 0, 6),  # no std parameter: same layout as 5.x
    "rsl_rl_5.5.1": ("5.x", 0, 1, 7),
}
NUM_ENVS = 16
TOLERANCE = 1e-6  # stride's ELU may differ from torch's by one float32 ulp


def _fixture(name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    checkpoint = load_checkpoint(str(DATA / f"{name}.pt"))
    io = torch.load(DATA / f"{name}_io.pt", weights_only=True)
    return checkpoint, io


def _obs(io: dict[str, Any], rows: slice = slice(None), policy_dim: int | None = None) -> TensorDict:
    policy, critic = io["obs"]["policy"][rows], io["obs"]["critic"][rows]
    if policy_dim is not None:
        policy = torch.cat([policy, torch.zeros(len(policy), policy_dim - policy.shape[1])], dim=-1)
    return TensorDict({"policy": policy, "critic": critic}, batch_size=[len(policy)])


def _param(model: torch.nn.Module, name: str) -> torch.nn.Parameter:
    return dict(model.named_parameters())[name]


def _algorithm(io: dict[str, Any], policy_dim: int | None = None) -> PPO:
    """stride's PPO built from the release's own train_cfg, migrated to the v5 format."""
    cfg, _ = migrate_train_cfg(io["train_cfg"])
    obs = _obs(io, slice(0, NUM_ENVS), policy_dim)
    return PPO.construct(obs, NUM_ENVS, 2, cfg["num_steps_per_env"], cfg, cfg.get("obs_groups", {}), "cpu")


@pytest.mark.parametrize("name", list(FIXTURES))
class TestReleaseFixtures:
    """Each release's checkpoint converts, loads strictly, and stride's deterministic actions, values and action std
    equal the release's own on 100 fixed observations (max abs difference <= 1e-6)."""

    def test_fixture_files_are_small(self, name: str) -> None:
        size = sum((DATA / f"{name}{suffix}.pt").stat().st_size for suffix in ("", "_io"))
        assert size < 100_000

    def test_layout_detected(self, name: str) -> None:
        checkpoint, io = _fixture(name)
        assert is_rsl_rl_checkpoint(checkpoint)
        assert rsl_rl_layout(checkpoint) == FIXTURES[name][0]
        assert io["release"].split(".")[0] == FIXTURES[name][0][0] or name.endswith("state_dependent_log_std")

    def test_migrated_config_is_strict_v5(self, name: str) -> None:
        _, io = _fixture(name)
        cfg, _ = migrate_train_cfg(io["train_cfg"])
        runner_cfg = build(RunnerCfg, cfg)
        assert runner_cfg.actor["hidden_dims"] == [32, 32]
        assert runner_cfg.actor["obs_normalization"] is True
        assert runner_cfg.critic["obs_normalization"] is True

    def test_actions_values_and_std_match_the_release(self, name: str) -> None:
        checkpoint, io = _fixture(name)
        alg = _algorithm(io)
        converted = convert_rsl_rl_checkpoint(checkpoint, alg.actor, alg.critic)
        alg.load_state_dict(converted)
        alg.eval_mode()
        obs = _obs(io)
        with torch.no_grad():
            actions = alg.actor(obs)
            values = alg.critic(obs)
            std = alg.distribution.std(alg.actor.distribution_params(obs))
        assert actions.shape == io["actions"].shape == (100, 2)
        assert (actions - io["actions"]).abs().max().item() <= TOLERANCE
        assert (values - io["values"]).abs().max().item() <= TOLERANCE
        assert (std - io["action_std"]).abs().max().item() <= TOLERANCE
        # the actions are not trivially equal: the normalizers hold statistics of real rollouts
        assert dict(alg.actor.named_buffers())["obs_normalizer.count"].item() > 0
        assert io["actions"].std(dim=0).min().item() > 1e-3

    def test_optimizer_state_follows_parameter_names(self, name: str) -> None:
        checkpoint, io = _fixture(name)
        _, std_index, actor_index, critic_index = FIXTURES[name]
        alg = _algorithm(io)
        alg.load_state_dict(convert_rsl_rl_checkpoint(checkpoint, alg.actor, alg.critic))
        saved = checkpoint["optimizer_state_dict"]["state"]
        pairs = [(_param(alg.actor, "mlp.0.weight"), actor_index), (_param(alg.critic, "mlp.0.weight"), critic_index)]
        if std_index is not None:
            std_param = next(p for n, p in alg.actor.named_parameters() if n.startswith("distribution."))
            pairs.append((std_param, std_index))
        for param, index in pairs:
            assert torch.equal(alg.optimizer.state[param]["exp_avg"], saved[index]["exp_avg"])
            assert torch.equal(alg.optimizer.state[param]["exp_avg_sq"], saved[index]["exp_avg_sq"])
        assert alg.learning_rate == pytest.approx(checkpoint["optimizer_state_dict"]["param_groups"][0]["lr"])

    def test_iteration_and_notes(self, name: str) -> None:
        checkpoint, io = _fixture(name)
        alg = _algorithm(io)
        converted = convert_rsl_rl_checkpoint(checkpoint, alg.actor, alg.critic)
        assert converted["iter"] == checkpoint["iter"] == 2
        assert converted["infos"] is None
        notes = converted[CONVERSION_NOTES_KEY]
        assert notes[0] == f"rsl_rl {FIXTURES[name][0]} checkpoint converted to stride's layout"
        assert not any("dropped" in note for note in notes)

    def test_input_not_modified(self, name: str) -> None:
        checkpoint, io = _fixture(name)
        before = copy.deepcopy(checkpoint)
        alg = _algorithm(io)
        convert_rsl_rl_checkpoint(checkpoint, alg.actor, alg.critic)
        assert list(checkpoint) == list(before)
        for key in ("model_state_dict", "actor_state_dict", "critic_state_dict"):
            if key in before:
                assert list(checkpoint[key]) == list(before[key])


class TestMismatch:
    """A checkpoint that does not fit the models raises CheckpointError naming every key with both shapes."""

    def test_wrong_observation_size_names_keys_and_shapes(self) -> None:
        checkpoint, io = _fixture("rsl_rl_5.5.1")
        alg = _algorithm(io, policy_dim=6)
        with pytest.raises(CheckpointError) as err:
            convert_rsl_rl_checkpoint(checkpoint, alg.actor, alg.critic)
        message = str(err.value)
        assert "actor.mlp.0.weight" in message
        assert "checkpoint shape (32, 5) vs model shape (32, 6)" in message
        assert "actor.obs_normalizer._mean" in message
        assert "checkpoint shape (1, 5) vs model shape (1, 6)" in message
        assert "4 mismatches" in message  # _mean, _var, _std and the first weight; nothing else differs
        assert "critic" not in message.split("Build the models")[0]

    def test_old_layout_names_the_rsl_rl_key(self) -> None:
        checkpoint, io = _fixture("rsl_rl_2.3.3")
        alg = _algorithm(io, policy_dim=6)
        with pytest.raises(CheckpointError, match=r"actor\.mlp\.0\.weight \(rsl_rl 'actor\.0\.weight'\)"):
            convert_rsl_rl_checkpoint(checkpoint, alg.actor, alg.critic)

    def test_missing_and_unexpected_keys(self) -> None:
        checkpoint, io = _fixture("rsl_rl_4.0.1")
        alg = _algorithm(io)
        broken = dict(checkpoint)
        broken["critic_state_dict"] = {k: v for k, v in checkpoint["critic_state_dict"].items() if k != "mlp.4.bias"}
        broken["critic_state_dict"]["extra.weight"] = torch.zeros(3)
        with pytest.raises(CheckpointError) as err:
            convert_rsl_rl_checkpoint(broken, alg.actor, alg.critic)
        message = str(err.value)
        assert "critic.mlp.4.bias (model shape (1,)): expected by the model but missing" in message
        assert "critic.extra.weight (rsl_rl 'critic_state_dict.extra.weight', shape (3,)): in the checkpoint" in message
        # strict=False accepts the missing/unexpected keys (shapes still checked)
        converted = convert_rsl_rl_checkpoint(broken, alg.actor, alg.critic, strict=False)
        assert "mlp.4.bias" not in converted["critic_state_dict"]

    def test_unknown_old_key(self) -> None:
        checkpoint, io = _fixture("rsl_rl_3.3.0_log_std")
        alg = _algorithm(io)
        broken = {**checkpoint, "model_state_dict": {**checkpoint["model_state_dict"], "encoder.weight": torch.ones(2)}}
        with pytest.raises(CheckpointError, match=r"no stride counterpart: \['encoder\.weight'\]"):
            convert_rsl_rl_checkpoint(broken, alg.actor, alg.critic)

    def test_distillation_checkpoint_refused(self) -> None:
        data = {"model_state_dict": {"student.0.weight": torch.zeros(2, 2), "teacher.0.weight": torch.zeros(2, 2)}}
        _, io = _fixture("rsl_rl_2.3.3")
        alg = _algorithm(io)
        with pytest.raises(CheckpointError, match="distillation checkpoint"):
            convert_rsl_rl_checkpoint(data, alg.actor, alg.critic)


class TestDetection:
    """is_rsl_rl_checkpoint tells rsl_rl's layouts from stride's own checkpoints and from foreign dicts."""

    @pytest.mark.parametrize(
        "data",
        [
            {"model_state_dict": {}, "optimizer_state_dict": {}, "iter": 0, "infos": None},
            {"actor_state_dict": {}, "critic_state_dict": {}, "optimizer_state_dict": {}},
        ],
    )
    def test_rsl_rl_layouts(self, data: dict[str, Any]) -> None:
        assert is_rsl_rl_checkpoint(data)

    @pytest.mark.parametrize(
        "data",
        [
            {"actor_state_dict": {}, "critic_state_dict": {}, "schema_version": SCHEMA_VERSION},  # stride's own
            {"actor_state_dict": {}},  # half a checkpoint
            {"model_state_dict": torch.zeros(3)},  # not a state dict
            {"weights": torch.zeros(3)},
            {},
            [1, 2, 3],
            None,
        ],
    )
    def test_other_data(self, data: Any) -> None:
        assert not is_rsl_rl_checkpoint(data)
        if isinstance(data, dict):
            with pytest.raises(CheckpointError, match="not an rsl_rl PPO checkpoint"):
                rsl_rl_layout(data)

    def test_stride_checkpoint_is_not_rsl_rl(self) -> None:
        _, io = _fixture("rsl_rl_5.5.1")
        state = _algorithm(io).state_dict()
        assert is_rsl_rl_checkpoint(state)  # PPO.state_dict alone has rsl_rl's key names ...
        state["schema_version"] = SCHEMA_VERSION  # ... the runner's save adds the version that tells them apart
        assert not is_rsl_rl_checkpoint(state)


class TestSyntheticLayouts:
    """Cases the release fixtures do not cover: a permuted optimizer, unusable optimizer states, rsl_rl 2.x without
    a critic group, torch.compile prefixes and pass-through entries."""

    def _v2(self) -> tuple[dict[str, Any], PPO]:
        checkpoint, io = _fixture("rsl_rl_2.3.3")
        return checkpoint, _algorithm(io)

    def test_permuted_parameter_order_is_followed(self) -> None:
        checkpoint, alg = self._v2()
        model = checkpoint["model_state_dict"]
        # a module that registered the critic first and the std last: its optimizer indices follow that order
        order = [k for k in model if k.startswith("critic.")] + [k for k in model if k.startswith("actor.")] + ["std"]
        old_index = {key: i for i, key in enumerate(model)}
        state = checkpoint["optimizer_state_dict"]
        permuted = {
            **checkpoint,
            "model_state_dict": {k: model[k] for k in order},
            "optimizer_state_dict": {
                "state": {i: state["state"][old_index[k]] for i, k in enumerate(order)},
                "param_groups": [{**state["param_groups"][0], "params": list(range(len(order)))}],
            },
        }
        converted = convert_rsl_rl_checkpoint(permuted, alg.actor, alg.critic)
        assert any("re-indexed" in note for note in converted[CONVERSION_NOTES_KEY])
        alg.load_state_dict(converted)
        actor_first, critic_first = _param(alg.actor, "mlp.0.weight"), _param(alg.critic, "mlp.0.weight")
        assert torch.equal(alg.optimizer.state[actor_first]["exp_avg"], state["state"][1]["exp_avg"])
        assert torch.equal(alg.optimizer.state[critic_first]["exp_avg"], state["state"][7]["exp_avg"])

    def test_optimizer_with_other_parameter_count_is_dropped(self) -> None:
        checkpoint, alg = self._v2()
        state = checkpoint["optimizer_state_dict"]
        group = {**state["param_groups"][0], "params": state["param_groups"][0]["params"][:-1]}
        broken = {**checkpoint, "optimizer_state_dict": {"state": state["state"], "param_groups": [group]}}
        converted = convert_rsl_rl_checkpoint(broken, alg.actor, alg.critic)
        assert "optimizer_state_dict" not in converted
        assert any("covers 12 parameters" in n and "13" in n for n in converted[CONVERSION_NOTES_KEY])

    def test_optimizer_with_wrong_state_shape_is_dropped(self) -> None:
        checkpoint, alg = self._v2()
        state = checkpoint["optimizer_state_dict"]
        entries = dict(state["state"])
        entries[1] = {**entries[1], "exp_avg": torch.zeros(5, 32)}  # transposed first actor weight
        broken = {**checkpoint, "optimizer_state_dict": {**state, "state": entries}}
        converted = convert_rsl_rl_checkpoint(broken, alg.actor, alg.critic)
        assert "optimizer_state_dict" not in converted
        assert any("actor.mlp.0.weight has shape (5, 32)" in n for n in converted[CONVERSION_NOTES_KEY])

    def test_two_param_groups_are_dropped(self) -> None:
        checkpoint, alg = self._v2()
        state = checkpoint["optimizer_state_dict"]
        group = state["param_groups"][0]
        groups = [{**group, "params": group["params"][:5]}, {**group, "params": group["params"][5:]}]
        converted = convert_rsl_rl_checkpoint(
            {**checkpoint, "optimizer_state_dict": {**state, "param_groups": groups}}, alg.actor, alg.critic
        )
        assert "optimizer_state_dict" not in converted
        assert any("found 2" in n for n in converted[CONVERSION_NOTES_KEY])

    def test_rsl_rl_2_without_critic_group_uses_the_actor_normalizer(self) -> None:
        # rsl_rl 2.x without a critic group: the critic reads the actor's observations (same size) normalized by the
        # actor's normalizer, and the critic normalizer keeps count 0
        checkpoint, io = _fixture("rsl_rl_2.3.3")
        cfg, _ = migrate_train_cfg(io["train_cfg"])
        obs = TensorDict({"policy": io["obs"]["policy"][:NUM_ENVS]}, batch_size=[NUM_ENVS])
        alg = PPO.construct(obs, NUM_ENVS, 2, 8, {**cfg, "critic": {**cfg["critic"]}}, {}, "cpu")
        critic_first = torch.zeros(32, 5)
        model = {**checkpoint["model_state_dict"], "critic.0.weight": critic_first}
        untouched = {"_mean": torch.zeros(1, 5), "_var": torch.ones(1, 5), "_std": torch.ones(1, 5)}
        untouched["count"] = torch.tensor(0)
        data = {
            "model_state_dict": model,
            "obs_norm_state_dict": checkpoint["obs_norm_state_dict"],
            "privileged_obs_norm_state_dict": untouched,
        }
        converted = convert_rsl_rl_checkpoint(data, alg.actor, alg.critic)
        critic_state = converted["critic_state_dict"]
        assert torch.equal(critic_state["obs_normalizer._mean"], checkpoint["obs_norm_state_dict"]["_mean"])
        assert critic_state["obs_normalizer.count"].item() > 0
        assert any("never updated" in note for note in converted[CONVERSION_NOTES_KEY])

    def test_fixed_std_is_not_in_stride_optimizer(self) -> None:
        # rsl_rl 5.x keeps a fixed std (learn_std=False) in its optimizer; stride optimizes trainable parameters only
        checkpoint, io = _fixture("rsl_rl_5.5.1")
        cfg, _ = migrate_train_cfg(io["train_cfg"])
        cfg["actor"]["distribution_cfg"]["learn_std"] = False
        obs = _obs(io, slice(0, NUM_ENVS))
        alg = PPO.construct(obs, NUM_ENVS, 2, 8, cfg, cfg["obs_groups"], "cpu")
        converted = convert_rsl_rl_checkpoint(checkpoint, alg.actor, alg.critic)
        saved = checkpoint["optimizer_state_dict"]
        assert len(saved["param_groups"][0]["params"]) == 13
        assert converted["optimizer_state_dict"]["param_groups"][0]["params"] == list(range(12))
        assert any("actor.distribution.std_param" in note for note in converted[CONVERSION_NOTES_KEY])
        alg.load_state_dict(converted)
        first = _param(alg.actor, "mlp.0.weight")
        assert torch.equal(alg.optimizer.state[first]["exp_avg"], saved["state"][1]["exp_avg"])

    def test_compiled_state_dict_prefix_removed(self) -> None:
        checkpoint, io = _fixture("rsl_rl_5.5.1")
        alg = _algorithm(io)
        compiled = {
            **checkpoint,
            "actor_state_dict": {f"_orig_mod.{k}": v for k, v in checkpoint["actor_state_dict"].items()},
        }
        converted = convert_rsl_rl_checkpoint(compiled, alg.actor, alg.critic)
        assert list(converted["actor_state_dict"]) == list(checkpoint["actor_state_dict"])
        assert any("_orig_mod." in note for note in converted[CONVERSION_NOTES_KEY])

    def test_rnd_states_pass_through(self) -> None:
        checkpoint, io = _fixture("rsl_rl_5.5.1")
        alg = _algorithm(io)
        rnd = {"predictor.0.weight": torch.ones(2, 2)}
        converted = convert_rsl_rl_checkpoint(
            {**checkpoint, "rnd_state_dict": rnd, "rnd_optimizer_state_dict": {"state": {}}}, alg.actor, alg.critic
        )
        assert converted["rnd_state_dict"] is rnd
        assert converted["rnd_optimizer_state_dict"] == {"state": {}}
