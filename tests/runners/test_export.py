"""Policy export (R20): TorchScript and ONNX files equal the eager deterministic policy in a fresh process.

One module fixture exports every case (PPO actor and distillation student through the runner methods, LSTM, CNN
and Beta models through stride.runners.export) and replays all files in one subprocess that never imports stride:
TorchScript through ``torch.jit.load``, ONNX through onnxruntime.
"""

from __future__ import annotations

import re
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any, ClassVar

import pytest
import torch
from tensordict import TensorDict

from stride.env.tasks import make_task
from stride.models import CNNModel, MLPModel, RNNModel
from stride.runners import DistillationRunner, OnPolicyRunner
from stride.runners.export import export_jit, export_onnx
from stride.utils.errors import ConfigError

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

REPLAY = Path(__file__).with_name("export_replay.py")
NUM_OBS, NUM_STEPS, NUM_SEQ_ENVS = 1000, 50, 8
TOLERANCE = 1e-5
GAUSSIAN = {"class_name": "GaussianDistribution", "init_std": 0.5}


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _fit_normalizer(model: Any, groups: dict[str, tuple[int, ...]], seed: int) -> None:
    """Give the normalizer statistics far from (0, 1): mean ≈ 2, std ≈ 3."""
    gen = _gen(seed)
    model.update_normalization({g: torch.randn(256, *shape, generator=gen) * 3.0 + 2.0 for g, shape in groups.items()})
    std = model.obs_normalizer.std
    assert float(std.min()) > 2.0, "the normalizer statistics must be non-trivial for the test to mean anything"


def _ppo_runner() -> OnPolicyRunner:
    cfg = {
        "num_steps_per_env": 4,
        "seed": 1,
        "check_env": False,
        "algorithm": {"num_mini_batches": 1, "num_learning_epochs": 1},
        "actor": {"hidden_dims": [32, 32], "obs_normalization": True, "distribution_cfg": GAUSSIAN},
        "critic": {"hidden_dims": [16]},
    }
    runner = OnPolicyRunner(make_task("cartpole", num_envs=4, seed=0), cfg)
    _fit_normalizer(runner.alg.actor, {"policy": (4,)}, seed=11)
    return runner


def _distillation_runner(student: str) -> DistillationRunner:
    student_cfg: dict[str, Any] = {"hidden_dims": [32], "obs_normalization": True, "distribution_cfg": GAUSSIAN}
    if student != "mlp":
        student_cfg.update({"class_name": "RNNModel", "rnn_type": student, "rnn_hidden_dim": 16})
    cfg = {
        "class_name": "DistillationRunner",
        "num_steps_per_env": 4,
        "seed": 2,
        "check_env": False,
        "obs_groups": {"student": ["policy"], "teacher": ["teacher"]},
        "algorithm": {"class_name": "Distillation", "gradient_length": 2},
        "student": student_cfg,
        "teacher": {"hidden_dims": [16], "distribution_cfg": GAUSSIAN},
    }
    runner = DistillationRunner(make_task("pendulum-noisy", num_envs=4, seed=0), cfg)
    _fit_normalizer(runner.alg.student, {"policy": (2,)}, seed=12)
    return runner


def _lstm_model() -> RNNModel:
    torch.manual_seed(3)
    obs = TensorDict({"policy": torch.zeros(2, 5)}, batch_size=[2])
    model = RNNModel(
        obs, {"actor": ["policy"]}, "actor", 3, [32], "elu", True, GAUSSIAN, "lstm", rnn_hidden_dim=16, rnn_num_layers=2
    )
    _fit_normalizer(model, {"policy": (5,)}, seed=13)
    return model.eval()


def _cnn_model() -> CNNModel:
    torch.manual_seed(4)
    obs = TensorDict({"proprio": torch.zeros(2, 6), "camera": torch.zeros(2, 2, 12, 12)}, batch_size=[2])
    cnn_cfg = {"output_channels": [4, 8], "kernel_size": 3, "stride": 2, "norm": "layer"}
    model = CNNModel(obs, {"actor": ["proprio", "camera"]}, "actor", 3, [32], "elu", True, GAUSSIAN, cnn_cfg)
    _fit_normalizer(model, {"proprio": (6,), "camera": (2, 12, 12)}, seed=14)
    return model.eval()


