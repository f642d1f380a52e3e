"""Runners and the CLI under torchrun (2 gloo workers on the CPU): in sync, rank-0 writes, two nodes, restarts."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from distributed_workers import REPO_ROOT, TRAIN_SCRIPT, free_port, torchrun

pytestmark = [pytest.mark.multiproc, pytest.mark.timeout(300)]

CLI = ["-m", "stride.cli.main", "train", "--task", "cartpole", "--num-envs", "32", "--set", "num_steps_per_env=8"]


def _metrics(run_dir: Path) -> list[int]:
    lines = (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    return [int(json.loads(line)["iteration"]) for line in lines]


@pytest.fixture(scope="module")
def script_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The user-style training script (PPO+RND+symmetry, resume, distillation, GRU) on 2 ranks."""
    root = tmp_path_factory.mktemp("script")
    (root / "out").mkdir()
    result = torchrun([TRAIN_SCRIPT, "--run-root", str(root / "runs"), "--out", str(root / "out")])
    assert result.returncode == 0, result.stderr[-3000:]
    return root


class TestRanksInSync:
    """After several iterations every rank holds bit-identical models, optimizer, normalizers and learning rate.

    PPO with observation and value normalization, RND and symmetry; a GRU actor-critic with symmetry; a distilled
    student; and a fresh runner on every rank loading rank 0's checkpoint.
    """

    @pytest.mark.parametrize("name", ["ppo", "resumed", "distill", "gru"])
    def test_bit_identical(self, script_run: Path, name: str) -> None:
        ranks = [torch.load(script_run / "out" / f"{name}_rank{r}.pt", weights_only=True) for r in range(2)]
        assert len(ranks[0]) > 10 and set(ranks[0]) == set(ranks[1])
        differ = [k for k, v in ranks[0].items() if not torch.equal(v, ranks[1][k])]
        assert differ == []

    def test_statistics_moved(self, script_run: Path) -> None:
        state = torch.load(script_run / "out" / "ppo_rank0.pt", weights_only=True)
        # 3 iterations × 8 steps × 16 envs × 2 ranks observations went into the actor's normalizer
        assert int(state["actor_state_dict.obs_normalizer.count"]) == 3 * 8 * 16 * 2
        assert int(state["extensions.rnd.state_normalizer.count"]) == 3 * 8 * 16 * 2
        # the intrinsic-reward normalizer absorbs every rank's discounted returns at every step
        assert int(state["extensions.rnd.reward_normalizer.count"]) == 3 * 8 * 16 * 2

    def test_every_rank_resumes_rank0_checkpoint(self, script_run: Path) -> None:
        trained = torch.load(script_run / "out" / "ppo_rank0.pt", weights_only=True)
        for rank in range(2):
            resumed = torch.load(script_run / "out" / f"resumed_rank{rank}.pt", weights_only=True)
            assert [k for k, v in trained.items() if not torch.equal(v, resumed[k])] == []


class TestOnlyRankZeroWrites:
    """Rank 1 was given its own run directory and wrote nothing; rank 0 wrote one set of logs and checkpoints."""

    def test_files(self, script_run: Path) -> None:
        runs = script_run / "runs"
        assert sorted(p.name for p in runs.iterdir()) == ["rank0"]
        files = sorted(p.name for p in (runs / "rank0").iterdir())
        # rsl_rl's save points: after iterations 0 and 2 (save_interval 2), the last one being the final save
        assert [f for f in files if f.startswith("model_")] == ["model_0.pt", "model_2.pt"]
        assert len([f for f in files if f.startswith("events.out.tfevents")]) == 1
        assert _metrics(runs / "rank0") == [0, 1, 2]


def _two_nodes(run_dir: Path, extra: list[list[str]]) -> list[tuple[int, str, str]]:
    """``stride train`` as two torchrun "nodes" of one process each, rendezvous on 127.0.0.1; (rc, out, err)."""
    port = free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": REPO_ROOT}
    launches = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "torch.distributed.run",
                "--nnodes=2",
                "--nproc-per-node=1",
                f"--node-rank={node}",
                "--master-addr=127.0.0.1",
                f"--master-port={port}",
                *CLI,
                "--iterations",
                "2",
                "--run-dir",
                str(run_dir),
                *extra[node],
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for node in range(2)
    ]
    outputs = [p.communicate(timeout=240) for p in launches]
    return [(p.returncode, out, err) for p, (out, err) in zip(launches, outputs, strict=True)]


