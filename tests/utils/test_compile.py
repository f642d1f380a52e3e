"""Tests for stride.utils.compile and the ``torch_compile_mode`` key: the accepted modes, and compiled training that
equals eager training (parameters, checkpoint keys, resume across the two) for PPO and Distillation."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import torch

from stride.config.schema import RunnerCfg
from stride.config.strict import build
from stride.env.tasks import make_task
from stride.runners import DistillationRunner, OnPolicyRunner
from stride.utils.compile import COMPILE_MODES, check_compile_mode, compiled
from stride.utils.errors import ConfigError

TOL = 1e-5
"""Compiled kernels fuse element-wise ops, so results may differ from eager by float rounding (seen: ~1e-7)."""


def _max_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    return max(float((a[k].double() - b[k].double()).abs().max()) for k in a)


def _assert_same_models(eager: dict[str, Any], comp: dict[str, Any], parts: tuple[str, ...]) -> None:
    """The compiled run's model state dicts have the eager run's keys and values within TOL."""
    for part in parts:
        assert list(comp[part]) == list(eager[part])
        assert not any("_orig_mod" in k for k in comp[part])
        assert _max_diff(comp[part], eager[part]) <= TOL, part


def _is_compiled(fn: object) -> bool:
    """Whether ``fn`` is a ``torch.compile`` wrapper."""
    return getattr(fn, "_torchdynamo_orig_callable", None) is not None


def _ppo_cfg(mode: str | None) -> dict[str, Any]:
    return {
        "num_steps_per_env": 8,
        "save_interval": 1000,
        "seed": 3,
        "torch_compile_mode": mode,
        "obs_groups": {"actor": ["policy"], "critic": ["policy"]},
        "algorithm": {"class_name": "PPO", "num_mini_batches": 2, "num_learning_epochs": 2},
        "actor": {
            "class_name": "MLPModel",
            "hidden_dims": [16, 16],
            "obs_normalization": True,
            "distribution_cfg": {"class_name": "GaussianDistribution", "init_std": 1.0},
        },
        "critic": {"class_name": "MLPModel", "hidden_dims": [16, 16], "obs_normalization": True},
    }


def _ppo_runner(mode: str | None) -> OnPolicyRunner:
    return OnPolicyRunner(make_task("cartpole", num_envs=32, seed=5), _ppo_cfg(mode))


class TestModes:
    """The key accepts rsl_rl 5.5.1's modes and refuses the others with the accepted list."""

    def test_accepted(self) -> None:
        assert COMPILE_MODES == ("default", "max-autotune-no-cudagraphs")
        for mode in (*COMPILE_MODES, None):
            assert check_compile_mode(mode) == mode
            assert build(RunnerCfg, {"torch_compile_mode": mode}).torch_compile_mode == mode

    def test_none_is_identity(self) -> None:
        def fn(x: torch.Tensor) -> torch.Tensor:
            return x

        assert compiled(fn, None) is fn

    @pytest.mark.parametrize("mode", ["reduce-overhead", "max-autotune"])
    def test_cuda_graph_modes_refused(self, mode: str) -> None:
        with pytest.raises(ConfigError, match="CUDA graphs") as info:
            check_compile_mode(mode)
        assert "'default'" in str(info.value) and "'max-autotune-no-cudagraphs'" in str(info.value)
        with pytest.raises(ConfigError, match=r"must be one of \['default', 'max-autotune-no-cudagraphs'\], got"):
            build(RunnerCfg, {"torch_compile_mode": mode})

    def test_unknown_mode_refused(self) -> None:
        with pytest.raises(ConfigError, match=r"got 'fast'") as info:
            check_compile_mode("fast")
        assert "CUDA graphs" not in str(info.value)

    def test_every_runner_class_accepts_a_mode(self) -> None:
        for name in ("OnPolicyRunner", "DistillationRunner", "OffPolicyRunner"):
            cfg = build(RunnerCfg, {"class_name": name, "torch_compile_mode": "default"})
            assert cfg.torch_compile_mode == "default"


