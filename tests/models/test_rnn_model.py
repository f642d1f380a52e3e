"""Recurrent models: step mode equals sequence mode, per-env resets, explicit-state export (R14)."""

from __future__ import annotations

import pytest
import torch
from tensordict import TensorDict

from stride.models import RNNModel
from stride.storage.trajectories import SequenceStart, split_trajectories

GROUPS = {"actor": ["policy"], "critic": ["policy"]}


def _model(rnn_type: str, obs_normalization: bool = False, num_layers: int = 1) -> RNNModel:
    torch.manual_seed(0)
    obs = TensorDict({"policy": torch.zeros(4, 5)}, batch_size=[4])
    model = RNNModel(
        obs,
        GROUPS,
        "actor",
        3,
        hidden_dims=[16],
        obs_normalization=obs_normalization,
        distribution_cfg={"class_name": "GaussianDistribution"},
        rnn_type=rnn_type,
        rnn_hidden_dim=8,
        rnn_num_layers=num_layers,
    )
    if obs_normalization:
        model.update_normalization({"policy": torch.randn(64, 5) * 3 + 1})
    return model


@pytest.mark.parametrize("rnn_type", ["gru", "lstm"])
@pytest.mark.parametrize("obs_normalization", [False, True])
class TestStepEqualsSequence:
    """The padded-sequence forward reproduces step-by-step inference with mid-sequence resets (≤ 1e-5)."""

    def test_equal(self, rnn_type: str, obs_normalization: bool) -> None:
        model = _model(rnn_type, obs_normalization, num_layers=2)
        num_steps, num_envs = 20, 6
        gen = torch.Generator().manual_seed(1)
        obs = torch.randn(num_steps, num_envs, 5, generator=gen)
        dones = (torch.rand(num_steps, num_envs, generator=gen) < 0.2).float()
        with torch.no_grad():
            # carry a non-zero state into the rollout, as a later iteration does
            model.reset()
            for _ in range(3):
                model(TensorDict({"policy": torch.randn(num_envs, 5, generator=gen)}, batch_size=[num_envs]))
            carried = model.get_hidden_state()
            outs, states = [], []
            for t in range(num_steps):
                states.append(model.get_hidden_state())
                outs.append(model(TensorDict({"policy": obs[t]}, batch_size=[num_envs])))
                model.reset(dones[t])
            step_out = torch.stack(outs)
            assert carried is not None
            layout = split_trajectories(dones)
            padded = TensorDict({"policy": layout.pad(obs)}, batch_size=[num_steps, layout.num_trajectories])
            per_step = [s if isinstance(s, tuple) else (s,) for s in states]
            starts = tuple(
                layout.at_starts(torch.stack([s[i].transpose(0, 1) for s in per_step])).transpose(0, 1).contiguous()
                for i in range(len(per_step[0]))
            )
            hidden = starts if rnn_type == "lstm" else starts[0]
            seq_out = model(padded, layout.masks, hidden)
        assert seq_out.shape == step_out.shape == (num_steps, num_envs, 3)
        assert (seq_out - step_out).abs().max().item() <= 1e-5


@pytest.mark.parametrize("rnn_type", ["gru", "lstm"])
class TestEnvColumnsEqualPadded:
    """The env-column mode (``SequenceStart``: whole (T, N) columns, state zeroed after dones; the fixed-shape form
    of ``cuda_graphs``) gives the padded-trajectory mode's outputs and weight gradients (≤ 1e-6), 2 layers."""

    def test_outputs_and_gradients(self, rnn_type: str) -> None:
        model = _model(rnn_type, num_layers=2)
        num_steps, num_envs = 16, 5
        gen = torch.Generator().manual_seed(2)
        obs = torch.randn(num_steps, num_envs, 5, generator=gen)
        dones = torch.rand(num_steps, num_envs, generator=gen) < 0.25
        state0 = tuple(torch.randn(2, num_envs, 8, generator=gen) for _ in range(2 if rnn_type == "lstm" else 1))
        # padded reference: a trajectory's start state is state0 at t = 0, zeros after a done
        layout = split_trajectories(dones)
        starts = tuple(
            layout.at_starts(torch.cat([s.transpose(0, 1).unsqueeze(0), torch.zeros(num_steps - 1, num_envs, 2, 8)]))
            .transpose(0, 1)
            .contiguous()
            for s in state0
        )
        padded = TensorDict({"policy": layout.pad(obs)}, batch_size=[num_steps, layout.num_trajectories])
        resets = torch.zeros_like(dones)
        resets[1:] = dones[:-1]
        columns = TensorDict({"policy": obs}, batch_size=[num_steps, num_envs])
        outputs, grads = [], []
        for call in (
            lambda: model(padded, layout.masks, starts if rnn_type == "lstm" else starts[0]),
            lambda: model(columns, None, SequenceStart(state0 if rnn_type == "lstm" else state0[0], resets)),
        ):
            model.zero_grad()
            out = call()
            out.square().sum().backward()
            outputs.append(out.detach())
            grads.append(torch.cat([p.grad.flatten() for p in model.rnn.parameters()]))  # type: ignore[union-attr]
        assert outputs[0].shape == outputs[1].shape == (num_steps, num_envs, 3)
        assert (outputs[0] - outputs[1]).abs().max().item() <= 1e-6
        assert (grads[0] - grads[1]).abs().max().item() <= 1e-6 * max(1.0, grads[0].abs().max().item())
        assert bool(dones[:-1].any())  # the case has resets inside the columns


