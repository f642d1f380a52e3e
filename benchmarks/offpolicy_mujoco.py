"""SAC and TD3 on Gymnasium MuJoCo at 1M env steps, resumable across sessions, against SB3 RL-Zoo's published returns.

``run`` trains one (algorithm, task, seed) with ``stride/configs/mujoco-sac.yaml`` or ``mujoco-td3.yaml`` (SB3
RL-Zoo's MuJoCo settings: 1 env, one gradient step of 256 per env step) for ``--env-steps``, then evaluates the final
policy deterministically over 10 episodes on fresh envs and writes ``<out>/<ALGO>_<task>_seed<s>.json`` (the
evaluation, the training wall-clock summed over every piece of the run, the learning curve), as
``benchmarks/mujoco_returns.py`` does for PPO.

A 1M-step run takes hours on a CPU, longer than a process may live, so ``run`` is resumable: it checkpoints every
``--checkpoint-every`` env steps *with the replay buffer* (``algorithm.save_replay_buffer``) and the MuJoCo
simulator state (``GymnasiumVecEnv.state_dict``), keeps only the newest checkpoint, and, started again with the same
arguments, loads it and continues exactly where it stopped (bit for bit on the CPU: the uninterrupted and the
resumed run make the same updates; ``tests/benchmarks/test_offpolicy_mujoco.py``). The wall-clock of a piece counts
up to its last checkpoint; work after it is lost and redone. A run whose JSON exists is not started again.

``report`` prints the markdown table of BENCHMARKS.md: mean ± std over seeds of the final deterministic evaluation
next to RL-Zoo's published number, and the progress of the runs not finished yet. ``speed`` times env steps per
second of a preset (with ``--set`` overrides) after its warm-up, to choose the fastest faithful settings.

    OMP_NUM_THREADS=1 nohup nice -n 10 .venv/bin/python benchmarks/offpolicy_mujoco.py run --algo SAC \\
        --task HalfCheetah-v5 --seed 1 --out /work/offpolicy_runs > /work/offpolicy_runs/SAC_HalfCheetah-v5_1.log 2>&1 &
    OMP_NUM_THREADS=1 nohup nice -n 10 .venv/bin/python benchmarks/offpolicy_mujoco.py queue --lane 0 --lanes 2 \\
        --out /work/offpolicy_runs >> /work/offpolicy_runs/lane0.log 2>&1 &     # and --lane 1: all 18 runs
    .venv/bin/python benchmarks/offpolicy_mujoco.py report --out /work/offpolicy_runs
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/offpolicy_mujoco.py speed --algo SAC --steps 3000 \\
        --set algorithm.use_mixed_precision=true
"""

from __future__ import annotations

import argparse
import copy
import glob
import json
import os
import re
import statistics
import sys
import time
from typing import Any

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import fmt_mean_std, hardware_info, markdown_table, seeded_budget, write_run_record

ALGOS = ("SAC", "TD3")
TASKS = ("HalfCheetah-v5", "Hopper-v5", "Ant-v5")
SEEDS = (1, 2, 3)

ZOO: dict[tuple[str, str], tuple[float, float, int]] = {
    ("SAC", "HalfCheetah-v5"): (9535.451, 100.470, 150),
    ("SAC", "Hopper-v5"): (2325.547, 1129.676, 236),
    ("SAC", "Ant-v5"): (4615.791, 1354.111, 165),
    ("TD3", "HalfCheetah-v5"): (9655.666, 969.916, 150),
    ("TD3", "Hopper-v5"): (3606.390, 4.027, 150),
    ("TD3", "Ant-v5"): (5813.274, 589.773, 151),
}
"""SB3 RL-Zoo's published returns at 1M steps: (mean, std over evaluation episodes, episodes).

Source: github.com/DLR-RM/rl-baselines3-zoo ``benchmark.md`` (rows ``sac``/``td3`` × ``HalfCheetah-v3``,
``Hopper-v3``, ``Ant-v3``, n_timesteps 1M). Protocol: ONE trained agent per row (not a mean over seeds), its
deterministic policy run for ~150,000 evaluation steps (``python -m rl_zoo3.benchmark``); the std is over those
evaluation episodes. The envs are -v3 (mujoco-py); stride runs -v5 (the ``mujoco`` bindings): same models and rewards
up to the v5 changes (e.g. Ant-v5 adds contact forces to the observation and changes its healthy-z range).
"""

PRESETS = {"SAC": "mujoco-sac", "TD3": "mujoco-td3"}
_CHECKPOINT = re.compile(r"model_(\d+)\.pt$")


