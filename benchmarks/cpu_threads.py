"""Env steps/s of whole PPO iterations (rollout + update) with 1 and with 2 torch CPU threads, alternating.

Two runners are built on identical envs from the task's preset; each round runs one iteration of each with its
thread count set, the order swapped every round. The figures justify ``stride train``'s ``--threads auto``
(docs/cli.md).

Usage (from the repository root)::

    python benchmarks/cpu_threads.py --task gym:Ant-v5
    python benchmarks/cpu_threads.py --task cartpole --num-envs 1024 --hidden 256 256
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

import torch

from stride.config.io import load_experiment, preset_path
from stride.env.tasks import make_task
from stride.runners import OnPolicyRunner


def main(argv: Sequence[str] | None = None) -> dict[int, list[float]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="gym:Ant-v5")
    parser.add_argument("--num-envs", type=int, default=None, help="default: the preset's")
    parser.add_argument("--hidden", type=int, nargs="+", default=None, help="actor and critic sizes (default: preset)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    path = preset_path("mujoco" if args.task.startswith("gym:") else args.task)
    exp = load_experiment(path) if path is not None else None
    env_kwargs = dict(exp.env) if exp is not None else {}
    runner_cfg = dict(exp.runner) if exp is not None else {}
    if args.num_envs is not None:
        env_kwargs["num_envs"] = args.num_envs
    if args.hidden is not None:
        for section in ("actor", "critic"):
            runner_cfg[section] = {**runner_cfg[section], "hidden_dims": list(args.hidden)}
    runners = {
        n: OnPolicyRunner(make_task(args.task, seed=1, **env_kwargs), dict(runner_cfg, seed=1), log_dir=None)
        for n in args.threads
    }
    rates: dict[int, list[float]] = {n: [] for n in args.threads}
    for k in range(args.rounds):
        for n in args.threads if k % 2 == 0 else args.threads[::-1]:
            torch.set_num_threads(n)
            runner = runners[n]
            start = time.perf_counter()
            runner.learn(1)
            seconds = time.perf_counter() - start
            rates[n].append(runner.runner_cfg.num_steps_per_env * runner.env.num_envs / seconds)
    for n, values in rates.items():
        print(f"{args.task}: {n} thread(s): env steps/s per iteration {[round(v) for v in values]}")
    return rates


if __name__ == "__main__":
    main()
