"""Tests for stride.extensions.symmetry: config, the construction check, augmentation, mirror loss, PPO semantics."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from tensordict import TensorDict

from stride.config.schema import SymmetryCfg
from stride.config.strict import build
from stride.env.symmetry import cartpole_symmetry
from stride.env.tasks import make_task
from stride.extensions.symmetry import Symmetry, check_augmentation_function
from stride.runners.on_policy_runner import OnPolicyRunner
from stride.storage import MiniBatch
from stride.utils.errors import ConfigError

NUM_ENVS, NUM_STEPS = 16, 8
DOCS = Path(__file__).resolve().parents[2] / "docs" / "algorithms"


def _cfg(symmetry: dict[str, Any] | None, epochs: int = 2, mini_batches: int = 4, **actor: Any) -> dict[str, Any]:
    return {
        "num_steps_per_env": NUM_STEPS,
        "seed": 3,
        "algorithm": {"num_learning_epochs": epochs, "num_mini_batches": mini_batches, "symmetry_cfg": symmetry},
        "actor": {
            "hidden_dims": [32, 32],
            "distribution_cfg": {"class_name": "GaussianDistribution", "init_std": 1.0},
            **actor,
        },
        "critic": {"hidden_dims": [32, 32]},
    }


def _runner(symmetry: dict[str, Any] | None, **kwargs: Any) -> OnPolicyRunner:
    return OnPolicyRunner(make_task("cartpole", num_envs=NUM_ENVS, seed=0), _cfg(symmetry, **kwargs), log_dir=None)


def _sym(aug: bool = True, loss: bool = True, coeff: float = 0.5, func: Any = "cartpole") -> dict[str, Any]:
    return {
        "use_data_augmentation": aug,
        "use_mirror_loss": loss,
        "mirror_loss_coeff": coeff,
        "data_augmentation_func": func,
    }


def _extension(runner: OnPolicyRunner) -> Symmetry:
    (ext,) = [e for e in runner.alg.extensions if isinstance(e, Symmetry)]
    return ext


def _rollout(runner: OnPolicyRunner) -> None:
    """One rollout + returns, without updating."""
    alg, env = runner.alg, runner.env
    obs = env.get_observations()
    with torch.inference_mode():
        for _ in range(NUM_STEPS):
            obs, rew, dones, extras = env.step(alg.act(obs))
            alg.process_env_step(obs, rew, dones, extras)
        alg.compute_returns(obs)


def _first_batch(runner: OnPolicyRunner, mini_batches: int = 4) -> MiniBatch:
    return next(iter(runner.alg.storage.mini_batch_generator(mini_batches, 1)))


# --------------------------------------------------------------------------------------------------- config
class TestConfig:
    """symmetry_cfg is strict: unknown keys, missing function and negative weights fail up front; input unchanged."""

    def test_defaults_are_rsl_rl_s(self) -> None:
        cfg = build(SymmetryCfg, {"data_augmentation_func": "cartpole"}, "algorithm.symmetry_cfg")
        assert (cfg.use_data_augmentation, cfg.use_mirror_loss, cfg.mirror_loss_coeff) == (False, False, 0.0)

    @pytest.mark.parametrize(
        ("section", "match"),
        [
            ({"use_data_augmentaton": True, "data_augmentation_func": "cartpole"}, "did you mean"),
            ({"use_data_augmentation": True}, "data_augmentation_func' must be a callable"),
            ({"data_augmentation_func": 3}, "data_augmentation_func' must be a callable"),
            ({"data_augmentation_func": "cartpole", "mirror_loss_coeff": -1.0}, "mirror_loss_coeff' must be"),
            ({"data_augmentation_func": "cartpol"}, "not a known"),
            ({"data_augmentation_func": "stride.env.symmetry:nope"}, "no attribute 'nope'"),
        ],
    )
    def test_rejected_before_any_step(self, section: dict[str, Any], match: str) -> None:
        env = make_task("cartpole", num_envs=NUM_ENVS, seed=0)
        with pytest.raises(ConfigError, match=match):
            OnPolicyRunner(env, _cfg(section), log_dir=None)
        assert int(env.episode_length_buf.sum()) == 0  # nothing stepped

    def test_input_not_mutated_and_import_path_resolves(self) -> None:
        cfg = _cfg(_sym(func="stride.env.symmetry:cartpole_symmetry"))
        before = copy.deepcopy(cfg)
        runner = OnPolicyRunner(make_task("cartpole", num_envs=NUM_ENVS, seed=0), cfg, log_dir=None)
        assert cfg == before
        assert _extension(runner).func is cartpole_symmetry


# ---------------------------------------------------------------------------------------- construction check
def _mirror(x: torch.Tensor) -> torch.Tensor:
    return -x


def _cat_obs(obs: Any, parts: list[Any]) -> TensorDict:
    batch = sum(p["policy"].shape[0] for p in parts)
    return TensorDict({"policy": torch.cat([p["policy"] for p in parts])}, batch_size=[batch])


def wrong_multiple(env: Any = None, obs: Any = None, actions: Any = None) -> tuple[Any, Any]:
    half = None if actions is None else actions.shape[0] // 2 + 1
    o = None if obs is None else _cat_obs(obs, [obs, {"policy": -obs["policy"][: obs.batch_size[0] // 2 + 1]}])
    a = None if actions is None else torch.cat([actions, -actions[:half]])
    return o, a


def only_originals(env: Any = None, obs: Any = None, actions: Any = None) -> tuple[Any, Any]:
    return obs, actions


def mirrored_first(env: Any = None, obs: Any = None, actions: Any = None) -> tuple[Any, Any]:
    o = None if obs is None else _cat_obs(obs, [{"policy": -obs["policy"]}, obs])
    a = None if actions is None else torch.cat([-actions, actions])
    return o, a


def reordered(env: Any = None, obs: Any = None, actions: Any = None) -> tuple[Any, Any]:
    o = None if obs is None else _cat_obs(obs, [{"policy": obs["policy"].flip(0)}, {"policy": -obs["policy"]}])
    a = None if actions is None else torch.cat([actions.flip(0), -actions])
    return o, a


def drops_group(env: Any = None, obs: Any = None, actions: Any = None) -> tuple[Any, Any]:
    o = None
    if obs is not None:
        o = TensorDict({"critic": torch.cat([obs["critic"], -obs["critic"]])}, batch_size=[2 * obs.batch_size[0]])
    return o, None if actions is None else torch.cat([actions, -actions])


def changes_shape(env: Any = None, obs: Any = None, actions: Any = None) -> tuple[Any, Any]:
    o = None
    if obs is not None:
        x = obs["policy"]
        o = TensorDict({"policy": torch.cat([x, -x])[:, :3]}, batch_size=[2 * x.shape[0]])
    return o, None if actions is None else torch.cat([actions, -actions])


def not_an_involution(env: Any = None, obs: Any = None, actions: Any = None) -> tuple[Any, Any]:
    # x → −2x: a valid-looking copy, but mirroring twice scales by 4
    o = None if obs is None else _cat_obs(obs, [obs, {"policy": -2.0 * obs["policy"]}])
    return o, None if actions is None else torch.cat([actions, -2.0 * actions])


def crashes(env: Any = None, obs: Any = None, actions: Any = None) -> tuple[Any, Any]:
    raise KeyError("joint_pos")


def returns_one_value(env: Any = None, obs: Any = None, actions: Any = None) -> Any:
    return actions


def mutates_input(env: Any = None, obs: Any = None, actions: Any = None) -> tuple[Any, Any]:
    # returns correct-looking outputs built from the originals, then scribbles on the caller's tensors
    o = None if obs is None else _cat_obs(obs, [{"policy": obs["policy"].clone()}, {"policy": -obs["policy"]}])
    a = None if actions is None else torch.cat([actions, -actions])
    if actions is not None:
        actions.add_(0.5)
    return o, a


def assumes_num_envs(env: Any = None, obs: Any = None, actions: Any = None) -> tuple[Any, Any]:
    # a common bug: sizing the output with env.num_envs instead of the batch it was given
    n = env.num_envs
    o = None if obs is None else _cat_obs(obs, [obs, {"policy": -obs["policy"][:n]}])
    return o, None if actions is None else torch.cat([actions, -actions[:n]])


MALFORMED = [
    (wrong_multiple, "common multiple"),
    (only_originals, "k >= 2"),
    (mirrored_first, "originals must come first"),
    (reordered, "originals must come first"),
    (changes_shape, "per-sample shape"),
    (not_an_involution, r"mirror\(mirror\(x\)\) != x"),
    (crashes, "raised KeyError"),
    (returns_one_value, r"return the pair \(obs, actions\)"),
    (mutates_input, "in place"),
    (assumes_num_envs, "common multiple"),
]


class TestMalformedFunctionsRejected:
    """R16: each malformed augmentation function is rejected at construction, and the message names it."""

    @pytest.mark.parametrize(("func", "match"), MALFORMED, ids=[m[0].__name__ for m in MALFORMED])
    def test_rejected_naming_the_function(self, func: Any, match: str) -> None:
        env = make_task("cartpole", num_envs=NUM_ENVS, seed=0)
        with pytest.raises(ConfigError, match=match) as info:
            OnPolicyRunner(env, _cfg(_sym(func=func)), log_dir=None)
        assert f"{__name__}:{func.__name__}" in str(info.value)
        assert "algorithm.symmetry_cfg.data_augmentation_func" in str(info.value)

    def test_dropped_group_named(self) -> None:
        obs = TensorDict({"policy": torch.ones(4, 4), "critic": torch.ones(4, 4)}, batch_size=[4])
        with pytest.raises(ConfigError, match=r"dropped \['policy'\]") as info:
            check_augmentation_function(drops_group, None, obs, torch.ones(4, 1))
        assert "drops_group" in str(info.value)

    def test_group_transformations_accepted(self) -> None:
        """A function with k = 4 copies (Isaac Lab style: identity, two mirrors, both) passes with k = 4."""

        def four_copies(env: Any = None, obs: Any = None, actions: Any = None) -> tuple[Any, Any]:
            flip_a = torch.tensor([-1.0, 1.0, 1.0, 1.0])
            flip_b = torch.tensor([1.0, 1.0, -1.0, 1.0])
            o = None
            if obs is not None:
                x = obs["policy"]
                o = TensorDict({"policy": torch.cat([x, x * flip_a, x * flip_b, x * flip_a * flip_b])}, [4 * len(x)])
            a = None if actions is None else torch.cat([actions, -actions, actions, -actions])
            return o, a

        obs = TensorDict({"policy": torch.randn(5, 4)}, batch_size=[5])
        assert check_augmentation_function(four_copies, None, obs, torch.randn(5, 1)) == 4


# ------------------------------------------------------------------------------------------- augmentation
class TestAugmentedBatch:
    """augment_batch gives 2B samples: originals first, mirrors after, the other rollout tensors repeated exactly."""

    def test_sizes_and_repeats(self) -> None:
        runner = _runner(_sym())
        _rollout(runner)
        batch = _first_batch(runner)
        size = batch.actions.shape[0]
        out = _extension(runner).augment_batch(batch)
        assert out.actions.shape == (2 * size, 1) and out.observations.batch_size == torch.Size([2 * size])
        assert torch.equal(out.observations["policy"][:size], batch.observations["policy"])
        assert torch.equal(out.observations["policy"][size:], -batch.observations["policy"])
        assert torch.equal(out.actions[size:], -batch.actions)
        for name in ("old_log_prob", "old_values", "returns", "advantages"):
            original, augmented = getattr(batch, name), getattr(out, name)
            assert torch.equal(augmented[:size], original) and torch.equal(augmented[size:], original), name
        # the old distribution parameters stay the originals': KL and entropy are measured on them
        assert out.old_dist_params is batch.old_dist_params

    def test_off_leaves_batch_alone(self) -> None:
        runner = _runner(_sym(aug=False, loss=True))
        _rollout(runner)
        batch = _first_batch(runner)
        assert _extension(runner).augment_batch(batch) is batch


# ------------------------------------------------------------------------------------------- mirror loss
def _odd_actor(runner: OnPolicyRunner) -> None:
    """tanh MLP without biases: μ(−s) = −μ(s) exactly, i.e. equivariant under the cart-pole mirror."""
    with torch.no_grad():
        for module in runner.alg.actor.mlp.modules():
            if isinstance(module, torch.nn.Linear):
                module.bias.zero_()


def _loss_inputs(runner: OnPolicyRunner, augmented: bool) -> tuple[MiniBatch, dict[str, Any]]:
    ext, alg = _extension(runner), runner.alg
    batch = _first_batch(runner)
    size = batch.actions.shape[0]
    if augmented:
        batch = ext.augment_batch(batch)
    params = alg.actor.distribution_params(batch.observations)
    return batch, {"dist_params": params, "values": None, "original_batch_size": size}


class TestMirrorLoss:
    """The mirror loss is MSE(μ(mirror s), mirror μ(s)), 0 for an equivariant actor, equal to rsl_rl's."""

    @pytest.mark.parametrize("augmented", [True, False])
    def test_equivariant_actor_has_zero_loss(self, augmented: bool) -> None:
        runner = _runner(_sym(aug=augmented), activation="tanh")
        _rollout(runner)
        ext = _extension(runner)
        batch, outputs = _loss_inputs(runner, augmented)
        generic = ext.extra_loss(batch, outputs)["mirror"].item()
        _odd_actor(runner)
        batch, outputs = _loss_inputs(runner, augmented)
        loss = ext.extra_loss(batch, outputs)["mirror"]
        assert loss.item() < 1e-10
        assert generic > 1e-4  # not vacuous: the same actor with its biases is not equivariant

    @pytest.mark.parametrize("augmented", [True, False])
    def test_matches_rsl_rl_value_and_gradient(self, augmented: bool) -> None:
        from rsl_rl.extensions import Symmetry as RslSymmetry

        runner = _runner(_sym(aug=augmented, coeff=1.0))
        _rollout(runner)
        ext, actor = _extension(runner), runner.alg.actor
        batch, outputs = _loss_inputs(runner, augmented)
        ours = ext.extra_loss(batch, outputs)["mirror"]
        ours.backward()
        grads = [p.grad.clone() for p in actor.parameters() if p.grad is not None]
        actor.zero_grad()
        rsl: Any = RslSymmetry(
            env=runner.env,  # type: ignore[arg-type]  # stride's VecEnv, duck-typed
            data_augmentation_func=cartpole_symmetry,
            use_data_augmentation=augmented,
            use_mirror_loss=True,
            mirror_loss_coeff=1.0,
        )
        original_size = int(outputs["original_batch_size"])
        theirs = rsl.compute_loss(actor, SimpleNamespace(observations=batch.observations), original_size)
        theirs.backward()
        assert abs(ours.item() - theirs.item()) <= 1e-6 * max(1.0, theirs.item())
        theirs_grads = [p.grad for p in actor.parameters() if p.grad is not None]
        assert len(grads) == len(theirs_grads) > 0
        for mine, reference in zip(grads, theirs_grads, strict=True):
            torch.testing.assert_close(mine, reference, rtol=1e-5, atol=1e-7)

    def test_gradient_flows_only_through_the_mirrored_half(self) -> None:
        runner = _runner(_sym())
        _rollout(runner)
        ext = _extension(runner)
        batch, outputs = _loss_inputs(runner, augmented=True)
        size = int(outputs["original_batch_size"])
        params = outputs["dist_params"]
        ext.extra_loss(batch, outputs)["mirror"].backward(inputs=list(params))
        grad_mean = params[0].grad
        assert grad_mean is not None
        assert torch.count_nonzero(grad_mean[:size]) == 0  # the target side is detached
        assert torch.count_nonzero(grad_mean[size:]) > 0

    def test_logging_only_mode(self) -> None:
        runner = _runner(_sym(aug=False, loss=False))
        _rollout(runner)
        ext = _extension(runner)
        batch, outputs = _loss_inputs(runner, augmented=False)
        assert ext.extra_loss(batch, outputs) == {}
        assert ext._last.item() > 0 and not ext._last.requires_grad


