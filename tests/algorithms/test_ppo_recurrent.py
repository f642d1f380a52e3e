"""Recurrent PPO: trajectory mini-batches, stored states, first ratio, untouched critic state, padding (R05, R14-15)."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from stride.env.tasks import make_task
from stride.runners.on_policy_runner import OnPolicyRunner
from stride.storage import MiniBatch
from stride.utils.errors import ConfigError

NUM_ENVS, NUM_STEPS, EPOCHS, MINI_BATCHES = 8, 16, 2, 2


def _model(kind: str, obs_normalization: bool, actor: bool) -> dict[str, Any]:
    section: dict[str, Any] = {"hidden_dims": [16], "obs_normalization": obs_normalization}
    if kind != "mlp":
        section.update(class_name="RNNModel", rnn_type=kind, rnn_hidden_dim=12)
    if actor:
        section["distribution_cfg"] = {"class_name": "GaussianDistribution", "init_std": 1.0}
    return section


def _runner(actor: str, critic: str, obs_normalization: bool = False, **algorithm: Any) -> OnPolicyRunner:
    cfg = {
        "num_steps_per_env": NUM_STEPS,
        "seed": 3,
        "algorithm": {"num_learning_epochs": EPOCHS, "num_mini_batches": MINI_BATCHES, **algorithm},
        "actor": _model(actor, obs_normalization, True),
        "critic": _model(critic, obs_normalization, False),
    }
    # short episodes: every rollout holds several trajectories per env
    env = make_task("cartpole", num_envs=NUM_ENVS, seed=0, max_episode_length=7)
    return OnPolicyRunner(env, cfg, log_dir=None)


def _spy(monkeypatch: pytest.MonkeyPatch, runner: OnPolicyRunner) -> list[dict[str, Any]]:
    alg = runner.alg
    records: list[dict[str, Any]] = []
    original = alg._update_step

    def hooked(batch: MiniBatch) -> Any:
        with torch.no_grad():
            hidden = batch.hidden_states or (None, None)
            params = alg.actor.distribution_params(batch.observations, batch.masks, hidden[0])
            values = alg.critic.value(batch.observations, batch.masks, hidden[1])
            log_prob = alg.distribution.log_prob(params, batch.actions)
        records.append({"ratio": (log_prob - batch.old_log_prob).exp(), "values": values, "batch": batch})
        return original(batch)

    monkeypatch.setattr(alg, "_update_step", hooked)
    return records


CASES = [("gru", "gru"), ("lstm", "lstm"), ("mlp", "gru"), ("lstm", "mlp")]


class TestFirstMiniBatchRatio:
    """R15: the first mini-batch of every update replays the rollout exactly: |ratio − 1| ≤ 1e-5, values equal."""

    @pytest.mark.parametrize(("actor", "critic"), CASES)
    @pytest.mark.parametrize("obs_normalization", [False, True])
    def test_ratio_is_one(
        self, monkeypatch: pytest.MonkeyPatch, actor: str, critic: str, obs_normalization: bool
    ) -> None:
        runner = _runner(actor, critic, obs_normalization)
        records = _spy(monkeypatch, runner)
        runner.learn(2)
        per_update = EPOCHS * MINI_BATCHES
        assert len(records) == 2 * per_update
        for first in (records[0], records[per_update]):
            batch = first["batch"]
            assert batch.actions.shape == (NUM_STEPS, NUM_ENVS // MINI_BATCHES, 1)
            assert (first["ratio"] - 1.0).abs().max().item() <= 1e-5
            assert (first["values"] - batch.old_values).abs().max().item() <= 1e-5
        # not vacuous: later mini-batches see a changed policy
        assert max((r["ratio"] - 1.0).abs().max().item() for r in records[1:per_update]) > 1e-4

    def test_every_env_once_per_epoch(self, monkeypatch: pytest.MonkeyPatch) -> None:
        runner = _runner("gru", "gru")
        records = _spy(monkeypatch, runner)
        runner.learn(1)
        for epoch in range(EPOCHS):
            batches = [r["batch"] for r in records[epoch * MINI_BATCHES : (epoch + 1) * MINI_BATCHES]]
            # each valid step appears once: the padded masks of an epoch cover T·N steps
            assert sum(int(b.masks.sum()) for b in batches) == NUM_STEPS * NUM_ENVS
            # more trajectories than envs: episodes of 7 steps in a 16-step rollout are cut
            assert sum(b.masks.shape[1] for b in batches) > NUM_ENVS


class TestStoredStates:
    """The stored state at each trajectory start is the state the policy really acted from."""

    def test_starts_match_rollout(self) -> None:
        runner = _runner("lstm", "gru")
        alg, env = runner.alg, runner.env
        obs = env.get_observations()
        seen: list[tuple[torch.Tensor, torch.Tensor]] = []
        with torch.inference_mode():
            for _ in range(NUM_STEPS):
                h, c = alg.actor.get_hidden_state() or (torch.zeros(1, NUM_ENVS, 12), torch.zeros(1, NUM_ENVS, 12))
                seen.append((h.clone(), c.clone()))
                obs, rewards, dones, extras = env.step(alg.act(obs))
                alg.process_env_step(obs, rewards, dones, extras)
            alg.compute_returns(obs)
        batch = next(iter(alg.storage.recurrent_mini_batch_generator(1, 1, (True, True))))
        assert batch.hidden_states is not None and batch.masks is not None
        h0, c0 = batch.hidden_states[0]
        # reconstruct trajectory starts: t = 0 and after each done, env by env
        dones = alg.storage.dones
        expected_h, expected_c = [], []
        for n in range(NUM_ENVS):
            for t in range(NUM_STEPS):
                if t == 0 or dones[t - 1, n] != 0:
                    expected_h.append(seen[t][0][:, n])
                    expected_c.append(seen[t][1][:, n])
        assert torch.equal(h0, torch.stack(expected_h, 1))
        assert torch.equal(c0, torch.stack(expected_c, 1))
        # a trajectory that starts after a done starts from zeros
        assert any(not h.any() for h in expected_h[1:])


class TestCriticStateUntouched:
    """compute_returns and the time-out bootstrap peek at V without advancing a recurrent critic's state."""

    def test_compute_returns(self) -> None:
        runner = _runner("gru", "gru")
        alg, env = runner.alg, runner.env
        obs = env.get_observations()
        with torch.inference_mode():
            for _ in range(NUM_STEPS):
                obs, rewards, dones, extras = env.step(alg.act(obs))
                alg.process_env_step(obs, rewards, dones, extras)
            before = alg.critic.get_hidden_state().clone()
            actor_before = alg.actor.get_hidden_state().clone()
            alg.compute_returns(obs)
        assert torch.equal(alg.critic.get_hidden_state(), before)
        assert torch.equal(alg.actor.get_hidden_state(), actor_before)

    def test_time_out_bootstrap(self) -> None:
        runner = _runner("gru", "gru")
        alg, env = runner.alg, runner.env
        obs = env.get_observations()
        bootstraps = 0
        with torch.inference_mode():
            for _ in range(NUM_STEPS):
                actions = alg.act(obs)
                after_act = alg.critic.get_hidden_state().clone()
                obs, rewards, dones, extras = env.step(actions)
                bootstraps += int(extras["time_outs"].sum())
                alg.process_env_step(obs, rewards, dones, extras)
                # only the reset of done envs may change the state
                keep = (dones == 0).view(1, -1, 1)
                assert torch.equal(alg.critic.get_hidden_state(), torch.where(keep, after_act, 0.0))
        assert bootstraps > 0  # the bootstrap path ran


