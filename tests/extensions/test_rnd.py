"""R17: Random Network Distillation — frozen target, finite non-negative novelty that fades only where the agent has
been, exact schedules, complete checkpoints (stride's and rsl_rl's layouts) and exact resume."""

from __future__ import annotations

import copy
import json
import logging
import math
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import torch
from checkpoint_diff import differing_leaves
from tensordict import TensorDict
from torch import nn

from stride.config.schema import RNDWeightScheduleCfg
from stride.config.strict import build
from stride.env.tasks import make_task
from stride.extensions.factory import ExtensionContext
from stride.extensions.rnd import RandomNetworkDistillation, build_rnd, scheduled_weight
from stride.runners import OnPolicyRunner
from stride.storage import MiniBatch
from stride.utils.errors import CheckpointError, ConfigError

DOCS = Path(__file__).resolve().parents[2] / "docs"
RND_KEYS = ("Loss/rnd", "Train/mean_intrinsic_reward", "Train/mean_extrinsic_reward", "Policy/rnd_weight")
"""What a run with RND logs beyond a plain PPO run."""

SMALL_RND: dict[str, Any] = {
    "weight": 1.0,
    "num_outputs": 16,
    "predictor_hidden_dims": [64, 64],
    "target_hidden_dims": [64, 64],
}


# -------------------------------------------------------------------------------------------------------- helpers
def _obs(states: torch.Tensor, group: str = "policy") -> TensorDict:
    return TensorDict({group: states}, batch_size=[states.shape[0]])


def _context(obs: TensorDict, obs_groups: Mapping[str, list[str]] | None = None, env: Any = None) -> ExtensionContext:
    return ExtensionContext(
        env=env,
        obs=obs,
        obs_groups=dict(obs_groups if obs_groups is not None else {"rnd_state": ["policy"]}),
        actor=nn.Linear(1, 1),
        critic=None,
        num_envs=int(obs.batch_size[0]),
        num_steps_per_env=1,
        device=torch.device("cpu"),
    )


def _rnd(obs: TensorDict, **cfg: Any) -> RandomNetworkDistillation:
    return build_rnd({**SMALL_RND, **cfg}, _context(obs), "algorithm.rnd_cfg")


def _batch(obs: TensorDict) -> MiniBatch:
    n = int(obs.batch_size[0])
    zeros = torch.zeros(n)
    return MiniBatch(
        observations=obs,
        actions=torch.zeros(n, 1),
        old_log_prob=zeros,
        old_values=zeros,
        returns=zeros,
        advantages=zeros,
        old_dist_params=(torch.zeros(n, 1),),
    )


def _train(rnd: RandomNetworkDistillation, obs: TensorDict, steps: int) -> None:
    """Predictor steps exactly as PPO drives them: extra_loss, backward, after_optimizer_step."""
    batch = _batch(obs)
    for _ in range(steps):
        rnd.extra_loss(batch, {})["rnd"].backward()
        rnd.after_optimizer_step(torch.tensor(False))


def _runner_cfg(rnd_cfg: dict[str, Any] | None, seed: int = 4) -> dict[str, Any]:
    algorithm: dict[str, Any] = {"num_learning_epochs": 2, "num_mini_batches": 2}
    if rnd_cfg is not None:
        algorithm["rnd_cfg"] = rnd_cfg
    return {
        "num_steps_per_env": 16,
        "seed": seed,
        "check_env": False,
        "obs_groups": {"actor": ["policy"], "critic": ["policy"], "rnd_state": ["policy"]},
        "algorithm": algorithm,
        "actor": {
            "hidden_dims": [16, 16],
            "obs_normalization": True,
            "distribution_cfg": {"class_name": "GaussianDistribution", "init_std": 1.0},
        },
        "critic": {"hidden_dims": [16, 16], "obs_normalization": True},
    }


FULL_RND: dict[str, Any] = {
    "weight": 2.0,
    "num_outputs": 8,
    "predictor_hidden_dims": [32, 32],
    "target_hidden_dims": [32],
    "state_normalization": True,
    "reward_normalization": True,
    "weight_schedule": {"mode": "step", "final_step": 40, "final_value": 0.5},
}


