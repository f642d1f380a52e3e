"""``algorithm.cuda_graphs`` for SAC and TD3 on the CPU: the static-buffer gradient step and act step (what a CUDA
device captures and replays) equal the eager SAC / TD3 bit for bit; a checkpoint loads into a running static runner;
the combinations a graph cannot hold are refused.

The capture itself needs a CUDA device: tests/algorithms/test_off_policy_cuda_graphs.py (gpu tier).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
import torch
from checkpoint_diff import differing_leaves
from cuda_checks import record_updates
from off_policy_workers import state_of

from stride.algorithms.off_policy_graphs import OffPolicyGraphs, check_capturable
from stride.env.tasks import make_task
from stride.extensions.base import Extension
from stride.runners import OffPolicyRunner
from stride.utils.errors import ConfigError

NUM_ENVS, NUM_STEPS = 8, 4
SYMMETRY = {
    "use_data_augmentation": True,
    "use_mirror_loss": True,
    "mirror_loss_coeff": 0.5,
    "data_augmentation_func": "pendulum",
}
C51 = {"num_atoms": 11, "v_min": -50.0, "v_max": 0.0}


def _cfg(algo: str, graphs: bool, critic: dict[str, Any] | None = None, **algorithm: Any) -> dict[str, Any]:
    return {
        "class_name": "OffPolicyRunner",
        "num_steps_per_env": NUM_STEPS,
        "seed": 5,
        "save_interval": 1,
        "obs_groups": {"actor": ["policy"], "critic": ["policy"]},
        "algorithm": {
            "class_name": algo,
            "batch_size": 32,
            "learning_starts": 2,
            # 10 steps per env: the buffer wraps in the third iteration (the oldest slot moves off 0)
            "buffer_size": NUM_ENVS * 10,
            "n_step": 3,
            "cuda_graphs": graphs,
            **algorithm,
        },
        "actor": {"hidden_dims": [16], "obs_normalization": True},
        "critic": {"class_name": "QModel", "hidden_dims": [16], "obs_normalization": True, **(critic or {})},
    }


def _runner(
    algo: str, graphs: bool, critic: dict[str, Any] | None = None, log_dir: str | None = None, **algorithm: Any
) -> OffPolicyRunner:
    # time limit 6: time-outs with final observations in every iteration, n-step windows cut by them
    env = make_task("pendulum", num_envs=NUM_ENVS, seed=5, max_episode_length=6)
    return OffPolicyRunner(env, _cfg(algo, graphs, critic, **algorithm), log_dir=log_dir)


def _graphs(runner: OffPolicyRunner) -> OffPolicyGraphs:
    graphs = runner.alg._graphs
    assert isinstance(graphs, OffPolicyGraphs)
    return graphs


CASES: dict[str, tuple[str, dict[str, Any] | None, dict[str, Any]]] = {
    "sac": ("SAC", None, {}),
    "sac-c51-symmetry": ("SAC", C51, {"symmetry_cfg": SYMMETRY}),
    "sac-fixed-alpha-clip-bf16": (
        "SAC",
        None,
        {"auto_alpha": False, "max_grad_norm": 1.0, "use_mixed_precision": True},
    ),
    "td3": ("TD3", None, {"policy_delay": 2}),
    "td3-c51-symmetry": ("TD3", C51, {"symmetry_cfg": SYMMETRY, "policy_delay": 3, "num_updates_per_step": 2}),
}


class TestStaticPathEqualsEager:
    """Five iterations (20 env steps, 20-40 gradient steps after the random phase; n-step 3 with time-outs, both
    observation normalizers, a replay buffer that wraps) through the static-buffer gradient step and act step end
    bit for bit where eager SAC / TD3 end: parameters, target networks, normalizer statistics, Adam moments and step
    counters, log α, the update count and every logged loss. SAC (scalar; C51 with symmetry; fixed α with gradient
    clipping under bfloat16 autocast) and TD3 (delay 2; C51 with symmetry, delay 3 and 2 updates per env step, so
    both of TD3's step graphs run). The static path is the one taken, and training moved the parameters."""

    @pytest.mark.parametrize("case", list(CASES))
    def test_five_iterations(self, case: str) -> None:
        algo, critic, algorithm = CASES[case]
        runs = []
        for graphs in (False, True):
            runner = _runner(algo, graphs, critic, **algorithm)
            initial = state_of(runner.alg)
            losses = record_updates(runner.alg)
            runner.learn(5)
            runs.append((runner, losses, initial))
        (eager, eager_losses, initial), (static, static_losses, _) = runs
        assert eager.alg._graphs is None
        graphs = _graphs(static)
        assert graphs._steps[True].calls > 0 and graphs._act.calls > 0
        assert (graphs._steps[False].calls > 0) is (algo == "TD3")
        assert static.alg.num_updates == eager.alg.num_updates > 0
        assert static_losses == eager_losses and len(static_losses) == 5
        expected, got = state_of(eager.alg), state_of(static.alg)
        assert list(got) == list(expected)
        assert [k for k in expected if not torch.equal(got[k], expected[k])] == []
        moved = max(float((expected[k].double() - initial[k].double()).abs().max()) for k in initial)
        assert moved > 1e-3


class TestStaticAct:
    """The act step through the static buffers returns a copy (an env may keep the tensor it is given) equal to the
    eager exploration policy's actions for the same noise draws."""

    @pytest.mark.parametrize("algo", ["SAC", "TD3"])
    def test_copy_and_equal(self, algo: str) -> None:
        runner = _runner(algo, True, learning_starts=0)
        alg = runner.alg
        obs = runner.env.get_observations()
        torch.manual_seed(3)
        with torch.inference_mode():
            static = alg.act(obs)
        torch.manual_seed(3)
        with torch.inference_mode():
            eager = alg._explore(obs)
        assert torch.equal(static, eager)
        buffers = {b.data_ptr() for b in _graphs(runner)._obs.values()}
        assert static.data_ptr() not in buffers and static.data_ptr() != alg.buffer.actions[0].data_ptr()


class TestResume:
    """R08 under cuda_graphs: a static runner that has already trained loads a checkpoint (replay buffer included)
    in place and continues exactly as an uninterrupted run: the checkpoints after the same iteration are identical."""

    @pytest.mark.parametrize("algo", ["SAC", "TD3"])
    def test_load_into_running_static_runner(self, algo: str, tmp_path: Path) -> None:
        full = _runner(algo, True, log_dir=str(tmp_path / "full"), save_replay_buffer=True)
        full.learn(4)
        first = _runner(algo, True, log_dir=str(tmp_path / "split"), save_replay_buffer=True)
        first.learn(2)
        second = _runner(algo, True, log_dir=str(tmp_path / "second"), save_replay_buffer=True)
        second.learn(3)  # static buffers and optimizer state exist before the load
        live = {id(t) for s in second.alg.critic_optimizer.state.values() for t in s.values()}
        second.load(str(tmp_path / "split" / "model_1.pt"))
        assert {id(t) for s in second.alg.critic_optimizer.state.values() for t in s.values()} == live
        second.learn(2)
        a = torch.load(tmp_path / "full" / "model_3.pt", weights_only=True)
        b = torch.load(tmp_path / "second" / "model_3.pt", weights_only=True)
        keys = [k for k in a if k.endswith("_state_dict") or k in ("log_alpha", "replay_buffer", "env_state")]
        assert "critic_target_state_dict" in keys
        assert differing_leaves({k: a[k] for k in keys}, {k: b[k] for k in keys}) == []


class _PlainExtension(Extension):
    name = "plain"


class TestConfig:
    """The key: off by default, strictly a bool; on a CPU device a warning says nothing is captured; torchrun,
    RMSprop, a host replay buffer beside a CUDA device and an extension that is not capturable are refused with a
    ConfigError naming the key and the fix; symmetry declares itself capturable."""

    def test_default_off(self) -> None:
        assert _runner("SAC", False).alg._graphs is None

    def test_cpu_warns(self, caplog: pytest.LogCaptureFixture) -> None:
        with caplog.at_level(logging.WARNING, logger="stride.algorithms.off_policy_graphs"):
            runner = _runner("TD3", True, symmetry_cfg=SYMMETRY)
        assert isinstance(runner.alg._graphs, OffPolicyGraphs)
        assert "algorithm.cuda_graphs needs a CUDA device" in caplog.text

    def test_rejects_non_bool(self) -> None:
        with pytest.raises(ConfigError, match="cuda_graphs"):
            _runner("SAC", "yes")  # type: ignore[arg-type]

    def test_rmsprop_refused(self) -> None:
        with pytest.raises(ConfigError, match=r"algorithm\.cuda_graphs needs a fused optimizer .*'rmsprop'"):
            _runner("SAC", True, optimizer="rmsprop")

    def test_torchrun_refused(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr("stride.algorithms.off_policy_graphs.is_distributed", lambda: True)
        with pytest.raises(ConfigError, match=r"cuda_graphs is single-process only.*cuda_graphs=false under torchrun"):
            check_capturable("adam", torch.device("cpu"), torch.device("cpu"), [])

    def test_host_replay_refused_beside_cuda(self) -> None:
        with pytest.raises(ConfigError, match=r"replay buffer on the training device \(cuda\).*replay_device='cpu'"):
            check_capturable("adam", torch.device("cuda"), torch.device("cpu"), [])
        check_capturable("adam", torch.device("cuda"), torch.device("cuda", 0), [])  # same device type: accepted

    def test_uncapturable_extension_refused(self) -> None:
        with pytest.raises(ConfigError, match=r"cuda_graphs: extension 'plain' \(_PlainExtension\)"):
            check_capturable("adam", torch.device("cpu"), torch.device("cpu"), [_PlainExtension()])