# ---------------------------------------------------------------------------------------------- with PPO
def _spy(monkeypatch: pytest.MonkeyPatch, runner: OnPolicyRunner) -> list[dict[str, Any]]:
    """Record, before each mini-batch step, the ratio and KL on the original and the mirrored half."""
    alg = runner.alg
    records: list[dict[str, Any]] = []
    original = alg._update_step

    def hooked(batch: MiniBatch) -> Any:
        size = batch.old_dist_params[0].shape[0]
        with torch.no_grad():
            params = alg.actor.distribution_params(batch.observations)
            ratio = (alg.distribution.log_prob(params, batch.actions) - batch.old_log_prob).exp()
            head = tuple(p[:size] for p in params)
            kl_original = alg.distribution.kl(batch.old_dist_params, head).mean()
            entropy_original = alg.distribution.entropy(head).mean()
        result = original(batch)
        losses = result[0]  # (value, surrogate, entropy, kl)
        records.append(
            {
                "size": size,
                "total": batch.actions.shape[0],
                "ratio": ratio,
                "kl_original": kl_original.item(),
                "entropy_original": entropy_original.item(),
                "entropy": losses[2].item(),
                "kl": losses[3].item(),
            }
        )
        return result

    monkeypatch.setattr(alg, "_update_step", hooked)
    return records