def _mc_runner(rnd_cfg: dict[str, Any] | None = FULL_RND, log_dir: str | None = None, seed: int = 4) -> OnPolicyRunner:
    return OnPolicyRunner(
        make_task("mountain-car", num_envs=16, seed=seed), _runner_cfg(rnd_cfg, seed), log_dir=log_dir
    )


def _rnd_of(runner: OnPolicyRunner) -> RandomNetworkDistillation:
    (ext,) = [e for e in runner.alg.extensions if isinstance(e, RandomNetworkDistillation)]
    return ext


# ---------------------------------------------------------------------------------------------------------- tests
class TestWeightSchedules:
    """scheduled_weight is exact at the boundaries of every mode, and the extension applies it per env step."""

    @staticmethod
    def _schedule(**kwargs: Any) -> RNDWeightScheduleCfg:
        return build(RNDWeightScheduleCfg, kwargs, "algorithm.rnd_cfg.weight_schedule")

    def test_constant(self) -> None:
        for step in (0, 1, 10**9):
            assert scheduled_weight(step, 0.3, None) == 0.3
            assert scheduled_weight(step, 0.3, self._schedule(mode="constant")) == 0.3

    def test_step_switches_at_final_step(self) -> None:
        schedule = self._schedule(mode="step", final_step=100, final_value=0.25)
        assert [scheduled_weight(s, 2.0, schedule) for s in (1, 99, 100, 101, 10**6)] == [2.0, 2.0, 0.25, 0.25, 0.25]

    def test_linear_exact_at_both_ends_and_mid(self) -> None:
        schedule = self._schedule(mode="linear", initial_step=10, final_step=30, final_value=0.5)
        got = [scheduled_weight(s, 2.0, schedule) for s in (0, 9, 10, 15, 20, 30, 31, 10**6)]
        assert got == [2.0, 2.0, 2.0, 1.625, 1.25, 0.5, 0.5, 0.5]

    def test_extension_counts_env_steps_from_one(self) -> None:
        obs = _obs(torch.randn(4, 3, generator=torch.Generator().manual_seed(0)))
        rnd = _rnd(obs, weight=3.0, weight_schedule={"mode": "step", "final_step": 3, "final_value": 1.0})
        error = rnd.prediction_error(obs)
        rewards = torch.tensor([1.0, -1.0, 0.5, 0.0])
        got = [rnd.on_transition(obs, rewards, torch.zeros(4, dtype=torch.bool), {}) for _ in range(4)]
        for step, out in enumerate(got, start=1):
            weight = 3.0 if step < 3 else 1.0
            assert torch.equal(out, rewards + weight * error), step
        assert rnd.step == 4
        assert rnd.stats()["Policy/rnd_weight"] == 1.0


class TestIntrinsicReward:
    """The intrinsic reward is finite and >= 0, also for equal states, extreme states and degenerate statistics; in
    one process the reward normalizer absorbs every step at once (golden values of the per-step code)."""

    @pytest.mark.parametrize("normalize", [False, True])
    def test_finite_and_non_negative(self, normalize: bool) -> None:
        gen = torch.Generator().manual_seed(1)
        states = torch.cat(
            [
                torch.randn(64, 3, generator=gen),
                torch.full((8, 3), 1e4),  # extreme
                torch.zeros(8, 3),  # constant rows
            ]
        )
        obs = _obs(states)
        rnd = _rnd(obs, state_normalization=normalize, reward_normalization=normalize)
        rewards = torch.zeros(80)
        for _ in range(5):
            bonus = rnd.on_transition(obs, rewards, torch.zeros(80, dtype=torch.bool), {})
            assert bool(torch.isfinite(bonus).all())
            assert float(bonus.min()) >= 0.0
        assert float(bonus.max()) > 0.0

    def test_equal_rewards_with_reward_normalization(self) -> None:
        # R04: every env sees the same state forever, so all intrinsic rewards are equal and the first update of
        # the discounted-return statistics has std 0: the rewards must stay finite (left undivided)
        obs = _obs(torch.ones(32, 2))
        rnd = _rnd(obs, state_normalization=True, reward_normalization=True)
        raw = rnd.prediction_error(obs)
        for step in range(50):
            bonus = rnd.on_transition(obs, torch.zeros(32), torch.zeros(32, dtype=torch.bool), {})
            assert bool(torch.isfinite(bonus).all())
            assert float(bonus.min()) >= 0.0
            if step == 0:  # one step of equal returns: std 0, the rewards pass undivided
                assert torch.equal(bonus, raw)
        rnd.after_update(_storage_like(obs))
        assert bool(torch.isfinite(rnd.prediction_error(obs)).all())

    def test_one_process_golden(self) -> None:
        # golden values of the code before the reward normalizer merged ranks once per iteration (main at 6394dcc): in
        # one process every step's discounted return still enters the statistics at once, bit for bit
        torch.manual_seed(0)
        gen = torch.Generator().manual_seed(3)
        states = [torch.randn(4, 2, generator=gen) * (1 + t) for t in range(3)]
        rnd = _rnd(_obs(states[0]), reward_normalization=True)
        normalizer = rnd.reward_normalizer
        assert normalizer is not None
        bonuses = []
        for step, state in enumerate(states):
            bonuses.append(rnd.on_transition(_obs(state), torch.zeros(4), torch.zeros(4, dtype=torch.bool), {}))
            assert int(normalizer.count) == 4 * (step + 1)  # this step's returns are in the statistics already
        rnd.after_update(_storage_like(_obs(states[-1])))
        assert int(normalizer.count) == 12
        assert normalizer._mean.item() == 2.2666635513305664
        assert normalizer._var.item() == 1.3322348594665527
        golden = [
            [14.566327095031738, 12.74637222290039, 15.366072654724121, 14.952078819274902],
            [2.616208076477051, 1.9422187805175781, 1.704847812652588, 1.3651853799819946],
            [1.2886730432510376, 1.0052958726882935, 1.5524754524230957, 1.1002675294876099],
        ]
        assert [b.tolist() for b in bonuses] == golden