def run_name(algo: str, task: str, seed: int) -> str:
    """The run's file stem: ``<ALGO>_<task>_seed<s>`` (its directory, JSON and progress file)."""
    return f"{algo}_{task}_seed{seed}"


def latest_checkpoint(log_dir: str) -> str | None:
    """The newest ``model_<i>.pt`` of a run directory (largest ``i``), or None."""
    paths = glob.glob(os.path.join(log_dir, "model_*.pt"))
    found = [(int(m.group(1)), p) for p in paths if (m := _CHECKPOINT.search(p))]
    return max(found)[1] if found else None


def _runner_class() -> type:
    """The ``OffPolicyRunner`` whose checkpoints carry the summed training wall-clock and drop older checkpoints."""
    from stride.runners import OffPolicyRunner

    class ResumableRunner(OffPolicyRunner):
        """Adds ``train_seconds`` (all pieces so far) to every checkpoint's ``infos``; keeps only the newest file."""

        seconds_before = 0.0
        piece_start = 0.0
        progress_path: str | None = None
        settings: dict[str, Any] | None = None

        def save(self, path: str, infos: dict[str, Any] | None = None) -> None:
            seconds = self.seconds_before + time.perf_counter() - self.piece_start
            super().save(path, {**(infos or {}), "train_seconds": seconds, "settings": self.settings})
            for old in glob.glob(os.path.join(os.path.dirname(path), "model_*.pt")):
                if os.path.abspath(old) != os.path.abspath(path):
                    os.remove(old)
            if self.progress_path is not None:
                progress = {"env_steps": self.total_env_steps, "train_seconds": seconds, "checkpoint": path}
                with open(f"{self.progress_path}.tmp", "w", encoding="utf-8") as handle:
                    json.dump(progress, handle)
                os.replace(f"{self.progress_path}.tmp", self.progress_path)  # readers never see half a file

    return ResumableRunner


def _experiment(algo: str, preset: str | None, overrides: list[str]) -> tuple[str, dict[str, Any]]:
    """The preset path and its experiment dict with ``--set key=value`` overrides applied to the runner section."""
    from stride.config.io import load_yaml, preset_path, set_value

    path = preset or preset_path(PRESETS[algo])
    if path is None:
        raise FileNotFoundError(f"stride/configs/{PRESETS[algo]}.yaml is missing")
    experiment = load_yaml(path)
    for item in overrides:
        key, _, value = item.partition("=")
        set_value(experiment, key if key.startswith(("env.", "runner.")) else f"runner.{key}", value)
    if experiment["runner"]["algorithm"]["class_name"] != algo:
        raise SystemExit(f"{path} trains {experiment['runner']['algorithm']['class_name']}, not {algo}")
    return path, experiment


def run(
    algo: str,
    task: str,
    seed: int,
    out: str,
    env_steps: int = 1_000_000,
    eval_episodes: int = 10,
    device: str = "cpu",
    preset: str | None = None,
    checkpoint_every: int = 25_000,
    overrides: list[str] | None = None,
) -> dict[str, Any]:
    """Train (or resume) one run to ``env_steps`` env steps, evaluate it and write ``<out>/<name>.json``.

    Args:
        algo: ``"SAC"`` or ``"TD3"``.
        task: Gymnasium id, e.g. ``"HalfCheetah-v5"``.
        seed: Training seed (evaluation envs use ``10_000 + seed``).
        out: Folder of the run directory, the JSON and the progress file.
        env_steps: Training budget, rounded up to whole iterations.
        eval_episodes: Deterministic evaluation episodes (as many envs).
        device: Torch device.
        preset: Experiment YAML; None: ``mujoco-sac.yaml`` / ``mujoco-td3.yaml``.
        checkpoint_every: Env steps between checkpoints (rounded to whole iterations, at least one).
        overrides: ``key=value`` items applied to the preset's runner section (``algorithm.batch_size=512``).

    Returns:
        The JSON record (the existing one when the run had finished before).
    """
    name = run_name(algo, task, seed)
    json_path = os.path.join(out, f"{name}.json")
    if os.path.isfile(json_path):
        with open(json_path, encoding="utf-8") as handle:
            return json.load(handle)
    from stride.env.tasks import make_task

    path, experiment = _experiment(algo, preset, list(overrides or []))
    runner_cfg, num_envs, iterations = seeded_budget(experiment, seed, env_steps)
    per_iteration = num_envs * int(runner_cfg["num_steps_per_env"])
    runner_cfg["save_interval"] = max(1, round(checkpoint_every / per_iteration))
    runner_cfg["algorithm"]["save_replay_buffer"] = True  # exact resume needs the buffer
    log_dir = os.path.join(out, name)
    env = make_task(f"gym:{task}", num_envs=num_envs, device=device, seed=seed)
    runner = _runner_class()(env, runner_cfg, log_dir=log_dir, device=device)
    runner.progress_path = os.path.join(out, f"{name}.progress.json")
    # what a resumed piece must share with the earlier ones (the budget may grow)
    runner.settings = {k: v for k, v in runner_cfg.items() if k != "max_iterations"}
    # a process killed while writing a checkpoint leaves its temporary file (up to ~0.9 GB for Ant): drop it
    for stale in glob.glob(os.path.join(log_dir, ".tmp-*.pt")):
        os.remove(stale)
    checkpoint = latest_checkpoint(log_dir)
    if checkpoint is not None:
        infos = runner.load(checkpoint) or {}
        if infos.get("settings") != runner.settings:
            raise SystemExit(
                f"{checkpoint} was trained with other settings ({infos.get('settings')}), not {runner.settings}: "
                "resume with the arguments that started it, or use another --out"
            )
        runner.seconds_before = float(infos.get("train_seconds", 0.0))
    runner.piece_start = time.perf_counter()
    remaining = iterations - runner.current_learning_iteration
    if remaining > 0:
        runner.learn(remaining)
    train_seconds = runner.seconds_before + time.perf_counter() - runner.piece_start
    if remaining <= 0:  # finished before its evaluation: the checkpoint holds the time
        train_seconds = runner.seconds_before
    record = write_run_record(
        json_path,
        runner,
        task,
        seed,
        iterations=iterations,
        train_seconds=train_seconds,
        preset=path,
        eval_episodes=eval_episodes,
        eval_envs=eval_episodes,
        device=device,
        extra={"algo": algo, "overrides": list(overrides or [])},
    )
    env.close()
    return record


