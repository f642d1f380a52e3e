"""R02: NaN and ±inf from the env are stopped at the boundary, named, and never stored."""

from __future__ import annotations

import time
from typing import Any

import pytest
import torch
from tensordict import TensorDict

from stride.env.tasks import make_task
from stride.runners import OnPolicyRunner
from stride.utils.errors import NonFiniteError

NUM_ENVS = 2048
BAD_ENV = 1234


class _PoisonEnv:
    """cartpole with two observation groups that injects one bad value into one env at a chosen moment."""

    def __init__(self, where: str, value: float, at_step: int | None) -> None:
        self._task = make_task("cartpole", num_envs=NUM_ENVS, seed=0)
        self.where, self.value, self.at_step = where, value, at_step
        self.steps = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._task, name)

    def _groups(self, obs: TensorDict) -> TensorDict:
        policy = obs["policy"].clone()
        critic = torch.cat([policy, policy[:, :1] ** 2], dim=-1)
        return TensorDict({"policy": policy, "critic": critic}, batch_size=[NUM_ENVS])

    def _poison(self, obs: TensorDict, rewards: torch.Tensor, extras: dict[str, Any]) -> None:
        if self.where in ("policy", "critic"):
            obs[self.where][BAD_ENV, 0] = self.value
        elif self.where == "rewards":
            rewards[BAD_ENV] = self.value
        elif self.where == "time_outs":
            extras["time_outs"] = extras["time_outs"].float()
            extras["time_outs"][BAD_ENV] = self.value

    def get_observations(self) -> TensorDict:
        obs = self._groups(self._task.get_observations())
        if self.at_step is None:
            self._poison(obs, torch.zeros(NUM_ENVS), {})
        return obs

    def step(self, actions: torch.Tensor) -> tuple[TensorDict, torch.Tensor, torch.Tensor, dict[str, Any]]:
        obs, rewards, dones, extras = self._task.step(actions)
        obs, rewards = self._groups(obs), rewards.clone()
        extras = dict(extras)
        extras.pop("final_obs")
        if self.at_step is not None and self.steps == self.at_step:
            self._poison(obs, rewards, extras)
        self.steps += 1
        return obs, rewards, dones, extras


def _cfg(check: bool = True) -> dict[str, Any]:
    return {
        "num_steps_per_env": 8,
        "check_for_nan": check,
        "check_env": False,  # the poisoning env counts steps; the contract check (tested elsewhere) would shift them
        "obs_groups": {"actor": ["policy"], "critic": ["critic"]},
        "algorithm": {"class_name": "PPO", "num_mini_batches": 4},
        "actor": {
            "class_name": "MLPModel",
            "hidden_dims": [32, 32],
            "distribution_cfg": {"class_name": "GaussianDistribution"},
        },
        "critic": {"class_name": "MLPModel", "hidden_dims": [32, 32]},
    }


CASES = [
    (where, value, at_step)
    for where in ("policy", "critic", "rewards", "time_outs")
    for value in (float("nan"), float("inf"), float("-inf"))
    for at_step in (None, 5)
    if not (at_step is None and where in ("rewards", "time_outs"))  # no rewards/time-outs at reset
]


class TestEnvGuard:
    """Every kind of bad value in every place, at reset and at step, in one env of 2,048, is named and stopped."""

    def test_case_count(self) -> None:
        assert len(CASES) == 18

    @pytest.mark.parametrize(("where", "value", "at_step"), CASES)
    def test_named_and_not_stored(self, where: str, value: float, at_step: int | None) -> None:
        env = _PoisonEnv(where, value, at_step)
        with pytest.raises(NonFiniteError) as err:
            runner = OnPolicyRunner(env, _cfg(), log_dir=None)  # type: ignore[arg-type]
            runner.learn(1)
        message = str(err.value)
        kind = "NaN" if value != value else ("+inf" if value > 0 else "-inf")
        assert f"'{where}'" in message
        assert kind in message
        assert str(BAD_ENV) in message
        assert ("reset" in message) if at_step is None else (f"step {at_step} " in message)
        if at_step is not None:
            storage = runner.alg.storage  # type: ignore[possibly-undefined]
            assert all(torch.isfinite(v).all() for v in storage.obs.values())
            assert torch.isfinite(storage.rewards).all()
            assert storage.step == at_step  # the bad step was never written


# Slow tier: a timing bound fails on a shared machine whenever other jobs land on one of the two measurements
# (seen in CI runs while other processes ran); benchmarks/guard_cost.py gives the figure on a quiet machine.
@pytest.mark.slow
class TestGuardCost:
    """The guard costs little: rollout steps per CPU-second with the check on vs off (CPU, 4,096 envs)."""

    def test_guard_overhead(self, record_property: pytest.RecordProperty) -> None:
        rates = {}
        for check in (True, False, True, False, True, False):
            runner = OnPolicyRunner(make_task("cartpole", num_envs=4096, seed=0), _cfg_single(check), log_dir=None)
            obs = runner.env.get_observations()
            # process CPU time, not wall time: other jobs on a shared machine inflate wall time unevenly
            start = time.process_time()
            with torch.inference_mode():
                for step in range(40):
                    actions = runner.alg.act(obs)
                    obs, rewards, dones, extras = runner.env.step(actions)
                    if check:
                        from stride.utils.nonfinite import check_finite_step

                        check_finite_step(obs, rewards, f"step {step}", others={"time_outs": extras["time_outs"]})
                    runner.alg.process_env_step(obs, rewards, dones, extras)
                    if runner.alg.storage.step == runner.alg.storage.num_steps:
                        runner.alg.storage.clear()
            rates.setdefault(check, []).append(40 * 4096 / (time.process_time() - start))
        on, off = max(rates[True]), max(rates[False])
        record_property("guard_steps_per_s", f"on={on:.0f} off={off:.0f} cost={(1 - on / off) * 100:.1f}%")
        assert on >= 0.85 * off  # loose bound for a shared CI machine; BENCHMARKS.md records the measured cost


def _cfg_single(check: bool) -> dict[str, Any]:
    cfg = _cfg(check)
    cfg["obs_groups"] = {"actor": ["policy"], "critic": ["policy"]}
    return cfg
