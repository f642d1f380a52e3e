"""PPO returns on Gymnasium MuJoCo tasks with the preset ``stride train --task gym:<id>`` picks.

That is the task's own preset when stride ships one (``stride/configs/mujoco-halfcheetah.yaml``), else the general
``stride/configs/mujoco.yaml`` (``stride.config.io.preset_for_task``). ``run`` trains one (task, seed) for a budget
of env steps with that preset, unchanged apart from the seed and the iteration count, then evaluates the final
policy deterministically on fresh envs and writes one JSON file: the evaluation, the training wall-clock and the
learning curve (``Train/mean_reward`` against env steps). ``report`` reads every JSON of a folder, prints the
markdown table of BENCHMARKS.md (mean ± std over seeds of the final deterministic evaluation, next to CleanRL's,
SB3 RL-Zoo's and Tianshou's published 1M-step numbers) and draws the learning curves (mean and min-max spread over
seeds) to a PNG.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/mujoco_returns.py run --task HalfCheetah-v5 --seed 0 \\
        --out /work/mujoco_runs
    .venv/bin/python benchmarks/mujoco_returns.py report --out /work/mujoco_runs --plot docs/img/mujoco_returns.png
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import statistics
import sys
import time
from typing import Any

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import fmt_mean_std, markdown_table, seeded_budget, write_run_record

# Published PPO returns at 1M steps (mean over seeds), from the projects' own benchmark pages (REFERENCE.md).
CLEANRL = {"HalfCheetah-v5": 2906.0, "Hopper-v5": 2052.0, "Walker2d-v5": 2891.0, "Humanoid-v5": 742.0}
# SB3 RL-Zoo's benchmark.md: one agent per task, deterministic, 150 episodes (-v3 envs)
SB3_ZOO = {"HalfCheetah-v5": 5819.0, "Hopper-v5": 2410.0, "Walker2d-v5": 3479.0, "Ant-v5": 1327.0, "Swimmer-v5": 281.6}
# Tianshou's PPO table (examples/mujoco/README.md, -v3 envs): the best point of the 10-seed mean evaluation curve
TIANSHOU = {
    "HalfCheetah-v5": 5783.9,
    "Hopper-v5": 2609.3,
    "Walker2d-v5": 3588.5,
    "Ant-v5": 3258.4,
    "Humanoid-v5": 787.1,
    "Swimmer-v5": 66.7,
    "Reacher-v5": -4.1,
    "InvertedPendulum-v5": 1000.0,
    "InvertedDoublePendulum-v5": 9231.3,
}


def _digits(value: float) -> int:
    """Decimals the tables print a return with: none, one under 100 in magnitude (Reacher's are a few units)."""
    return 0 if abs(value) >= 100 else 1


def _fmt_return(value: float) -> str:
    """A return as the tables print it (:func:`_digits`)."""
    return f"{value:.{_digits(value)}f}"


def run(
    task: str, seed: int, out: str, env_steps: int, eval_episodes: int, device: str, preset: str | None = None
) -> dict[str, Any]:
    """Train ``task`` with its preset for ``env_steps`` steps and evaluate it; writes ``<out>/<name>.json``.

    ``preset`` is a YAML path; None takes the one ``stride train --task gym:<task>`` takes (``preset_for_task``).
    """
    from stride.config.io import load_yaml, preset_for_task
    from stride.env.tasks import make_task
    from stride.runners import OnPolicyRunner

    preset = preset or preset_for_task(f"gym:{task}")
    if preset is None:
        raise FileNotFoundError("stride/configs/mujoco.yaml is missing")
    experiment = load_yaml(preset)
    runner_cfg, num_envs, iterations = seeded_budget(experiment, seed, env_steps)
    name = f"{task}_seed{seed}"
    log_dir = os.path.join(out, name)
    env = make_task(f"gym:{task}", num_envs=num_envs, device=device, seed=seed)
    runner = OnPolicyRunner(env, runner_cfg, log_dir=log_dir, device=device)
    start = time.perf_counter()
    runner.learn(iterations, init_at_random_ep_len=bool(experiment.get("init_at_random_ep_len", False)))
    train_seconds = time.perf_counter() - start
    record = write_run_record(
        os.path.join(out, f"{name}.json"),
        runner,
        task,
        seed,
        iterations=iterations,
        train_seconds=train_seconds,
        preset=preset,
        eval_episodes=eval_episodes,
        eval_envs=min(eval_episodes, num_envs),
        device=device,
    )
    env.close()
    return record


def report(out: str, plot: str | None) -> str:
    """Markdown table (and optionally a learning-curve PNG) of every ``<task>_seed<k>.json`` in ``out``."""
    records: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(glob.glob(os.path.join(out, "*_seed*.json"))):
        with open(path, encoding="utf-8") as handle:
            record = json.load(handle)
        records.setdefault(record["task"], []).append(record)
    rows = []
    for task, runs in records.items():
        finals = [r["eval_mean_return"] for r in runs]
        minutes = [r["train_seconds"] / 60.0 for r in runs]
        seeds = ", ".join(str(r["seed"]) for r in runs)
        per_seed = " / ".join(_fmt_return(v) for v in finals)
        mean_std = fmt_mean_std(finals, _digits(statistics.fmean(finals)))
        summary = f"{mean_std} ({len(runs)} seeds: {per_seed})" if len(runs) > 1 else per_seed
        rows.append(
            [
                task,
                summary if len(runs) > 1 else f"{summary} (1 seed only)",
                f"{statistics.fmean(minutes):.1f} min",
                _fmt_return(CLEANRL[task]) if task in CLEANRL else "—",
                _fmt_return(SB3_ZOO[task]) if task in SB3_ZOO else "—",
                _fmt_return(TIANSHOU[task]) if task in TIANSHOU else "—",
                f"`{os.path.basename(runs[0]['preset'])}`",
                f"`benchmarks/mujoco_returns.py run --task {task} --seed <s>`, s ∈ {{{seeds}}}",
            ]
        )
    header = ["task", "stride (final deterministic eval)", "train wall-clock / run", "CleanRL", "SB3 RL-Zoo"]
    header += ["Tianshou", "preset", "command"]
    table = markdown_table(header, rows)
    if plot is not None and records:
        _plot(records, plot)
    return table


def _plot(records: dict[str, list[dict[str, Any]]], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(records), figsize=(4.5 * len(records), 3.4), squeeze=False)
    for ax, (task, runs) in zip(axes[0], records.items(), strict=True):
        grid = np.linspace(0, min(r["env_steps"] for r in runs), 200)
        curves = np.stack([np.interp(grid, *np.asarray(r["curve"], dtype=float).T) for r in runs if r["curve"]])
        seeds = f"{len(curves)} seed{'s' if len(curves) > 1 else ''}"
        ax.plot(grid, curves.mean(0), label=f"stride, training episodes ({seeds}: mean, min-max)")
        ax.fill_between(grid, curves.min(0), curves.max(0), alpha=0.25)
        finals = [r["eval_mean_return"] for r in runs]
        ax.errorbar(
            [grid[-1]],
            [float(np.mean(finals))],
            yerr=[float(np.std(finals))],
            fmt="*",
            markersize=10,
            capsize=3,
            label="stride, final deterministic eval",
        )
        references = (("CleanRL", CLEANRL, ":"), ("SB3 RL-Zoo", SB3_ZOO, "--"), ("Tianshou", TIANSHOU, "-."))
        for label, ref, style in references:
            if task in ref:
                ax.axhline(ref[task], linestyle=style, color="gray", label=f"{label} @1M")
        ax.set_title(task)
        ax.set_xlabel("env steps")
        ax.set_ylabel("episode return")
        ax.legend(fontsize=7)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run_p = sub.add_parser("run", help="train + evaluate one (task, seed)")
    run_p.add_argument("--task", required=True, help="Gymnasium id, e.g. HalfCheetah-v5")
    run_p.add_argument("--seed", type=int, default=0)
    run_p.add_argument("--out", required=True, help="folder for the run directory and the JSON")
    run_p.add_argument("--env-steps", type=int, default=1_000_000)
    run_p.add_argument("--eval-episodes", type=int, default=10)
    run_p.add_argument("--device", default="cpu")
    run_p.add_argument("--preset", default=None, help="experiment YAML (default: the task's preset, as stride train)")
    rep = sub.add_parser("report", help="table + plot from the JSON files of a folder")
    rep.add_argument("--out", required=True)
    rep.add_argument("--plot", default=None, help="PNG path for the learning curves")
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    if args.command == "run":
        os.makedirs(args.out, exist_ok=True)
        record = run(args.task, args.seed, args.out, args.env_steps, args.eval_episodes, args.device, args.preset)
        sys.stdout.write(
            f"{args.task} seed {args.seed}: eval {record['eval_mean_return']:.1f} ± {record['eval_std_return']:.1f} "
            f"over {record['eval_episodes']} episodes; train {record['train_seconds'] / 60:.1f} min, "
            f"{record['env_steps']:,} env steps\n"
        )
    else:
        sys.stdout.write(report(args.out, args.plot) + "\n")


if __name__ == "__main__":
    main()