def queue(out: str, lane: int = 0, lanes: int = 1, device: str = "cpu") -> list[str]:
    """Run (or resume, or skip when finished) this lane's share of the 18 runs, one after the other.

    The runs of :data:`ZOO` × :data:`SEEDS` in a fixed order (seed-major, so every cell gets its first seed early);
    run ``i`` belongs to lane ``i % lanes``. Start one lane per core this work may use; started again after a kill,
    each lane skips its finished runs and resumes the interrupted one.

    Returns:
        The names of the lane's runs, in order.
    """
    if not 0 <= lane < lanes:
        raise SystemExit(f"--lane must be in [0, {lanes}), got {lane}")
    plan = [(algo, task, seed) for seed in SEEDS for (algo, task) in ZOO]
    mine = [item for i, item in enumerate(plan) if i % lanes == lane]
    for algo, task, seed in mine:
        run(algo, task, seed, out, device=device)
    return [run_name(*item) for item in mine]


def report(out: str, seeds: tuple[int, ...] = SEEDS) -> str:
    """Markdown table of every (algorithm, task) of :data:`ZOO`: finished seeds, progress of the others, RL-Zoo."""
    rows = []
    for (algo, task), (zoo_mean, zoo_std, zoo_episodes) in ZOO.items():
        records, progress = [], []
        for seed in seeds:
            name = run_name(algo, task, seed)
            json_path, progress_path = os.path.join(out, f"{name}.json"), os.path.join(out, f"{name}.progress.json")
            if os.path.isfile(json_path):
                with open(json_path, encoding="utf-8") as handle:
                    records.append(json.load(handle))
            elif os.path.isfile(progress_path):
                with open(progress_path, encoding="utf-8") as handle:
                    steps = json.load(handle)["env_steps"]
                progress.append(f"seed {seed} at {steps / 1000:.0f}k")
        finals = [r["eval_mean_return"] for r in records]
        if not records:
            result = "not yet run"
        elif len(records) == 1:
            result = f"{finals[0]:.0f} (1 seed only: {records[0]['seed']})"
        else:
            result = f"{fmt_mean_std(finals, 0)} ({len(records)} seeds: {' / '.join(f'{v:.0f}' for v in finals)})"
        if progress:
            result += f"; running: {', '.join(progress)}"
        hours = [r["train_seconds"] / 3600.0 for r in records]
        rows.append(
            [
                algo,
                task,
                result,
                f"{statistics.fmean(hours):.1f} h" if hours else "—",
                f"{zoo_mean:.0f} ± {zoo_std:.0f} (1 agent, {zoo_episodes} episodes)",
                f"`benchmarks/offpolicy_mujoco.py run --algo {algo} --task {task} --seed <s>`",
            ]
        )
    header = ["algorithm", "task", "stride (final deterministic eval, 10 episodes per seed)", "train wall-clock / run"]
    header += ["SB3 RL-Zoo (published, -v3)", "command"]
    return markdown_table(header, rows)


