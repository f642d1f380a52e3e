"""Gradient steps per second of SAC / TD3: eager vs ``torch_compile_mode`` vs bf16 autocast vs ``cuda_graphs``.

Each setting builds an ``OffPolicyRunner`` on the built-in pendulum, fills the replay buffer with one iteration of
random steps, runs ``--warmup`` updates (compilation happens there) and then times ``--rounds`` calls of
``alg.update()``, each ``num_steps_per_env × num_updates_per_step`` gradient steps. The figure is gradient steps per
second (median over rounds). The env is not in the timing: only the update, which dominates off-policy training.
Settings run one after the other in one process (``torch._dynamo.reset()`` between compiled ones). ``graphs``
(``algorithm.cuda_graphs``) pays only on a CUDA device (``--device cuda``); its warm-up updates capture the graphs.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/off_policy_update_speed.py --algos SAC TD3 --batch 256 4096 \
        --out runs/update_speed.jsonl
    python benchmarks/off_policy_update_speed.py --device cuda --settings eager graphs --batch 4096  # a GPU
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import hardware_info, markdown_table, summarize

from stride.env.tasks import make_task
from stride.runners import OffPolicyRunner

MODES = {
    "eager": (None, False, False),
    "compiled": ("default", False, False),
    "bf16": (None, True, False),
    "bf16+compiled": ("default", True, False),
    "autotuned": ("max-autotune-no-cudagraphs", False, False),
    "bf16+autotuned": ("max-autotune-no-cudagraphs", True, False),
    "graphs": (None, False, True),
    "bf16+graphs": (None, True, True),
}
"""Setting name → (torch_compile_mode, use_mixed_precision, cuda_graphs)."""


def measure(
    algo: str,
    batch: int,
    setting: str,
    hidden: list[int],
    num_atoms: int,
    steps: int,
    warmup: int,
    rounds: int,
    device: str = "cpu",
) -> dict[str, Any]:
    """Gradient steps per second of one setting (median over ``rounds`` updates of ``steps`` gradient steps)."""
    mode, mixed, graphs = MODES[setting]
    critic: dict[str, Any] = {"num_atoms": num_atoms, "v_min": -1700.0, "v_max": 0.0} if num_atoms > 1 else {}
    cfg = {
        "class_name": "OffPolicyRunner",
        "num_steps_per_env": steps,
        "seed": 1,
        "torch_compile_mode": mode,
        "obs_groups": {"actor": ["policy"], "critic": ["policy"]},
        "algorithm": {
            "class_name": algo,
            "batch_size": batch,
            "learning_starts": steps,
            "buffer_size": 100_000,
            "use_mixed_precision": mixed,
            "cuda_graphs": graphs,
        },
        "actor": {"hidden_dims": hidden, "activation": "relu"},
        "critic": {"class_name": "QModel", "hidden_dims": hidden, **critic},
    }
    torch._dynamo.reset()
    runner = OffPolicyRunner(make_task("pendulum", num_envs=256, seed=1, device=device), cfg, device=device)
    start = time.perf_counter()
    runner.learn(1)  # random actions fill the buffer; the update at its end is the first warm-up
    for _ in range(warmup):
        runner.alg.update()
    warm_seconds = time.perf_counter() - start
    rates = []
    for _ in range(rounds):
        start = time.perf_counter()
        runner.alg.update()
        rates.append(steps / (time.perf_counter() - start))
    stats = summarize(rates)
    return {
        "algo": algo,
        "batch": batch,
        "setting": setting,
        "hidden": hidden,
        "num_atoms": num_atoms,
        "steps_per_s": stats["median"],
        "steps_per_s_min": stats["min"],
        "rounds": rounds,
        "warmup_seconds": warm_seconds,
    }


def main() -> None:
    """Parse arguments, run every (algo, batch, setting) one after the other, print a table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--algos", nargs="+", default=["SAC", "TD3"])
    parser.add_argument("--batch", nargs="+", type=int, default=[256, 4096])
    parser.add_argument("--settings", nargs="+", default=list(MODES)[:4], choices=list(MODES))
    parser.add_argument("--hidden", nargs="+", type=int, default=[256, 256])
    parser.add_argument("--num-atoms", type=int, default=1, help="1: scalar critic; > 1: C51 with this many atoms")
    parser.add_argument("--steps", type=int, default=8, help="gradient steps per timed update")
    parser.add_argument("--warmup", type=int, default=2, help="untimed updates after the first (compilation)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default=None, help="append one JSON line per setting to this file")
    args = parser.parse_args()
    torch.manual_seed(0)
    rows = []
    for algo in args.algos:
        for batch in args.batch:
            base = None
            for setting in args.settings:
                result = measure(
                    algo, batch, setting, args.hidden, args.num_atoms, args.steps, args.warmup, args.rounds, args.device
                )
                result["hardware"] = hardware_info(args.device)
                base = result["steps_per_s"] if setting == "eager" else base
                ratio = result["steps_per_s"] / base if base else float("nan")
                rows.append([algo, batch, setting, f"{result['steps_per_s']:.1f}", f"{ratio:.2f}"])
                print(json.dumps(result), flush=True)
                if args.out:
                    with open(args.out, "a", encoding="utf-8") as handle:
                        handle.write(json.dumps(result) + "\n")
    print(markdown_table(["algorithm", "batch", "setting", "gradient steps/s", "vs eager"], rows))


if __name__ == "__main__":
    main()
