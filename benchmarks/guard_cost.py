"""Cost of the env non-finite guard: rollout steps/s with the check on vs off, same process, alternating.

python benchmarks/guard_cost.py --num-envs 4096 --device cuda --rounds 5
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from stride.env.tasks import make_task
from stride.runners import OnPolicyRunner
from stride.utils.nonfinite import check_finite_step


def _rate(runner: OnPolicyRunner, steps: int, check: bool) -> float:
    env = runner.env
    obs = env.get_observations()
    sync = torch.cuda.synchronize if runner.device.type == "cuda" else (lambda: None)
    sync()
    start = time.perf_counter()
    with torch.inference_mode():
        for step in range(steps):
            actions = runner.alg.act(obs)
            obs, rewards, dones, extras = env.step(actions)
            if check:
                check_finite_step(
                    obs, rewards, f"step {step}", others={"dones": dones, "time_outs": extras["time_outs"]}
                )
            runner.alg.process_env_step(obs, rewards, dones, extras)
            if runner.alg.storage.step == runner.alg.storage.num_steps:
                runner.alg.storage.clear()
    sync()
    return steps * env.num_envs / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--num-envs", type=int, default=4096)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=96)
    args = parser.parse_args()
    cfg = {
        "num_steps_per_env": 24,
        "obs_groups": {"actor": ["policy"], "critic": ["policy"]},
        "actor": {
            "class_name": "MLPModel",
            "hidden_dims": [256, 256],
            "distribution_cfg": {"class_name": "GaussianDistribution"},
        },
        "critic": {"class_name": "MLPModel", "hidden_dims": [256, 256]},
    }
    runner = OnPolicyRunner(
        make_task("cartpole", num_envs=args.num_envs, device=args.device, seed=0), cfg, device=args.device
    )
    _rate(runner, 24, True)  # warm-up
    rates: dict[bool, list[float]] = {True: [], False: []}
    for r in range(args.rounds):
        for check in (True, False) if r % 2 == 0 else (False, True):
            rates[check].append(_rate(runner, args.steps, check))
    on, off = statistics.median(rates[True]), statistics.median(rates[False])
    print(
        f"guard cost, cartpole {args.num_envs} envs on {args.device}: on {on:,.0f} steps/s, off {off:,.0f} steps/s, "
        f"cost {(1 - on / off) * 100:.1f}% (median of {args.rounds} alternating rounds of {args.steps} steps)"
    )


if __name__ == "__main__":
    main()
