"""Sparse reward: how often PPO and PPO+RND reach the goal of the built-in mountain car, over seeds.

Both variants train from their presets (``stride/configs/mountain-car.yaml`` and ``mountain-car-rnd.yaml``, which
differ only in ``algorithm.rnd_cfg`` and ``obs_groups.rnd_state``) for the same number of iterations and the same
seeds. After training, the deterministic policy (mean action) runs 32 fresh episodes on a new env; a seed
*reaches the goal* when at least one of them ends at the goal, and its success rate is the fraction that do.

OMP_NUM_THREADS=1 python benchmarks/rnd_mountain_car.py --seeds 1 2 3 4 5 --iterations 150 --json out.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

import torch

from stride.config.io import load_experiment, preset_path, set_value
from stride.env.tasks import make_task
from stride.runners import OnPolicyRunner
from stride.runners.evaluate import evaluate_policy

TASK = "mountain-car"
VARIANTS = {"ppo": "mountain-car", "ppo+rnd": "mountain-car-rnd"}
EVAL_EPISODES = 32


def _preset(name: str) -> Any:
    path = preset_path(name)
    if path is None:
        raise SystemExit(f"no preset '{name}' in stride/configs")
    return load_experiment(path)


def run_one(variant: str, seed: int, iterations: int, overrides: list[str]) -> dict[str, Any]:
    """Train one variant with one seed and evaluate its deterministic policy.

    Args:
        variant: A key of ``VARIANTS``.
        seed: Seed of the runner and the training env (evaluation uses ``1000 + seed``).
        iterations: Training iterations.
        overrides: ``key.path=value`` strings applied to the preset's runner section (both variants alike).

    Returns:
        Seed, success rate and mean return of the deterministic policy, episodes that reached the goal during
        training, and wall time.
    """
    exp = _preset(VARIANTS[variant])
    runner_cfg = dict(exp.runner, seed=seed)
    for item in overrides:
        key, _, value = item.partition("=")
        set_value(runner_cfg, key, value)
    env = make_task(TASK, seed=seed, **exp.env)
    runner = OnPolicyRunner(env, runner_cfg, log_dir=None)
    # count goal arrivals during training from the env's per-episode statistics (length < time limit)
    goals = 0
    horizon = env.max_episode_length
    original_step = env.step

    def counting_step(actions: torch.Tensor) -> Any:
        nonlocal goals
        out = original_step(actions)
        goals += int((out[3]["episode"]["length"] < horizon).sum())
        return out

    env.step = counting_step  # type: ignore[method-assign]
    start = time.perf_counter()
    runner.learn(iterations, init_at_random_ep_len=exp.init_at_random_ep_len)
    seconds = time.perf_counter() - start
    eval_env = make_task(TASK, num_envs=EVAL_EPISODES, seed=1000 + seed)
    result = evaluate_policy(eval_env, runner.get_inference_policy(), EVAL_EPISODES)
    successes = sum(1 for r in result.returns if r > 0.0)  # +100 at the goal exceeds any action cost (≤ 99.9)
    return {
        "variant": variant,
        "seed": seed,
        "success_rate": successes / max(result.num_episodes, 1),
        "reached_goal": successes > 0,
        "mean_return": result.mean_return,
        "training_goal_episodes": goals,
        "train_seconds": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--iterations", type=int, default=None, help="default: the presets' max_iterations")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="runner key.path=value (both)")
    parser.add_argument("--set-rnd", dest="rnd_overrides", action="append", default=[], help="same, ppo+rnd only")
    parser.add_argument("--json", default=None, help="write every result to this file")
    args = parser.parse_args()
    torch.set_num_threads(1)
    iterations = args.iterations or int(_preset(VARIANTS["ppo"]).runner["max_iterations"])
    results: list[dict[str, Any]] = []
    for seed in args.seeds:
        for variant in args.variants:
            overrides = args.overrides + (args.rnd_overrides if variant == "ppo+rnd" else [])
            row = run_one(variant, seed, iterations, overrides)
            results.append(row)
            print(json.dumps(row), flush=True)
    steps = int(_preset(VARIANTS["ppo"]).env["num_envs"]) * int(_preset(VARIANTS["ppo"]).runner["num_steps_per_env"])
    print(f"\n{iterations} iterations × {steps} transitions, seeds {args.seeds}")
    print("| variant | seeds reaching the goal | mean success rate | mean return | train s/seed |")
    print("|---|---|---|---|---|")
    for variant in args.variants:
        rows = [r for r in results if r["variant"] == variant]
        reached = sum(r["reached_goal"] for r in rows)
        print(
            f"| {variant} | {reached}/{len(rows)} | {statistics.mean(r['success_rate'] for r in rows):.2f} | "
            f"{statistics.mean(r['mean_return'] for r in rows):.1f} | "
            f"{statistics.mean(r['train_seconds'] for r in rows):.0f} |"
        )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(
                {"iterations": iterations, "transitions_per_iteration": steps, "results": results}, handle, indent=1
            )


if __name__ == "__main__":
    main()