class _StorageLike:
    """The one attribute after_update reads."""

    def __init__(self, observations: TensorDict) -> None:
        self.observations = observations


def _storage_like(obs: TensorDict) -> Any:
    return _StorageLike(obs.unsqueeze(0).expand(4, *obs.batch_size).clone())


class TestNovelty:
    """After training on one repeatedly seen state its reward falls >= 50 % while unseen states' falls < 20 %."""

    @pytest.mark.parametrize("seed", [0, 1, 2])
    def test_seen_state_fades_unseen_stays(self, seed: int, record_property: Callable[[str, object], None]) -> None:
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(100 + seed)
        seen = _obs(torch.randn(1, 4, generator=gen).expand(256, 4).clone())
        directions = torch.randn(256, 4, generator=gen)
        unseen = _obs(4.0 * directions / directions.norm(dim=-1, keepdim=True))  # radius 4, every direction
        rnd = _rnd(seen)
        before_seen, before_unseen = (
            float(rnd.prediction_error(seen).mean()),
            float(rnd.prediction_error(unseen).mean()),
        )
        _train(rnd, seen, 100)
        after_seen, after_unseen = float(rnd.prediction_error(seen).mean()), float(rnd.prediction_error(unseen).mean())
        seen_drop, unseen_drop = 1 - after_seen / before_seen, 1 - after_unseen / before_unseen
        record_property("seen_drop", seen_drop)
        record_property("unseen_drop", unseen_drop)
        assert seen_drop >= 0.5
        assert unseen_drop < 0.2


