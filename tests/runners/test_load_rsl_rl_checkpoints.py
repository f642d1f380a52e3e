"""rsl_rl checkpoints of every supported release load through OnPolicyRunner.load, with the release's own
train_cfg, and the runner's inference policy acts exactly like the release did."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
from tensordict import TensorDict

from stride.runners import OnPolicyRunner

DATA = Path(__file__).resolve().parents[1] / "data" / "rsl_rl"
FIXTURES = sorted(p.stem for p in DATA.glob("rsl_rl_*.pt") if not p.stem.endswith("_io"))


class _StaticEnv:
    """A VecEnv holding fixed observations (policy 5, critic 7) and 2 actions; never stepped here."""

    def __init__(self, obs: dict[str, torch.Tensor]) -> None:
        self.num_envs, self.num_actions, self.max_episode_length = 100, 2, 100
        self.device, self.cfg = "cpu", {}
        self.episode_length_buf = torch.zeros(100, dtype=torch.long)
        self._obs = TensorDict(dict(obs), batch_size=[100])

    def get_observations(self) -> TensorDict:
        return self._obs

    def step(self, actions: torch.Tensor) -> tuple[TensorDict, torch.Tensor, torch.Tensor, dict[str, Any]]:
        raise AssertionError("not stepped")


class TestRunnerLoadsRslRl:
    """Every fixture: the release's train_cfg (migrated) + OnPolicyRunner.load → actions equal the release's."""

    def test_all_releases_present(self) -> None:
        assert len(FIXTURES) >= 6

    @pytest.mark.parametrize("name", FIXTURES)
    def test_actions_match_release(self, name: str, record_property: pytest.RecordProperty) -> None:
        io = torch.load(DATA / f"{name}_io.pt", weights_only=True)
        env = _StaticEnv(io["obs"])
        cfg = dict(io["train_cfg"], check_env=False)  # the static env is never stepped
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # old formats warn about their migration
            runner = OnPolicyRunner(env, cfg, log_dir=None)  # type: ignore[arg-type]
            runner.load(
                str(DATA / f"{name}.pt"),
                load_cfg={"actor": True, "critic": True, "optimizer": True, "iteration": True, "rnd": True},
            )
        policy = runner.get_inference_policy()
        with torch.inference_mode():
            actions = policy(env.get_observations())
        diff = float((actions - io["actions"]).abs().max())
        record_property("max_action_diff", diff)
        assert diff <= 1e-6