class TestPPOCompiledEqualsEager:
    """Compiled PPO on cartpole trains as eager PPO (parameters ≤ TOL after 2 iterations of 2 epochs × 2
    mini-batches), its models stay plain (checkpoint keys equal the eager run's, no `_orig_mod.`), and a checkpoint
    resumes across the two: eager → compiled and compiled → eager both match 3 uninterrupted eager iterations."""

    def test_train_save_resume(self, tmp_path: Path) -> None:
        eager = _ppo_runner(None)
        eager.learn(2)
        eager.save(str(tmp_path / "eager.pt"))
        comp = _ppo_runner("default")
        assert comp.alg.actor is comp.alg.get_policy() and not isinstance(comp.alg.actor, torch._dynamo.OptimizedModule)
        assert _is_compiled(comp.alg._actor_params) and _is_compiled(comp.alg._critic_value)
        assert not _is_compiled(eager.alg._actor_params) and not _is_compiled(eager.alg._critic_value)
        comp.learn(2)
        comp.save(str(tmp_path / "compiled.pt"))

        saved_eager = torch.load(tmp_path / "eager.pt", weights_only=True)
        saved_comp = torch.load(tmp_path / "compiled.pt", weights_only=True)
        _assert_same_models(saved_eager, saved_comp, ("actor_state_dict", "critic_state_dict"))
        assert list(saved_comp["optimizer_state_dict"]["state"]) == list(saved_eager["optimizer_state_dict"]["state"])

        # the reference: one more eager iteration after the eager checkpoint's state (resume is exact, R08)
        eager.learn(1)
        reference = eager.alg.state_dict()
        for checkpoint, mode in (("compiled.pt", None), ("eager.pt", "default")):
            resumed = _ppo_runner(mode)
            resumed.load(str(tmp_path / checkpoint))
            resumed.learn(1)
            state = resumed.alg.state_dict()
            for part in ("actor_state_dict", "critic_state_dict"):
                assert _max_diff(state[part], reference[part]) <= TOL, (checkpoint, mode, part)


@pytest.mark.slow
class TestDistillationCompiledEqualsEager:
    """Compiled distillation (MLP student, sampled actions) trains as eager distillation: student parameters ≤ TOL
    after 2 iterations, the same checkpoint keys; the student samples from torch's generator as the eager call does."""

    def test_train(self, tmp_path: Path) -> None:
        teacher = tmp_path / "teacher.pt"
        ppo = _ppo_cfg(None) | {"obs_groups": {"actor": ["teacher"], "critic": ["teacher"]}}
        OnPolicyRunner(make_task("pendulum-noisy", num_envs=16, seed=1), ppo).save(str(teacher))
        states = []
        for mode in (None, "default"):
            cfg = {
                "class_name": "DistillationRunner",
                "num_steps_per_env": 8,
                "seed": 5,
                "torch_compile_mode": mode,
                "obs_groups": {"student": ["policy"], "teacher": ["teacher"]},
                "algorithm": {"class_name": "Distillation", "gradient_length": 4},
                "student": {
                    "class_name": "MLPModel",
                    "hidden_dims": [32],
                    "distribution_cfg": {"class_name": "GaussianDistribution", "init_std": 0.1},
                },
                "teacher": copy.deepcopy(ppo["actor"]),
            }
            runner = DistillationRunner(make_task("pendulum-noisy", num_envs=16, seed=2), cfg)
            runner.load(str(teacher))
            hot_paths = (runner.alg._student_act, runner.alg._student_forward, runner.alg._teacher_forward)
            assert [_is_compiled(fn) for fn in hot_paths] == [False, mode is not None, mode is not None]
            runner.learn(2)
            states.append(runner.alg.state_dict())
        _assert_same_models(*states, ("student_state_dict", "teacher_state_dict"))


@pytest.mark.slow
class TestRecurrentPPOCompiledEqualsEager:
    """Compiled recurrent PPO (GRU and LSTM actor and critic: hidden states updated inside the compiled calls, whole
    trajectories replayed in the update) trains as eager PPO: parameters ≤ TOL after 2 iterations, same keys."""

    @pytest.mark.parametrize("kind", ["gru", "lstm"])
    def test_train(self, kind: str) -> None:
        states = []
        for mode in (None, "default"):
            cfg = _ppo_cfg(mode)
            for section in ("actor", "critic"):
                cfg[section].update({"class_name": "RNNModel", "rnn_type": kind, "rnn_hidden_dim": 8})
            runner = OnPolicyRunner(make_task("cartpole", num_envs=16, seed=5), cfg)
            runner.learn(2)
            states.append(runner.alg.state_dict())
        _assert_same_models(*states, ("actor_state_dict", "critic_state_dict"))


def _first_update_states(cfg_of: Any, task: str, num_envs: int) -> list[dict[str, Any]]:
    """State dicts after one iteration, eager then compiled (same seed and env); checks the compiled run routed its
    calls through compiled code and that the update moved the actor (the comparison is not vacuous)."""
    states = []
    for mode in (None, "default"):
        runner = OnPolicyRunner(make_task(task, num_envs=num_envs, seed=5), cfg_of(mode))
        initial = copy.deepcopy(runner.alg.actor.state_dict())
        assert _is_compiled(runner.alg._actor_params) == (mode is not None)
        runner.learn(1)
        state = runner.alg.state_dict()
        assert _max_diff(state["actor_state_dict"], initial) > 1e-4
        states.append(state)
    return states


