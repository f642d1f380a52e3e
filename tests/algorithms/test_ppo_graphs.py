"""``algorithm.cuda_graphs`` on the CPU: the static-buffer act step and update (what a CUDA device captures and
replays) equal PPO's eager ones, bit for bit; checkpoints load into the live tensors; the key is validated.

The capture itself needs a CUDA device: tests/algorithms/test_ppo_cuda_graphs.py (gpu tier).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
import torch
from checkpoint_diff import differing_leaves, flatten_state
from cuda_checks import record_updates

from stride.algorithms.ppo import PPO
from stride.algorithms.ppo_graphs import PPOGraphs
from stride.env.tasks import make_task
from stride.extensions.base import Extension
from stride.runners.on_policy_runner import OnPolicyRunner
from stride.utils.errors import ConfigError
from stride.utils.optim import load_optimizer_state

NUM_ENVS, NUM_STEPS = 16, 8


def _cfg(graphs: bool, model: str = "mlp", **algorithm: Any) -> dict[str, Any]:
    recurrent = {"class_name": "RNNModel", "rnn_type": model, "rnn_hidden_dim": 16} if model != "mlp" else {}
    return {
        "num_steps_per_env": NUM_STEPS,
        "seed": 5,
        "save_interval": 1,
        "obs_groups": {"actor": ["policy"], "critic": ["policy"], "rnd_state": ["policy"]},
        "algorithm": {"num_learning_epochs": 2, "num_mini_batches": 4, "cuda_graphs": graphs, **algorithm},
        "actor": {
            "hidden_dims": [32, 32],
            "obs_normalization": True,
            "distribution_cfg": {"class_name": "GaussianDistribution", "init_std": 1.0},
            **recurrent,
        },
        "critic": {"hidden_dims": [32, 32], "obs_normalization": True, **recurrent},
    }


def _runner(graphs: bool, model: str = "mlp", log_dir: str | None = None, **algorithm: Any) -> OnPolicyRunner:
    # time limit 6 < NUM_STEPS: every rollout holds dones and time-outs (trajectories are cut, bootstraps run)
    env = make_task("cartpole", num_envs=NUM_ENVS, seed=0, max_episode_length=6)
    return OnPolicyRunner(env, _cfg(graphs, model, **algorithm), log_dir=log_dir)


def _state(runner: OnPolicyRunner) -> dict[str, Any]:
    alg = runner.alg
    return {
        "actor": alg.actor.state_dict(),
        "critic": alg.critic.state_dict(),
        "optimizer": alg.optimizer.state_dict()["state"],
        "lr": alg._lr.clone(),
        "extensions": {ext.name: ext.state_dict() for ext in alg.extensions},
    }


SYMMETRY = {
    "use_data_augmentation": True,
    "use_mirror_loss": True,
    "mirror_loss_coeff": 0.5,
    "data_augmentation_func": "cartpole",
}
RND = {"num_outputs": 4, "predictor_hidden_dims": [16], "target_hidden_dims": [16], "weight": 0.5}


class TestStaticPathEqualsEager:
    """Three iterations of learning through the static-buffer act step and update equal eager PPO bit for bit:
    parameters, optimizer moments, learning rate, extension states and every logged loss (MLP, MLP + symmetry,
    MLP + RND, adaptive and fixed schedules, mini-batch advantage normalization, value normalization and reward
    scaling; GRU and LSTM, whose static update
    steps through whole env columns with resets where eager PPO pads trajectories cut at dones)."""

    @pytest.mark.parametrize(
        ("model", "algorithm"),
        [
            ("mlp", {}),
            (
                "mlp",
                {
                    "schedule": "fixed",
                    "normalize_advantage_per_mini_batch": True,
                    "value_normalization": True,
                    "reward_scaling": True,
                },
            ),
            ("mlp", {"symmetry_cfg": SYMMETRY}),
            ("mlp", {"rnd_cfg": RND}),
            ("gru", {}),
            ("lstm", {"value_normalization": True}),
            ("gru", {"symmetry_cfg": SYMMETRY}),
        ],
        ids=["mlp", "mlp-fixed-norms", "mlp-symmetry", "mlp-rnd", "gru", "lstm", "gru-symmetry-eager-update"],
    )
    def test_three_iterations(self, model: str, algorithm: dict[str, Any]) -> None:
        runs = []
        for graphs in (False, True):
            runner = _runner(graphs, model, **algorithm)
            losses = record_updates(runner.alg)
            runner.learn(3)
            runs.append((runner, losses))
        (eager, eager_losses), (static, static_losses) = runs
        assert isinstance(static.alg._graphs, PPOGraphs)
        # recurrent models with an extension keep the eager (trajectory-cut) update; all others are static
        assert static.alg._graphs.captures_update is not (model != "mlp" and "symmetry_cfg" in algorithm)
        assert len(static_losses) == 3
        if model == "mlp" or not static.alg._graphs.captures_update:
            assert static_losses == eager_losses
            assert differing_leaves(_state(static), _state(eager)) == []
            return
        # the env-column recurrent update runs T one-step RNN calls where eager runs one padded call: same maths,
        # other GEMM shapes, so equal to rounding
        for a, b in zip(static_losses, eager_losses, strict=True):
            assert list(a) == list(b)
            assert all(abs(a[k] - b[k]) <= 1e-6 * max(1.0, abs(b[k])) for k in a)
        flat_static, flat_eager = flatten_state(_state(static)), flatten_state(_state(eager))
        assert list(flat_static) == list(flat_eager)
        diff = max(float((flat_static[k].double() - flat_eager[k].double()).abs().max()) for k in flat_eager)
        assert 0.0 <= diff <= 1e-6


class TestStaticActEqualsEager:
    """One act step through the static buffers returns PPO.act's actions and leaves the same storage contents
    (observations, actions, log-probs, values, distribution parameters, recurrent states), at a later step too."""

    @pytest.mark.parametrize("model", ["mlp", "gru", "lstm"])
    def test_act(self, model: str) -> None:
        stored = []
        for graphs in (False, True):
            runner = _runner(graphs, model)
            alg = runner.alg
            obs = runner.env.get_observations()
            torch.manual_seed(11)
            actions = []
            with torch.inference_mode():
                for _ in range(3):
                    act = alg.act(obs)
                    obs, rewards, dones, extras = runner.env.step(act)
                    alg.process_env_step(obs, rewards, dones, extras)
                    actions.append(act)
            st = alg.storage
            hidden = [h for pair in st.hidden if pair is not None for h in pair]
            stored.append([*actions, *st.obs.values(), st.actions, st.log_probs, st.values, *st.dist_params, *hidden])
            assert st.step == 3
        eager, static = stored
        assert len(eager) == len(static)
        for a, b in zip(eager, static, strict=True):
            assert torch.equal(a, b)

    def test_returned_actions_are_a_copy(self) -> None:
        runner = _runner(True)
        obs = runner.env.get_observations()
        with torch.inference_mode():
            first = runner.alg.act(obs)
        assert first.data_ptr() != runner.alg.storage.actions[0].data_ptr()
        assert first.data_ptr() not in {b.data_ptr() for b in runner.alg._graphs._obs.values()}  # type: ignore[union-attr]


class TestResume:
    """R08 under cuda_graphs: a runner whose static buffers are in use loads a checkpoint in place and continues
    exactly as an uninterrupted run (checkpoint leaves and logged metrics identical)."""

    def test_load_into_running_static_runner(self, tmp_path: Path) -> None:
        full = _runner(True, log_dir=str(tmp_path / "full"))
        full.learn(4)
        first = _runner(True, log_dir=str(tmp_path / "split"))
        first.learn(2)
        second = _runner(True, log_dir=str(tmp_path / "second"))
        second.learn(1)  # static buffers, optimizer state and (on CUDA) graphs exist before the load
        optimizer_state = second.alg.optimizer.state
        live = {id(t) for s in optimizer_state.values() for t in s.values()}
        second.load(str(tmp_path / "split" / "model_1.pt"))
        assert {id(t) for s in second.alg.optimizer.state.values() for t in s.values()} == live
        second.learn(2)
        a = torch.load(tmp_path / "full" / "model_3.pt", weights_only=True)
        b = torch.load(tmp_path / "second" / "model_3.pt", weights_only=True)
        keys = ("actor_state_dict", "critic_state_dict", "optimizer_state_dict", "env_state")
        assert differing_leaves({k: a[k] for k in keys}, {k: b[k] for k in keys}) == []


class TestLoadOptimizerInPlace:
    """load_optimizer_state copies the saved moments and step counters into the live state tensors (a captured
    graph holds them) and the loaded values are the saved ones."""

    def test_in_place(self) -> None:
        param = torch.nn.Parameter(torch.ones(3))
        lr = torch.tensor(1e-2)
        optimizer = torch.optim.Adam([param], lr=lr, fused=True)
        param.grad = torch.full((3,), 0.5)
        optimizer.step()
        saved = {k: (v.clone() if isinstance(v, torch.Tensor) else v) for k, v in optimizer.state[param].items()}
        snapshot = optimizer.state_dict()
        snapshot = {"state": {0: saved}, "param_groups": snapshot["param_groups"]}
        tensors = dict(optimizer.state[param])
        optimizer.step()
        load_optimizer_state(optimizer, snapshot, lr)
        for key, value in optimizer.state[param].items():
            assert value is tensors[key]
            assert torch.equal(value, saved[key])


class _PlainExtension(Extension):
    name = "plain"


class TestConfig:
    """The key: off by default; on a CPU device a warning names it and the static path runs eagerly; an extension
    that is not capturable, and RMSprop (no fused on-device skip), are refused with a ConfigError naming the key."""

    def test_default_off(self) -> None:
        assert _runner(False).alg._graphs is None

    def test_cpu_warns(self, caplog: pytest.LogCaptureFixture) -> None:
        with caplog.at_level(logging.WARNING, logger="stride.algorithms.ppo_graphs"):
            alg = _runner(True).alg
        assert isinstance(alg._graphs, PPOGraphs)
        assert "algorithm.cuda_graphs needs a CUDA device" in caplog.text

    def test_uncapturable_extension_refused(self) -> None:
        env = make_task("cartpole", num_envs=NUM_ENVS, seed=0)
        cfg = _cfg(True)
        with pytest.raises(ConfigError, match=r"cuda_graphs: extension 'plain' \(_PlainExtension\)"):
            PPO.construct(
                env.get_observations(), NUM_ENVS, 1, NUM_STEPS, cfg, cfg["obs_groups"], "cpu", [_PlainExtension()]
            )

    def test_rmsprop_refused(self) -> None:
        env = make_task("cartpole", num_envs=NUM_ENVS, seed=0)
        with pytest.raises(ConfigError, match=r"algorithm\.cuda_graphs needs a fused optimizer .*'rmsprop'"):
            OnPolicyRunner(env, _cfg(True, optimizer="rmsprop"), log_dir=None)

    def test_rejects_non_bool(self) -> None:
        env = make_task("cartpole", num_envs=NUM_ENVS, seed=0)
        with pytest.raises(ConfigError, match="cuda_graphs"):
            OnPolicyRunner(env, _cfg("yes"), log_dir=None)  # type: ignore[arg-type]


class TestCNNStaticEqualsEager:
    """CNN actor and critic (reach-image pixels, shared encoders): the static act step and update give eager PPO's
    parameters, optimizer state and losses bit for bit after 2 iterations."""

    def test_two_iterations(self) -> None:
        cnn_cfg = {"output_channels": [4, 8], "kernel_size": [8, 3], "stride": [4, 2]}
        model = {"class_name": "CNNModel", "hidden_dims": [16], "cnn_cfg": cnn_cfg}
        states = []
        for graphs in (False, True):
            cfg = {
                "num_steps_per_env": NUM_STEPS,
                "seed": 2,
                "obs_groups": {"actor": ["policy"], "critic": ["policy"]},
                "algorithm": {"num_learning_epochs": 2, "num_mini_batches": 2, "share_cnn_encoders": True},
                "actor": {**model, "distribution_cfg": {"class_name": "GaussianDistribution", "init_std": 1.0}},
                "critic": model,
            }
            cfg["algorithm"]["cuda_graphs"] = graphs
            runner = OnPolicyRunner(make_task("reach-image", num_envs=8, seed=1), cfg, log_dir=None)
            runner.learn(2)
            assert (runner.alg._graphs is not None) is graphs
            assert not graphs or runner.alg._graphs.captures_update  # type: ignore[union-attr]
            states.append(_state(runner))
        assert differing_leaves(states[1], states[0]) == []