def speed(
    algo: str, task: str, steps: int, device: str, overrides: list[str], preset: str | None = None
) -> dict[str, Any]:
    """Env steps per wall-clock and per CPU second over ``steps`` env steps (with their updates) after a warm-up.

    The warm-up iteration is random actions (``learning_starts`` is set to one iteration) followed by its updates
    (where compilation happens); the timed iterations are steady-state training.
    """
    from stride.env.tasks import make_task
    from stride.runners import OffPolicyRunner

    _, experiment = _experiment(algo, preset, overrides)
    cfg = copy.deepcopy(experiment["runner"])
    num_envs = int(experiment["env"]["num_envs"])
    chunk = int(cfg["num_steps_per_env"])
    cfg["algorithm"]["learning_starts"] = chunk
    runner = OffPolicyRunner(make_task(f"gym:{task}", num_envs=num_envs, device=device, seed=1), cfg, device=device)
    runner.learn(1)
    iterations = max(1, steps // (chunk * num_envs))
    start, cpu_start = time.perf_counter(), time.process_time()
    runner.learn(iterations)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    timed = iterations * chunk * num_envs
    return {
        "algo": algo,
        "task": task,
        "overrides": overrides,
        "env_steps": timed,
        "seconds": seconds,
        "env_steps_per_s": timed / seconds,
        "hours_per_1m": 1e6 / (timed / seconds) / 3600.0,
        # CPU time of this process: what the settings cost, whatever else shares the machine
        "cpu_seconds": cpu_seconds,
        "env_steps_per_cpu_s": timed / cpu_seconds,
        "load_average": os.getloadavg()[0],
        "hardware": hardware_info(device),
    }


def main() -> None:
    """Parse the command line: ``run``, ``report`` or ``speed``."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run_p = sub.add_parser("run", help="train (or resume) + evaluate one (algorithm, task, seed)")
    speed_p = sub.add_parser("speed", help="env steps/s of a preset after its warm-up")
    for p in (run_p, speed_p):
        p.add_argument("--algo", choices=ALGOS, required=True)
        p.add_argument("--task", default="HalfCheetah-v5", help="Gymnasium id")
        p.add_argument("--device", default="cpu")
        p.add_argument("--preset", default=None, help="experiment YAML (default: mujoco-sac.yaml / mujoco-td3.yaml)")
        p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a runner field")
    run_p.add_argument("--seed", type=int, required=True)
    run_p.add_argument("--out", required=True, help="folder of the run directory, the JSON and the progress file")
    run_p.add_argument("--env-steps", type=int, default=1_000_000)
    run_p.add_argument("--eval-episodes", type=int, default=10)
    run_p.add_argument("--checkpoint-every", type=int, default=25_000, help="env steps between checkpoints")
    speed_p.add_argument("--steps", type=int, default=3000, help="timed env steps")
    speed_p.add_argument("--out", default=None, help="append the result as one JSON line to this file")
    queue_p = sub.add_parser("queue", help="run / resume / skip this lane's share of the 18 runs, one after another")
    queue_p.add_argument("--out", required=True)
    queue_p.add_argument("--lane", type=int, default=0)
    queue_p.add_argument("--lanes", type=int, default=1, help="lanes started in parallel (one per core)")
    queue_p.add_argument("--device", default="cpu")
    rep = sub.add_parser("report", help="the BENCHMARKS table from the JSON files of a folder")
    rep.add_argument("--out", required=True)
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    if args.command == "run":
        os.makedirs(args.out, exist_ok=True)
        record = run(
            args.algo,
            args.task,
            args.seed,
            args.out,
            args.env_steps,
            args.eval_episodes,
            args.device,
            args.preset,
            args.checkpoint_every,
            args.set,
        )
        sys.stdout.write(
            f"{args.algo} {args.task} seed {args.seed}: eval {record['eval_mean_return']:.1f} ± "
            f"{record['eval_std_return']:.1f} over {record['eval_episodes']} episodes; train "
            f"{record['train_seconds'] / 3600:.2f} h, {record['env_steps']:,} env steps\n"
        )
    elif args.command == "speed":
        result = speed(args.algo, args.task, args.steps, args.device, args.set, args.preset)
        line = json.dumps(result)
        sys.stdout.write(line + "\n")
        if args.out:
            with open(args.out, "a", encoding="utf-8") as handle:
                handle.write(line + "\n")
    elif args.command == "queue":
        os.makedirs(args.out, exist_ok=True)
        names = queue(args.out, args.lane, args.lanes, args.device)
        sys.stdout.write(f"lane {args.lane}/{args.lanes} finished: {', '.join(names)}\n")
    else:
        sys.stdout.write(report(args.out) + "\n")


if __name__ == "__main__":
    main()