class TestWithPPO:
    """R15 on an augmented batch, and rsl_rl's semantics: KL and entropy on the originals, losses on all samples."""

    @pytest.mark.parametrize("obs_normalization", [False, True])
    def test_first_mini_batch_ratio_on_original_half(
        self, monkeypatch: pytest.MonkeyPatch, obs_normalization: bool
    ) -> None:
        runner = _runner(_sym(), obs_normalization=obs_normalization)
        records = _spy(monkeypatch, runner)
        runner.learn(2)
        per_update = 2 * 4
        assert len(records) == 2 * per_update
        for first in (records[0], records[per_update]):
            size = first["size"]
            assert first["total"] == 2 * size
            assert (first["ratio"][:size] - 1.0).abs().max().item() <= 1e-5
            assert first["kl"] <= 1e-6
            # not vacuous: the untrained policy is not symmetric, so the mirrored half's ratio is not 1
            assert (first["ratio"][size:] - 1.0).abs().max().item() > 1e-3

    def test_kl_and_entropy_on_original_half(self, monkeypatch: pytest.MonkeyPatch) -> None:
        runner = _runner(_sym(), distribution_cfg={"class_name": "HeteroscedasticGaussianDistribution"})
        records = _spy(monkeypatch, runner)
        runner.learn(1)
        for record in records:
            assert record["kl"] == pytest.approx(record["kl_original"], rel=1e-5, abs=1e-8)
            assert record["entropy"] == pytest.approx(record["entropy_original"], rel=1e-5)
        assert max(r["kl"] for r in records) > 1e-5  # later mini-batches see a changed policy

    def test_update_equals_rsl_rl(self) -> None:
        """One update (2 epochs of one mini-batch) with augmentation + mirror loss matches rsl_rl's PPO."""
        from rsl_rl.algorithms import PPO as RslPPO
        from rsl_rl.models import MLPModel as RslMLPModel
        from rsl_rl.storage import RolloutStorage as RslStorage

        runner = _runner(_sym(coeff=0.7), epochs=2, mini_batches=1)
        alg = runner.alg
        _rollout(runner)
        obs = runner.env.get_observations()
        groups = {"actor": ["policy"], "critic": ["policy"]}
        actor = RslMLPModel(
            obs, groups, "actor", 1, [32, 32], "elu", distribution_cfg={"class_name": "GaussianDistribution"}
        )
        critic = RslMLPModel(obs, groups, "critic", 1, [32, 32], "elu")
        actor.load_state_dict(alg.actor.state_dict())
        critic.load_state_dict(alg.critic.state_dict())
        storage = RslStorage("rl", NUM_ENVS, NUM_STEPS, obs, [1])
        st = alg.storage
        storage.observations["policy"].copy_(st.obs["policy"])
        storage.actions.copy_(st.actions)
        storage.values.copy_(st.values.unsqueeze(-1))
        storage.actions_log_prob.copy_(st.log_probs.unsqueeze(-1))
        storage.returns.copy_(st.returns.unsqueeze(-1))
        storage.advantages.copy_(st.advantages.unsqueeze(-1))
        storage.distribution_params = tuple(p.clone() for p in st.dist_params)
        rsl = RslPPO(
            actor,
            critic,
            storage,
            num_learning_epochs=2,
            num_mini_batches=1,
            symmetry_cfg={
                "env": runner.env,
                "data_augmentation_func": cartpole_symmetry,
                "use_data_augmentation": True,
                "use_mirror_loss": True,
                "mirror_loss_coeff": 0.7,
            },
        )
        theirs = rsl.update()
        ours = alg.update()
        assert ours["surrogate"] == pytest.approx(theirs["surrogate"], rel=1e-4, abs=1e-6)
        assert ours["value"] == pytest.approx(theirs["value"], rel=1e-4)
        assert ours["entropy"] == pytest.approx(theirs["entropy"], rel=1e-5)
        assert _extension(runner).stats()["Loss/symmetry"] is not None
        assert ours["mirror"] == pytest.approx(0.7 * theirs["symmetry"], rel=1e-4)
        assert alg.learning_rate == pytest.approx(rsl.learning_rate, rel=1e-5)
        theirs_state = actor.state_dict()
        assert set(theirs_state) == set(alg.actor.state_dict())
        for name, mine in alg.actor.state_dict().items():
            torch.testing.assert_close(mine, theirs_state[name], rtol=1e-4, atol=1e-5, msg=name)