@pytest.mark.slow
class TestCompiledWithExtensionsEqualsEager:
    """Compiled PPO with symmetry (augmented mini-batches of 2× the rows through the compiled forward, mirror loss)
    and RND (its predictor trained beside the compiled calls) equals eager PPO after the first update: actor, critic
    and RND networks ≤ TOL, the same checkpoint keys. Measured: ≤ 3e-8; 15 s (warm cache) to 60 s (cold) on 2 cores."""

    def test_symmetry_and_rnd(self) -> None:
        def cfg(mode: str | None) -> dict[str, Any]:
            out = _ppo_cfg(mode)
            out["obs_groups"]["rnd_state"] = ["policy"]
            out["algorithm"]["symmetry_cfg"] = {
                "use_data_augmentation": True,
                "use_mirror_loss": True,
                "mirror_loss_coeff": 0.5,
                "data_augmentation_func": "cartpole",
            }
            out["algorithm"]["rnd_cfg"] = {
                "num_outputs": 4,
                "predictor_hidden_dims": [16],
                "target_hidden_dims": [16],
                "state_normalization": True,
            }
            return out

        eager, comp = _first_update_states(cfg, "cartpole", 32)
        _assert_same_models(eager, comp, ("actor_state_dict", "critic_state_dict"))
        rnd = {k: v for k, v in eager["extensions"]["rnd"].items() if isinstance(v, torch.Tensor)}
        assert any(k.startswith("predictor.") for k in rnd)
        assert _max_diff({k: comp["extensions"]["rnd"][k] for k in rnd}, rnd) <= TOL


@pytest.mark.slow
class TestCompiledCNNEqualsEager:
    """Compiled PPO with CNN actor and critic (reach-image, 1×32×32 images: convolutions, flatten and MLP inside the
    compiled calls) equals eager PPO after the first update (≤ TOL; measured 1.1e-7; ~80 s cold on 2 cores)."""

    def test_cnn(self) -> None:
        cnn = {"output_channels": [4, 8], "kernel_size": [5, 3], "stride": [2, 2], "flatten": True}

        def cfg(mode: str | None) -> dict[str, Any]:
            out = _ppo_cfg(mode)
            for section in ("actor", "critic"):
                out[section].update({"class_name": "CNNModel", "cnn_cfg": cnn, "obs_normalization": False})
            return out

        eager, comp = _first_update_states(cfg, "reach-image", 16)
        _assert_same_models(eager, comp, ("actor_state_dict", "critic_state_dict"))


@pytest.mark.slow
class TestCompiledMixedPrecisionEqualsEager:
    """Compiled PPO under ``use_mixed_precision`` (bfloat16 rollout and update, float32 heads, mini-batches of 1,024
    rows through stride's custom Linear/ELU functions inside the compiled calls) follows eager bfloat16 PPO: after the
    first update (2 epochs × 2 mini-batches) the parameter changes agree to cosine ≥ 0.999 and every parameter to
    ≤ 5e-3 (fused kernels round bfloat16 differently; measured: cosine 0.99996, worst 2.0e-3; 25-60 s on 2 cores)."""

    def test_first_update(self) -> None:
        def cfg(mode: str | None) -> dict[str, Any]:
            out = _ppo_cfg(mode)
            out["algorithm"]["use_mixed_precision"] = True
            for section in ("actor", "critic"):
                out[section].update({"hidden_dims": [128, 128], "obs_normalization": False})
            return out

        initial = OnPolicyRunner(make_task("cartpole", num_envs=256, seed=5), cfg(None)).alg.state_dict()
        eager, comp = _first_update_states(cfg, "cartpole", 256)
        deltas = []
        for state in (eager, comp):
            deltas.append(
                torch.cat(
                    [
                        (state[part][k] - initial[part][k]).flatten()
                        for part in ("actor_state_dict", "critic_state_dict")
                        for k in initial[part]
                    ]
                )
            )
        cosine = torch.nn.functional.cosine_similarity(deltas[0], deltas[1], dim=0).item()
        worst = max(_max_diff(comp[p], eager[p]) for p in ("actor_state_dict", "critic_state_dict"))
        assert cosine >= 0.999
        assert worst <= 5e-3