class TestTraining:
    """Through the runner: the target never changes, the predictor does, and the rewards are logged separately."""

    def test_target_frozen_predictor_trained(self, tmp_path: Path) -> None:
        runner = _mc_runner(log_dir=str(tmp_path))
        rnd = _rnd_of(runner)
        target0 = copy.deepcopy(rnd.target.state_dict())
        predictor0 = copy.deepcopy(rnd.predictor.state_dict())
        assert all(not p.requires_grad for p in rnd.target.parameters())
        optimized = {id(p) for g in rnd.optimizer.param_groups for p in g["params"]}
        optimized |= {id(p) for g in runner.alg.optimizer.param_groups for p in g["params"]}
        assert optimized.isdisjoint(id(p) for p in rnd.target.parameters())
        runner.learn(3)
        assert differing_leaves(target0, rnd.target.state_dict()) == []
        changed = differing_leaves(predictor0, rnd.predictor.state_dict())
        assert len(changed) == len(predictor0)  # every predictor tensor moved
        rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
        assert len(rows) == 3
        for row in rows:
            assert set(RND_KEYS) <= set(row)
            assert row["Train/mean_intrinsic_reward"] > 0.0
            assert row["Loss/rnd"] > 0.0
        # 48 steps so far: the step schedule switched from 2.0 to 0.5 at step 40, during the third iteration
        assert [row["Policy/rnd_weight"] for row in rows] == [2.0, 2.0, 0.5]

    def test_extrinsic_reward_logged_unchanged(self, tmp_path: Path) -> None:
        env = make_task("mountain-car", num_envs=16, seed=4)
        seen: list[torch.Tensor] = []
        original = env.step

        def recording_step(actions: torch.Tensor) -> Any:
            out = original(actions)
            seen.append(out[1].clone())
            return out

        env.step = recording_step  # type: ignore[method-assign]
        runner = OnPolicyRunner(env, _runner_cfg(FULL_RND), log_dir=str(tmp_path))
        runner.learn(1)
        row = json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[0])
        assert row["Train/mean_extrinsic_reward"] == pytest.approx(float(torch.stack(seen).mean()), rel=1e-5)

    def test_skipped_step_leaves_predictor_and_moments(self) -> None:
        obs = _obs(torch.randn(32, 3, generator=torch.Generator().manual_seed(3)))
        rnd = _rnd(obs)
        _train(rnd, obs, 2)
        before = copy.deepcopy(rnd.state_dict())
        batch = _batch(obs)
        rnd.extra_loss(batch, {})["rnd"].backward()
        rnd.after_optimizer_step(torch.tensor(True))  # the algorithm skipped this step
        assert differing_leaves(before, rnd.state_dict()) == []
        nan_obs = _obs(torch.full((32, 3), float("nan")))
        rnd.extra_loss(_batch(nan_obs), {})["rnd"].backward()
        rnd.after_optimizer_step(torch.tensor(False))  # a non-finite RND loss is never applied
        assert differing_leaves(before, rnd.state_dict()) == []


