"""Steps/s and compile time of the MuJoCo Playground adapter (stride's VecEnv around a vmapped, jitted env).

    python benchmarks/playground_speed.py --env CartpoleBalance --num-envs 64 --impl jax --steps 200

Reports the time to build the adapter (load + reset compile), the first step (step compile), and env steps/s over
``--steps`` further steps with zero actions, measured through ``PlaygroundVecEnv.step`` (torch in, torch out).
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from stride.env.adapters.playground import PlaygroundVecEnv


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="CartpoleBalance")
    parser.add_argument("--num-envs", type=int, default=64)
    parser.add_argument("--impl", default=None, help="Playground physics backend: jax (MJX) or warp; default: env's")
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    overrides = {"impl": args.impl} if args.impl else None
    start = time.perf_counter()
    env = PlaygroundVecEnv(args.env, num_envs=args.num_envs, config_overrides=overrides)
    build_s = time.perf_counter() - start
    actions = torch.zeros(args.num_envs, env.num_actions)
    start = time.perf_counter()
    env.step(actions)
    first_step_s = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(args.steps):
        _, rewards, _, _ = env.step(actions)
    rewards.sum().item()  # the last step's results are ready
    elapsed = time.perf_counter() - start
    result = {
        "env": args.env,
        "impl": env.cfg["env_config"].get("impl"),
        "num_envs": args.num_envs,
        "build_s": round(build_s, 1),
        "first_step_s": round(first_step_s, 1),
        "env_steps_per_s": round(args.steps * args.num_envs / elapsed),
        "zero_copy": env.zero_copy,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
