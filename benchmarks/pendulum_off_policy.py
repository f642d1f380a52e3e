"""Env steps and wall-clock to swing up the built-in pendulum: stride SAC and TD3 vs stride PPO, same envs.

Each run trains a preset (``pendulum-sac``, ``pendulum-td3``, ``pendulum`` for PPO) in chunks of iterations; after
each chunk the deterministic policy is evaluated on fresh envs (seed 10_000 + seed, 64 episodes). A run stops at the
first evaluation with mean return >= -200 (solved) or at its env-step budget. Wall-clock counts training only
(evaluations excluded). One JSON line per run; ``report`` prints the markdown table.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/pendulum_off_policy.py run --algo SAC --seeds 1 2 3 --out /tmp/pend
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/pendulum_off_policy.py run --algo PPO --seeds 1 2 3 --out /tmp/pend
    .venv/bin/python benchmarks/pendulum_off_policy.py report --out /tmp/pend
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys
import time
from typing import Any

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import fmt_mean_std, hardware_info, markdown_table

from stride.config.io import load_yaml, preset_path, set_value
from stride.env.tasks import make_task
from stride.runners import OffPolicyRunner, OnPolicyRunner
from stride.runners.evaluate import evaluate_policy

PRESETS = {"SAC": "pendulum-sac", "TD3": "pendulum-td3", "PPO": "pendulum"}
"""Preset of each algorithm."""

THRESHOLD = -200.0
"""Deterministic mean return that counts as solved."""


def run_one(
    algo: str,
    seed: int,
    chunk: int,
    budget: int,
    device: str,
    overrides: list[str] | None = None,
    defaults: bool = False,
) -> dict[str, Any]:
    """Train one preset (with ``--set``-style overrides of its runner section) until solved or ``budget`` env steps.

    With ``defaults`` the preset is replaced by the smallest config (``class_name`` and ``obs_groups`` only, every
    other key at its default) on 8 envs.
    """
    if defaults:
        runner_cfg = {"class_name": "OffPolicyRunner", "obs_groups": {"actor": ["policy"], "critic": ["policy"]}}
        exp: dict[str, Any] = {"env": {"num_envs": 8}, "runner": {**runner_cfg, "algorithm": {"class_name": algo}}}
    else:
        exp = load_yaml(str(preset_path(PRESETS[algo])))
    for item in overrides or []:
        key, _, value = item.partition("=")
        set_value(exp, key if key.split(".")[0] in ("env", "runner") else f"runner.{key}", value)
    runner_cfg = dict(exp["runner"], seed=seed)
    env = make_task("pendulum", device=device, seed=seed, **exp.get("env", {}))
    runner_cls = OffPolicyRunner if algo != "PPO" else OnPolicyRunner
    runner = runner_cls(env, runner_cfg, log_dir=None, device=device)
    curve: list[tuple[int, float, float]] = []
    train_time = 0.0
    solved_at: tuple[int, float] | None = None
    first = True
    while runner.total_env_steps < budget:
        start = time.perf_counter()
        runner.learn(chunk, init_at_random_ep_len=bool(exp.get("init_at_random_ep_len", False)) and first)
        train_time += time.perf_counter() - start
        first = False
        eval_env = make_task("pendulum", device=device, num_envs=64, seed=10_000 + seed)
        result = evaluate_policy(eval_env, runner.get_inference_policy(), num_episodes=64)
        runner.alg.train_mode()
        curve.append((runner.total_env_steps, round(train_time, 2), round(result.mean_return, 1)))
        if result.mean_return >= THRESHOLD:
            solved_at = (runner.total_env_steps, train_time)
            break
    return {
        "algo": algo,
        "seed": seed,
        "num_envs": env.num_envs,
        "solved": solved_at is not None,
        "env_steps": solved_at[0] if solved_at else None,
        "seconds": round(solved_at[1], 1) if solved_at else None,
        "curve": curve,
        "overrides": overrides or [],
        "defaults": defaults,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run")
    run.add_argument("--algo", choices=sorted(PRESETS), required=True)
    run.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    run.add_argument("--chunk", type=int, default=None, help="iterations between evaluations")
    run.add_argument("--budget", type=int, default=None, help="env steps before giving up")
    run.add_argument("--device", default="cpu")
    run.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a preset key")
    run.add_argument("--tag", default="", help="suffix of the output file names (variants)")
    run.add_argument("--defaults", action="store_true", help="SAC/TD3 with every key at its default, 8 envs")
    run.add_argument("--out", required=True)
    report = sub.add_parser("report")
    report.add_argument("--out", required=True)
    args = parser.parse_args()
    if args.command == "run":
        torch.set_num_threads(1)
        os.makedirs(args.out, exist_ok=True)
        chunk = args.chunk or (5 if args.algo == "PPO" else 25)
        budget = args.budget or (1_000_000 if args.algo == "PPO" else 100_000)
        for seed in args.seeds:
            record = run_one(args.algo, seed, chunk, budget, args.device, args.set, args.defaults)
            record["hardware"] = hardware_info(args.device)
            with open(os.path.join(args.out, f"{args.algo}{args.tag}_{seed}.json"), "w", encoding="utf-8") as handle:
                json.dump(record, handle)
            print(json.dumps({k: v for k, v in record.items() if k not in ("curve", "hardware")}), flush=True)
        return
    rows = []
    records = []
    for path in sorted(glob.glob(os.path.join(args.out, "*.json"))):
        with open(path, encoding="utf-8") as handle:
            records.append(json.load(handle))
    for algo in PRESETS:
        runs = [r for r in records if r["algo"] == algo]
        if not runs:
            continue
        solved = [r for r in runs if r["solved"]]
        steps = [float(r["env_steps"]) for r in solved]
        secs = [float(r["seconds"]) for r in solved]
        rows.append(
            [
                algo,
                runs[0]["num_envs"],
                f"{len(solved)}/{len(runs)}",
                fmt_mean_std(steps, 0) if steps else "—",
                fmt_mean_std(secs, 1) if secs else "—",
            ]
        )
    print(markdown_table(["algorithm", "envs", "solved", "env steps to ≥ −200", "seconds to ≥ −200"], rows))


if __name__ == "__main__":
    main()