@pytest.mark.parametrize("rnn_type", ["gru", "lstm"])
class TestResets:
    """A done env resets only its own state, for bool, float and int dones, and with num_envs = 1."""

    @pytest.mark.parametrize("dtype", [torch.bool, torch.float32, torch.int64])
    def test_only_done_envs(self, rnn_type: str, dtype: torch.dtype) -> None:
        model = _model(rnn_type)
        with torch.no_grad():
            model(TensorDict({"policy": torch.randn(4, 5)}, batch_size=[4]))
        before = model.get_hidden_state()
        before_t = before if isinstance(before, tuple) else (before,)
        saved = tuple(h.clone() for h in before_t)
        model.reset(torch.tensor([0, 1, 0, 1]).to(dtype))
        after = model.get_hidden_state()
        after_t = after if isinstance(after, tuple) else (after,)
        for h_old, h_new, h_saved in zip(before_t, after_t, saved, strict=True):
            assert torch.equal(h_new[:, [0, 2]], h_saved[:, [0, 2]])
            assert not h_new[:, [1, 3]].any()
            assert torch.equal(h_old, h_saved)  # a state the caller holds is not modified in place

    def test_single_env(self, rnn_type: str) -> None:
        model = _model(rnn_type)
        obs = TensorDict({"policy": torch.randn(1, 5)}, batch_size=[1])
        with torch.no_grad():
            first = model(obs)
            second = model(obs)
            model.reset(torch.tensor([True]))
            again = model(obs)
        assert not torch.equal(first, second)  # the state carried information
        assert torch.equal(first, again)  # and the reset cleared it

    def test_detach_cuts_graph(self, rnn_type: str) -> None:
        model = _model(rnn_type)
        model(TensorDict({"policy": torch.randn(4, 5)}, batch_size=[4]))
        state = model.get_hidden_state()
        assert (state[0] if isinstance(state, tuple) else state).requires_grad
        model.detach_hidden_state()
        state = model.get_hidden_state()
        assert not (state[0] if isinstance(state, tuple) else state).requires_grad


def _steps(num_envs: int, num_steps: int = 100) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Random observations (num_envs, 5) and dones (num_envs,), about one done in ten."""
    gen = torch.Generator().manual_seed(3)
    return [
        (torch.randn(num_envs, 5, generator=gen), torch.rand(num_envs, generator=gen) < 0.1) for _ in range(num_steps)
    ]


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
@pytest.mark.parametrize("rnn_type", ["gru", "lstm"])
class TestExport:
    """The export modules equal eager step mode over 100 steps with resets: ``as_onnx()`` with the state passed
    explicitly (3 envs, a done env's state zeroed) and ``torch.jit.script(as_jit())`` holding its state (1 env,
    ``reset()`` on done)."""

    def test_explicit_state_equals_eager(self, rnn_type: str) -> None:
        model = _model(rnn_type, obs_normalization=True).eval()
        module = model.as_onnx()
        state = [torch.zeros(1, 3, 8) for _ in module.input_names[1:]]  # h_in (and c_in)
        model.reset()
        worst = 0.0
        with torch.no_grad():
            for x, dones in _steps(3):
                eager = model(TensorDict({"policy": x}, batch_size=[3]))
                exported, *state = module(x, *state)
                worst = max(worst, (eager - exported).abs().max().item())
                model.reset(dones)
                state = [s * (~dones).float().view(1, -1, 1) for s in state]
        assert len(state) == (2 if rnn_type == "lstm" else 1)
        assert worst <= 1e-5

    def test_scripted_internal_state_equals_eager(self, rnn_type: str) -> None:
        model = _model(rnn_type, obs_normalization=True).eval()
        scripted = torch.jit.script(model.as_jit())
        model.reset()
        worst, resets = 0.0, 0
        with torch.no_grad():
            for x, dones in _steps(1):
                eager = model(TensorDict({"policy": x}, batch_size=[1]))
                worst = max(worst, (eager - scripted(x)).abs().max().item())
                model.reset(dones)
                if bool(dones[0]):
                    scripted.reset()
                    resets += 1
        assert resets > 0
        assert worst <= 1e-5


class TestRslRlLayout:
    """State-dict keys equal rsl_rl 5.5.1's RNNModel, and loading its weights gives its outputs."""

    @pytest.mark.parametrize("rnn_type", ["gru", "lstm"])
    def test_layout_and_outputs(self, rnn_type: str) -> None:
        rsl = pytest.importorskip("rsl_rl.models")
        obs = TensorDict({"policy": torch.randn(6, 5)}, batch_size=[6])
        dist = {"class_name": "GaussianDistribution", "init_std": 0.5}
        theirs = rsl.RNNModel(obs, GROUPS, "actor", 3, [16], "elu", True, dict(dist), rnn_type, 8, 2)
        ours = RNNModel(obs, GROUPS, "actor", 3, [16], "elu", True, dict(dist), rnn_type, 8, 2)
        assert sorted(ours.state_dict()) == sorted(theirs.state_dict())
        ours.load_state_dict(theirs.state_dict())
        with torch.no_grad():
            for _ in range(5):
                x = TensorDict({"policy": torch.randn(6, 5)}, batch_size=[6])
                assert torch.allclose(ours(x), theirs(x), atol=1e-6)