class TestTwoNodes:
    """``--nnodes=2`` on one machine (two torchrun launches, rendezvous on 127.0.0.1) trains one run together."""

    def test_cli_two_nodes(self, tmp_path: Path) -> None:
        run_dir = tmp_path / "run"
        results = _two_nodes(run_dir, [[], []])
        outputs = [(out, err) for _, out, err in results]
        assert [rc for rc, _, _ in results] == [0, 0], [err[-2000:] for _, _, err in results]
        # only node 0 (global rank 0) reports; the checkpoint counts both nodes' env steps
        assert "trained cartpole for 2 iterations (1,024 env steps)" in outputs[0][0]
        assert "trained cartpole" not in outputs[1][0]
        checkpoint = torch.load(run_dir / "model_1.pt", weights_only=False)  # after the second iteration
        assert checkpoint["total_env_steps"] == 2 * 8 * 32 * 2
        assert _metrics(run_dir) == [0, 1]


@pytest.mark.slow  # two torchrun launches that fail: ~20 s
class TestMismatchThroughCli:
    """Two nodes started with different ``--num-envs`` both stop with exit code 2 and the one-line ConfigError
    naming the entry and each rank's value, instead of hanging in the first collective."""

    def test_num_envs_differ(self, tmp_path: Path) -> None:
        start = time.monotonic()
        results = _two_nodes(tmp_path / "run", [["--num-envs", "32"], ["--num-envs", "16"]])
        assert time.monotonic() - start < 120
        for rc, _, err in results:
            assert rc != 0
            assert "env.num_envs (rank 0: 32, rank 1: 16)" in err, err[-2000:]
        assert not (tmp_path / "run" / "model_0.pt").exists()


@pytest.mark.slow  # two torchrun rounds: ~30 s on 2 busy cores
class TestRestartAfterKill:
    """Under ``torchrun --max-restarts=1`` a rank killed by SIGKILL restarts the job, which continues from the
    latest checkpoint (iteration, learning rate, optimizer, normalizers) instead of starting again."""

    def test_kill_rank_one(self, tmp_path: Path) -> None:
        run_dir = tmp_path / "run"
        iterations = 12
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": REPO_ROOT}
        command = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc-per-node=2",
            "--max-restarts=1",
            "--master-addr=127.0.0.1",
            f"--master-port={free_port()}",
            *CLI,
            "--set",
            "save_interval=2",
            "--iterations",
            str(iterations),
            "--run-dir",
            str(run_dir),
        ]
        job = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            victim = _wait_for_rank_one(job.pid, run_dir / "model_4.pt", deadline=time.monotonic() + 180)
            os.kill(victim, signal.SIGKILL)
            out, err = job.communicate(timeout=240)
        finally:
            if job.poll() is None:
                job.kill()
        assert job.returncode == 0, err[-3000:]
        match = re.search(r"torchrun restart 1: resuming from .*model_(\d+)\.pt", err)
        assert match is not None, err[-3000:]
        # model_<N>.pt is saved after the 0-based iteration N: the restart continues at iteration N + 1
        resumed_at = int(match.group(1)) + 1
        assert resumed_at >= 5
        final = torch.load(run_dir / f"model_{iterations - 1}.pt", weights_only=False)
        assert final["iter"] == iterations
        assert final["total_env_steps"] == iterations * 8 * 32 * 2
        # iterations before the checkpoint were not run again; all were run (metrics keep the restart's repeats)
        logged = _metrics(run_dir)
        assert logged.count(0) == 1 and sorted(set(logged)) == list(range(iterations))
        assert f"trained cartpole for {iterations - resumed_at} iterations" in out
        # after the restart, the first iteration's record follows the checkpoint's: logged once before, once after
        assert logged.count(resumed_at) <= 2 and logged.index(resumed_at) > 0


def _wait_for_rank_one(agent_pid: int, marker: Path, deadline: float) -> int:
    """The PID of the worker with RANK=1 once ``marker`` exists (found through /proc)."""
    while time.monotonic() < deadline:
        if marker.exists():
            for pid in _descendants(agent_pid):
                try:
                    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
                except OSError:
                    continue
                if b"RANK=1" in environ and b"LOCAL_RANK=1" in environ:
                    return pid
        time.sleep(0.05)
    raise AssertionError(f"{marker} did not appear in time")


def _descendants(pid: int) -> list[int]:
    found: list[int] = []
    stack = [pid]
    while stack:
        parent = stack.pop()
        try:
            children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
        except OSError:
            continue
        for child in children:
            found.append(int(child))
            stack.append(int(child))
    return found


@pytest.mark.slow  # a learning run: ~1 min on 2 busy cores
class TestTwoRanksLearn:
    """Two ranks of 128 envs each (the preset's 256 in total) solve cartpole: deterministic return >= 475."""

    def test_solves_cartpole(self, tmp_path: Path) -> None:
        result = torchrun(
            [
                "-m",
                "stride.cli.main",
                "train",
                "--task",
                "cartpole",
                "--num-envs",
                "128",
                "--seed",
                "1",
                "--run-dir",
                str(tmp_path / "run"),
            ],
            timeout=600,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        match = re.search(r"deterministic evaluation: return ([\d.]+)", result.stdout)
        assert match is not None, result.stdout[-2000:]
        assert float(match.group(1)) >= 475.0, result.stdout[-2000:]