# ---------------------------------------------------------------------------------------------- logging
def _documented_metrics(page: Path) -> set[str]:
    text = page.read_text(encoding="utf-8")
    section = text.split("## Logged metrics", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([^`]+)` \|", section, flags=re.MULTILINE))


class TestLoggedMetrics:
    """A symmetry run logs Loss/symmetry (and Loss/mirror with the mirror loss); symmetry.md documents exactly the
    keys it adds to a PPO run."""

    def test_logged_keys_documented(self, tmp_path: Path) -> None:
        runner = OnPolicyRunner(make_task("cartpole", num_envs=8, seed=0), _cfg(_sym()), log_dir=str(tmp_path))
        runner.learn(2)
        lines = (tmp_path / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
        keys = set().union(*(json.loads(line) for line in lines))
        records = [json.loads(line) for line in lines]
        added = keys - _documented_metrics(DOCS / "ppo.md")
        assert added == _documented_metrics(DOCS / "symmetry.md") == {"Loss/symmetry", "Loss/mirror"}
        for record in records:
            # Loss/mirror is the weighted term: coeff · Loss/symmetry
            assert record["Loss/mirror"] == pytest.approx(0.5 * record["Loss/symmetry"], rel=1e-5)
            assert record["Loss/symmetry"] > 0


# --------------------------------------------------------------------------------------------- recurrent
def _recurrent_runner(rnn_type: str, **symmetry: Any) -> OnPolicyRunner:
    rnn = {"class_name": "RNNModel", "rnn_type": rnn_type, "rnn_hidden_dim": 8, "hidden_dims": [16]}
    cfg = {
        "num_steps_per_env": NUM_STEPS,
        "seed": 5,
        "algorithm": {
            "num_learning_epochs": 2,
            "num_mini_batches": 2,
            "symmetry_cfg": {**_sym(func="memory"), **symmetry},
        },
        "actor": {**rnn, "distribution_cfg": {"class_name": "GaussianDistribution", "init_std": 1.0}},
        "critic": dict(rnn),
    }
    # 12-step episodes and 8-step rollouts: trajectories start mid-rollout and continue across rollouts
    return OnPolicyRunner(make_task("memory", num_envs=NUM_ENVS, seed=0), cfg, log_dir=None)


def _mirror_memory_obs(obs: Any) -> TensorDict:
    return TensorDict({"policy": obs["policy"] * torch.tensor([-1.0, 1.0])}, batch_size=obs.batch_size)


def _shadow_rollout(monkeypatch: pytest.MonkeyPatch, runner: OnPolicyRunner) -> list[torch.Tensor]:
    """A direct rollout of the mirrored trajectories: a copy of the actor, synced to the live weights at every
    step, run in step mode on the mirrored observations with its own state; records log π(M a | M s) per step."""
    alg = runner.alg
    shadow = copy.deepcopy(alg.actor)
    log_probs: list[torch.Tensor] = []
    act, process = alg.act, alg.process_env_step

    def hooked_act(obs: Any) -> torch.Tensor:
        actions = act(obs)
        shadow.load_state_dict(alg.actor.state_dict())
        params = shadow.distribution_params(_mirror_memory_obs(obs))
        log_probs.append(alg.distribution.log_prob(params, -actions))
        return actions

    def hooked_process(obs: Any, rewards: Any, dones: torch.Tensor, extras: Any) -> None:
        process(obs, rewards, dones, extras)
        shadow.reset(dones)

    monkeypatch.setattr(alg, "act", hooked_act)
    monkeypatch.setattr(alg, "process_env_step", hooked_process)
    return log_probs


def _batch_envs(batch: MiniBatch, runner: OnPolicyRunner) -> list[int]:
    """Env index of every original column of a recurrent mini-batch (matched through the sampled actions)."""
    size = batch.old_dist_params[0].shape[1]
    stored = runner.alg.storage.actions[..., 0]  # (T, N)
    envs = []
    for m in range(size):
        matches = (stored == batch.actions[:, m, 0].unsqueeze(1)).all(dim=0).nonzero().flatten().tolist()
        assert len(matches) == 1
        envs.append(matches[0])
    return envs


class TestRecurrent:
    """Symmetry for GRU/LSTM policies: each trajectory gets a mirrored twin whose hidden state is the one a direct
    rollout of the mirrored trajectory has, so the twin's recomputed log-probs equal the direct rollout's."""

    @pytest.mark.parametrize("rnn_type", ["gru", "lstm"])
    def test_mirrored_half_matches_direct_rollout(self, monkeypatch: pytest.MonkeyPatch, rnn_type: str) -> None:
        runner = _recurrent_runner(rnn_type)
        alg, ext = runner.alg, _extension(runner)
        shadow_log_probs = _shadow_rollout(monkeypatch, runner)
        runner.learn(2)  # warm up: the mirrored stream's state must carry over rollouts and policy changes
        seen: list[dict[str, Any]] = []
        original_step = alg._update_step

        def spy(batch: MiniBatch) -> Any:
            if not seen:
                assert batch.hidden_states is not None and batch.masks is not None
                size = batch.old_dist_params[0].shape[1]
                with torch.no_grad():
                    params = alg.actor.distribution_params(batch.observations, batch.masks, batch.hidden_states[0])
                    log_prob = alg.distribution.log_prob(params, batch.actions)
                    zero_hidden = _map_zero_twins(batch.hidden_states[0], batch.masks.shape[1] // 2)
                    naive = alg.distribution.log_prob(
                        alg.actor.distribution_params(batch.observations, batch.masks, zero_hidden), batch.actions
                    )
                seen.append({"batch": batch, "log_prob": log_prob, "naive": naive, "size": size})
            return original_step(batch)

        monkeypatch.setattr(alg, "_update_step", spy)
        runner.learn(1)
        record = seen[0]
        batch, size = record["batch"], record["size"]
        direct = torch.stack(shadow_log_probs[-NUM_STEPS:])  # (T, N): the last rollout, mirrored
        envs = _batch_envs(batch, runner)
        recomputed = record["log_prob"][:, size:]
        gap = (recomputed - direct[:, envs]).abs().max().item()
        assert gap <= 1e-5  # measured: 0 (bit-identical) for GRU and LSTM
        # the original half's ratio is 1 (R15) and the mirrored half differs from it (the policy is not symmetric)
        assert (record["log_prob"][:, :size] - batch.old_log_prob[:, :size]).abs().max().item() <= 1e-5
        assert (recomputed - record["log_prob"][:, :size]).abs().max().item() > 1e-3
        # not vacuous: zero initial states for the twins (the naive choice) are measurably wrong (measured ≈ 1.5e-2)
        assert (record["naive"][:, size:] - direct[:, envs]).abs().max().item() > 1e-4
        assert ext.state_dict()["carry"]["actor"][0] is not None

    def test_mirror_loss_alone_equals_augmented_forward(self) -> None:
        runner = _recurrent_runner("gru")
        runner.learn(1)
        alg, ext = runner.alg, _extension(runner)
        _rollout(runner)
        batch = next(iter(alg.storage.recurrent_mini_batch_generator(2, 1, (True, True))))
        size = batch.old_dist_params[0].shape[1]
        augmented = ext.augment_batch(batch)
        assert augmented.hidden_states is not None
        with torch.no_grad():
            params = alg.actor.distribution_params(augmented.observations, augmented.masks, augmented.hidden_states[0])
            via_augmentation = alg.distribution.mode(params)[:, size:]
            alone = ext._transformed_mean(batch)
        assert alone.shape == via_augmentation.shape == (NUM_STEPS, size, 1)
        torch.testing.assert_close(alone, via_augmentation, rtol=1e-5, atol=1e-6)

    def test_transformed_state_saved_and_restored(self) -> None:
        runner = _recurrent_runner("lstm")
        runner.learn(1)
        state = _extension(runner).state_dict()
        h, c = state["carry"]["actor"][0]
        assert h.shape == c.shape == (1, NUM_ENVS, 8) and h.abs().max() > 0
        other = _recurrent_runner("lstm")
        _extension(other).load_state_dict(state)
        restored = _extension(other).state_dict()["carry"]["critic"][0]
        for mine, theirs in zip(restored, state["carry"]["critic"][0], strict=True):
            assert torch.equal(mine, theirs)


def _map_zero_twins(hidden: Any, size: int) -> Any:
    """The batch's initial states with the mirrored twins' (columns ``size:``) set to zero."""

    def zero(h: torch.Tensor) -> torch.Tensor:
        out = h.clone()
        out[:, size:] = 0.0
        return out

    return tuple(zero(h) for h in hidden) if isinstance(hidden, tuple) else zero(hidden)


class TestResume:
    """R08 with GRU + symmetry: 2 iterations equal 1 + save + load into a new runner + 1, bit for bit; the carried
    mirrored states are part of the checkpoint (leaving them out changes the result)."""

    def test_resume_is_exact(self, tmp_path: Path) -> None:
        straight = _recurrent_runner("gru")
        straight.learn(2)
        first = _recurrent_runner("gru")
        first.learn(1)
        first.save(str(tmp_path / "model_1.pt"))
        resumed = _recurrent_runner("gru")
        resumed.load(str(tmp_path / "model_1.pt"))
        resumed.learn(1)
        expected = straight.alg.actor.state_dict()
        for name, value in resumed.alg.actor.state_dict().items():
            assert torch.equal(value, expected[name]), name
        # not vacuous: without the extension state the mirrored twins start from zeros and training differs
        partial = _recurrent_runner("gru")
        partial.load(
            str(tmp_path / "model_1.pt"), load_cfg={"actor": True, "critic": True, "optimizer": True, "iteration": True}
        )
        partial.learn(1)
        differs = any(not torch.equal(value, expected[name]) for name, value in partial.alg.actor.state_dict().items())
        assert differs
