"""Tests for stride.algorithms.ppo, driven through the OnPolicyRunner on cartpole and on scripted fake envs."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import pytest
import torch
from tensordict import TensorDict

import stride.algorithms.ppo as ppo_module
from stride.env.tasks import make_task
from stride.env.vec_env import VecEnv
from stride.extensions.base import Extension
from stride.modules import RewardScaler
from stride.runners.on_policy_runner import OnPolicyRunner
from stride.storage import MiniBatch, RolloutStorage
from stride.utils.errors import CheckpointError, ConfigError

NUM_ENVS, NUM_STEPS, EPOCHS, MINI_BATCHES = 16, 8, 2, 4


def _cfg(obs_normalization: bool = False, **algorithm: Any) -> dict[str, Any]:
    return {
        "num_steps_per_env": NUM_STEPS,
        "seed": 7,
        "algorithm": {"num_learning_epochs": EPOCHS, "num_mini_batches": MINI_BATCHES, **algorithm},
        "actor": {
            "hidden_dims": [32, 32],
            "obs_normalization": obs_normalization,
            "distribution_cfg": {"class_name": "GaussianDistribution", "init_std": 1.0},
        },
        "critic": {"hidden_dims": [32, 32], "obs_normalization": obs_normalization},
    }


def _cartpole_runner(cfg: dict[str, Any]) -> OnPolicyRunner:
    return OnPolicyRunner(make_task("cartpole", num_envs=NUM_ENVS, seed=0), cfg, log_dir=None)


class ScriptedEnv(VecEnv):
    """A VecEnv whose rewards, dones, time-outs and final observations follow a script of T steps (repeated).

    Observations are Gaussian noise from the env's own generator; ``final_obs`` (when scripted) is returned as a
    TensorDict in ``extras``.
    """

    def __init__(
        self,
        rewards: torch.Tensor,
        dones: torch.Tensor,
        time_outs: torch.Tensor,
        final_obs: torch.Tensor | None = None,
        obs_dim: int = 3,
    ) -> None:
        self.script_len, self.num_envs = rewards.shape
        self.num_actions = 1
        self.max_episode_length = 100
        self.episode_length_buf = torch.zeros(self.num_envs, dtype=torch.long)
        self.device = torch.device("cpu")
        self.cfg: dict[str, Any] = {"task": "scripted"}
        self.rewards, self.dones, self.time_outs, self.final_obs = rewards, dones, time_outs, final_obs
        self._gen = torch.Generator().manual_seed(0)
        self._obs = torch.randn(self.num_envs, obs_dim, generator=self._gen)
        self.num_step_calls = 0

    def get_observations(self) -> TensorDict:
        return TensorDict({"policy": self._obs.clone()}, batch_size=[self.num_envs])

    def step(self, actions: torch.Tensor) -> tuple[TensorDict, torch.Tensor, torch.Tensor, dict[str, Any]]:
        t = self.num_step_calls % self.script_len
        self.num_step_calls += 1
        self._obs = torch.randn(self._obs.shape, generator=self._gen)
        extras: dict[str, Any] = {"time_outs": self.time_outs[t].clone()}
        if self.final_obs is not None:
            extras["final_obs"] = TensorDict({"policy": self.final_obs[t].clone()}, batch_size=[self.num_envs])
        return self.get_observations(), self.rewards[t].clone(), self.dones[t].clone(), extras


def _scripted_cfg(num_steps: int, num_mini_batches: int = 2, **algorithm: Any) -> dict[str, Any]:
    cfg = _cfg(**algorithm)
    cfg["num_steps_per_env"] = num_steps
    cfg["check_env"] = False  # the scripted env replays a fixed sequence; the contract check would consume it
    cfg["algorithm"]["num_mini_batches"] = num_mini_batches
    cfg["actor"]["hidden_dims"] = [16]
    cfg["critic"]["hidden_dims"] = [16]
    return cfg


def _spy_update_step(monkeypatch: pytest.MonkeyPatch, runner: OnPolicyRunner) -> list[dict[str, Any]]:
    """Record, before each mini-batch step, the recomputed ratio, KL and learning rate."""
    alg = runner.alg
    records: list[dict[str, Any]] = []
    original = alg._update_step

    def hooked(batch: MiniBatch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        with torch.no_grad():
            params = alg.actor.distribution_params(batch.observations)
            log_prob = alg.distribution.log_prob(params, batch.actions)
            kl = alg.distribution.kl(batch.old_dist_params, params).mean()
        records.append(
            {
                "ratio": (log_prob - batch.old_log_prob).exp(),
                "kl": kl.item(),
                "lr_before": alg.learning_rate,
                "batch": batch,
            }
        )
        return original(batch)

    monkeypatch.setattr(alg, "_update_step", hooked)
    return records


class TestFirstMiniBatchRatio:
    """R15: before any optimizer step of an update, exp(logp_new − logp_old) = 1 within 1e-5 (MLP ± obs norm)."""

    @pytest.mark.parametrize("obs_normalization", [False, True])
    def test_ratio_is_one(self, monkeypatch: pytest.MonkeyPatch, obs_normalization: bool) -> None:
        runner = _cartpole_runner(_cfg(obs_normalization=obs_normalization))
        records = _spy_update_step(monkeypatch, runner)
        norm_means: list[float] = []
        if obs_normalization:
            original = runner.alg._update_step

            def with_norm(batch: MiniBatch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
                norm_means.append(runner.alg.actor.obs_normalizer.mean.abs().max().item())  # type: ignore[union-attr]
                return original(batch)

            monkeypatch.setattr(runner.alg, "_update_step", with_norm)
        runner.learn(2)
        per_update = EPOCHS * MINI_BATCHES
        assert len(records) == 2 * per_update
        for first in (records[0], records[per_update]):
            assert (first["ratio"] - 1.0).abs().max().item() <= 1e-5
        # not vacuous: later mini-batches see a changed policy
        assert max((r["ratio"] - 1.0).abs().max().item() for r in records[1:per_update]) > 1e-3
        if obs_normalization:
            # the second update's first mini-batch ran with statistics learned from the first rollout
            assert norm_means[0] == 0.0 and norm_means[per_update] > 1e-3


class TestMixedPrecisionRatio:
    """R15 under use_mixed_precision: the rollout runs under the update's bfloat16 autocast, so the first mini-batch
    recomputes the stored log-probabilities and values (|ratio − 1| ≤ 1e-5, values within 1e-5; bitwise on the
    development machine). Sizes cross the CPU fast paths' thresholds (1,024-row mini-batches, 128-wide layers)."""

    def test_first_ratio_is_one(self, monkeypatch: pytest.MonkeyPatch) -> None:
        cfg = _cfg(use_mixed_precision=True)
        cfg["actor"]["hidden_dims"] = cfg["critic"]["hidden_dims"] = [128, 128]
        cfg["algorithm"]["num_mini_batches"] = 2
        runner = OnPolicyRunner(make_task("cartpole", num_envs=256, seed=0), cfg, log_dir=None)
        alg = runner.alg
        records: list[dict[str, Any]] = []
        original = alg._update_step

        def hooked(batch: MiniBatch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
            with torch.no_grad(), alg._precision():
                params = alg._actor_params(batch.observations)
                values = alg._critic_value(batch.observations)
            log_prob = alg.distribution.log_prob(tuple(p.float() for p in params), batch.actions)
            records.append(
                {
                    "ratio": (log_prob - batch.old_log_prob).exp(),
                    "dv": (values.float() - batch.old_values).abs().max().item(),
                    # what a float32 forward gives for the stored actions: the rollout really ran in bfloat16
                    "fp32_mean": alg.actor.distribution_params(batch.observations)[0],
                    "old_mean": batch.old_dist_params[0],
                }
            )
            return original(batch)

        monkeypatch.setattr(alg, "_update_step", hooked)
        runner.learn(1)
        first = records[0]
        assert (first["ratio"] - 1.0).abs().max().item() <= 1e-5
        assert first["dv"] <= 1e-5
        assert (first["fp32_mean"] - first["old_mean"]).abs().max().item() > 1e-4
        # not vacuous: the second mini-batch sees the stepped policy
        assert (records[1]["ratio"] - 1.0).abs().max().item() > 1e-3


class TestMixedPrecisionUpdate:
    """A bfloat16 update moves the parameters as the float32 update does: the same rollout, one update each, the
    parameter changes agree to cosine similarity ≥ 0.999 and norms within 1 % (measured: 0.99990 and 0.007 %)."""

    def test_update_close_to_float32(self) -> None:
        cfg = _cfg(schedule="fixed")  # the adaptive rate's discrete ×1.5 steps would amplify any KL difference
        cfg["actor"]["hidden_dims"] = cfg["critic"]["hidden_dims"] = [128, 128]
        cfg["algorithm"]["num_mini_batches"] = 2
        runner = OnPolicyRunner(make_task("cartpole", num_envs=256, seed=0), cfg, log_dir=None)
        alg = runner.alg
        obs = runner.env.get_observations()
        with torch.inference_mode():
            for _ in range(NUM_STEPS):
                actions = alg.act(obs)
                obs, rewards, dones, extras = runner.env.step(actions)
                alg.process_env_step(obs, rewards, dones, extras)
            alg.compute_returns(obs)
        before = torch.cat([p.detach().flatten() for p in alg._trainable_parameters()])
        deltas = []
        for mixed in (False, True):
            twin = copy.deepcopy(alg)
            twin.cfg.use_mixed_precision = mixed
            torch.manual_seed(3)  # the same mini-batch permutation
            twin.update()
            deltas.append(torch.cat([p.detach().flatten() for p in twin._trainable_parameters()]) - before)
        fp32, bf16 = deltas
        assert fp32.norm() > 1e-2
        assert torch.nn.functional.cosine_similarity(fp32, bf16, dim=0).item() >= 0.999
        assert abs(bf16.norm().item() / fp32.norm().item() - 1.0) <= 0.01


class TestLearningRateSchedule:
    """The adaptive schedule moves the optimizer's learning rate per mini-batch exactly as the KL rule says."""

    def test_adaptive_follows_rule(self, monkeypatch: pytest.MonkeyPatch) -> None:
        desired_kl = 0.005  # with this seed the update sees KLs both above 2·d and below d/2
        runner = _cartpole_runner(_cfg(learning_rate=5e-3, desired_kl=desired_kl, schedule="adaptive"))
        records = _spy_update_step(monkeypatch, runner)
        opt = runner.alg.optimizer
        lr_at_step: list[float] = []
        original_step = opt.step

        def step(*args: Any, **kwargs: Any) -> Any:
            lr_at_step.append(float(opt.param_groups[0]["lr"]))
            return original_step(*args, **kwargs)

        monkeypatch.setattr(opt, "step", step)
        runner.learn(1)
        expected = 5e-3
        directions = set()
        for record, used in zip(records, lr_at_step, strict=True):
            assert record["lr_before"] == pytest.approx(expected, rel=1e-5)
            kl = record["kl"]
            if kl > 2.0 * desired_kl:
                expected, direction = max(expected / 1.5, 1e-5), "down"
            elif 0.0 < kl < desired_kl / 2.0:
                expected, direction = min(expected * 1.5, 1e-2), "up"
            else:
                direction = "same"
            directions.add(direction)
            # the optimizer steps with the rate the rule produced from this mini-batch's KL
            assert used == pytest.approx(expected, rel=1e-5)
        assert len(lr_at_step) == EPOCHS * MINI_BATCHES
        assert runner.alg.learning_rate == pytest.approx(expected, rel=1e-5)
        assert {"up", "down"} <= directions, directions

    def test_fixed_keeps_rate(self, monkeypatch: pytest.MonkeyPatch) -> None:
        runner = _cartpole_runner(_cfg(learning_rate=3e-3, schedule="fixed"))
        records = _spy_update_step(monkeypatch, runner)
        runner.learn(1)
        assert max(r["kl"] for r in records) > 0.0
        assert all(r["lr_before"] == pytest.approx(3e-3, rel=1e-7) for r in records)
        assert float(runner.alg.optimizer.param_groups[0]["lr"]) == pytest.approx(3e-3, rel=1e-7)


class TestValueNormalization:
    """With value normalization the critic regresses normalized returns; _critic_values are in return units."""

    def test_targets_and_denormalized_values(self, monkeypatch: pytest.MonkeyPatch) -> None:
        runner = _cartpole_runner(_cfg(value_normalization=True, use_clipped_value_loss=True))
        alg = runner.alg
        assert alg.value_normalizer is not None
        runner.learn(1)
        # the statistics are those of the first rollout's returns
        assert int(alg.value_normalizer.count) == NUM_STEPS * NUM_ENVS
        assert alg.value_normalizer.mean.item() == pytest.approx(alg.storage.returns.mean().item(), rel=1e-5)
        mean, std = alg.value_normalizer.mean.item(), alg.value_normalizer.std.item()
        assert abs(mean) > 1.0 and abs(std - 1.0) > 0.05  # non-trivial statistics

        records = _spy_update_step(monkeypatch, runner)
        captured: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
        original_loss = ppo_module.value_function_loss

        def spy(values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor, *a: Any) -> torch.Tensor:
            captured.append((values.detach().clone(), old_values.clone(), returns.clone()))
            return original_loss(values, old_values, returns, *a)

        monkeypatch.setattr(ppo_module, "value_function_loss", spy)
        runner.learn(1)
        batch = records[0]["batch"]
        values, old_values, returns = captured[0]
        torch.testing.assert_close(returns, (batch.returns - mean) / std, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(old_values, (batch.old_values - mean) / std, rtol=1e-5, atol=1e-5)
        # before the first step the critic predicts exactly the (normalized) values stored in return units
        torch.testing.assert_close(values, (batch.old_values - mean) / std, rtol=1e-4, atol=1e-4)
        obs = runner.env.get_observations()
        with torch.no_grad():
            raw = alg.critic.value(obs)
            mean, std = alg.value_normalizer.mean.item(), alg.value_normalizer.std.item()
            torch.testing.assert_close(alg._critic_values(obs), raw * std + mean, rtol=1e-5, atol=1e-5)


def _time_out_script(num_envs: int = 4, num_steps: int = 4) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    rewards = torch.arange(1, num_steps * num_envs + 1, dtype=torch.float32).view(num_steps, num_envs) / 10.0
    time_outs = torch.zeros(num_steps, num_envs, dtype=torch.bool)
    time_outs[1, 0] = time_outs[2, 3] = time_outs[3, 1] = True
    dones = time_outs.clone()
    dones[0, 2] = True  # a termination: no bootstrap
    return rewards, dones, time_outs


class TestTimeOutBootstrap:
    """Stored rewards get +γ·V(final_obs) on time-outs when final_obs is given, else +γ·V(s_t); nothing elsewhere."""

    @pytest.mark.parametrize("value_normalization", [False, True])
    @pytest.mark.parametrize("with_final_obs", [True, False])
    def test_stored_rewards(self, with_final_obs: bool, value_normalization: bool) -> None:
        rewards, dones, time_outs = _time_out_script()
        final_obs = torch.randn(4, 4, 3, generator=torch.Generator().manual_seed(1)) + 3.0
        env = ScriptedEnv(rewards, dones, time_outs, final_obs if with_final_obs else None)
        gamma = 0.9
        runner = OnPolicyRunner(env, _scripted_cfg(4, gamma=gamma, value_normalization=value_normalization))
        alg = runner.alg
        if value_normalization:
            runner.learn(1)  # gives the value normalizer non-trivial statistics
            assert alg.value_normalizer is not None and abs(alg.value_normalizer.mean.item()) > 1e-3
        critic0 = copy.deepcopy(alg.critic)
        normalizer0 = copy.deepcopy(alg.value_normalizer)
        runner.learn(1)
        stored = alg.storage.rewards
        with torch.no_grad():
            v_final = torch.stack([critic0.value({"policy": final_obs[t]}) for t in range(4)])
            if normalizer0 is not None:
                v_final = normalizer0.denormalize(v_final)
        v_state = alg.storage.values
        boot = v_final if with_final_obs else v_state
        expected = rewards + gamma * boot * time_outs.float()
        torch.testing.assert_close(stored, expected, rtol=1e-5, atol=1e-5)
        assert torch.equal(stored[~time_outs], rewards[~time_outs])
        # not vacuous: the two bootstrap rules give different stored rewards here
        assert (v_final - v_state)[time_outs].abs().min().item() > 1e-3

    def test_unspecified_final_obs_rows_do_not_leak(self) -> None:
        rewards, dones, time_outs = _time_out_script()
        final_obs = torch.randn(4, 4, 3, generator=torch.Generator().manual_seed(1))
        final_obs[~dones] = float("nan")
        env = ScriptedEnv(rewards, dones, time_outs, final_obs)
        runner = OnPolicyRunner(env, _scripted_cfg(4, gamma=0.9))
        runner.learn(1)
        assert torch.isfinite(runner.alg.storage.rewards).all()


class TestRewardScaling:
    """With reward_scaling the stored rewards are the scaler's (then the time-out bootstrap); logs stay raw."""

    def test_stored_rewards_scaled_then_bootstrapped(self) -> None:
        rewards, dones, time_outs = _time_out_script()
        final_obs = torch.randn(4, 4, 3, generator=torch.Generator().manual_seed(1)) + 3.0
        env = ScriptedEnv(rewards, dones, time_outs, final_obs)
        gamma = 0.9
        runner = OnPolicyRunner(env, _scripted_cfg(4, gamma=gamma, reward_scaling=True))
        alg = runner.alg
        assert alg.reward_scaler is not None
        critic0 = copy.deepcopy(alg.critic)
        runner.learn(1)
        replay = RewardScaler(4, gamma)
        scaled = torch.stack([replay(rewards[t], dones[t].float()) for t in range(4)])
        with torch.no_grad():
            v_final = torch.stack([critic0.value({"policy": final_obs[t]}) for t in range(4)])
        expected = scaled + gamma * v_final * time_outs.float()
        torch.testing.assert_close(alg.storage.rewards, expected, rtol=1e-5, atol=1e-5)
        # not vacuous: scaling changed the rewards
        assert (scaled - rewards).abs().max().item() > 0.1

    def test_one_process_golden(self) -> None:
        # golden values of the code before the scaler merged ranks once per iteration (main at 2b70db3): in one
        # process every step still enters the statistics at once, bit for bit
        rewards, dones, time_outs = _time_out_script()
        runner = OnPolicyRunner(ScriptedEnv(rewards, dones, time_outs), _scripted_cfg(4, reward_scaling=True))
        runner.learn(2)
        scaler = runner.alg.reward_scaler
        assert scaler is not None
        assert int(scaler.stats.count) == 32
        assert scaler.stats._mean.item() == 1.7206233739852905
        assert scaler.stats._var.item() == 1.1999192237854004
        golden = torch.tensor(
            [
                [0.09375879913568497, 0.18751759827136993, 0.2812764048576355, 0.37503519654273987],
                [0.0, 0.5651901960372925, 0.659388542175293, 0.7535868883132935],
                [0.8260668516159058, 0.9178520441055298, 1.0096372365951538, 0.0],
                [1.186772108078003, 0.0, 1.3693525791168213, 1.460642695426941],
            ]
        )  # the second iteration's stored rewards; the time-outs' (0.0 here) add a critic-dependent bootstrap
        assert torch.equal(runner.alg.storage.rewards[~time_outs], golden[~time_outs])

    def test_checkpoint_round_trip_and_mismatch(self) -> None:
        rewards, dones, time_outs = _time_out_script()
        runner = OnPolicyRunner(ScriptedEnv(rewards, dones, time_outs), _scripted_cfg(4, reward_scaling=True))
        runner.learn(1)
        state = runner.alg.state_dict()
        fresh = OnPolicyRunner(ScriptedEnv(rewards, dones, time_outs), _scripted_cfg(4, reward_scaling=True)).alg
        fresh.load_state_dict(state)
        assert fresh.reward_scaler is not None and runner.alg.reward_scaler is not None
        assert float(fresh.reward_scaler.scale) == float(runner.alg.reward_scaler.scale) != 1.0
        off = OnPolicyRunner(ScriptedEnv(rewards, dones, time_outs), _scripted_cfg(4)).alg
        with pytest.raises(CheckpointError, match=r"algorithm\.reward_scaling is off here"):
            off.load_state_dict(state)


class RecordingExtension(Extension):
    """Counts hook calls and adds a reward bonus and a constant loss term."""

    name = "recorder"
    bonus = 10.0

    def __init__(self) -> None:
        self.calls = {"on_transition": 0, "augment_batch": 0, "extra_loss": 0, "after_update": 0}
        self.batch_sizes: list[int] = []

    def on_transition(
        self, obs: Mapping[str, torch.Tensor], rewards: torch.Tensor, dones: torch.Tensor, extras: Mapping[str, Any]
    ) -> torch.Tensor:
        self.calls["on_transition"] += 1
        return rewards + self.bonus

    def augment_batch(self, batch: MiniBatch) -> MiniBatch:
        self.calls["augment_batch"] += 1
        return batch

    def extra_loss(self, batch: MiniBatch, outputs: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        self.calls["extra_loss"] += 1
        self.batch_sizes.append(int(outputs["values"].shape[0]))
        return {"recorder_term": torch.tensor(1.5)}

    def after_update(self, storage: RolloutStorage) -> None:
        self.calls["after_update"] += 1


class TestExtensionHooks:
    """Each hook runs the documented number of times; on_transition's reward change reaches storage."""

    def test_hook_counts_and_reward_change(self, monkeypatch: pytest.MonkeyPatch) -> None:
        num_steps, num_envs, mini_batches = 3, 4, 2
        rewards = torch.arange(num_steps * num_envs, dtype=torch.float32).view(num_steps, num_envs)
        no = torch.zeros(num_steps, num_envs, dtype=torch.bool)
        env = ScriptedEnv(rewards, no, no)
        runner = OnPolicyRunner(env, _scripted_cfg(num_steps, num_mini_batches=mini_batches))
        ext = RecordingExtension()
        runner.alg.extensions.append(ext)
        results: list[dict[str, float]] = []
        original_update = runner.alg.update

        def update(iteration: int | None = None) -> dict[str, float]:
            results.append(original_update(iteration))
            return results[-1]

        monkeypatch.setattr(runner.alg, "update", update)
        runner.learn(2)
        per_update = EPOCHS * mini_batches
        assert ext.calls == {
            "on_transition": 2 * num_steps,
            "augment_batch": 2 * per_update,
            "extra_loss": 2 * per_update,
            "after_update": 2,
        }
        assert ext.batch_sizes == [num_steps * num_envs // mini_batches] * (2 * per_update)
        assert torch.equal(runner.alg.storage.rewards, rewards + RecordingExtension.bonus)
        assert [r["recorder_term"] for r in results] == [pytest.approx(1.5), pytest.approx(1.5)]


class TestMiniBatchConfig:
    """num_mini_batches must divide T·N: ConfigError when learn starts, before any env step (building is allowed:
    play and export scripts build runners with other env counts)."""

    @pytest.mark.parametrize("num_mini_batches", [5, 7, 13])
    def test_non_divisor_rejected_before_stepping(self, num_mini_batches: int) -> None:
        no = torch.zeros(3, 4, dtype=torch.bool)
        env = ScriptedEnv(torch.zeros(3, 4), no, no)
        runner = OnPolicyRunner(env, _scripted_cfg(3, num_mini_batches=num_mini_batches))
        with pytest.raises(ConfigError, match=f"num_mini_batches={num_mini_batches}.*12"):
            runner.learn(1)
        assert env.num_step_calls == 0

    def test_update_runs_epochs_times_mini_batches(self, monkeypatch: pytest.MonkeyPatch) -> None:
        no = torch.zeros(3, 4, dtype=torch.bool)
        env = ScriptedEnv(torch.ones(3, 4), no, no)
        runner = OnPolicyRunner(env, _scripted_cfg(3, num_mini_batches=6))
        records = _spy_update_step(monkeypatch, runner)
        runner.learn(1)
        assert len(records) == EPOCHS * 6
        for epoch in range(EPOCHS):
            obs = torch.cat([r["batch"].observations["policy"] for r in records[epoch * 6 : (epoch + 1) * 6]])
            stored = runner.alg.storage.observations["policy"].flatten(0, 1)
            # each epoch's mini-batches are a permutation of the stored transitions
            assert obs.shape == stored.shape
            assert torch.equal(obs[obs[:, 0].argsort()], stored[stored[:, 0].argsort()])


class TestMixedPrecisionLargeMiniBatches:
    """Regression: PPO with use_mixed_precision on the CPU raised 'expected m1 and m2 to have the same dtype' in the
    backward of the critic's one-output layer once a mini-batch reached 1,024 rows (stride's Linear fast path saw a
    bf16 gradient and a float32 input); the update now runs and its losses are finite."""

    def test_update_runs(self) -> None:
        cfg = {
            "num_steps_per_env": 8,
            "seed": 1,
            "obs_groups": {"actor": ["policy"], "critic": ["policy"]},
            "algorithm": {
                "class_name": "PPO",
                "use_mixed_precision": True,
                "num_mini_batches": 2,
                "num_learning_epochs": 1,
            },
            "actor": {
                "class_name": "MLPModel",
                "hidden_dims": [32],
                "distribution_cfg": {"class_name": "GaussianDistribution"},
            },
            "critic": {"class_name": "MLPModel", "hidden_dims": [32]},
        }
        runner = OnPolicyRunner(make_task("cartpole", num_envs=512, seed=1), cfg)  # mini-batches of 2,048 rows
        runner.learn(1)
        losses = runner.alg.update()
        assert all(torch.isfinite(torch.tensor(v)) for v in losses.values())