class TestCheckpoint:
    """Every piece of RND state is saved and restored exactly; mismatches are named; rsl_rl's layout loads."""

    def test_state_dict_round_trip(self) -> None:
        runner = _mc_runner()
        runner.learn(2)
        rnd = _rnd_of(runner)
        state = rnd.state_dict()
        assert {"optimizer", "step", "discounted_return", "state_normalizer.count", "reward_normalizer._std"} <= set(
            state
        )
        assert state["step"] == 32
        assert len(state["optimizer"]["state"]) == len(list(rnd.predictor.parameters()))
        assert float(state["state_normalizer.count"]) == 2 * 16 * 16
        other = _rnd_of(_mc_runner(seed=9))
        assert len(differing_leaves(state, other.state_dict())) > 10
        other.load_state_dict(state)
        assert differing_leaves(state, other.state_dict()) == []
        obs = runner.env.get_observations()
        assert torch.equal(rnd.prediction_error(obs), other.prediction_error(obs))
        # the next transition gives identical rewards (schedule step, discounted returns, normalizers restored)
        rewards, dones = torch.zeros(16), torch.zeros(16, dtype=torch.bool)
        assert torch.equal(rnd.on_transition(obs, rewards, dones, {}), other.on_transition(obs, rewards, dones, {}))

    def test_mismatched_state_is_listed_and_nothing_changes(self) -> None:
        obs = _obs(torch.randn(8, 3, generator=torch.Generator().manual_seed(0)))
        source = _rnd(obs, state_normalization=True)
        target = _rnd(obs, num_outputs=4)
        before = copy.deepcopy(target.state_dict())
        with pytest.raises(CheckpointError) as err:
            target.load_state_dict(source.state_dict())
        message = str(err.value)
        assert "extensions.rnd.predictor.4.weight: checkpoint shape (16, 64) vs model shape (4, 64)" in message
        assert "extensions.rnd.state_normalizer._mean (checkpoint shape (1, 3)): in the checkpoint" in message
        assert differing_leaves(before, target.state_dict()) == []

    def test_rnd_checkpoint_into_plain_ppo_and_back(self, tmp_path: Path) -> None:
        # R10: RND state into a run without RND, and a run without RND into one with it, both named
        with_rnd = _mc_runner()
        with_rnd.save(str(tmp_path / "rnd.pt"))
        plain = _mc_runner(rnd_cfg=None)
        plain.save(str(tmp_path / "plain.pt"))
        with pytest.raises(
            CheckpointError, match=r"extensions\.rnd\.predictor\.0\.weight \(checkpoint shape \(32, 2\)\)"
        ):
            plain.load(str(tmp_path / "rnd.pt"))
        with pytest.raises(
            CheckpointError, match=r"extensions\.rnd: the algorithm has this extension but the checkpoint"
        ):
            _mc_runner().load(str(tmp_path / "plain.pt"))
        plain.load(str(tmp_path / "rnd.pt"), strict=False)  # the PPO parts load on their own

    def test_rsl_rl_rnd_checkpoint_loads(self, tmp_path: Path) -> None:
        rsl_rnd_module = pytest.importorskip("rsl_rl.extensions.rnd")
        runner = _mc_runner()
        rnd = _rnd_of(runner)
        torch.manual_seed(123)
        theirs = rsl_rnd_module.RandomNetworkDistillation(
            num_states=2,
            obs_groups={"rnd_state": ["policy"]},
            num_outputs=8,
            predictor_hidden_dims=[32, 32],
            target_hidden_dims=[32],
            state_normalization=True,
            reward_normalization=True,
            weight=2.0,
        )
        theirs.train()
        obs = make_task("mountain-car", num_envs=16, seed=7).get_observations()
        for _ in range(3):  # moves the reward statistics
            theirs.get_intrinsic_reward(obs)
        theirs.update_normalization(obs)
        loss = theirs.compute_loss(obs)
        theirs.optimizer.zero_grad()
        loss.backward()
        theirs.optimizer.step()  # Adam moments to carry over
        ours = runner.alg.state_dict()
        checkpoint = {
            "actor_state_dict": ours["actor_state_dict"],
            "critic_state_dict": ours["critic_state_dict"],
            "optimizer_state_dict": ours["optimizer_state_dict"],
            "iter": 0,
            "infos": None,
            "rnd_state_dict": theirs.state_dict(),
            "rnd_optimizer_state_dict": theirs.optimizer.state_dict(),
        }
        torch.save(checkpoint, tmp_path / "rsl_rl.pt")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            runner.load(
                str(tmp_path / "rsl_rl.pt"),
                load_cfg={"actor": True, "critic": True, "optimizer": True, "iteration": True, "rnd": True},
            )
        for name in ("predictor", "target"):
            mine, rsl = getattr(rnd, name).state_dict(), getattr(theirs, name).state_dict()
            assert differing_leaves(mine, rsl) == []
        assert rnd.state_normalizer is not None and rnd.reward_normalizer is not None
        assert torch.equal(rnd.state_normalizer.mean, theirs.state_normalizer._mean.reshape(-1))
        assert torch.equal(rnd.reward_normalizer.std, theirs.reward_normalizer.emp_norm._std.reshape(-1))
        mine_opt, rsl_opt = rnd.optimizer.state_dict()["state"], theirs.optimizer.state_dict()["state"]
        assert differing_leaves(mine_opt, rsl_opt) == []
        with torch.no_grad():
            state = theirs.state_normalizer(obs["policy"])
            expected = torch.linalg.vector_norm(theirs.target(state) - theirs.predictor(state), dim=1)
        torch.testing.assert_close(rnd.prediction_error(obs), expected, rtol=1e-6, atol=1e-6)
        assert rnd.step == 0  # rsl_rl does not save its schedule step: it restarts, as in rsl_rl


class TestResume:
    """R08 with RND: 2K iterations equal K + save + load into a fresh runner + K, bit for bit on CPU."""

    K = 2

    def test_split_run_equals_continuous_run(self, tmp_path: Path) -> None:
        full = _mc_runner(log_dir=str(tmp_path / "full"))
        full.learn(2 * self.K)
        first = _mc_runner(log_dir=str(tmp_path / "split"))
        first.learn(self.K)
        second = _mc_runner(
            seed=99, log_dir=str(tmp_path / "split")
        )  # another seed: everything must come from the file
        second.load(str(tmp_path / "split" / f"model_{self.K - 1}.pt"))
        second.learn(self.K)
        a = torch.load(tmp_path / "full" / f"model_{2 * self.K - 1}.pt", weights_only=True)
        b = torch.load(tmp_path / "split" / f"model_{2 * self.K - 1}.pt", weights_only=True)
        assert a["extensions"]["rnd"]["step"] == 2 * self.K * 16
        keys = ("actor_state_dict", "critic_state_dict", "optimizer_state_dict", "extensions", "env_state")
        assert differing_leaves({k: a[k] for k in keys}, {k: b[k] for k in keys}) == []
        logged = ("Loss/rnd", "Loss/value", "Train/mean_intrinsic_reward", "Policy/rnd_weight")

        def rows(run: str) -> list[tuple[Any, ...]]:
            lines = (tmp_path / run / "metrics.jsonl").read_text().splitlines()
            return [tuple(json.loads(line)[k] for k in ("iteration", *logged)) for line in lines]

        assert rows("split") == rows("full")


