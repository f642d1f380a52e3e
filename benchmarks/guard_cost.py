"""Cost of the env non-finite guard: rollout steps/s with it off, deferred and immediate, same process, alternating.

Each round runs the three settings once, in an order rotated every round, so drifting machine load falls on all
three alike; the medians and their ratios to "off" are printed.

python benchmarks/guard_cost.py --num-envs 4096 --device cuda --rounds 7
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import torch

from stride.env.tasks import make_task
from stride.runners import OnPolicyRunner
from stride.utils.nonfinite import EnvGuard

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import add_rollout_args, mlp_runner_cfg

SETTINGS = ("off", "deferred", "immediate")


def _rate(runner: OnPolicyRunner, steps: int, setting: str) -> tuple[float, float]:
    """Rollout steps/s (env steps × envs per second) over ``steps`` steps, as the runner's loop takes them, and the
    host time spent in the guard per step in µs (on a GPU: launching its kernels, plus the waits it causes)."""
    env, alg = runner.env, runner.alg
    guard = (
        None
        if setting == "off"
        else EnvGuard("deferred" if setting == "deferred" else "immediate", num_steps=alg.storage.num_steps)
    )
    obs = env.get_observations().to(runner.device)
    sync = torch.cuda.synchronize if runner.device.type == "cuda" else (lambda: None)
    num_steps = alg.storage.num_steps
    in_guard = 0.0
    sync()
    start = time.perf_counter()
    with torch.inference_mode():
        for i in range(steps):
            actions = alg.act(obs)
            obs, rewards, dones, extras = env.step(actions)
            rewards = rewards.to(runner.device, torch.float32)
            if guard is not None:
                t0 = time.perf_counter()
                obs, rewards, dones, extras = guard.check_step(obs, rewards, dones, extras, alg.storage.step, 0)
                in_guard += time.perf_counter() - t0
            alg.process_env_step(obs, rewards, dones, extras)
            if alg.storage.step == num_steps:
                if guard is not None:
                    t0 = time.perf_counter()
                    guard.raise_if_bad(i // num_steps)  # the runner's one read per rollout
                    in_guard += time.perf_counter() - t0
                alg.storage.clear()
    sync()
    return steps * env.num_envs / (time.perf_counter() - start), in_guard / steps * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    add_rollout_args(parser, num_envs=4096, rounds=5)
    args = parser.parse_args()
    cfg = mlp_runner_cfg(args.hidden_dims)
    runner = OnPolicyRunner(
        make_task("cartpole", num_envs=args.num_envs, device=args.device, seed=0), cfg, device=args.device
    )
    for setting in SETTINGS:
        _rate(runner, 24, setting)  # warm-up
    rates: dict[str, list[float]] = {s: [] for s in SETTINGS}
    guard_us: dict[str, list[float]] = {s: [] for s in SETTINGS}
    for r in range(args.rounds):
        for k in range(len(SETTINGS)):
            setting = SETTINGS[(r + k) % len(SETTINGS)]
            rate, us = _rate(runner, args.steps, setting)
            rates[setting].append(rate)
            guard_us[setting].append(us)
    median = {s: statistics.median(v) for s, v in rates.items()}
    parts = [f"{s} {median[s]:,.0f} steps/s" for s in SETTINGS]
    costs = [f"{s} {(1 - median[s] / median['off']) * 100:+.1f}%" for s in SETTINGS[1:]]
    print(
        f"guard cost, cartpole {args.num_envs} envs, MLP {args.hidden_dims} on {args.device}: {', '.join(parts)}; "
        f"cost vs off: {', '.join(costs)}; deferred/immediate {median['deferred'] / median['immediate']:.3f} "
        f"(median of {args.rounds} rotated rounds of {args.steps} steps); host time in the guard per step: "
        + ", ".join(f"{s} {statistics.median(guard_us[s]):.0f} us" for s in SETTINGS[1:])
    )


if __name__ == "__main__":
    main()