def _beta_model() -> MLPModel:
    return _mlp_model({"class_name": "BetaDistribution", "action_range": (-2.0, 0.5)}, seed=5)


def _mlp_model(distribution_cfg: dict[str, Any], seed: int) -> MLPModel:
    """An MLP policy over 7 features with 4 actions and the given distribution (the export keeps its mode)."""
    torch.manual_seed(seed)
    obs = TensorDict({"policy": torch.zeros(2, 7)}, batch_size=[2])
    model = MLPModel(obs, {"actor": ["policy"]}, "actor", 4, [32, 32], "tanh", True, distribution_cfg)
    _fit_normalizer(model, {"policy": (7,)}, seed=10 + seed)
    return model.eval()


def _batch(groups: dict[str, tuple[int, ...]], seed: int) -> TensorDict:
    gen = _gen(seed)
    data = {g: torch.randn(NUM_OBS, *shape, generator=gen) * 3.0 + 2.0 for g, shape in groups.items()}
    return TensorDict(data, batch_size=[NUM_OBS])


def _sequence(obs_dim: int, num_envs: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Observations (T, N, D) and dones (T, N) with about one done in eight steps."""
    gen = _gen(seed)
    obs = torch.randn(NUM_STEPS, num_envs, obs_dim, generator=gen) * 3.0 + 2.0
    dones = torch.rand(NUM_STEPS, num_envs, generator=gen) < 0.125
    return obs, dones


@torch.no_grad()
def _eager_sequence(policy: Any, group: str, obs: torch.Tensor, dones: torch.Tensor) -> torch.Tensor:
    """The inference policy over a sequence: reset before the first step, then ``reset(dones)`` after each."""
    policy.reset()
    actions = []
    for obs_t, dones_t in zip(obs, dones, strict=True):
        actions.append(policy(TensorDict({group: obs_t}, batch_size=[obs_t.shape[0]])))
        policy.reset(dones_t)
    return torch.stack(actions)


class _Exports:
    """Every exported file, its expected actions, the replayed actions and the warnings seen while exporting."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.cases: list[dict[str, Any]] = []
        self.expected: dict[str, torch.Tensor] = {}
        self.onnx_files: dict[str, str] = {}
        self.warnings: list[str] = []
        self.replayed: dict[str, Any] = {}

    def add_batch(self, name: str, model: Any, batch: TensorDict) -> None:
        with torch.no_grad():
            expected = model(batch)
        vector = [batch[g] for g in model.obs_groups]
        inputs: dict[str, Any] = {"obs": torch.cat(vector, dim=-1) if vector else torch.zeros(NUM_OBS, 0)}
        if isinstance(model, CNNModel):
            inputs["images"] = [batch[g] for g in model.image_groups]
            inputs["image_names"] = list(model.image_groups)
        for fmt in ("jit", "onnx"):
            self.expected[f"{name}-{fmt}"] = expected
            self.cases.append({"name": f"{name}-{fmt}", "format": fmt, "file": self.file(name, fmt), "inputs": inputs})

    def add_sequence(self, name: str, policy: Any, group: str, obs_dim: int, seed: int) -> None:
        for fmt, num_envs in (("jit", 1), ("onnx", NUM_SEQ_ENVS)):
            obs, dones = _sequence(obs_dim, num_envs, seed)
            self.expected[f"{name}-{fmt}"] = _eager_sequence(policy, group, obs, dones)
            self.cases.append(
                {"name": f"{name}-{fmt}", "format": fmt, "file": self.file(name, fmt), "obs": obs, "dones": dones}
            )

    def file(self, name: str, fmt: str) -> str:
        return str(self.folder / f"{name}.{'pt' if fmt == 'jit' else 'onnx'}")


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> _Exports:
    """Export all cases (recording warnings), then replay every file in one fresh process."""
    ex = _Exports(tmp_path_factory.mktemp("exported"))
    ppo, student_gru, student_mlp = _ppo_runner(), _distillation_runner("gru"), _distillation_runner("mlp")
    lstm, cnn, beta = _lstm_model(), _cnn_model(), _beta_model()
    hetero = _mlp_model({"class_name": "HeteroscedasticGaussianDistribution", "std_type": "log"}, seed=6)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for name, runner in (("ppo-mlp", ppo), ("student-gru", student_gru), ("student-mlp", student_mlp)):
            runner.export_policy_to_jit(str(ex.folder), f"{name}.pt")
            runner.export_policy_to_onnx(str(ex.folder), f"{name}.onnx")
        for name, model in (("lstm", lstm), ("cnn", cnn), ("beta", beta), ("hetero", hetero)):
            export_jit(model, str(ex.folder), f"{name}.pt")
            export_onnx(model, str(ex.folder), f"{name}.onnx")
    ex.warnings = [f"{w.category.__name__}: {w.message}" for w in caught]
    ex.add_batch("ppo-mlp", ppo.get_inference_policy(), _batch({"policy": (4,)}, seed=21))
    ex.add_batch("student-mlp", student_mlp.get_inference_policy(), _batch({"policy": (2,)}, seed=22))
    ex.add_batch("cnn", cnn, _batch({"proprio": (6,), "camera": (2, 12, 12)}, seed=23))
    ex.add_batch("beta", beta, _batch({"policy": (7,)}, seed=24))
    ex.add_batch("hetero", hetero, _batch({"policy": (7,)}, seed=27))
    ex.add_sequence("student-gru", student_gru.get_inference_policy(), "policy", 2, seed=25)
    ex.add_sequence("lstm", lstm, "policy", 5, seed=26)
    cases_path, out_path = ex.folder / "cases.pt", ex.folder / "replayed.pt"
    torch.save(ex.cases, cases_path)
    result = subprocess.run(
        [sys.executable, str(REPLAY), str(cases_path), str(out_path)], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    ex.replayed = torch.load(out_path, weights_only=False)
    return ex


CASES = [
    f"{name}-{fmt}"
    for name in ("ppo-mlp", "student-mlp", "student-gru", "lstm", "cnn", "beta", "hetero")
    for fmt in ("jit", "onnx")
]


class TestFidelity:
    """Each file, run in a fresh process, gives the eager deterministic actions within 1e-5 (normalizer with mean
    ≈ 2 and std ≈ 3 included): 1,000 observations for MLP (Gaussian, state-dependent Gaussian, Beta) and CNN
    policies; 50 steps with resets for the GRU student and the 2-layer LSTM (ONNX: 8 envs, state explicit and zeroed
    on done; TorchScript: 1 env, state inside and ``reset()`` on done)."""

    @pytest.mark.parametrize("case", CASES)
    def test_equals_eager(self, exports: _Exports, case: str) -> None:
        expected, replayed = exports.expected[case], exports.replayed[case]
        assert replayed.shape == expected.shape
        assert expected.abs().max() > 0.01  # not a degenerate all-zero policy
        assert (replayed - expected).abs().max().item() <= TOLERANCE

    def test_sequences_hold_resets(self, exports: _Exports) -> None:
        # the recurrent cases must exercise resets, in the single TorchScript env too
        for case in exports.cases:
            if "dones" in case:
                assert 0 < int(case["dones"].sum()) < case["dones"].numel()
                assert bool(case["dones"][:-1].any())

    def test_files_are_self_contained(self, exports: _Exports) -> None:
        assert exports.replayed["__modules__"] == []


class TestWarnings:
    """Exporting through the runners and stride.runners.export emits no warning at all (torch's deprecation,
    tracer and RNN-batch warnings are filtered inside the export functions, nothing else is)."""

    def test_fixture_exports_were_silent(self, exports: _Exports) -> None:
        assert exports.warnings == []

    def test_recwarn(self, recwarn: pytest.WarningsRecorder, tmp_path: Path) -> None:
        model = _lstm_model()
        export_jit(model, str(tmp_path))
        export_onnx(model, str(tmp_path))
        assert [str(w.message) for w in recwarn] == []

    def test_other_warnings_still_reach_the_user(self, tmp_path: Path) -> None:
        model = _beta_model()
        model.mlp.register_forward_hook(lambda *_: warnings.warn("from the user's own code", UserWarning, stacklevel=1))
        with pytest.warns(UserWarning, match="from the user's own code"):
            export_onnx(model, str(tmp_path))


class TestFiles:
    """The ONNX files carry opset 18, rsl_rl's input and output names in order (no traced names like ``x.1``), a
    dynamic batch axis and the state shapes (num_layers, batch, hidden_dim); an image-only model's file has no empty
    ``obs`` input; a re-export replaces the file and leaves no temporary file; a non-stride module is refused."""

    EXPECTED: ClassVar[dict[str, tuple[list[str], list[str]]]] = {
        "ppo-mlp": (["obs"], ["actions"]),
        "student-gru": (["obs", "h_in"], ["actions", "h_out"]),
        "lstm": (["obs", "h_in", "c_in"], ["actions", "h_out", "c_out"]),
        "cnn": (["obs", "camera"], ["actions"]),
    }

    @pytest.mark.parametrize("name", sorted(EXPECTED))
    def test_names_and_shapes(self, exports: _Exports, name: str) -> None:
        graph_model = onnx.load(exports.file(name, "onnx"))
        assert [o.version for o in graph_model.opset_import if o.domain in ("", "ai.onnx")] == [18]
        inputs = {
            i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in graph_model.graph.input
        }
        outputs = [o.name for o in graph_model.graph.output]
        assert (list(inputs), outputs) == self.EXPECTED[name]
        assert not any(re.search(r"\.\d+$", n) for n in [*inputs, *outputs])
        assert inputs["obs"][0] == "batch"
        if name == "lstm":
            assert inputs["h_in"] == inputs["c_in"] == [2, "batch", 16]
        if name == "cnn":
            assert inputs["camera"] == ["batch", 2, 12, 12]

    def test_image_only_model_has_no_obs_input(self, tmp_path: Path) -> None:
        ort = pytest.importorskip("onnxruntime")
        torch.manual_seed(7)
        obs = TensorDict({"camera": torch.zeros(2, 1, 10, 10)}, batch_size=[2])
        cnn_cfg = {"output_channels": [4], "kernel_size": 3, "stride": 2}
        model = CNNModel(obs, {"actor": ["camera"]}, "actor", 2, [16], "elu", False, GAUSSIAN, cnn_cfg).eval()
        path = export_onnx(model, str(tmp_path))
        session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        assert [i.name for i in session.get_inputs()] == ["camera"]
        images = torch.randn(5, 1, 10, 10, generator=_gen(8))
        got = torch.from_numpy(session.run(["actions"], {"camera": images.numpy()})[0])
        with torch.no_grad():
            expected = model(TensorDict({"camera": images}, batch_size=[5]))
        assert (got - expected).abs().max().item() <= TOLERANCE

    def test_overwrites_atomically(self, exports: _Exports, tmp_path: Path) -> None:
        model = _beta_model()
        first = export_onnx(model, str(tmp_path), "p.onnx")
        with torch.no_grad():
            model.mlp[0].bias.add_(1.0)
        second = export_onnx(model, str(tmp_path), "p.onnx")
        assert first == second == str(tmp_path / "p.onnx")
        assert sorted(p.name for p in tmp_path.iterdir()) == ["p.onnx"]  # no temporary file left behind

    def test_refuses_a_model_without_export(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError, match=r"cannot export a Linear: it has no as_jit\(\) method"):
            export_jit(torch.nn.Linear(2, 2), str(tmp_path))


class TestInferencePolicyReset:
    """``runner.get_inference_policy()`` takes ``policy.reset(dones)`` as Isaac Lab's play loop calls it every
    step: a no-op for an MLP, and for a recurrent student a reset of exactly the done envs."""

    def test_mlp_reset_is_a_no_op(self) -> None:
        policy = _ppo_runner().get_inference_policy()
        obs = _batch({"policy": (4,)}, seed=31)[:5]
        with torch.no_grad():
            before = policy(obs)
            policy.reset(torch.tensor([True, False, True, False, False]))
            assert torch.equal(policy(obs), before)

    def test_recurrent_resets_only_done_envs(self) -> None:
        policy = _distillation_runner("gru").get_inference_policy()
        obs = _batch({"policy": (2,)}, seed=32)[:4]
        dones = torch.tensor([1.0, 0.0, 0.0, 1.0])
        with torch.no_grad():
            policy.reset()
            policy(obs)
            carried = policy.get_hidden_state().clone()
            policy.reset(dones)
            state = policy.get_hidden_state()
            assert torch.equal(state[:, dones == 0], carried[:, dones == 0])
            assert bool((state[:, dones == 1] == 0).all())
            assert bool((carried[:, dones == 1] != 0).any())
