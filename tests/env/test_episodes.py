"""The built-in tasks' ``extras["episode"]`` without a per-step host sync (stride.env.episodes.EndedEpisodes)."""

from __future__ import annotations

import pytest
import torch

from stride.env.episodes import EndedEpisodes
from stride.env.tasks import make_task
from stride.runners.base_runner import ExtraLogs, _collect_extras, _mean_of_extras

NUM_ENVS = 64


def _random_actions(gen: torch.Generator, num_envs: int) -> torch.Tensor:
    return torch.rand(num_envs, 1, generator=gen) * 2.0 - 1.0


def _seeded_run(steps: int = 300, device: str = "cpu") -> tuple[list[dict[str, torch.Tensor]], list[object]]:
    """A seeded cartpole run with random actions (episodes up to 50 steps): per step, the old path's selection
    (``values[dones.nonzero()]`` of a reference loop) and the task's ``extras["episode"]``."""
    task = make_task("cartpole", num_envs=NUM_ENVS, seed=3, max_episode_length=50, device=device)
    gen = torch.Generator().manual_seed(4)
    returns = torch.zeros(NUM_ENVS, device=device)
    lengths = torch.zeros(NUM_ENVS, device=device)
    old: list[dict[str, torch.Tensor]] = []
    new: list[object] = []
    for _ in range(steps):
        _, rewards, dones, extras = task.step(_random_actions(gen, NUM_ENVS).to(device))
        returns += rewards
        lengths += 1.0
        ended = dones.nonzero().squeeze(-1)
        old.append({"return": returns.index_select(0, ended), "length": lengths.index_select(0, ended)})
        new.append(extras["episode"])
        returns *= ~dones
        lengths *= ~dones
    return old, new


class TestSameStatisticsAsTheOldPath:
    """On a seeded run the per-step values read through the mapping are bitwise the old path's, and the runner's
    per-iteration mean (fixed-shape sums, one read) equals the old path's mean of the concatenated values."""

    def test_per_step_values_bitwise(self) -> None:
        old, new = _seeded_run()
        assert sum(int(o["return"].numel()) for o in old) >= 200  # many episodes ended
        for o, n in zip(old, new, strict=True):
            assert isinstance(n, EndedEpisodes)
            assert torch.equal(n["return"], o["return"]) and torch.equal(n["length"], o["length"])

    def test_runner_mean_equals_old_mean(self) -> None:
        old, new = _seeded_run()
        logs: ExtraLogs = {}
        for n in new:
            _collect_extras({"episode": n}, logs)
        for key in ("return", "length"):
            values = torch.cat([o[key] for o in old])
            mean = _mean_of_extras(logs[key], torch.device("cpu"))
            assert mean is not None
            # the old path: float32 mean of the concatenation; the new one sums in float64
            assert mean == pytest.approx(float(values.float().mean()), rel=1e-6)
            assert mean == pytest.approx(float(values.double().mean()), rel=1e-12)

    def test_rsl_rl_logger_reduction(self) -> None:
        """rsl_rl's logger keeps the step's dicts and concatenates ``ep_info[key]`` at the end of the iteration."""
        old, new = _seeded_run(steps=120)
        for key in ("return", "length"):
            collected = torch.tensor([])
            for ep_info in new:
                value = ep_info[key]  # type: ignore[index]
                if len(value.shape) == 0:
                    ep_info[key] = value.unsqueeze(0)  # type: ignore[index]
                collected = torch.cat((collected, ep_info[key]))  # type: ignore[index]
            assert torch.equal(collected, torch.cat([o[key] for o in old]))

    def test_no_episode_ended(self) -> None:
        logs: ExtraLogs = {}
        mask = torch.zeros(4, dtype=torch.bool)
        _collect_extras({"episode": EndedEpisodes(mask, {"return": torch.zeros(4)})}, logs)
        assert _mean_of_extras(logs["return"], torch.device("cpu")) is None


class TestMapping:
    """EndedEpisodes behaves as the dict it replaces: keys, reads, assignment, deletion; plain dicts still log."""

    def test_dict_behaviour(self) -> None:
        mask = torch.tensor([True, False, True])
        ep = EndedEpisodes(mask, {"return": torch.tensor([1.0, 0.0, 3.0]), "length": torch.tensor([5.0, 0.0, 7.0])})
        assert list(ep) == ["return", "length"] and len(ep) == 2
        assert ep["return"].tolist() == [1.0, 3.0]
        ep["extra"] = torch.tensor([9.0])
        assert len(ep) == 3 and ep["extra"].tolist() == [9.0]
        del ep["length"]
        assert list(ep) == ["return", "extra"]
        with pytest.raises(KeyError):
            ep["length"]
        logs: ExtraLogs = {}
        _collect_extras({"episode": ep, "log": {"reward_term": torch.tensor([2.0, 4.0]), "scalar": 0.5}}, logs)
        means = {k: _mean_of_extras(v, torch.device("cpu")) for k, v in logs.items()}
        assert means == {"return": 2.0, "extra": 9.0, "reward_term": 3.0, "scalar": 0.5}


class TestNoSelectionInStep:
    """``step`` selects nothing (no nonzero, index_select or boolean indexing); only a read of an entry does."""

    def test_step_without_selection(self, monkeypatch: pytest.MonkeyPatch) -> None:
        task = make_task("cartpole", num_envs=8, seed=0, max_episode_length=3)

        def forbidden(*args: object, **kwargs: object) -> None:
            raise AssertionError("selection in the step path")

        for name in ("nonzero", "index_select", "masked_select"):
            monkeypatch.setattr(torch, name, forbidden)
            monkeypatch.setattr(torch.Tensor, name, forbidden)
        for _ in range(3):
            _, _, dones, extras = task.step(torch.zeros(8, 1))
        monkeypatch.undo()
        assert bool(dones.all())
        assert extras["episode"]["length"].tolist() == [3.0] * 8


@pytest.mark.gpu
class TestNoHostSyncOnGpu:
    """On CUDA, stepping a built-in task and collecting its episode statistics never synchronizes with the host."""

    def test_sync_free(self) -> None:
        if not torch.cuda.is_available():
            pytest.skip("needs a CUDA device")
        task = make_task("cartpole", num_envs=256, seed=0, max_episode_length=20, device="cuda")
        actions = torch.zeros(256, 1, device="cuda")
        logs: ExtraLogs = {}
        task.step(actions)  # warm-up (allocations, lazy initialization)
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error")
        try:
            for _ in range(40):
                _, _, _, extras = task.step(actions)
                _collect_extras(extras, logs)
        finally:
            torch.cuda.set_sync_debug_mode("default")
        assert _mean_of_extras(logs["length"], torch.device("cuda")) == 20.0
