"""GRU PPO on partially observed tasks, stride and rsl_rl side by side (the harness of compare_rsl_rl.py).

Tasks: ``cartpole-positions`` (the built-in cartpole with both velocities hidden: the policy sees ``(x, theta)``
and must infer velocities from memory) and the built-in ``pendulum-pomdp`` (angle only). Both libraries get the
same env, the same rsl_rl v5 train_cfg with GRU actor and critic, the same seeds, and are driven by the same loop;
the metric is the iterations until the mean return of the episodes completed in an iteration reaches the
threshold, per seed.

Usage (from the repository root; about 10 minutes single-threaded with the defaults)::

    OMP_NUM_THREADS=1 python benchmarks/gru_partial_obs.py --task cartpole-positions --seeds 1 2 3 4 5
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Any, ClassVar

import torch
from tensordict import TensorDict

try:  # run as a script from benchmarks/ (its folder is on sys.path) ...
    from compare_rsl_rl import LIBRARIES, measure_solve
except ImportError:  # ... or as ``python -m benchmarks.gru_partial_obs`` from the repository root
    from benchmarks.compare_rsl_rl import LIBRARIES, measure_solve

from stride.env.tasks import CartPole, register_task


class CartPolePositions(CartPole):
    """Cartpole that shows the policy only the cart position and the pole angle (velocities hidden)."""

    name: ClassVar[str] = "cartpole-positions"
    observation_sizes: ClassVar[dict[str, int]] = {"policy": 2}

    def _observe(self) -> TensorDict:
        """Observation ``{"policy": (x, theta)}``."""
        return TensorDict({"policy": self.state[:, 0::2].clone()}, batch_size=[self.num_envs], device=self.device)


THRESHOLDS = {"cartpole-positions": 475.0, "pendulum-pomdp": -200.0}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=sorted(THRESHOLDS), default="cartpole-positions")
    parser.add_argument("--num-envs", type=int, default=256)
    parser.add_argument("--steps", type=int, default=24, help="num_steps_per_env")
    parser.add_argument("--hidden", type=int, nargs="+", default=[64, 64], help="MLP head sizes")
    parser.add_argument("--rnn-hidden", type=int, default=64, help="GRU hidden state size")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--max-iterations", type=int, default=150)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", default=None)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    register_task(CartPolePositions.name, CartPolePositions)
    print(f"{args.task}: GRU {args.rnn_hidden} + MLP {args.hidden}, {args.num_envs} envs x {args.steps} steps")
    per_seed: dict[str, list[Any]] = {lib: [] for lib in LIBRARIES}
    results = []
    for seed in args.seeds:  # one seed at a time, so every finished seed is reported (and saved) at once
        solve_args = argparse.Namespace(
            task=args.task,
            num_envs=args.num_envs,
            steps=args.steps,
            hidden=args.hidden,
            model="gru",
            rnn_hidden=args.rnn_hidden,
            device=args.device,
            seeds=[seed],
            max_iterations=args.max_iterations,
            threshold=THRESHOLDS[args.task],
        )
        results.append(measure_solve(solve_args))
        for lib in LIBRARIES:
            per_seed[lib].append(results[-1][lib]["runs"][0]["iterations"])
        print(f"  seed {seed}: iterations to mean return >= {THRESHOLDS[args.task]}: {per_seed}", flush=True)
        if args.json:
            with open(args.json, "w", encoding="utf-8") as handle:
                json.dump({"args": vars(args), "seeds": results}, handle, indent=1, default=str)
    for lib in LIBRARIES:
        print(f"  {lib:7s} per seed {per_seed[lib]} (None: not within {args.max_iterations} iterations)")
    return {"per_seed": per_seed, "seeds": results}


if __name__ == "__main__":
    torch.set_num_threads(torch.get_num_threads())
    main()