class TestPadding:
    """R05: NaN/inf in the padding leave losses and gradients finite, with exactly zero gradient at padded inputs."""

    @pytest.mark.parametrize("rnn_type", ["gru", "lstm"])
    def test_nan_in_padding(self, rnn_type: str) -> None:
        runner = _runner(rnn_type, rnn_type)
        alg, env = runner.alg, runner.env
        obs = env.get_observations()
        with torch.inference_mode():
            for _ in range(NUM_STEPS):
                obs, rewards, dones, extras = env.step(alg.act(obs))
                alg.process_env_step(obs, rewards, dones, extras)
            alg.compute_returns(obs)
        batch = next(iter(alg.storage.recurrent_mini_batch_generator(1, 1, (True, True))))
        assert batch.masks is not None and batch.hidden_states is not None
        pad = ~batch.masks
        assert pad.any()
        x = batch.observations["policy"].clone()
        x[pad] = torch.tensor([float("nan"), float("inf"), -float("inf"), float("nan")])
        x.requires_grad_(True)
        batch.observations["policy"] = x
        params = alg.actor.distribution_params(batch.observations, batch.masks, batch.hidden_states[0])
        values = alg.critic.value(batch.observations, batch.masks, batch.hidden_states[1])
        loss = -alg.distribution.log_prob(params, batch.actions).mean() + (values - batch.returns).pow(2).mean()
        assert torch.isfinite(loss)
        loss.backward()
        assert x.grad is not None
        assert torch.isfinite(x.grad).all()
        assert torch.count_nonzero(x.grad[pad]) == 0
        assert x.grad[batch.masks].abs().sum() > 0
        for p in [*alg.actor.parameters(), *alg.critic.parameters()]:
            assert p.grad is None or torch.isfinite(p.grad).all()


class TestConfig:
    """Recurrent mini-batches are groups of envs: num_mini_batches must divide num_envs, checked up front."""

    def test_mini_batches_must_divide_envs(self) -> None:
        runner = _runner("gru", "gru", num_mini_batches=3)  # builds: a play script may use any env count
        with pytest.raises(ConfigError, match="num_envs=8"):
            runner.learn(1)