class TestBuild:
    """rnd_state resolution, errors named by path, and rsl_rl's step_dt scaling of the weight."""

    def test_rnd_state_falls_back_to_policy_with_a_warning(self, caplog: pytest.LogCaptureFixture) -> None:
        obs = TensorDict({"policy": torch.zeros(4, 3), "extra": torch.zeros(4, 5)}, batch_size=[4])
        with caplog.at_level(logging.WARNING, logger="stride.extensions.rnd"):
            rnd = build_rnd(SMALL_RND, _context(obs, {}), "algorithm.rnd_cfg")
        assert rnd.obs_groups == ["policy"]
        assert rnd.num_states == 3
        assert "no 'rnd_state' set" in caplog.text
        named = build_rnd(SMALL_RND, _context(obs, {"rnd_state": ["extra", "policy"]}), "algorithm.rnd_cfg")
        assert named.obs_groups == ["extra", "policy"]
        assert named.num_states == 8

    def test_env_group_named_rnd_state_is_preferred(self) -> None:
        obs = TensorDict({"policy": torch.zeros(4, 3), "rnd_state": torch.zeros(4, 1)}, batch_size=[4])
        assert build_rnd(SMALL_RND, _context(obs, {}), "algorithm.rnd_cfg").obs_groups == ["rnd_state"]

    @pytest.mark.parametrize(
        ("cfg", "groups", "needle"),
        [
            ({"activation": "eluu"}, {"rnd_state": ["policy"]}, "algorithm.rnd_cfg.activation"),
            ({}, {"rnd_state": ["polcy"]}, "obs_groups.rnd_state"),
            ({"wieght": 1.0}, {"rnd_state": ["policy"]}, "algorithm.rnd_cfg.wieght"),
        ],
    )
    def test_errors_name_the_field(self, cfg: dict[str, Any], groups: dict[str, list[str]], needle: str) -> None:
        obs = _obs(torch.zeros(4, 3))
        section = {**SMALL_RND, **cfg}
        if "wieght" in cfg:
            section.pop("weight")
        snapshot = copy.deepcopy(section)
        with pytest.raises(ConfigError, match=needle.replace(".", r"\.")):
            build_rnd(section, _context(obs, groups), "algorithm.rnd_cfg")
        assert section == snapshot

    def test_image_group_refused(self) -> None:
        obs = TensorDict({"policy": torch.zeros(4, 3, 8, 8)}, batch_size=[4])
        with pytest.raises(ConfigError, match="1-D groups"):
            build_rnd(SMALL_RND, _context(obs), "algorithm.rnd_cfg")

    def test_weight_scaled_by_step_dt_like_rsl_rl(self) -> None:
        class _Unwrapped:
            step_dt = 0.02

        class _Env:
            unwrapped = _Unwrapped()

        obs = _obs(torch.zeros(4, 3))
        cfg = {**SMALL_RND, "weight": 5.0, "weight_schedule": {"mode": "step", "final_step": 2, "final_value": 0.5}}
        rnd = build_rnd(cfg, _context(obs, env=_Env()), "algorithm.rnd_cfg")
        assert rnd.initial_weight == pytest.approx(0.1)
        assert math.isclose(scheduled_weight(2, rnd.initial_weight, rnd.cfg.weight_schedule), 0.5)  # not scaled
        assert build_rnd(cfg, _context(obs), "algorithm.rnd_cfg").initial_weight == 5.0


class TestDocs:
    """docs/algorithms/rnd.md lists every scalar a run with RND adds to metrics.jsonl."""

    def test_logged_keys_documented(self) -> None:
        page = (DOCS / "algorithms" / "rnd.md").read_text(encoding="utf-8")
        for key in RND_KEYS:
            assert f"| `{key}` |" in page, key
