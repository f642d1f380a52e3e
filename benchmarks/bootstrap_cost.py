"""Cost of the time-out bootstrap from V(final obs): rollout time with PPO's two bootstrap paths, same process.

``rows``: the critic runs on the timed-out rows of a step only (the CPU path). ``all``: the critic runs on every row
of every step with no host read (the sync-free path stride uses off the CPU). ``before``: what stride did until
2026-11-24, every row on the steps that hold a time-out (re-enacted here). Rounds rotate; medians are reported.

    OMP_NUM_THREADS=1 python benchmarks/bootstrap_cost.py --task cartpole --num-envs 1024 --rounds 9
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import torch

from stride.algorithms.returns import bootstrap_time_outs
from stride.env.tasks import make_task
from stride.runners import OnPolicyRunner

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import add_rollout_args, mlp_runner_cfg

MODES = ("rows", "all", "before")


def _before(runner: OnPolicyRunner, rewards: torch.Tensor, time_outs: torch.Tensor, extras: dict) -> torch.Tensor:
    """The bootstrap as it was: every row through the critic on a step with any time-out."""
    alg = runner.alg
    if not bool(time_outs.any()):
        return rewards
    return bootstrap_time_outs(rewards, time_outs, alg._peek_values(extras["final_obs"]), alg.cfg.gamma)


def _rollout_seconds(runner: OnPolicyRunner, mode: str, steps: int) -> float:
    """Wall-clock of ``steps`` rollout steps (act, env step, process_env_step) with the chosen bootstrap path."""
    env, alg = runner.env, runner.alg
    alg.sync_free_bootstrap = mode == "all"
    if mode == "before":
        alg._bootstrap_time_outs = lambda r, t, x: _before(runner, r, t, x)  # type: ignore[method-assign]
    else:
        alg.__dict__.pop("_bootstrap_time_outs", None)
    obs = env.get_observations()
    sync = torch.cuda.synchronize if runner.device.type == "cuda" else (lambda: None)
    sync()
    start = time.perf_counter()
    with torch.inference_mode():
        for _ in range(steps):
            obs, rewards, dones, extras = env.step(alg.act(obs))
            alg.process_env_step(obs, rewards, dones, extras)
            if alg.storage.step == alg.storage.num_steps:
                alg.storage.clear()
    sync()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="cartpole")
    add_rollout_args(parser, num_envs=1024, rounds=9)
    args = parser.parse_args()
    cfg = mlp_runner_cfg(args.hidden_dims)
    env = make_task(args.task, num_envs=args.num_envs, device=args.device, seed=0)
    runner = OnPolicyRunner(env, cfg, device=args.device)
    # random start lengths, as in training: time-outs are spread over the steps instead of arriving all at once
    env.episode_length_buf = torch.randint_like(env.episode_length_buf, high=int(env.max_episode_length))
    timed_out_steps = 0
    with torch.inference_mode():
        obs = env.get_observations()
        for _ in range(args.steps):
            obs, _, _, extras = env.step(runner.alg.act(obs))
            timed_out_steps += int(bool(extras["time_outs"].any()))
        runner.alg.storage.clear()
    seconds: dict[str, list[float]] = {m: [] for m in MODES}
    for r in range(args.rounds):
        for k in range(len(MODES)):
            mode = MODES[(r + k) % len(MODES)]
            seconds[mode].append(_rollout_seconds(runner, mode, args.steps))
    ms = {m: statistics.median(v) / args.steps * 1e3 for m, v in seconds.items()}
    print(
        f"bootstrap cost, {args.task} {args.num_envs} envs, MLP {args.hidden_dims} on {args.device}, "
        f"{timed_out_steps}/{args.steps} steps with a time-out; rollout ms/step: "
        + ", ".join(f"{m} {ms[m]:.2f}" for m in MODES)
        + f"; rows/before {ms['rows'] / ms['before']:.3f}, all/before {ms['all'] / ms['before']:.3f} "
        f"(median of {args.rounds} rotated rounds of {args.steps} steps)"
    )


if __name__ == "__main__":
    main()
